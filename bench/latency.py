"""Benchmark 5: reaction latency, from a spec change to the model update request reaching Azure.

One small scale set (2 instances) and one ScaleSetImage walking it as a single batch of 2 (so a change
is one model update and one manualupgrade), rolled out once first.
Then, 50 times: change ``spec.image.marketplace.version`` (alternating between two published versions)
with a merge patch through the Kubernetes API, noting the emulator's clock just before the request;
find the first PATCH or PUT of the scale set after that in the emulator's audit; the latency is the
difference, in real seconds. Each change waits for the rollout it started to reach Succeeded (with the
new generation observed) and then a random pause of 0 to 1 tick (seeded) before the next, so every
change meets a settled resource at a random point of the operator's timer cycle, as a user's does.
(Without that pause the change would always land just after the tick that wrote Succeeded, and the
latency would always be one full tick: the bench would be synchronised with the operator.)

The operator runs with the default ``--tick`` (1 s): a spec change is noticed by kopf's watch at once,
but the reconcile itself runs on the resource's next timer tick, so ``tick`` is what bounds this latency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from dataclasses import dataclass
from typing import Any

from .common import (
    NEW,
    NEWER,
    OperatorSettings,
    emulators,
    log,
    manifest,
    median,
    new_workdir,
    operator,
    percentile,
    published_budget,
    remove_workdir,
    scale_set,
    scale_set_prefix,
    scenario,
    wait_until,
)

RG, VMSS, NAME = "rg-lat", "vmss-lat", "lat"


@dataclass(frozen=True)
class LatencyParams:
    changes: int
    scale: float
    upgrade_sim: float
    model_update_sim: float
    operator: OperatorSettings
    runs: int = 1

    def describe(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "instances": 2,
            "domains": "1 (domainKind Batch, batchSize 2)",
            "time_scale": self.scale,
            "T_upgrade_s": round(self.upgrade_sim / self.scale, 4),
            "operator": self.operator.describe(),
            "emulator_throttling": "published ARM and Compute limits, counted in emulated seconds",
            "operator_budget": "published limits, rates times the time scale; default shares (0.5, 0.75)",
            "runs": self.runs,
        }


def _settled_on(env: Any, generation: int) -> bool:
    status = env.status(NAME)
    return bool(status.get("phase") == "Succeeded" and int(status.get("observedGeneration") or 0) >= generation)


async def one_run(p: LatencyParams) -> dict[str, Any]:
    workdir = new_workdir("latency")
    # Azure's published limits in the world's time, as in benchmarks 1, 2 and 4: with the operator's default
    # budget (real-time refill), its per-scale-set share of VMSS updates (3 a minute) would pace the changes,
    # 50 a few seconds apart, and this would measure the budget rather than how soon a change is acted on.
    data = scenario(
        {RG: {VMSS: scale_set(2, 2)}},
        upgrade_s=p.upgrade_sim,
        model_update_s=p.model_update_sim,
        throttling={"enabled": True, "clock": "scenario"},
    )
    settings = dataclasses.replace(p.operator, budget=published_budget(p.scale))
    prefix = scale_set_prefix(RG, VMSS)
    latencies: list[float] = []
    cycle_s: list[float] = []
    try:
        async with emulators(data, p.scale, workdir) as env, operator(env, settings) as op:
            await env.create(manifest(NAME, RG, VMSS, NEW, domainKind="Batch", batchSize=2))
            await wait_until(lambda: _settled_on(env, 1), within=120, what="the first rollout")
            rng = random.Random(20240601)
            for i in range(p.changes):
                await asyncio.sleep(rng.uniform(0.0, p.operator.tick))
                version = NEWER if i % 2 == 0 else NEW
                seen = len(env.audit())
                sim_before = env.sim_now()
                started = time.monotonic()
                generation = await env.patch_spec(NAME, {"image": {"marketplace": {"version": version}}})

                def model_update(seen: int = seen) -> dict[str, Any] | None:
                    for event in env.audit()[seen:]:
                        if (
                            event.get("type") == "request"
                            and event.get("method") in ("PATCH", "PUT")
                            and str(event.get("path", "")).lower() == prefix
                        ):
                            return event
                    return None

                await wait_until(lambda: model_update() is not None, within=60, interval=0.005, what="a model update")
                event = model_update()
                assert event is not None
                latencies.append((float(event["time"]) - sim_before) / p.scale)

                def settled(generation: int = generation) -> bool:
                    return _settled_on(env, generation)

                await wait_until(settled, within=120, what="the rollout to settle")
                cycle_s.append(time.monotonic() - started)
                if (i + 1) % 10 == 0:
                    log(f"latency: {i + 1}/{p.changes} changes, p50 so far {median(latencies):.3f}s")
            op.sample()
        return {
            "p50_s": round(median(latencies), 3),
            "p99_s": round(percentile(latencies, 99), 3),
            "max_s": round(max(latencies), 3),
            "min_s": round(min(latencies), 3),
            "mean_s": round(sum(latencies) / len(latencies), 3),
            "changes": len(latencies),
            "change_to_succeeded_p50_s": round(median(cycle_s), 3),
            "samples_s": [round(x, 3) for x in latencies],
        }
    finally:
        remove_workdir(workdir)


async def run(p: LatencyParams) -> dict[str, Any]:
    results = []
    for i in range(p.runs):
        log(f"reaction latency run {i + 1}/{p.runs}: {p.changes} spec changes, operator --tick {p.operator.tick:g}")
        result = await one_run(p)
        log(f"  p50 {result['p50_s']:.3f}s p99 {result['p99_s']:.3f}s")
        results.append(result)
    best = results[0] if len(results) == 1 else None
    out: dict[str, Any] = {
        "p50_s": round(median(r["p50_s"] for r in results), 3),
        "p99_s": round(median(r["p99_s"] for r in results), 3),
        "max_s": round(max(r["max_s"] for r in results), 3),
        "mean_s": round(median(r["mean_s"] for r in results), 3),
        "change_to_succeeded_p50_s": round(median(r["change_to_succeeded_p50_s"] for r in results), 3),
        "changes": p.changes,
        "runs": p.runs,
        "parameters": p.describe(),
    }
    out["samples_s"] = best["samples_s"] if best else [r["samples_s"] for r in results]
    return out
