"""Benchmark 4: a fleet of rollouts in one subscription, all started together, under ARM's throttling.

200 ScaleSetImage resources (in 10 namespaces), each on its own Manual scale set of 10 instances over 5
update domains, all in one subscription, created back to back through the Kubernetes API while one
operator process watches. The emulator enforces ARM's default subscription limits (reads: 250 tokens
refilled at 25/s; writes: 200 at 10/s) on real seconds. The Compute resource provider's own per-policy
windows are left off (``computePolicies: []``): Microsoft does not publish them, and the operator's
matching client-side windows are switched off too (``azureBudget.windows: []``); the rest of the
operator's budget (reads 20/s, burst 200; writes 8/s, burst 150) is at its defaults.

Measured: every resource reaches Succeeded (``completed``), 429s received (audit and emulator counter),
the operator's peak RSS, and the makespan (first create request to the last Succeeded seen) against the
ideal, which is one rollout's ideal D*T + (D-1)*P since the rollouts could all run in parallel. Because
every read goes through the one subscription budget, the lower bound set by the budget alone (total reads
/ 20 per second, after the burst) is reported next to it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from .common import (
    NEW,
    OperatorSettings,
    azure_requests,
    call_summary,
    emulators,
    log,
    manifest,
    max_unavailable,
    median,
    median_of_runs,
    new_workdir,
    operator,
    percentile,
    remove_workdir,
    scale_set,
    scenario,
)

BUDGET_READS_PER_S, BUDGET_READ_BURST = 20.0, 200


@dataclass(frozen=True)
class FleetParams:
    resources: int
    instances: int
    domains: int
    groups: int  # resource groups and namespaces the resources are spread over
    scale: float
    upgrade_sim: float
    model_update_sim: float
    operator: OperatorSettings
    timeout_s: float
    runs: int = 1

    @property
    def upgrade_real(self) -> float:
        return self.upgrade_sim / self.scale

    @property
    def ideal_s(self) -> float:
        return self.domains * self.upgrade_real  # pauseBetweenDomains 0s

    def describe(self) -> dict[str, Any]:
        return {
            "resources": self.resources,
            "instances_each": self.instances,
            "update_domains": self.domains,
            "namespaces_and_resource_groups": self.groups,
            "subscriptions": 1,
            "time_scale": self.scale,
            "T_upgrade_s": round(self.upgrade_real, 3),
            "T_upgrade_emulated_s": self.upgrade_sim,
            "P_pause_s": 0.0,
            "ideal_s": round(self.ideal_s, 3),
            "emulator_throttling": "ARM defaults: reads 250 @ 25/s, writes 200 @ 10/s; computePolicies: []",
            "operator": self.operator.describe(),
            "runs": self.runs,
        }


def _names(p: FleetParams, i: int) -> tuple[str, str, str, str]:
    group = i % p.groups
    return f"team-{group:02d}", f"rg-fleet-{group:02d}", f"vmss-{i:03d}", f"app-{i:03d}"


async def one_fleet(p: FleetParams) -> dict[str, Any]:
    sets: dict[str, dict[str, dict[str, Any]]] = {}
    for i in range(p.resources):
        _, rg, vmss, _ = _names(p, i)
        sets.setdefault(rg, {})[vmss] = scale_set(p.instances, p.domains)
    data = scenario(
        sets,
        upgrade_s=p.upgrade_sim,
        model_update_s=p.model_update_sim,
        throttling={"enabled": True, "computePolicies": []},
    )
    workdir = new_workdir("fleet")
    try:
        async with emulators(data, p.scale, workdir) as env, operator(env, p.operator) as op:
            cpu_before = op.cpu_seconds()
            started = time.monotonic()
            created: dict[tuple[str, str], float] = {}
            for i in range(p.resources):
                namespace, rg, vmss, name = _names(p, i)
                await env.create(manifest(name, rg, vmss, NEW, namespace=namespace, pauseBetweenDomains="0s"))
                created[(namespace, name)] = time.monotonic()
            log(f"fleet: {p.resources} resources created in {time.monotonic() - started:.1f}s")
            done: dict[tuple[str, str], float] = {}
            last_report = 0.0
            deadline = started + p.timeout_s
            while len(done) < p.resources and time.monotonic() < deadline and op.alive():
                await asyncio.sleep(0.25)
                now = time.monotonic()
                for key, phase in env.phases().items():
                    if phase == "Succeeded" and key not in done:
                        done[key] = now
                op.sample()
                if now - last_report >= 15:
                    last_report = now
                    log(
                        f"fleet: {len(done)}/{p.resources} succeeded after {now - started:.0f}s, "
                        f"429s {env.azure.throttler.throttled}, operator RSS {op.peak_rss_mb:.0f} MB"
                    )
            finished = max(done.values()) if done else time.monotonic()
            cpu = op.cpu_seconds() - cpu_before
            op.sample()
            logs = op.log_stats()
            audit = list(env.audit())
            throttled_counter = env.azure.throttler.throttled
        requests = azure_requests(audit)
        calls = call_summary(requests)
        makespan = finished - started
        durations = [done[k] - created[k] for k in done]
        budget_bound = max(0.0, calls["reads"] - BUDGET_READ_BURST) / BUDGET_READS_PER_S
        return {
            "resources": p.resources,
            "completed": len(done),
            "throttled": calls["throttled"],
            "throttled_emulator_counter": throttled_counter,
            "peak_rss_mb": round(op.peak_rss_mb, 1),
            "cpu_s": round(cpu, 2),
            "makespan_s": round(makespan, 2),
            "ideal_s": round(p.ideal_s, 2),
            "makespan_ratio": round(makespan / p.ideal_s, 3),
            "read_budget_bound_s": round(budget_bound, 1),
            "makespan_over_read_budget_bound": round(makespan / budget_bound, 3) if budget_bound else None,
            "first_completed_s": round(min(done.values()) - started, 2) if done else None,
            "rollout_s_p50": round(median(durations), 2),
            "rollout_s_max": round(max(durations), 2) if durations else None,
            "writes": calls["writes"],
            "reads": calls["reads"],
            "errors": calls["errors"],
            "reads_per_resource": round(calls["reads"] / p.resources, 2),
            "reads_per_s": round(calls["reads"] / makespan, 2) if makespan else None,
            "writes_per_resource": round(calls["writes"] / p.resources, 2),
            "by_operation": calls["by_operation"],
            "max_unavailable_total": max_unavailable(audit),
            "rollout_s_p99": round(percentile(durations, 99), 2),
            "operator_log": logs,
        }
    finally:
        remove_workdir(workdir)


async def run(p: FleetParams) -> dict[str, Any]:
    results = []
    for i in range(p.runs):
        log(f"fleet of {p.resources} run {i + 1}/{p.runs} (ideal {p.ideal_s:.0f}s, each rollout alone)")
        result = await one_fleet(p)
        log(
            f"  completed {result['completed']}/{p.resources}, makespan {result['makespan_s']:.0f}s "
            f"(x{result['makespan_ratio']:.2f} ideal), 429s {result['throttled']}, RSS {result['peak_rss_mb']:.0f} MB"
        )
        results.append(result)
    return {**median_of_runs(results), "runs": p.runs, "parameters": p.describe(), "raw": results}
