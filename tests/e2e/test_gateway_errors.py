"""The Azure gateway's error contract against the emulator: every SDK failure is an AzureCallError.

Aspects (issue 11): a 429 or a 5xx on an operation-status poll is classified (Throttled / Transient, with
Retry-After) instead of escaping as azure-core's BadStatus; a preempted operation polls as Canceled with
Azure's error code, so the planner can judge it by what the model shows.
"""

from __future__ import annotations

import pytest
from scaleset_testbed.azure.faults import FaultRule
from scaleset_testbed.worlds import OFFER, PUBLISHER, RG, SKU, SUB, VMSS

from controller.azure import AzureCallError
from controller.azure.gateway import AzureComputeGateway
from controller.resource import OperationKind, ScaleSetRef

from .harness import NEW, running_system, scenario

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
