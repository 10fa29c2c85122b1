"""What every benchmark shares: scenarios, the emulators, the operator as a process, and audit arithmetic.

The emulators (Azure Compute and Kubernetes API) run in this process's event loop; the operator always
runs as its own process (``python -m controller run``), so the CPU seconds and peak RSS read from
``/proc/<pid>`` are its own and it has a core to itself. Times are real (wall) seconds unless a name says
``sim``: the Azure emulator runs ``scale`` emulated seconds per real second, and its audit is stamped in
emulated seconds, so ``real = sim / scale`` (the scale never changes during a benchmark).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scaleset_testbed import worlds
from scaleset_testbed.system import TOKEN_ENV as TOKEN_ENV
from scaleset_testbed.system import Env as Env
from scaleset_testbed.system import OperatorProcess as OperatorProcess
from scaleset_testbed.system import OperatorSettings as OperatorSettings
from scaleset_testbed.system import die_with_parent as die_with_parent
from scaleset_testbed.system import emulators as emulators
from scaleset_testbed.system import free_port as free_port
from scaleset_testbed.system import operator as _operator
from scaleset_testbed.system import process_cpu_seconds as process_cpu_seconds
from scaleset_testbed.system import process_peak_rss_mb as process_peak_rss_mb
from scaleset_testbed.system import trim_request_log as trim_request_log
from scaleset_testbed.system import wait_until as wait_until
from scaleset_testbed.worlds import V1, V2, V3, V4, vmss_path

ROOT = Path(__file__).resolve().parents[1]
# The benchmarks' world: scale sets start on OLD, rollouts go to NEW (or NEWER), and V4 is a bad build.
OLD, NEW, NEWER, BAD = V1, V2, V3, V4
UNAVAILABLE_STATES = frozenset({"Creating", "Updating", "Deleting", "Failed"})


def log(message: str) -> None:
    """Progress on stderr (stdout is kept for the results table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- scenario
def scale_set(capacity: int, update_domains: int, *, health: bool = True, version: str = OLD) -> dict[str, Any]:
    """A Manual-policy scale set on the old marketplace image; instance n is in update domain n mod UDs."""
    fault_domains = min(5, max(1, update_domains))
    return worlds.scale_set(capacity, update_domains, fault_domains, version=version, healthExtension=health)


def scenario(
    scale_sets: dict[str, dict[str, dict[str, Any]]],
    *,
    upgrade_s: float,
    model_update_s: float,
    health_grace_s: float = 0.0,
    throttling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A one-subscription world; ``scale_sets`` is {resource group: {name: scale set}}; times are emulated s."""
    return worlds.scenario(
        scale_sets,
        versions=[OLD, NEW, NEWER, BAD],
        badImageVersions=[BAD],
        timing={
            "instanceUpgradeSeconds": upgrade_s,
            "jitterSeconds": 0.0,
            "modelUpdateSeconds": model_update_s,
            "healthGraceSeconds": health_grace_s,
            "instanceCreateSeconds": upgrade_s,
        },
        throttling=throttling if throttling is not None else {"enabled": False},
    )


def published_budget(scale: float, share: float = 0.5, resource_share: float = 0.75) -> dict[str, Any]:
    """The operator's azureBudget for a world running ``scale`` times faster than real time: Azure's
    published limits (the emulator's defaults) with every refill rate times ``scale``, capacities as they
    are, and the operator's shares. With the emulator counting throttling in emulated seconds
    (``throttling.clock: scenario``), both then see Azure's limits relative to the world's time."""
    from scaleset_testbed.azure.scenario import Throttling

    limits = Throttling()
    compute = []
    for c in limits.compute_limits:
        entry: dict[str, Any] = {
            "policy": c.name,
            "subscription": {
                "refillPerMinute": c.subscription.refill_per_minute * scale,
                "capacity": c.subscription.capacity,
            },
        }
        if c.resource is not None:
            entry["resource"] = {
                "refillPerMinute": c.resource.refill_per_minute * scale,
                "capacity": c.resource.capacity,
            }
        compute.append(entry)
    return {
        "operatorShare": share,
        "resourceShare": resource_share,
        "readsPerSecond": limits.reads.refill_per_second * scale,
        "readBurst": limits.reads.capacity,
        "writesPerSecond": limits.writes.refill_per_second * scale,
        "writeBurst": limits.writes.capacity,
        "computeLimits": compute,
    }


def manifest(
    name: str, rg: str, vmss: str, version: str, *, namespace: str = "default", **rollout: Any
) -> dict[str, Any]:
    return worlds.manifest(name, namespace=namespace, rg=rg, vmss=vmss, version=version, rollout=rollout)


def scale_set_prefix(rg: str, vmss: str) -> str:
    return vmss_path(rg=rg, name=vmss).lower()


# ------------------------------------------------------------------------------------ statistics
def median(values: Iterable[float]) -> float:
    data = list(values)
    return float(statistics.median(data)) if data else 0.0


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): the smallest value with at least q% of values at or below it."""
    data = sorted(values)
    if not data:
        return 0.0
    rank = max(1, -(-len(data) * q // 100))  # ceil(n*q/100)
    return float(data[int(rank) - 1])


def median_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median of the runs' numbers (dicts recursively); other values are taken from run 1."""
    if not runs:
        return {}
    out: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [run.get(key) for run in runs]
        if isinstance(first, bool) or not isinstance(first, int | float | dict):
            out[key] = first
        elif isinstance(first, dict):
            out[key] = median_of_runs([v for v in values if isinstance(v, dict)])
        else:
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            m = median(numbers)
            out[key] = round(m, 4) if isinstance(first, float) or m != int(m) else int(m)
    return out


# ---------------------------------------------------------------------------------- the machine
def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def machine_summary(info: dict[str, Any]) -> str:
    return (
        f"{info.get('cpu')}, {info.get('cores')} cores, {info.get('memory_gb')} GB, "
        f"Python {info.get('python')}, {info.get('os')}, {info.get('date')}"
    )


# --------------------------------------------------------------------------------- audit helpers
def azure_requests(audit: Iterable[dict[str, Any]], prefix: str | None = None) -> list[dict[str, Any]]:
    """The ARM request events, optionally only those under one scale set (and its operation polls)."""
    out = []
    for event in audit:
        if event.get("type") != "request":
            continue
        if prefix is not None and not str(event.get("path", "")).lower().startswith(prefix):
            continue
        out.append(event)
    return out


def is_write(event: dict[str, Any]) -> bool:
    return str(event.get("method")) != "GET"


def by_operation(requests: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(str(e.get("operation") or "unknown") for e in requests)
    return dict(sorted(counts.items()))


def call_summary(requests: list[dict[str, Any]]) -> dict[str, Any]:
    writes = [e for e in requests if is_write(e)]
    return {
        "writes": len(writes),
        "reads": len(requests) - len(writes),
        "throttled": sum(1 for e in requests if e.get("status") == 429),
        "errors": sum(1 for e in requests if int(e.get("status") or 0) >= 400 and e.get("status") != 429),
        "by_operation": by_operation(requests),
    }


def instance_unavailable(event: dict[str, Any], health_extension: bool) -> bool:
    """Not serving: being created, updated, deleted or failed; or running but not reporting healthy."""
    state = str(event.get("state"))
    if state == "Deleted":
        return False
    if state in UNAVAILABLE_STATES:
        return True
    healthy = event.get("healthy")
    return healthy is False or (health_extension and healthy is not True)


def max_unavailable(audit: Iterable[dict[str, Any]], health_extension: bool = True) -> int:
    """Replay the instance events: the most instances unavailable at the same time (per emulated instant).

    Instances start available (the scenario creates them running and healthy, unrecorded). Events that
    share a time stamp are applied together before counting, so an instance finishing and another starting
    at the same instant are not counted as overlapping.
    """
    down: set[tuple[str, str, str]] = set()
    peak = 0
    current_time: float | None = None
    for event in audit:
        if event.get("type") != "instance":
            continue
        t = float(event["time"])
        if current_time is not None and t != current_time:
            peak = max(peak, len(down))
        current_time = t
        key = (str(event["resourceGroup"]).lower(), str(event["scaleSet"]).lower(), str(event["instanceId"]))
        if instance_unavailable(event, health_extension):
            down.add(key)
        else:
            down.discard(key)
    return max(peak, len(down))


def last_ready_time(audit: Iterable[dict[str, Any]], health_extension: bool = True) -> float | None:
    """The emulated time of the last event that made an instance available again."""
    last = None
    for event in audit:
        if event.get("type") == "instance" and not instance_unavailable(event, health_extension):
            last = float(event["time"])
    return last


def instances_on(audit: Iterable[dict[str, Any]], version: str) -> int:
    """How many distinct instances ended an update on ``version``."""
    seen = {
        (str(e["resourceGroup"]).lower(), str(e["scaleSet"]).lower(), str(e["instanceId"]))
        for e in audit
        if e.get("type") == "instance" and e.get("state") in ("Running", "Failed") and e.get("imageVersion") == version
    }
    return len(seen)


def new_workdir(label: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"scaleset-bench-{label}-"))


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def operator(
    env: Env, settings: OperatorSettings, name: str = "operator"
) -> contextlib.AbstractAsyncContextManager[OperatorProcess]:
    """The operator as a process, started in the project's root (see scaleset_testbed.system)."""
    return _operator(env, settings, name, cwd=ROOT)
