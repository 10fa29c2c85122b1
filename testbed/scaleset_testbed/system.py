"""The whole system as a test or benchmark runs it: both emulators in this process, the operator as its own.

The Azure Compute and Kubernetes API emulators serve from the caller's event loop; the operator runs as a
separate process (``python -m controller run``) against them, so it can be killed (SIGKILL) and restarted,
and its CPU seconds and peak RSS read from ``/proc/<pid>`` are its own. Used by the benchmarks (``bench``)
and the fault campaign (``scaleset_testbed.chaos``). Needs the operator's distribution installed (the CRD is
built from its resource model).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from controller.resource.crd import build_crd
from scaleset_testbed.azure import AzureEmulator, parse_scenario
from scaleset_testbed.kube import KubeEmulator, RunningKubeEmulator, start_kube_emulator, write_kubeconfig
from scaleset_testbed.worlds import CR, GROUP, PLURAL, VERSION

LEASES = "coordination.k8s.io/v1/leases"
LEASE_NAME = "scaleset-image-operator"  # scaleset-image run's default --lease-name

TOKEN_ENV = "SCALESET_IMAGE_BENCH_TOKEN"


# --------------------------------------------------------------------------- process accounting
def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, in seconds (``/proc/<pid>/stat`` fields 14 and 15)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def process_peak_rss_mb(pid: int) -> float:
    """``VmHWM`` (peak resident set) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def die_with_parent() -> None:
    """``preexec_fn`` for child processes: Linux sends them SIGTERM if the benchmark dies first."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------- emulators
@dataclass
class Env:
    """The Azure and Kubernetes emulators of one benchmark run, and an HTTP session for the Kubernetes API."""

    azure: AzureEmulator
    kube: RunningKubeEmulator
    http: aiohttp.ClientSession
    workdir: Path
    scale: float
    kubeconfig: Path = field(init=False)

    def __post_init__(self) -> None:
        self.kubeconfig = write_kubeconfig(self.kube.url, self.workdir / "kubeconfig")

    def sim_now(self) -> float:
        return self.azure.clock.now()

    def audit(self) -> list[dict[str, Any]]:
        """The audit so far, with every emulated change due by now applied first."""
        self.azure.world.advance()
        return self.azure.world.audit

    async def create(self, body: dict[str, Any]) -> None:
        namespace = body["metadata"].get("namespace", "default")
        url = f"{self.kube.url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
        async with self.http.post(url, json=body) as response:
            if response.status != 201:
                raise RuntimeError(f"creating {body['metadata']['name']}: {response.status} {await response.text()}")

    async def patch_spec(self, name: str, spec_patch: dict[str, Any], namespace: str = "default") -> int:
        """Merge-patch the spec; return the object's new ``metadata.generation``."""
        url = f"{self.kube.url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"
        async with self.http.patch(
            url, json={"spec": spec_patch}, headers={"Content-Type": "application/merge-patch+json"}
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"patching {name}: {response.status} {await response.text()}")
            body = await response.json()
        return int((body.get("metadata") or {}).get("generation") or 0)

    def status(self, name: str, namespace: str = "default") -> dict[str, Any]:
        obj = self.kube.get_object(CR, name, namespace) or {}
        return dict(obj.get("status") or {})

    def phases(self) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for obj in self.kube.list_objects(CR):
            meta = obj.get("metadata") or {}
            out[(str(meta.get("namespace")), str(meta.get("name")))] = str((obj.get("status") or {}).get("phase", ""))
        return out

    def lease(self, name: str = LEASE_NAME, namespace: str = "default") -> dict[str, Any] | None:
        """The leader-election Lease (None before any replica created it)."""
        return self.kube.get_object(LEASES, name, namespace)

    def lease_holder(self, name: str = LEASE_NAME, namespace: str = "default") -> str | None:
        """Who holds the leader-election Lease: its holderIdentity ("" once released, None without a Lease)."""
        lease = self.lease(name, namespace)
        return None if lease is None else str((lease.get("spec") or {}).get("holderIdentity") or "")

    def accepted_upgrades(self) -> list[list[str]]:
        """The instance ids of every manualupgrade Azure accepted, in order (to check a walk)."""
        return [
            e["body"]["instanceIds"]
            for e in self.audit()
            if e["type"] == "request" and e["path"].endswith("/manualupgrade") and e["status"] == 202
        ]

    def operator_watching(self) -> bool:
        """True once some client holds a watch on ScaleSetImages (kopf's watcher is up)."""
        watchers = getattr(self.kube.emulator, "_watchers", None)
        if watchers is None:
            return True  # cannot tell: rely on the liveness endpoint alone
        return any(getattr(getattr(w, "model", None), "plural", "") == PLURAL for w in watchers)


def trim_request_log(kube: RunningKubeEmulator, keep: int = 10) -> int:
    """Forget all but the last ``keep`` requests kmock recorded; return how many were dropped.

    No longer needed: the Kubernetes emulator bounds its own request history (``request_history``),
    which is what made each request slower than the one before. Kept for callers of this helper.
    """
    history = getattr(kube.emulator, "_requests", None)
    if not isinstance(history, list) or len(history) <= 2 * keep:
        return 0
    dropped = len(history) - keep
    del history[:dropped]
    return dropped


@contextlib.asynccontextmanager
async def emulators(scenario_data: dict[str, Any], scale: float, workdir: Path) -> AsyncIterator[Env]:
    azure = AzureEmulator(parse_scenario(scenario_data), time_scale=scale)
    await azure.start()
    # Each schedule and benchmark resource lives in a namespace nobody creates: NamespaceAutoProvision.
    # The benchmarks never read kmock's request history: keep only a little of it.
    emulator = KubeEmulator(crds=[build_crd()], namespace_auto_provision=True, request_history=10)
    kube = await start_kube_emulator(emulator=emulator)
    http = aiohttp.ClientSession()
    try:
        yield Env(azure, kube, http, workdir, scale)
    finally:
        await http.close()
        await kube.stop()
        await azure.stop()


async def wait_until(
    check: Callable[[], bool], *, within: float, interval: float = 0.02, what: str = "a condition"
) -> float:
    """Poll ``check`` until true; return the monotonic time it first held. Raise TimeoutError after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        if check():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(interval)


# ---------------------------------------------------------------------------------- the operator
@dataclass
class OperatorSettings:
    poll_interval: float
    tick: float = 1.0
    resync_interval: float = 300.0
    budget: dict[str, Any] | None = None  # the config's azureBudget; None: the defaults
    selector: str | None = None  # run --selector: this process handles a shard of the fleet
    election: Election | None = None  # run --leader-election: one of several replicas

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pollInterval_s": self.poll_interval,
            "tick_s": self.tick,
            "resyncInterval_s": self.resync_interval,
            "azureBudget": self.budget if self.budget is not None else "defaults",
        }
        if self.election is not None:
            out["leaderElection"] = self.election.describe()
        return out


@dataclass(frozen=True)
class Election:
    """The leader-election flags of one replica: the Lease (in ``default``), timings, and its identity."""

    identity: str
    lease_name: str = "scaleset-image-operator"
    per_start: bool = False  # each start a new candidate (identity-<n>), as a restarted pod is in the chart
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def identity_at(self, start: int) -> str:
        """The identity of the ``start``-th start of this replica."""
        return f"{self.identity}-{start}" if self.per_start else self.identity

    def owns(self, holder: str | None) -> bool:
        """Whether ``holder`` (a Lease's holderIdentity) is one of this replica's starts."""
        if not holder:
            return False
        return holder == self.identity or (self.per_start and holder.rsplit("-", 1)[0] == self.identity)

    def args(self, start: int = 1) -> list[str]:
        return [
            "--leader-election",
            f"--leader-identity={self.identity_at(start)}",
            f"--lease-name={self.lease_name}",
            "--lease-namespace=default",
            f"--lease-duration={self.lease_duration:g}",
            f"--renew-deadline={self.renew_deadline:g}",
            f"--retry-period={self.retry_period:g}",
        ]

    def describe(self) -> dict[str, float]:
        return {
            "leaseDuration_s": self.lease_duration,
            "renewDeadline_s": self.renew_deadline,
            "retryPeriod_s": self.retry_period,
        }


class OperatorProcess:
    """``python -m controller run -A`` against the emulators, with its own kubeconfig and config file."""

    def __init__(
        self,
        env: Env,
        settings: OperatorSettings,
        name: str = "operator",
        cwd: Path | None = None,
        *,
        kube_url: str | None = None,
    ) -> None:
        self.env = env
        self.settings = settings
        self.name = name
        self.cwd = cwd
        # Another way to the Kubernetes API (a relay a test can cut): a kubeconfig of this process's own.
        self.kubeconfig = (
            write_kubeconfig(kube_url, env.workdir / f"{name}-kubeconfig") if kube_url is not None else env.kubeconfig
        )
        self.starts = 0
        self.log_offset = 0  # where the log of the process started last begins
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = env.workdir / f"{name}.log"
        self.cpu_s = 0.0
        self.peak_rss_mb = 0.0

    def _config(self) -> Path:
        config: dict[str, Any] = {
            "clouds": {
                "azure-public": {
                    "armEndpoint": self.env.azure.url,
                    "allowHttp": True,
                    "credential": "static-token",
                    "staticTokenEnv": TOKEN_ENV,
                }
            },
            "pollInterval": self.settings.poll_interval,
            "resyncInterval": self.settings.resync_interval,
        }
        if self.settings.budget is not None:
            config["azureBudget"] = self.settings.budget
        path = self.env.workdir / f"{self.name}-config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    async def start(self, within: float = 60.0) -> None:
        live_port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.env.workdir)),
            "KUBECONFIG": str(self.kubeconfig),
            TOKEN_ENV: "bench-token",
            "PYTHONUNBUFFERED": "1",
        }
        # A restarted operator appends to the same log, so one file tells the whole story; ``log_offset`` is
        # where this start's part begins.
        self.log_offset = self.log_path.stat().st_size if self.starts and self.log_path.exists() else 0
        with self.log_path.open("ab" if self.starts else "wb") as out:
            self.starts += 1
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "controller",
                "run",
                "-A",
                "--config",
                str(self._config()),
                "--tick",
                str(self.settings.tick),
                "--liveness",
                f"http://127.0.0.1:{live_port}/healthz",
                *(["--selector", self.settings.selector] if self.settings.selector else []),
                *(self.settings.election.args(self.starts) if self.settings.election is not None else []),
                cwd=str(self.cwd) if self.cwd is not None else None,
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + within
        while True:
            if self.proc.returncode is not None:
                raise RuntimeError(f"the operator exited with {self.proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                async with self.env.http.get(
                    f"http://127.0.0.1:{live_port}/healthz", timeout=aiohttp.ClientTimeout(total=1)
                ) as response:
                    # A replica with leader election is ready when it answers: it may be a standby.
                    if response.status == 200 and (self.settings.election is not None or self.env.operator_watching()):
                        return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the operator did not become ready within {within:g}s: {self.log_tail()}")
            await asyncio.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def sample(self) -> None:
        """Keep the latest CPU seconds and peak RSS (read before the process is gone)."""
        if self.proc is not None and self.proc.returncode is None:
            self.cpu_s = process_cpu_seconds(self.pid)
            self.peak_rss_mb = process_peak_rss_mb(self.pid)

    async def stop(self) -> None:
        if self.proc is None:
            return
        self.sample()
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=20)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()

    async def kill(self) -> None:
        """SIGKILL, as a node failure or an OOM kill would: no cleanup, no final status write."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.sample()
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def log_stats(self) -> dict[str, int]:
        """Size of the operator's log, and how many of its records are the Azure SDK's HTTP logging."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
        records = [line for line in text.splitlines() if line.startswith("[")]
        return {
            "log_bytes": len(text.encode()),
            "log_lines": text.count("\n"),
            "log_records": len(records),
            "log_records_azure_http": sum(1 for line in records if "azure.core.pipeline" in line),
            "log_records_warning": sum(1 for line in records if "[WARNING" in line),
            "log_records_error": sum(1 for line in records if "[ERROR" in line),
        }

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        return ""


@contextlib.asynccontextmanager
async def operator(
    env: Env, settings: OperatorSettings, name: str = "operator", cwd: Path | None = None
) -> AsyncIterator[OperatorProcess]:
    process = OperatorProcess(env, settings, name, cwd)
    try:
        await process.start()
        yield process
    finally:
        await process.stop()
