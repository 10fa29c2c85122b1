"""Azure Stack Hub end to end: the emulator as Azure Stack Hub (Compute 2020-06-01 only) and the operator's
cloud profile pinned to it (issue 13, part 3).

There the scale set has no etag, so a model update carries no If-Match. What keeps it safe against a
concurrent edit: the model is read again right before the write; the PATCH names only the image, so another
actor's change to any other field (tags, capacity) stands; and the full read after the write finds another
actor's image before any manualupgrade, puts the declared one back (``ModelInSync=False``, a Warning event)
and never installs theirs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from scaleset_testbed.worlds import RG, SUB, TOKEN, VMSS, image_reference

from .harness import AZURE_STACK_API_VERSION, BAD, NEW, System, resource, running_system, scenario

pytestmark = pytest.mark.slow

PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/{VMSS}"


def stack_world() -> dict[str, Any]:
    return scenario(capacity=6, uds=1, faultDomains=3, allUpdateDomainsZero=True)


async def arm(system: System, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Another actor's call at Azure Stack Hub's api-version (no If-Match: there is no etag to match)."""
    async with system.http.request(
        method,
        f"{system.azure.url}{PATH}?api-version={AZURE_STACK_API_VERSION}",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}", "x-ms-client-request-id": "test-actor"},
    ) as response:
        data: dict[str, Any] = await response.json(content_type=None) or {}
        assert response.status < 300, data
        return data


def operator_writes(system: System) -> list[dict[str, Any]]:
    return [e for e in system.requests() if e["method"] != "GET" and e.get("clientRequestId") != "test-actor"]


async def test_a_rollout_on_azure_stack_hub_walks_fault_domains_with_a_model_that_has_no_etag() -> None:
    async with running_system(stack_world(), azure_stack=True) as system:
        assert "etag" not in await arm(system, "GET"), "2020-06-01 defines no scale-set etag"
        await system.start_operator()
        await system.create(resource())
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", what="Succeeded")
        status = system.status()
        assert status["domainKind"] == "FaultDomain"
        assert status["orchestrationMode"] == "Uniform"
        assert {e["apiVersion"] for e in system.requests()} == {AZURE_STACK_API_VERSION}
        writes = operator_writes(system)
        assert [w["method"] for w in writes] == ["PATCH", "POST", "POST", "POST"], "1 model write + 1 per domain"
        assert writes[0]["body"] == {
            "properties": {
                "virtualMachineProfile": {"storageProfile": {"imageReference": {**image_reference(NEW), "id": None}}}
            }
        }, "the PATCH names the image and nothing else"


async def test_other_fields_edited_meanwhile_stand_after_the_operators_model_write() -> None:
    async with running_system(stack_world(), azure_stack=True) as system:
        await system.start_operator()
        await system.create(resource())
        await system.wait_for(lambda: operator_writes(system), what="the model write")
        await arm(system, "PATCH", {"tags": {"owner": "team-a"}})
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", what="Succeeded")
        model = await arm(system, "GET")
        assert model["tags"] == {"owner": "team-a"}
        assert model["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["version"] == NEW


async def test_another_image_written_after_the_operators_blind_write_is_put_back_never_installed() -> None:
    async with running_system(stack_world(), azure_stack=True) as system:
        await system.start_operator()
        await system.create(resource())
        await system.wait_for(lambda: len(system.upgrades()) == 1, what="the first domain started")
        body = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": image_reference(BAD)}}}}
        await arm(system, "PATCH", body)
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=90, what="Succeeded")
        await asyncio.sleep(0.2)
        installed = {e["imageVersion"] for e in system.audit() if e["type"] == "instance"}
        assert BAD not in installed, "the other actor's image reached no instance"
        final: dict[str, Any] = {}
        for e in system.audit():
            if e["type"] == "instance":
                final[e["instanceId"]] = e["imageVersion"]
        assert set(final.values()) == {NEW}
        assert [w["method"] for w in operator_writes(system)].count("PATCH") == 2, "the declared image put back"
        reasons = {e.get("reason") for e in system.kube.events(involved_name="web")}
        assert "ModelChangedOutsideOperator" in reasons
