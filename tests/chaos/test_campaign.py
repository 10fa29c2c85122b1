"""A small sample of the fault campaign in the test suite: six seeds, one of them SIGKILLs the operator, and
two more on a Flexible scale set (one of them with a kill).

Each seed's schedule runs against fresh emulators and the real operator process (as
``python -m scaleset_testbed.chaos --seeds N`` does) and must violate no invariant. Marked ``chaos``: left out
of a plain ``pytest`` run, included by ``make test`` (``-m "chaos or not chaos"``). Seeds are not chosen to
avoid known operator bugs: a failure here names the invariant and its evidence; the campaign's saved run
(``--out``) has the audit and status history to explain it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scaleset_testbed.chaos.runner import run_schedule
from scaleset_testbed.chaos.schedule import FAILOVER_KINDS, generate

KILL_SHARE = 0.1
# 0-4: the first seeds; 8: the first with a kill at this share (killAfterWrite: SIGKILL right after a write).
SEEDS = (0, 1, 2, 3, 4, 8)
FLEX_SEEDS = (1, 3)  # at flex_share 1.0: 1 kills the operator
# At failover_share 1.0, two replicas with leader election: 0 kills the leader, then freezes the new one past
# the lease duration (both believe they lead); 10 partitions the leader from the API server for 3.9 s.
FAILOVER_SEEDS = (0, 10)

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def test_the_sample_kills_the_operator_at_least_once() -> None:
    assert sum(generate(seed, KILL_SHARE).kills for seed in SEEDS) >= 1
    assert sum(generate(seed, 0.3, flex_share=1.0).kills for seed in FLEX_SEEDS) >= 1


def test_the_failover_sample_kills_partitions_and_freezes_a_leader() -> None:
    kinds = {a.kind for seed in FAILOVER_SEEDS for a in generate(seed, KILL_SHARE, failover_share=1.0).actions}
    assert {"killLeader", "partitionLeader", "freezeLeader"} <= kinds


def test_a_seed_draws_the_same_schedule_at_any_failover_share() -> None:
    for seed in range(20):
        single, pair = generate(seed, 0.3, flex_share=0.3), generate(seed, 0.3, flex_share=0.3, failover_share=1.0)
        assert single.actions == tuple(a for a in pair.actions if a.kind not in FAILOVER_KINDS)
        assert (single.world.replicas, pair.world.replicas) == (1, 2)


@pytest.mark.parametrize("seed", FAILOVER_SEEDS, ids=str)
async def test_failover_schedule_violates_no_invariant(seed: int, tmp_path: Path) -> None:
    schedule = generate(seed, KILL_SHARE, failover_share=1.0)
    result, observation = await run_schedule(schedule, tmp_path)
    assert result.error is None, result.line()
    assert result.violations == [], f"{result.line()}\nschedule: {schedule.describe()}\n" + "\n".join(
        f"  {v.invariant} at {v.time:.2f}: {v.evidence}" for v in result.violations
    )
    assert result.extra["replicas"] == 2
    assert observation.leases, "the Lease's holders were recorded"


def test_a_seed_draws_the_same_schedule_at_any_flex_share() -> None:
    for seed in range(20):
        uniform, flexible = generate(seed, 0.3), generate(seed, 0.3, flex_share=1.0)
        assert uniform.actions == flexible.actions
        assert (uniform.world.flexible, flexible.world.flexible) == (False, True)


@pytest.mark.parametrize(("seed", "flex_share"), [*((s, 0.0) for s in SEEDS), *((s, 1.0) for s in FLEX_SEEDS)], ids=str)
async def test_schedule_violates_no_invariant(seed: int, flex_share: float, tmp_path: Path) -> None:
    schedule = generate(seed, 0.3 if flex_share else KILL_SHARE, flex_share=flex_share)
    assert schedule.world.flexible == bool(flex_share)
    result, _ = await run_schedule(schedule, tmp_path)
    assert result.error is None, result.line()
    assert result.violations == [], f"{result.line()}\nschedule: {schedule.describe()}\n" + "\n".join(
        f"  {v.invariant} at {v.time:.2f}: {v.evidence}" for v in result.violations
    )
