"""The benchmark parameters: the full suite (``make bench``) and the tiny one (``--quick``).

Time: each benchmark picks a time scale S (emulated seconds per real second) so a rollout takes seconds.
Instance upgrade times T are emulated seconds in the scenario (real T = T_emulated / S); the manifest's
``pauseBetweenDomains`` and the operator's ``pollInterval`` and ``--tick`` are real seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from .baselines import BaselineParams
from .common import OperatorSettings
from .failover import FailoverParams
from .fleet import FleetParams
from .latency import LatencyParams
from .rollout import RolloutParams

BENCHMARKS = ("rollout", "baselines", "fleet", "latency", "flex", "failover")


@dataclass(frozen=True)
class Suite:
    name: str
    rollout: RolloutParams
    baselines: BaselineParams
    fleet: FleetParams
    latency: LatencyParams
    failover: FailoverParams


def fleet(resources: int) -> FleetParams:
    """The fleet benchmark at ``resources`` scale sets of 5 instances in 5 update domains."""
    return FleetParams(
        resources=resources,
        instances=5,
        domains=5,
        groups=10,
        scale=4.0,
        upgrade_sim=60.0,
        model_update_sim=1.0,
        operator=OperatorSettings(poll_interval=10.0, tick=1.0, resync_interval=300.0),
        timeout_s=max(900.0, 3.0 * resources),
        runs=1,
    )


def full(runs: int = 3, fleet_size: int = 200) -> Suite:
    return Suite(
        name="full",
        # 1, 2, 6: S=60, so T = 180 emulated s (a 3-minute upgrade) is 3 s; pause 1 s (60 emulated s);
        # the operator polls every 0.2 s (12 emulated s, near the 10 s default) on a 0.1 s tick.
        rollout=RolloutParams(
            sizes=(100, 1000),
            domains=5,
            scale=60.0,
            upgrade_sim=180.0,
            pause="1s",
            pause_s=1.0,
            model_update_sim=6.0,
            operator=OperatorSettings(poll_interval=0.2, tick=0.1, resync_interval=300.0),
            runs=runs,
        ),
        # 3: S=120, T = 60 emulated s (0.5 s), health grace 15 emulated s; every poller every 5 emulated s.
        baselines=BaselineParams(
            instances=100,
            domains=5,
            scale=120.0,
            upgrade_sim=60.0,
            grace_sim=15.0,
            model_update_sim=6.0,
            poll_sim=5.0,
            operator_tick=0.02,
            runs=runs,
            bad_image_runs=1,
        ),
        # 4: 200 scale sets x 5 instances (``--fleet-size 1000`` for 1000 x 5 = 5,000 instances), S=4,
        # T = 60 emulated s (15 s); the emulator enforcing Azure's published limits in emulated seconds; the
        # operator at its default pollInterval (10 s), tick (1 s) and share (0.5 of the subscription's limits).
        fleet=fleet(fleet_size),
        # 5: the default tick (1 s), as users run it.
        latency=LatencyParams(
            changes=50,
            scale=60.0,
            upgrade_sim=6.0,
            model_update_sim=3.0,
            operator=OperatorSettings(poll_interval=0.2, tick=1.0, resync_interval=300.0),
            runs=1,
        ),
        # 8: the chart's election timings (15 s, 10 s, 2 s); S=20, T = 60 emulated s (3 s per domain).
        failover=FailoverParams(
            lease_duration=15.0,
            renew_deadline=10.0,
            retry_period=2.0,
            instances=10,
            domains=5,
            scale=20.0,
            upgrade_sim=60.0,
            runs=runs,
        ),
    )


def quick() -> Suite:
    """Every benchmark at tiny sizes, one run each: a smoke test of the whole bench (under a minute)."""
    return Suite(
        name="quick",
        rollout=RolloutParams(
            sizes=(10, 40),
            domains=2,
            scale=60.0,
            upgrade_sim=30.0,
            pause="1s",
            pause_s=1.0,
            model_update_sim=3.0,
            operator=OperatorSettings(poll_interval=0.2, tick=0.1, resync_interval=300.0),
            runs=1,
        ),
        baselines=BaselineParams(
            instances=10,
            domains=2,
            scale=120.0,
            upgrade_sim=30.0,
            grace_sim=6.0,
            model_update_sim=3.0,
            poll_sim=5.0,
            operator_tick=0.02,
            runs=1,
            bad_image_runs=1,
        ),
        fleet=FleetParams(
            resources=10,
            instances=4,
            domains=2,
            groups=2,
            scale=10.0,
            upgrade_sim=5.0,
            model_update_sim=1.0,
            operator=OperatorSettings(poll_interval=1.0, tick=0.5, resync_interval=300.0),
            timeout_s=120.0,
            runs=1,
        ),
        latency=LatencyParams(
            changes=5,
            scale=60.0,
            upgrade_sim=6.0,
            model_update_sim=3.0,
            operator=OperatorSettings(poll_interval=0.2, tick=0.2, resync_interval=300.0),
            runs=1,
        ),
        failover=FailoverParams(
            lease_duration=3.0,
            renew_deadline=2.0,
            retry_period=0.5,
            instances=4,
            domains=2,
            scale=20.0,
            upgrade_sim=40.0,
            runs=1,
        ),
    )
