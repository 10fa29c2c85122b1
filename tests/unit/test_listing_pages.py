"""Instance listings read as JSON pages, without the SDK's models (issue 14): the same instances, fewer CPU.

Aspects: for Uniform (regional and zonal, with and without the health extension, instances healthy,
unhealthy, initializing, unknown and updating, an unmanaged-disk set), Flexible sets and Azure Stack Hub's
api-version, the gateway's listing reads exactly what azure-mgmt-compute's own list operation and models
read from the same emulator; the pages go through the SDK client's pipeline (the recorder sees the same
requests as for the SDK's operation); a missing scale set is NotFound as before.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from scaleset_testbed import worlds
from scaleset_testbed.azure import AzureEmulator, parse_scenario
from scaleset_testbed.worlds import FLEX, RG, SUB, TOKEN, VMSS

from controller.azure import AzureCallError
from controller.azure.gateway import AzureComputeGateway
from controller.azure.instances import flexible_filter, image_reference
from controller.config import BudgetConfig, CloudProfile
from controller.observed import ObservedInstance, instance_order
from controller.resource import ScaleSetRef

TOKEN_ENV = "SCALESET_IMAGE_TEST_TOKEN"
ZONAL, PLAIN, DISKS = "vmss-zonal", "vmss-plain", "vmss-vhd"


def instance_view_fields(view: Any) -> tuple[int | None, int | None, str, str | None, str | None]:
    """(update domain, fault domain, provisioning, power, health) from an SDK instance view model."""
    provisioning, power = "unknown", None
    for status in list(getattr(view, "statuses", None) or []):
        code = str(status.code or "")
        if code.startswith("ProvisioningState/"):
            provisioning = code.split("/")[1].lower()
        elif code.startswith("PowerState/"):
            power = code.split("/", 1)[1].lower()
    health = None
    vm_health = getattr(view, "vm_health", None)
    if vm_health is not None and vm_health.status is not None and vm_health.status.code:
        health = str(vm_health.status.code).split("/", 1)[-1].lower()
    ud = getattr(view, "platform_update_domain", None)
    fd = getattr(view, "platform_fault_domain", None)
    return (int(ud) if ud is not None else None, int(fd) if fd is not None else None, provisioning, power, health)


def model_instance(vm: Any, *, flexible: bool) -> ObservedInstance:
    """The reference: what the gateway read from azure-mgmt-compute's models before it read JSON pages."""
    ud, fd, provisioning, power, health = instance_view_fields(vm.instance_view)
    if flexible and provisioning == "unknown" and vm.provisioning_state:
        provisioning = str(vm.provisioning_state).lower()
    if flexible and fd is None:
        fd = getattr(vm, "platform_fault_domain", None)
    storage = vm.storage_profile
    image = storage.image_reference if storage else None
    disk_image = storage.os_disk.image if storage and storage.os_disk else None
    return ObservedInstance(
        instance_id=str(vm.name if flexible else vm.instance_id),
        update_domain=None if flexible else ud or 0,
        fault_domain=int(fd or 0),
        zone=vm.zones[0] if vm.zones else None,
        latest_model=None if flexible else bool(vm.latest_model_applied),
        image_version=getattr(image, "exact_version", None) if image else None,
        provisioning=provisioning,
        power=power,
        health=health,
        image_reference=image_reference(image),
        vhd_uri=disk_image.uri if disk_image is not None else None,
    )


def world(*, flexible: bool) -> dict[str, Any]:
    sets: dict[str, dict[str, Any]] = {
        VMSS: worlds.scale_set(250, 5, 3, version=worlds.V1),
        ZONAL: worlds.scale_set(12, 3, 3, version=worlds.V1, zones=["1", "2", "3"]),
        PLAIN: worlds.scale_set(7, 3, 3, version=worlds.V1, healthExtension=False),
    }
    if flexible:  # Azure Stack Hub's api-version has no Flexible orchestration
        sets[FLEX] = worlds.flex_scale_set(130, version=worlds.V1, platformFaultDomainCount=3)
    return worlds.scenario(
        {RG: sets}, timing={"instanceUpgradeSeconds": 60.0, "healthGraceSeconds": 30.0, "modelUpdateSeconds": 0.0}
    )


@pytest.mark.parametrize("profile", ["azure", "azurestack"])
async def test_a_listing_reads_what_the_sdk_models_read(profile: str) -> None:
    os.environ[TOKEN_ENV] = TOKEN
    azure = AzureEmulator(parse_scenario(world(flexible=profile == "azure")), time_scale=1.0, profile=profile)
    await azure.start()
    requests: list[tuple[str, str]] = []
    cloud = CloudProfile(
        "azure-public",
        arm_endpoint=azure.url,
        allow_http=True,
        credential="static-token",
        static_token_env=TOKEN_ENV,
        api_version="2020-06-01" if profile == "azurestack" else None,
    )
    gateway = AzureComputeGateway(
        cloud, request_hook=lambda method, path, *rest: requests.append((method, path)), budget=BudgetConfig(False)
    )
    try:
        ss = azure.world.get_scale_set(SUB, RG, VMSS)
        now = azure.world.advance()
        for iid, health in (("1", "unhealthy"), ("2", "initializing"), ("3", "unknown")):
            azure.world.set_health(ss, iid, health, now)
        ref = ScaleSetRef(subscription_id=SUB, resource_group=RG, name=VMSS)
        await gateway.update_model_image(ref, worlds.image_reference(worlds.V2), None, None)
        azure.world.advance()
        await gateway.manual_upgrade(ref, ["5", "6"])  # updating while listed; the others not on the model
        azure.world.advance()
        sets = [(VMSS, False), (ZONAL, False), (PLAIN, False)] + ([(FLEX, True)] if profile == "azure" else [])
        for name, flexible in sets:
            ref = ScaleSetRef(subscription_id=SUB, resource_group=RG, name=name)
            requests.clear()
            listed = await gateway.list_instances(ref, flexible=flexible)
            ours = list(requests)
            requests.clear()
            client = gateway._client(SUB)
            pages = (
                client.virtual_machines.list(RG, filter=flexible_filter(ref), expand="instanceView")
                if flexible
                else client.virtual_machine_scale_set_vms.list(RG, name, expand="instanceView")
            )
            reference = [model_instance(vm, flexible=flexible) async for vm in pages]
            assert listed == tuple(sorted(reference, key=lambda i: instance_order(i.instance_id))), name
            assert ours == requests, f"{name}: not the SDK operation's requests"
            assert len(ours) == (len(listed) + 99) // 100, name
        listed = await gateway.list_instances(ScaleSetRef(subscription_id=SUB, resource_group=RG, name=VMSS))
        assert {(i.provisioning, i.health) for i in listed} >= {
            ("updating", "unknown"),
            ("succeeded", "healthy"),
            ("succeeded", "unhealthy"),
            ("succeeded", "initializing"),
            ("succeeded", "unknown"),
        }
        with pytest.raises(AzureCallError) as missing:
            await gateway.list_instances(ScaleSetRef(subscription_id=SUB, resource_group=RG, name="nope"))
        assert missing.value.kind == "NotFound"
    finally:
        await gateway.close()
        await azure.stop()
