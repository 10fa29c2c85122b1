"""The listing that judges a domain after ``pauseBetweenDomains`` ends when the pause does (issue 14).

Aspects: the pass that starts the pause comes back earlier by the last listing's duration and marks the end of
the pause (``ctx.ahead``); that pass lists before the end of the pause but decides, and writes, only once it is
over; without a listing duration known, or with no listing due at the end of the wait, nothing moves ahead.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from scaleset_testbed.worlds import VERSIONS

from controller.azure import SeenScaleSet
from controller.observed import ImageFacts, Observation, ObservedInstance, ObservedScaleSet
from controller.operator.reconcile import MAX_LISTING_LEAD, merge_apply, reconcile
from controller.resource import DomainState, ScaleSetImageSpec, ScaleSetImageStatus
from controller.rollout import UpgradeInstances, plan_next_step, record_operation
from tests.planner.builders import NEW, NOW, scale_set, spec
from tests.unit.test_writes import KEY, FakeAzure, context, upgraded

PAUSE = 1.0
LISTING = 0.02
"""How long a listing takes now; the last one took ``LAST_LISTING`` (so the lead is longer than the listing)."""
LAST_LISTING = 0.2


class TimedAzure(FakeAzure):
    """A FakeAzure whose listing takes ``LISTING`` seconds and that notes when each call was made."""

    def __init__(self, model_version: str, instances: tuple[ObservedInstance, ...]) -> None:
        super().__init__(model_version, instances)
        self.listed_at: list[float] = []
        self.upgraded_at: list[float] = []

    async def list_instances(self, ref: Any, *, flexible: bool = False) -> tuple[ObservedInstance, ...]:
        self.listed_at.append(time.monotonic())
        await asyncio.sleep(LISTING)
        return await super().list_instances(ref, flexible=flexible)

    async def manual_upgrade(self, ref: Any, ids: list[str]) -> str:
        self.upgraded_at.append(time.monotonic())
        return await super().manual_upgrade(ref, ids)


def paused_spec(**rollout: Any) -> ScaleSetImageSpec:
    return spec(pauseBetweenDomains=f"{PAUSE:g}s", **rollout)


def upgrading_ud0(sp: ScaleSetImageSpec) -> ScaleSetImageStatus:
    """The walk's first domain (ud-0, instances 0 and 5) upgrading, its manualupgrade in flight."""

    def plan(status: ScaleSetImageStatus, ss: ObservedScaleSet) -> ScaleSetImageStatus:
        obs = Observation(scale_set=ss, image=ImageFacts(marketplace_versions=VERSIONS))
        return plan_next_step(sp, status, obs, now=NOW, generation=1).status

    s = plan(ScaleSetImageStatus(), scale_set())
    s = plan(s, scale_set(NEW))
    s = record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW)
    assert s.domain("ud-0") is not None
    assert s.operation is not None
    return s


def body(sp: ScaleSetImageSpec, status: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": KEY[0], "name": KEY[1], "generation": 1, "uid": "uid-1"},
        "spec": sp.to_dict(),
        "status": status,
    }


def post(reason: str, message: str, warning: bool) -> None:
    return None


async def test_the_listing_after_a_pause_starts_ahead_of_its_end_and_the_next_domain_waits_for_the_end() -> None:
    sp = paused_spec()
    azure = TimedAzure(NEW, upgraded(scale_set(NEW), ["0", "5"]).instances)
    ctx = context(azure)
    ctx.seen[KEY] = SeenScaleSet(azure._now(), time.monotonic() - 1, listed_in=LAST_LISTING)
    status = upgrading_ud0(sp).to_dict()

    # The poll sees ud-0's upgrade over: the pause starts, nothing is listed yet.
    patch, requeue = await reconcile(ctx, body(sp, status), post_event=post)
    status = merge_apply(status, patch)
    assert azure.calls["list_instances"] == 0
    assert status["domains"][0]["state"] == DomainState.VERIFYING
    assert "nextDomainAt" in status
    end = ctx.ahead.get(KEY)
    assert end is not None, "the end of the pause is marked for the pass that lists ahead of it"
    assert abs(requeue - (PAUSE - LAST_LISTING)) < 1e-6, requeue

    await asyncio.sleep(max(0.0, end - LAST_LISTING - time.monotonic()))
    patch, requeue = await reconcile(ctx, body(sp, status), post_event=post)
    status = merge_apply(status, patch)
    assert azure.listed_at, "the pass ahead of the end of the pause lists the instances"
    assert azure.listed_at[0] < end, "the listing starts before the pause ends"
    assert azure.upgraded_at, "ud-0 healthy after the pause: the next domain starts in the same pass"
    assert azure.upgraded_at[0] >= end, "the next domain never starts before the pause is over"
    assert status["domains"][0]["state"] == DomainState.SUCCEEDED
    assert status["domains"][1]["state"] == DomainState.UPGRADING
    assert azure.calls["list_instances"] == 1
    assert KEY not in ctx.ahead
    listed_in = ctx.seen[KEY].listed_in
    assert listed_in is not None, "the pass measured its listing, for the next lead"
    assert LISTING <= listed_in < LAST_LISTING


async def test_nothing_moves_ahead_without_a_listing_duration_known() -> None:
    sp = paused_spec()
    azure = TimedAzure(NEW, upgraded(scale_set(NEW), ["0", "5"]).instances)
    ctx = context(azure)
    ctx.seen[KEY] = SeenScaleSet(azure._now(), time.monotonic() - 1)  # listed_in unknown
    patch, requeue = await reconcile(ctx, body(sp, upgrading_ud0(sp).to_dict()), post_event=post)
    assert "nextDomainAt" in patch
    assert requeue == PAUSE
    assert KEY not in ctx.ahead


async def test_a_wait_that_no_listing_ends_is_not_moved_ahead() -> None:
    # Paused by the user: the pass waits, and the one after it lists anyway (the spec decides, not time).
    sp = paused_spec(paused=True)
    azure = TimedAzure(NEW, upgraded(scale_set(NEW), ["0", "5"]).instances)
    ctx = context(azure)
    ctx.seen[KEY] = SeenScaleSet(azure._now(), time.monotonic() - 1, listed_in=LAST_LISTING)
    _, requeue = await reconcile(ctx, body(sp, upgrading_ud0(sp).to_dict()), post_event=post)
    assert KEY not in ctx.ahead
    assert requeue > 0


async def test_a_mark_far_from_now_is_ignored_and_dropped() -> None:
    sp = paused_spec()
    azure = TimedAzure(NEW, upgraded(scale_set(NEW), ["0", "5"]).instances)
    ctx = context(azure)
    ctx.seen[KEY] = SeenScaleSet(azure._now(), time.monotonic() - 1, listed_in=LAST_LISTING)
    ctx.ahead[KEY] = time.monotonic() + 10 * MAX_LISTING_LEAD  # left from a pass long ago (say, a spec change)
    started = time.monotonic()
    await reconcile(ctx, body(sp, upgrading_ud0(sp).to_dict()), post_event=post)
    assert time.monotonic() - started < 2 * MAX_LISTING_LEAD, "the pass did not wait for a far mark"
    assert ctx.ahead.get(KEY, 0.0) < started + 2 * PAUSE
