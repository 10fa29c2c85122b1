"""Benchmarks 1, 2 and 6: one rollout of one scale set, measured for calls, time and operator cost.

One run = a fresh Azure emulator with one Manual scale set of N instances over D update domains (each
instance upgrade takes a fixed T, no jitter, no health grace), a fresh Kubernetes emulator, and a fresh
operator process. The ScaleSetImage is created once the operator watches; the run ends when its status
says Succeeded. From that single run come:

- calls (benchmark 1): every ARM request in the emulator's audit, by operation; writes are PUT/PATCH/POST;
- time (benchmark 2): wall time from the create request to phase Succeeded seen in the Kubernetes API,
  against the ideal D*T + (D-1)*P, plus a breakdown from the audit (what the operator adds where);
- cost (benchmark 6): the operator process's CPU seconds over that window and its peak RSS (VmHWM).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from scaleset_testbed import worlds

from .common import (
    NEW,
    OLD,
    OperatorSettings,
    azure_requests,
    call_summary,
    emulators,
    instance_unavailable,
    log,
    manifest,
    max_unavailable,
    median_of_runs,
    new_workdir,
    operator,
    published_budget,
    remove_workdir,
    scale_set,
    scenario,
    wait_until,
)

RG, VMSS, NAME = "rg-bench", "vmss-bench", "bench"


@dataclass(frozen=True)
class RolloutParams:
    sizes: tuple[int, ...]
    domains: int
    scale: float  # emulated seconds per real second
    upgrade_sim: float  # T in emulated seconds
    pause: str  # the manifest's pauseBetweenDomains (real time)
    pause_s: float
    model_update_sim: float
    operator: OperatorSettings
    runs: int

    @property
    def upgrade_real(self) -> float:
        return self.upgrade_sim / self.scale

    @property
    def ideal_s(self) -> float:
        return self.domains * self.upgrade_real + (self.domains - 1) * self.pause_s

    def describe(self) -> dict[str, Any]:
        return {
            "update_domains": self.domains,
            "time_scale": self.scale,
            "T_upgrade_s": round(self.upgrade_real, 4),
            "T_upgrade_emulated_s": self.upgrade_sim,
            "P_pause_s": self.pause_s,
            "model_update_s": round(self.model_update_sim / self.scale, 4),
            "ideal_s": round(self.ideal_s, 4),
            "operator": self.operator.describe(),
            "emulator_throttling": "published ARM and Compute limits, counted in emulated seconds",
            "operator_budget": "published limits, rates times the time scale; default shares (0.5, 0.75)",
            "runs": self.runs,
        }


async def one_rollout(n: int, p: RolloutParams, *, flexible: bool = False) -> dict[str, Any]:
    """One rollout of N instances: a Uniform set over D update domains, or a Flexible one over D fault
    domains (named VMs; D at most 3)."""
    workdir = new_workdir(f"rollout-{n}")
    vmss = (
        worlds.flex_scale_set(n, version=OLD, platformFaultDomainCount=p.domains)
        if flexible
        else scale_set(n, p.domains)
    )
    data = scenario(
        {RG: {VMSS: vmss}},
        upgrade_s=p.upgrade_sim,
        model_update_s=p.model_update_sim,
        throttling={"enabled": True, "clock": "scenario"},
    )
    settings = dataclasses.replace(p.operator, budget=published_budget(p.scale))
    try:
        async with emulators(data, p.scale, workdir) as env, operator(env, settings) as op:
            cpu_before = op.cpu_seconds()
            sim_start = env.sim_now()
            started = time.monotonic()
            await env.create(manifest(NAME, RG, VMSS, NEW, pauseBetweenDomains=p.pause))
            finished = await wait_until(
                lambda: env.status(NAME).get("phase") == "Succeeded",
                within=max(120.0, 20 * p.ideal_s),
                interval=0.01,
                what=f"rollout of {n} instances to succeed",
            )
            cpu_during = op.cpu_seconds() - cpu_before
            op.sample()
            logs = op.log_stats()
            sim_end = env.sim_now()
            audit = list(env.audit())
            status = env.status(NAME)
        result = analyse(audit, p, n, sim_start, sim_end, finished - started)
        result["operator_cost"] = {
            "cpu_s": round(cpu_during, 3),
            "cpu_s_with_startup": round(op.cpu_s, 3),
            "peak_rss_mb": round(op.peak_rss_mb, 1),
            **logs,
        }
        result["phase"] = status.get("phase")
        return result
    finally:
        remove_workdir(workdir)


def analyse(
    audit: list[dict[str, Any]], p: RolloutParams, n: int, sim_start: float, sim_end: float, wall: float
) -> dict[str, Any]:
    scale = p.scale
    requests = azure_requests(audit)
    calls = call_summary(requests)
    calls["reads_per_domain"] = round(calls["reads"] / p.domains, 2)
    calls["vm_list_pages"] = calls["by_operation"].get("VirtualMachineScaleSetVMs_List", 0) + calls["by_operation"].get(
        "VirtualMachines_List", 0
    )  # a Flexible set's VMs: the resource group's VM list, filtered
    calls["per_instance_requests"] = sum(
        1 for e in requests if "/virtualmachines/" in str(e.get("path", "")).lower()
    )  # VMs_Get / GetInstanceView / per-VM reimage: none expected
    model_updates = [e for e in requests if e.get("operation") == "VirtualMachineScaleSets_Update"]
    upgrades = [
        e
        for e in requests
        if e.get("operation") == "VirtualMachineScaleSets_UpdateInstances" and e.get("status") == 202
    ]
    # When each domain's last instance became available again (its update domain; a Flex VM's fault domain).
    ready_at: dict[int, float] = {}
    domain_of: dict[str, int] = {}
    for e in audit:
        if e.get("type") != "instance":
            continue
        domain = int(e["updateDomain"] if e.get("updateDomain") is not None else e["faultDomain"])
        domain_of[str(e["instanceId"])] = domain
        if not instance_unavailable(e, True) and float(e["time"]) >= sim_start:
            ready_at[domain] = max(ready_at.get(domain, 0.0), float(e["time"]))
    first_ud = [domain_of.get(str(e["body"]["instanceIds"][0]), -1) for e in upgrades]
    gaps = []
    for k in range(1, len(upgrades)):
        previous = ready_at.get(first_ud[k - 1])
        if previous is not None:
            gaps.append((float(upgrades[k]["time"]) - previous) / scale - p.pause_s)
    last_ready = max(ready_at.values()) if ready_at else sim_end
    breakdown = {
        "create_to_model_update_s": round((float(model_updates[0]["time"]) - sim_start) / scale, 3)
        if model_updates
        else None,
        "model_update_to_first_upgrade_s": round(
            (float(upgrades[0]["time"]) - float(model_updates[0]["time"])) / scale, 3
        )
        if model_updates and upgrades
        else None,
        "domain_ready_to_next_upgrade_minus_pause_s": [round(g, 3) for g in gaps],
        "last_instance_ready_to_succeeded_s": round(wall - (last_ready - sim_start) / scale, 3),
        "first_upgrade_to_last_ready_s": round((last_ready - float(upgrades[0]["time"])) / scale, 3)
        if upgrades
        else None,
    }
    walk = breakdown["first_upgrade_to_last_ready_s"]
    return {
        "instances": n,
        "calls": calls,
        "time": {
            "measured_s": round(wall, 3),
            "ideal_s": round(p.ideal_s, 3),
            "ratio": round(wall / p.ideal_s, 4),
            "walk_ratio": round(walk / p.ideal_s, 4) if isinstance(walk, float) else None,
            "breakdown": breakdown,
        },
        "manualupgrades": len(upgrades),
        "max_unavailable": max_unavailable(audit),
    }


async def run(p: RolloutParams) -> dict[str, Any]:
    """Benchmarks 1, 2, 6 for every size: ``runs`` fresh rollouts each, medians reported."""
    out: dict[str, Any] = {"calls_per_rollout": {}, "time_overhead": {}, "operator_cost": {}, "raw": {}}
    for n in p.sizes:
        runs = []
        for i in range(p.runs):
            log(f"rollout N={n} run {i + 1}/{p.runs} (ideal {p.ideal_s:.1f}s)")
            result = await one_rollout(n, p)
            log(
                f"  measured {result['time']['measured_s']:.2f}s ratio {result['time']['ratio']:.3f}, "
                f"writes {result['calls']['writes']} reads {result['calls']['reads']}, "
                f"cpu {result['operator_cost']['cpu_s']:.2f}s rss {result['operator_cost']['peak_rss_mb']:.0f}MB"
            )
            runs.append(result)
        med = median_of_runs(runs)
        key = f"N{n}"
        calls = med["calls"]
        out["calls_per_rollout"][key] = {
            "writes": calls["writes"],
            "reads": calls["reads"],
            "reads_per_domain": calls["reads_per_domain"],
            "by_operation": calls["by_operation"],
            "vm_list_pages": calls["vm_list_pages"],
            "per_instance_requests": calls["per_instance_requests"],
            "throttled": calls["throttled"],
            "writes_minimum": 1 + p.domains,
            "runs": p.runs,
        }
        out["time_overhead"][key] = {**med["time"], "runs": p.runs}
        out["operator_cost"][key] = {**med["operator_cost"], "runs": p.runs}
        out["raw"][key] = runs
    out["parameters"] = p.describe()
    return out
