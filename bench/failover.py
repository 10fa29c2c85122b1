"""Benchmark 8: failover between two replicas with leader election (issue 16), at the chart's timings.

Two ``scaleset-image run --leader-election`` processes (lease duration 15 s, renew deadline 10 s, retry period
2 s) and one rollout of 5 domains. In the middle of the second domain the leader is stopped, in one of two ways:

- ``kill``: SIGKILL, as a node failure or an OOM kill. Nobody releases the Lease. The standby takes it once it
  has seen the record unchanged for a lease duration.
- ``sigterm``: a clean stop, as in a rolling update or a drain. The leader releases the Lease, and the standby
  takes it at its next try.

Measured from the stop: until the standby holds the Lease (the failover), and until its first Azure request.
Then the rollout must finish with every instance upgraded once and no domain repeated or skipped. The bound
printed for ``kill`` is what the algorithm allows: the last renewal can be seen up to one jittered retry
period late, and the expiry can be noticed one more late, so lease duration + 2 x 1.2 x retry period.
"""

from __future__ import annotations

import signal
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaleset_testbed import worlds
from scaleset_testbed.system import Election, Env, OperatorProcess, OperatorSettings, emulators, wait_until
from scaleset_testbed.worlds import RG, V1, V2, VMSS

from .common import log

JITTER = 1.2  # client-go's jitter factor, as controller.operator.leader uses it
STOPS = ("kill", "sigterm")


@dataclass(frozen=True)
class FailoverParams:
    lease_duration: float
    renew_deadline: float
    retry_period: float
    instances: int
    domains: int
    scale: float
    upgrade_sim: float
    runs: int

    def describe(self) -> dict[str, Any]:
        return {
            "lease_duration_s": self.lease_duration,
            "renew_deadline_s": self.renew_deadline,
            "retry_period_s": self.retry_period,
            "instances": self.instances,
            "update_domains": self.domains,
            "S_time_scale": self.scale,
            "T_upgrade_emulated_s": self.upgrade_sim,
            "runs": self.runs,
        }

    @property
    def bound_s(self) -> float:
        return self.lease_duration + 2 * JITTER * self.retry_period


def _in_flight(env: Env, domain: str) -> bool:
    status = env.status("web")
    return status.get("currentDomain") == domain and bool(status.get("operation"))


def _requests_by(env: Env, identity: str) -> int:
    return sum(
        1 for e in env.audit() if e["type"] == "request" and f"replica/{identity}" in str(e.get("userAgent", ""))
    )


def _walk_ok(env: Env, instances: int, domains: int) -> bool:
    upgrades = env.accepted_upgrades()
    per_instance = Counter(i for ids in upgrades for i in ids)
    return (
        sorted(per_instance, key=int) == [str(i) for i in range(instances)]
        and set(per_instance.values()) == {1}
        and [int(ids[0]) % domains for ids in upgrades] == list(range(domains))
    )


async def one_failover(p: FailoverParams, stop: str) -> dict[str, Any]:
    world = worlds.scenario(
        {RG: {VMSS: worlds.scale_set(p.instances, p.domains, p.domains, version=V1)}},
        timing={"instanceUpgradeSeconds": p.upgrade_sim, "jitterSeconds": 0.0, "modelUpdateSeconds": 2.0},
    )

    def settings(identity: str) -> OperatorSettings:
        election = Election(
            identity, lease_duration=p.lease_duration, renew_deadline=p.renew_deadline, retry_period=p.retry_period
        )
        return OperatorSettings(poll_interval=0.2, tick=0.1, resync_interval=5.0, election=election)

    with tempfile.TemporaryDirectory(prefix="scaleset-bench-failover-") as tmp:
        async with emulators(world, p.scale, Path(tmp)) as env:
            a = OperatorProcess(env, settings("a"), "replica-a")
            b = OperatorProcess(env, settings("b"), "replica-b")
            try:
                await a.start()
                await wait_until(lambda: env.lease_holder() == "a", within=60, what="replica a to lead")
                await b.start()
                await env.create(worlds.manifest("web", version=V2))
                await wait_until(
                    lambda: (
                        env.status("web").get("currentDomain") == "ud-1" and bool(env.status("web").get("operation"))
                    ),
                    within=120,
                    what="domain ud-1 in flight",
                )
                before = _requests_by(env, "b")
                assert a.proc is not None
                stopped = time.monotonic()
                if stop == "kill":
                    await a.kill()
                else:
                    a.proc.send_signal(signal.SIGTERM)
                took = await wait_until(
                    lambda: env.lease_holder() == "b", within=120, what="replica b to take the Lease"
                )
                acted = await wait_until(
                    lambda: _requests_by(env, "b") > before, within=120, what="replica b's first Azure request"
                )
                await wait_until(
                    lambda: env.status("web").get("phase") == "Succeeded", within=300, what="the rollout to succeed"
                )
                return {
                    "stop": stop,
                    "failover_s": round(took - stopped, 3),
                    "first_request_s": round(acted - stopped, 3),
                    "walk_ok": _walk_ok(env, p.instances, p.domains),
                    "leader_at_end": env.status("web").get("leader"),
                }
            finally:
                await a.stop()
                await b.stop()


async def run(p: FailoverParams) -> dict[str, Any]:
    out: dict[str, Any] = {"raw": {}, "parameters": {**p.describe(), "bound_kill_s": round(p.bound_s, 2)}}
    for stop in STOPS:
        runs = []
        for i in range(p.runs):
            log(f"failover ({stop}) run {i + 1}/{p.runs}")
            result = await one_failover(p, stop)
            log(
                f"  Lease taken after {result['failover_s']:.2f}s, first request after {result['first_request_s']:.2f}s"
            )
            runs.append(result)
        out["raw"][stop] = runs
        out[stop] = {
            "failover_s": round(statistics.median(r["failover_s"] for r in runs), 3),
            "failover_max_s": max(r["failover_s"] for r in runs),
            "first_request_s": round(statistics.median(r["first_request_s"] for r in runs), 3),
            "all_failovers_s": [r["failover_s"] for r in runs],
            "walks_ok": sum(1 for r in runs if r["walk_ok"]),
            "runs": len(runs),
        }
    return out
