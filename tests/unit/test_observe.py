"""How many Azure reads a reconcile pass makes, by situation (the operator's cost per pass).

Aspects: an operation in flight costs one poll; mid-walk costs one instance listing (no model GET);
settled or just after a model write costs model + listing; a stale cache or a restart reads everything.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from typing import Any

import pytest
from scaleset_testbed.worlds import ARM_ENDPOINT, VERSIONS

from controller.azure.observe import SeenScaleSet, observe
from controller.observed import ImageFacts, Observation, ObservedScaleSet, OperationState
from controller.resource import Operation, OperationKind, Phase, ScaleSetImageStatus, evolve
from controller.rollout import needs_image_facts, plan_next_step
from tests.planner.builders import NOW, scale_set, spec

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
