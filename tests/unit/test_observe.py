"""How many Azure reads a reconcile pass makes, by situation (the operator's cost per pass).

Aspects: an operation in flight costs one poll; mid-walk costs one instance listing (no model GET);
settled or just after a model write costs model + listing; a stale cache or a restart reads everything.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from scaleset_testbed.worlds import ARM_ENDPOINT, VERSIONS

from controller.azure.observe import SeenScaleSet, observe
from controller.observed import ImageFacts, Observation, ObservedScaleSet, OperationState
from controller.resource import (
    ConditionType,
    DomainState,
    Operation,
    OperationKind,
    Phase,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout import UpgradeInstances, listing_needed, needs_image_facts, plan_next_step, write_likely
from tests.planner.builders import NEW, NOW, later, scale_set, spec
from tests.planner.test_gates import ANALYSIS

ARM = ARM_ENDPOINT


def token() -> str:
    data = {
        "version": 1,
        "data": {
            "request": {"url": ARM + "/subscriptions/s/x"},
            "headers": {"Azure-AsyncOperation": ARM + "/subscriptions/s/operations/op1"},
        },
    }
    return base64.b64encode(json.dumps(data).encode()).decode()


class CountingGateway:
    def __init__(self, op_status: str = "InProgress") -> None:
        self.calls: Counter[str] = Counter()
        self.op_status = op_status

    async def observe(self, ref: Any) -> ObservedScaleSet | None:
        self.calls["get_model"] += 1
        self.calls["list_instances"] += 1
        return scale_set("16.04.201807060")

    async def get_model(self, ref: Any) -> ObservedScaleSet | None:
        self.calls["get_model"] += 1
        return scale_set("16.04.201807060")

    async def list_instances(self, ref: Any, *, flexible: bool = False) -> tuple[Any, ...]:
        self.calls["list_instances"] += 1
        return scale_set().instances

    async def poll(self, ref: Any, kind: str, tok: str) -> OperationState:
        self.calls["poll"] += 1
        return OperationState(self.op_status)  # type: ignore[arg-type]

    async def marketplace_versions(self, *args: Any) -> list[str]:
        self.calls["images"] += 1
        return list(VERSIONS)

    async def rolling_progress(self, ref: Any) -> None:
        self.calls["rolling"] += 1


def walking_status() -> ScaleSetImageStatus:
    first = plan_next_step(
        spec(), ScaleSetImageStatus(), Observation(scale_set(), ImageFacts(VERSIONS)), now=NOW, generation=1
    )
    assert first.status.phase == Phase.PROGRESSING
    return first.status


def with_op(status: ScaleSetImageStatus, kind: OperationKind) -> ScaleSetImageStatus:
    op = Operation(
        kind=kind,
        domain="ud-0" if kind == OperationKind.MANUAL_UPGRADE else None,
        started_at=NOW,
        continuation_token=token(),
    )
    return evolve(status, operation=op)


@pytest.mark.parametrize(
    ("case", "op_kind", "op_status", "cached", "expected"),
    [
        ("operation running, cache fresh: one poll", OperationKind.MANUAL_UPGRADE, "InProgress", True, {"poll": 1}),
        (
            "operation done mid-walk: poll and list",
            OperationKind.MANUAL_UPGRADE,
            "Succeeded",
            True,
            {"poll": 1, "list_instances": 1},
        ),
        ("mid-walk, no operation: list only", None, "", True, {"list_instances": 1}),
        (
            "model write done: model and list",
            OperationKind.MODEL_UPDATE,
            "Succeeded",
            True,
            {"poll": 1, "get_model": 1, "list_instances": 1},
        ),
        (
            "after a restart (no cache): everything",
            OperationKind.MANUAL_UPGRADE,
            "InProgress",
            False,
            {"poll": 1, "get_model": 1, "list_instances": 1},
        ),
    ],
)
async def test_reads_per_pass(
    case: str, op_kind: OperationKind | None, op_status: str, cached: bool, expected: dict[str, int]
) -> None:
    gateway = CountingGateway(op_status or "InProgress")
    status = walking_status()
    if op_kind is not None:
        status = with_op(status, op_kind)
    seen = SeenScaleSet(scale_set("16.04.201807060"), time.monotonic()) if cached else None
    sp = spec()
    observation, _ = await observe(gateway, sp, status, ARM, seen, image_facts_needed=needs_image_facts(sp, status))  # type: ignore[arg-type]
    assert observation.scale_set is not None
    assert dict(gateway.calls) == expected, case


async def test_a_stale_cache_reads_the_model_again() -> None:
    gateway = CountingGateway()
    seen = SeenScaleSet(scale_set("16.04.201807060"), time.monotonic() - 1000)
    walking = walking_status()
    await observe(
        gateway,  # type: ignore[arg-type]
        spec(),
        walking,
        ARM,
        seen,
        max_age=300,
        image_facts_needed=needs_image_facts(spec(), walking),
    )
    assert gateway.calls["get_model"] == 1


async def test_settled_resource_reads_model_and_instances() -> None:
    gateway = CountingGateway()
    status = evolve(walking_status(), phase=Phase.SUCCEEDED)
    seen = SeenScaleSet(scale_set("16.04.201807060"), time.monotonic())
    await observe(gateway, spec(), status, ARM, seen, image_facts_needed=needs_image_facts(spec(), status))  # type: ignore[arg-type]
    assert gateway.calls["get_model"] == 1
    assert gateway.calls["list_instances"] == 1


# ------------------------------------------------------------ one listing per domain boundary, with a pause
PAUSED = spec(pauseBetweenDomains="30s")


def upgrading(domain: int, *, done_before: bool = True) -> ScaleSetImageStatus:
    """The walk with ``domain``'s manualupgrade in flight (the domains before it Succeeded)."""
    status = walking_status()
    domains = tuple(
        evolve(
            dom,
            state=DomainState.SUCCEEDED
            if n < domain and done_before
            else DomainState.UPGRADING
            if n == domain
            else DomainState.PENDING,
            started_at=NOW if n <= domain else None,
        )
        for n, dom in enumerate(status.domains)
    )
    status = evolve(status, domains=domains, current_domain=domains[domain].id)
    op = Operation(
        kind=OperationKind.MANUAL_UPGRADE, domain=domains[domain].id, started_at=NOW, continuation_token=token()
    )
    return evolve(status, operation=op)


async def one_pass(
    sp: ScaleSetImageSpec, status: ScaleSetImageStatus, now: datetime, op_status: str = "Succeeded", *, age: float = 0
) -> tuple[Counter[str], Observation, ScaleSetImageStatus]:
    """Observe and plan once (as a reconcile pass does) with a fresh or ``age``-old cache; the reads it made."""
    gateway = CountingGateway(op_status)
    seen = SeenScaleSet(scale_set(NEW), time.monotonic() - age)
    observation, _ = await observe(
        gateway,  # type: ignore[arg-type]
        sp,
        status,
        ARM,
        seen,
        max_age=300,
        image_facts_needed=needs_image_facts(sp, status),
        listing_needed=lambda outcome: listing_needed(sp, status, now=now, generation=1, operation=outcome),
        model_too_wanted=lambda outcome: write_likely(sp, status, now=now, generation=1, operation=outcome),
    )
    plan = plan_next_step(sp, status, observation, now=now, generation=1)
    return gateway.calls, observation, plan.status


async def test_the_end_of_an_upgrade_followed_by_a_pause_is_not_listed() -> None:
    calls, observation, after = await one_pass(PAUSED, upgrading(0), later(5))
    assert dict(calls) == {"poll": 1}
    assert not observation.instances_current
    assert after.domains[0].state == DomainState.VERIFYING
    assert after.next_domain_at == later(35)


@pytest.mark.parametrize(
    ("case", "sp", "domain", "op_status"),
    [
        ("no pause: judged on a listing at once", spec(), 0, "Succeeded"),
        ("the last domain: no pause after it", PAUSED, 4, "Succeeded"),
        ("a failed manualupgrade: the instances tell", PAUSED, 0, "Failed"),
        ("with an analysis: it starts from health", spec(pauseBetweenDomains="30s", analysis=ANALYSIS), 0, "Succeeded"),
    ],
)
async def test_the_end_of_an_upgrade_is_listed_when_it_is_judged_at_once(
    case: str, sp: ScaleSetImageSpec, domain: int, op_status: str
) -> None:
    calls, observation, _ = await one_pass(sp, upgrading(domain), later(5), op_status)
    assert calls["list_instances"] == 1, case
    assert observation.instances_current, case


async def test_nothing_is_read_during_the_pause_and_one_listing_ends_it() -> None:
    _, _, pausing = await one_pass(PAUSED, upgrading(0), later(5))
    calls, _, still = await one_pass(PAUSED, pausing, later(20))
    assert dict(calls) == {}
    assert still.domains[0].state == DomainState.VERIFYING
    reconciling = still.condition(ConditionType.RECONCILING)
    assert reconciling is not None
    assert reconciling.reason == "PausingBetweenDomains"
    calls, observation, _ = await one_pass(PAUSED, pausing, later(36))
    assert dict(calls) == {"list_instances": 1, "get_model": 1}, "the next domain likely starts: model read alongside"
    assert observation.instances_current


async def test_an_old_cached_model_is_read_again_during_the_pause_but_the_instances_are_not_listed() -> None:
    _, _, pausing = await one_pass(PAUSED, upgrading(0), later(5))
    calls, _, _ = await one_pass(PAUSED, pausing, later(20), age=1000)
    assert dict(calls) == {"get_model": 1}


async def test_a_spec_change_during_the_pause_lists_the_instances() -> None:
    _, _, pausing = await one_pass(PAUSED, upgrading(0), later(5))
    moved_on = evolve(pausing, observed_generation=0)  # the spec's generation 1 has not been seen yet
    calls, _, _ = await one_pass(PAUSED, moved_on, later(20))
    assert calls["list_instances"] == 1


async def test_cached_instances_are_never_judged() -> None:
    """Were the kopf side to hand the planner cached instances where the walk judges them, it decides nothing
    and asks for a listing."""
    status = evolve(upgrading(0), operation=None)
    stale = Observation(scale_set=scale_set(NEW), image=ImageFacts(VERSIONS), instances_current=False)
    plan = plan_next_step(PAUSED, status, stale, now=later(5), generation=1)
    assert plan.action is None
    assert plan.relist
    assert plan.requeue_after == 0.0


# ------------------------------------------------ the model read alongside a listing that a write likely follows
@pytest.mark.parametrize(
    ("case", "sp", "domain", "expected"),
    [
        ("no pause, more domains: the next starts now", spec(), 0, {"poll": 1, "list_instances": 1, "get_model": 1}),
        ("the last domain: nothing follows", spec(), 4, {"poll": 1, "list_instances": 1}),
        ("with an analysis: it measures first", spec(analysis=ANALYSIS), 0, {"poll": 1, "list_instances": 1}),
        ("paused by the user: nothing follows", spec(paused=True), 0, {"poll": 1, "list_instances": 1}),
    ],
)
async def test_a_listing_that_a_write_likely_follows_reads_the_model_alongside(
    case: str, sp: ScaleSetImageSpec, domain: int, expected: dict[str, int]
) -> None:
    calls, _, _ = await one_pass(sp, upgrading(domain), later(5))
    assert dict(calls) == expected, case


class SlowGateway(CountingGateway):
    """Each read takes 50 ms; when each started and ended (monotonic seconds)."""

    def __init__(self) -> None:
        super().__init__("Succeeded")
        self.spans: dict[str, tuple[float, float]] = {}

    async def _slow(self, name: str) -> None:
        start = time.monotonic()
        await asyncio.sleep(0.05)
        self.spans[name] = (start, time.monotonic())

    async def get_model(self, ref: Any) -> ObservedScaleSet | None:
        await self._slow("get_model")
        return await super().get_model(ref)

    async def list_instances(self, ref: Any, *, flexible: bool = False) -> tuple[Any, ...]:
        await self._slow("list_instances")
        return await super().list_instances(ref, flexible=flexible)


async def test_the_model_and_the_instances_are_read_at_once_and_the_model_counts_as_read_now() -> None:
    gateway, sp, status = SlowGateway(), spec(), upgrading(0)
    old = SeenScaleSet(scale_set(NEW), time.monotonic() - 10)
    before = time.monotonic()
    observation, seen = await observe(
        gateway,  # type: ignore[arg-type]
        sp,
        status,
        ARM,
        old,
        image_facts_needed=False,
        listing_needed=lambda outcome: True,
        model_too_wanted=lambda outcome: write_likely(sp, status, now=later(5), generation=1, operation=outcome),
    )
    (model_start, model_end), (list_start, list_end) = gateway.spans["get_model"], gateway.spans["list_instances"]
    assert model_start < list_end, "the model read starts before the listing ends"
    assert list_start < model_end, "the listing starts before the model read ends"
    assert seen is not None
    assert seen.read_at >= before, "a write decided on it needs no GET of its own"
    assert observation.scale_set is not None
    assert observation.instances_current
    plan = plan_next_step(sp, status, observation, now=later(5), generation=1)
    assert isinstance(plan.action, UpgradeInstances)
