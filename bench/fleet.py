"""Benchmark 4: a fleet of rollouts in one subscription, all started together, under Azure's published limits.

N ScaleSetImage resources (in ``groups`` namespaces), each on its own Manual scale set of ``instances``
instances over ``domains`` update domains, all in one subscription, created back to back through the
Kubernetes API while one operator process watches. The emulator enforces the limits Azure publishes (ARM:
reads 250 @ 25/s, writes 200 @ 10/s per subscription and principal; Compute: a bucket per scale set and one
per subscription for each kind of call, e.g. instance listings 10/min up to 30 per scale set and 360/min up
to 1,080 per subscription), counted in emulated seconds (``throttling.clock: scenario``) so that with the
world running S times faster the ratio between rollout time and request limits is Azure's. The operator's
budget is the same published limits with their per-second and per-minute rates times S (capacities
unchanged), and its ``operatorShare`` of the subscription's buckets.

Measured: every resource reaches Succeeded, 429s received (audit and emulator counter), the operator's peak
RSS and CPU seconds (per rollout too), and the makespan (first create request to the last Succeeded seen)
against the bound: for each bucket, (N x what one rollout needs from it - the operator's burst) / the
operator's refill rate, the largest of them (and never less than one rollout's ideal D*T). Which bucket
sets it is printed with it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

from scaleset_testbed.azure.scenario import Throttling

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
    published_budget,
    remove_workdir,
    scale_set,
    scenario,
)

PAGE_SIZE = 100  # the emulator's page of a VM listing, as Azure's


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
    share: float = 0.5  # the operator's share of the subscription's buckets (its default)
    resource_share: float = 0.75  # and of each scale set's (its default)
    runs: int = 1

    @property
    def upgrade_real(self) -> float:
        return self.upgrade_sim / self.scale

    @property
    def ideal_s(self) -> float:
        return self.domains * self.upgrade_real  # pauseBetweenDomains 0s

    def budget(self) -> dict[str, Any]:
        """The operator's azureBudget: the published limits with rates times the time scale."""
        return published_budget(self.scale, self.share, self.resource_share)

    def describe(self) -> dict[str, Any]:
        return {
            "resources": self.resources,
            "instances_each": self.instances,
            "instances_total": self.resources * self.instances,
            "update_domains": self.domains,
            "namespaces_and_resource_groups": self.groups,
            "subscriptions": 1,
            "time_scale": self.scale,
            "T_upgrade_s": round(self.upgrade_real, 3),
            "T_upgrade_emulated_s": self.upgrade_sim,
            "P_pause_s": 0.0,
            "ideal_s": round(self.ideal_s, 3),
            "emulator_throttling": "published ARM and Compute limits, counted in emulated seconds",
            "operator_share": self.share,
            "operator_resource_share": self.resource_share,
            "operator": self.operator.describe(),
            "runs": self.runs,
        }


def bound(p: FleetParams) -> dict[str, Any]:
    """The makespan no operator can beat with its share of the published limits, in real seconds.

    What one rollout needs at least: D + 2 instance listings (before the model update, after it, one per
    domain boundary) of ceil(n / 100) pages; D + 1 writes (the model update and one manualupgrade per
    domain), each a Compute scale-set update and each preceded by a GET of the model (the operator never
    writes on a cached model); at least one poll per operation. For each
    bucket, N times that, less the operator's burst, over its refill rate; and no rollout shorter than D*T.
    """
    limits = Throttling()
    pages = math.ceil(p.instances / PAGE_SIZE)
    need = {
        "VMScaleSetHighCostGet": (p.domains + 2) * pages,
        "VMScaleSetLowCostGet": p.domains + 1,  # the model is read again right before each write
        "VMScaleSetUpdate": p.domains + 1,
    }
    per_bucket: dict[str, float] = {}
    reads = need["VMScaleSetHighCostGet"] + need["VMScaleSetLowCostGet"] + (p.domains + 1)
    writes = need["VMScaleSetUpdate"]
    for name, count, limit in (("ARM reads", reads, limits.reads), ("ARM writes", writes, limits.writes)):
        total = p.resources * count - limit.capacity * p.share
        per_bucket[name] = max(0.0, total) / (limit.refill_per_second * p.share)
    for c in limits.compute_limits:
        if c.name not in need:
            continue
        sub = c.subscription
        total = p.resources * need[c.name] - sub.capacity * p.share
        per_bucket[f"Compute {c.name} per subscription"] = max(0.0, total) / (sub.refill_per_minute / 60 * p.share)
        if c.resource is not None:
            res = c.resource
            total = need[c.name] - res.capacity * p.resource_share
            per_bucket[f"Compute {c.name} per scale set"] = max(0.0, total) / (
                res.refill_per_minute / 60 * p.resource_share
            )
    binding = max(per_bucket, key=lambda k: per_bucket[k])
    emulated = max(per_bucket[binding], p.domains * p.upgrade_sim)
    return {
        "bound_s": round(emulated / p.scale, 1),
        "bound_emulated_s": round(emulated, 1),
        "binding_limit": binding if per_bucket[binding] >= p.domains * p.upgrade_sim else "one rollout's D*T",
        "per_bucket_emulated_s": {k: round(v, 1) for k, v in per_bucket.items()},
        "needs_per_rollout": {**need, "ARM reads": reads, "ARM writes": writes},
    }


def _names(p: FleetParams, i: int) -> tuple[str, str, str, str]:
    group = i % p.groups
    return f"team-{group:02d}", f"rg-fleet-{group:02d}", f"vmss-{i:04d}", f"app-{i:04d}"


async def one_fleet(p: FleetParams) -> dict[str, Any]:
    sets: dict[str, dict[str, dict[str, Any]]] = {}
    for i in range(p.resources):
        _, rg, vmss, _ = _names(p, i)
        sets.setdefault(rg, {})[vmss] = scale_set(p.instances, p.domains)
    data = scenario(
        sets,
        upgrade_s=p.upgrade_sim,
        model_update_s=p.model_update_sim,
        throttling={"enabled": True, "clock": "scenario"},  # the published limits, in emulated seconds
    )
    settings = dataclasses.replace(p.operator, budget=p.budget())
    the_bound = bound(p)
    workdir = new_workdir("fleet")
    try:
        async with emulators(data, p.scale, workdir) as env, operator(env, settings) as op:
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
                        f"fleet: {len(done)}/{p.resources} succeeded after {now - started:.0f}s "
                        f"(bound {the_bound['bound_s']:.0f}s), 429s {env.azure.throttler.throttled}, "
                        f"operator RSS {op.peak_rss_mb:.0f} MB, CPU {op.cpu_seconds() - cpu_before:.0f}s"
                    )
            finished = max(done.values()) if done else time.monotonic()
            cpu = op.cpu_seconds() - cpu_before
            op.sample()
            logs = op.log_stats()
            audit = list(env.audit())
            throttled_counter = env.azure.throttler.throttled
            throttled_by = dict(env.azure.throttler.throttled_by)
        requests = azure_requests(audit)
        calls = call_summary(requests)
        makespan = finished - started
        durations = [done[k] - created[k] for k in done]
        listings = calls["by_operation"].get("VirtualMachineScaleSetVMs_List", 0)
        return {
            "resources": p.resources,
            "instances_total": p.resources * p.instances,
            "completed": len(done),
            "throttled": calls["throttled"],
            "throttled_emulator_counter": throttled_counter,
            "throttled_by": throttled_by,
            "peak_rss_mb": round(op.peak_rss_mb, 1),
            "cpu_s": round(cpu, 2),
            "cpu_s_per_rollout": round(cpu / max(1, len(done)), 3),
            "makespan_s": round(makespan, 2),
            "ideal_s": round(p.ideal_s, 2),
            "makespan_ratio": round(makespan / p.ideal_s, 3),
            **the_bound,
            "makespan_over_bound": round(makespan / the_bound["bound_s"], 3) if the_bound["bound_s"] else None,
            "first_completed_s": round(min(done.values()) - started, 2) if done else None,
            "rollout_s_p50": round(median(durations), 2),
            "rollout_s_max": round(max(durations), 2) if durations else None,
            "writes": calls["writes"],
            "reads": calls["reads"],
            "errors": calls["errors"],
            "listings_per_rollout": round(listings / p.resources, 2),
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
        b = bound(p)
        log(
            f"fleet of {p.resources} x {p.instances} instances run {i + 1}/{p.runs}: bound {b['bound_s']:.0f}s "
            f"set by {b['binding_limit']} (each rollout alone: {p.ideal_s:.0f}s)"
        )
        result = await one_fleet(p)
        log(
            f"  completed {result['completed']}/{p.resources}, makespan {result['makespan_s']:.0f}s "
            f"(x{result['makespan_over_bound']} the bound), 429s {result['throttled']}, "
            f"RSS {result['peak_rss_mb']:.0f} MB, CPU {result['cpu_s_per_rollout']:.3f}s per rollout"
        )
        results.append(result)
    return {**median_of_runs(results), "runs": p.runs, "parameters": p.describe(), "raw": results}
