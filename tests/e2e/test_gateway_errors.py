"""The Azure gateway's error contract against the emulator: every SDK failure is an AzureCallError.

Aspects (issue 11): a 429 or a 5xx on an operation-status poll is classified (Throttled / Transient, with
Retry-After) instead of escaping as azure-core's BadStatus; a preempted operation polls as Canceled with
Azure's error code, so the planner can judge it by what the model shows; a write is sent once (no retry
inside the SDK, whose backoff would send it seconds later on a decision that may no longer hold) and not at
all when the caller's check says, at the moment it would leave, that it is no longer wanted.
"""

from __future__ import annotations

from typing import Any

import pytest
from scaleset_testbed.azure.faults import FaultRule
from scaleset_testbed.worlds import OFFER, PUBLISHER, RG, SKU, SUB, VMSS

from controller.azure import AzureCallError
from controller.azure.gateway import AzureComputeGateway
from controller.azure.pipeline import checked_writes
from controller.resource import OperationKind, ScaleSetRef

from .harness import NEW, System, running_system, scenario

pytestmark = pytest.mark.slow

REF = ScaleSetRef(subscription_id=SUB, resource_group=RG, name=VMSS)


@pytest.mark.parametrize(("status", "kind", "retry_after"), [(429, "Throttled", 7.0), (503, "Transient", None)])
async def test_a_failed_status_poll_is_classified(status: int, kind: str, retry_after: float | None) -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system:
        gateway = AzureComputeGateway(system.config().clouds["azure-public"])
        try:
            token = await gateway.manual_upgrade(REF, ["0"])
            rule = {"method": "GET", "path": "/operations/", "count": 5, "status": status}
            if retry_after is not None:
                rule["retryAfter"] = int(retry_after)
            system.azure.faults.add(FaultRule.from_json(rule))
            with pytest.raises(AzureCallError) as caught:
                await gateway.poll(REF, OperationKind.MANUAL_UPGRADE, token)
        finally:
            await gateway.close()
        assert caught.value.kind == kind
        assert caught.value.retry_after == retry_after


async def test_a_preempted_operation_polls_as_canceled_with_its_code() -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system:
        gateway = AzureComputeGateway(system.config().clouds["azure-public"])
        try:
            reference = {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": NEW}
            token = await gateway.update_model_image(REF, reference, None, None)
            control = f"{system.azure.url}/_emulator/operations/preempt"
            async with system.http.post(
                control, json={"subscriptionId": SUB, "resourceGroup": RG, "scaleSet": VMSS}
            ) as r:
                preempted = (await r.json())["preempted"]
            state = await gateway.poll(REF, OperationKind.MODEL_UPDATE, token)
        finally:
            await gateway.close()
        assert len(preempted) == 1
        assert (state.status, state.error_code) == ("Canceled", "OperationPreempted")


def writes(system: System) -> list[dict[str, Any]]:
    return [e for e in system.requests() if e["method"] != "GET"]


@pytest.mark.parametrize("status", [500, 429])
async def test_a_failed_write_is_sent_once_and_left_to_the_caller(status: int) -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system:
        gateway = AzureComputeGateway(system.config().clouds["azure-public"])
        rule = {"method": "POST", "path": "/manualupgrade$", "count": 1, "status": status, "retryAfter": 0}
        system.azure.faults.add(FaultRule.from_json(rule))
        try:
            with pytest.raises(AzureCallError) as caught:
                await gateway.manual_upgrade(REF, ["0"])
        finally:
            await gateway.close()
        assert caught.value.kind == ("Throttled" if status == 429 else "Transient")
        assert [(e["method"], e["status"]) for e in writes(system)] == [("POST", status)]


async def test_a_write_no_longer_wanted_when_it_would_leave_is_not_sent() -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system:
        gateway = AzureComputeGateway(system.config().clouds["azure-public"])
        asked: list[str] = []

        def check() -> str | None:
            asked.append("asked")
            return "SpecChanged"

        reference = {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": NEW}
        try:
            await gateway.observe(REF)  # reads are never withheld
            with checked_writes(check):
                with pytest.raises(AzureCallError) as upgrade:
                    await gateway.manual_upgrade(REF, ["0"])
                with pytest.raises(AzureCallError) as model:
                    await gateway.update_model_image(REF, reference, None, None)
                await gateway.observe(REF)
        finally:
            await gateway.close()
        assert (upgrade.value.kind, upgrade.value.message) == ("Withdrawn", "SpecChanged")
        assert model.value.kind == "Withdrawn"
        assert len(asked) == 2
        assert writes(system) == []


async def test_a_poll_carries_azures_retry_after() -> None:
    """Issue 14: the status answer's Retry-After reaches the planner, which polls again then."""
    world = scenario(capacity=4, uds=2)
    world["timing"] = {**world["timing"], "modelUpdateSeconds": 600.0, "retryAfterSeconds": 7}
    image = {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": NEW}
    async with running_system(world) as system:
        gateway = AzureComputeGateway(system.config().clouds["azure-public"])
        try:
            token = await gateway.update_model_image(REF, image, None, None)
            state = await gateway.poll(REF, OperationKind.MODEL_UPDATE, token)
        finally:
            await gateway.close()
        assert state.status == "InProgress"
        assert state.retry_after == 7.0
