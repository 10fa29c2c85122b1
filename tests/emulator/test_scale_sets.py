"""Scale sets through the real SDK: get, PUT with etags, PATCH, list, instanceView, create (201), capacity."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.mgmt.compute.models import Sku, VirtualMachineScaleSetUpdate
from scaleset_testbed.worlds import LOCATION, OFFER, PUBLISHER, RG, SKU, SUB, V1, V2, VMSS, scale_set, vmss_path

from .conftest import Control, arm_error, scenario_dict


def _image_patch(version: str) -> dict[str, Any]:
    return {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": version}}}}}


def test_get_returns_the_scenario_model(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    ss = sync_client(emu.url).virtual_machine_scale_sets.get(RG, VMSS)
    assert ss.id == vmss_path()
    assert ss.name == VMSS
    assert ss.type == "Microsoft.Compute/virtualMachineScaleSets"
    assert ss.location == LOCATION
    assert ss.sku.capacity == 10
    assert ss.etag == '"1"'
    assert ss.properties.provisioning_state == "Succeeded"
    assert ss.properties.upgrade_policy.mode == "Manual"
    assert ss.properties.orchestration_mode == "Uniform"
    assert ss.properties.platform_fault_domain_count == 5
    ref = ss.properties.virtual_machine_profile.storage_profile.image_reference
    assert (ref.publisher, ref.offer, ref.sku, ref.version) == (PUBLISHER, OFFER, SKU, V1)
    extensions = ss.properties.virtual_machine_profile.extension_profile.extensions
    assert [e.properties.type for e in extensions] == ["ApplicationHealthLinux"]


def test_put_honours_if_match(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    ss = client.virtual_machine_scale_sets.get(RG, VMSS)
    stale_etag = ss.etag
    ss.properties.virtual_machine_profile.storage_profile.image_reference.version = V2

    updated = client.virtual_machine_scale_sets.begin_create_or_update(
        RG, VMSS, ss, etag=stale_etag, match_condition=MatchConditions.IfNotModified
    ).result()
    assert updated.etag == '"2"'
    assert updated.properties.virtual_machine_profile.storage_profile.image_reference.version == V2

    ss.sku.capacity = 11
    with pytest.raises(ResourceModifiedError) as caught:
        client.virtual_machine_scale_sets.begin_create_or_update(
            RG, VMSS, ss, etag=stale_etag, match_condition=MatchConditions.IfNotModified
        )
    assert caught.value.status_code == 412
    assert arm_error(caught).code == "PreconditionFailed"

    # If-None-Match: * on an existing scale set is refused too.
    with pytest.raises(ResourceExistsError) as exists:
        client.virtual_machine_scale_sets.begin_create_or_update(
            RG, VMSS, ss, etag=stale_etag, match_condition=MatchConditions.IfMissing
        )
    assert exists.value.status_code == 412

    after = client.virtual_machine_scale_sets.get(RG, VMSS)
    assert after.etag == '"2"'
    assert after.sku.capacity == 10
    puts = control.requests(vmss_path(), "PUT")
    assert [p["status"] for p in puts] == [200, 412, 412]
    assert puts[0]["body"]["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["version"] == V2
    # Manual policy: the model changed, no instance moved.
    assert control.instance_events() == []
    assert {i["latestModelApplied"] for i in control.instances()} == {False}


def test_patch_merges_into_the_model(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    client = sync_client(emu.url)
    result = client.virtual_machine_scale_sets.begin_update(RG, VMSS, _image_patch(V2)).result()
    ref = result.properties.virtual_machine_profile.storage_profile.image_reference
    assert (ref.publisher, ref.offer, ref.sku, ref.version) == (PUBLISHER, OFFER, SKU, V2)
    assert result.etag == '"2"'
    assert result.properties.upgrade_policy.mode == "Manual"
    assert result.properties.provisioning_state == "Succeeded"

    with pytest.raises(ResourceModifiedError):
        client.virtual_machine_scale_sets.begin_update(
            RG, VMSS, _image_patch(V1), etag='"1"', match_condition=MatchConditions.IfNotModified
        )
    ok = client.virtual_machine_scale_sets.begin_update(
        RG, VMSS, _image_patch(V1), etag='"2"', match_condition=MatchConditions.IfNotModified
    ).result()
    assert ok.etag == '"3"'
    assert ok.properties.virtual_machine_profile.storage_profile.image_reference.version == V1


def test_list_by_resource_group_and_subscription(emulator_thread: Any, sync_client: Any) -> None:
    data = scenario_dict({VMSS: scale_set(capacity=2), "vmss-api": scale_set(capacity=1)})
    data["subscriptions"][SUB]["resourceGroups"]["rg-other"] = {"scaleSets": {"vmss-db": scale_set(capacity=1)}}
    data["subscriptions"][SUB]["resourceGroups"]["rg-empty"] = {}
    emu = emulator_thread(data)
    client = sync_client(emu.url)
    assert sorted(s.name for s in client.virtual_machine_scale_sets.list(RG)) == ["vmss-api", VMSS]
    assert [s.name for s in client.virtual_machine_scale_sets.list("rg-other")] == ["vmss-db"]
    assert list(client.virtual_machine_scale_sets.list("rg-empty")) == []
    assert sorted(s.name for s in client.virtual_machine_scale_sets.list_all()) == ["vmss-api", "vmss-db", VMSS]
    with pytest.raises(ResourceNotFoundError) as caught:
        list(client.virtual_machine_scale_sets.list("rg-missing"))
    assert arm_error(caught).code == "ResourceGroupNotFound"


def test_instance_view_summarises_instances(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    control.call(
        "POST",
        "instances/health",
        {"subscriptionId": SUB, "resourceGroup": RG, "scaleSet": VMSS, "instanceId": "4", "health": "unhealthy"},
    )
    view = sync_client(emu.url).virtual_machine_scale_sets.get_instance_view(RG, VMSS)
    summary = {s.code: s.count for s in view.virtual_machine.statuses_summary}
    assert summary == {"ProvisioningState/succeeded": 10}
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded"]
    health = {s.code: s.count for s in view.extensions[0].statuses_summary}
    assert health == {"HealthState/healthy": 9, "HealthState/unhealthy": 1}


def test_put_creates_a_scale_set_with_instances(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    body = {
        "location": LOCATION,
        "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": 3},
        "properties": {
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {
                "osProfile": {"computerNamePrefix": "new", "adminUsername": "azureuser"},
                "storageProfile": {
                    "imageReference": {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": V2}
                },
            },
        },
    }
    created = client.virtual_machine_scale_sets.begin_create_or_update(RG, "vmss-new", body).result()
    assert created.name == "vmss-new"
    assert created.sku.capacity == 3
    assert created.properties.provisioning_state == "Succeeded"

    puts = control.requests(vmss_path(name="vmss-new"), "PUT")
    assert [p["status"] for p in puts] == [201]
    events = control.instance_events("vmss-new")
    assert [(e["instanceId"], e["state"]) for e in events if e["state"] == "Creating"] == [
        ("0", "Creating"),
        ("1", "Creating"),
        ("2", "Creating"),
    ]
    running = {e["instanceId"]: e["imageVersion"] for e in events if e["state"] == "Running"}
    assert running == {"0": V2, "1": V2, "2": V2}
    vms = list(client.virtual_machine_scale_set_vms.list(RG, "vmss-new"))
    assert sorted(v.instance_id for v in vms) == ["0", "1", "2"]
    assert {v.properties.storage_profile.image_reference.exact_version for v in vms} == {V2}
    assert all(v.properties.latest_model_applied for v in vms)


def test_put_with_a_missing_image_creates_nothing(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    client = sync_client(emu.url)
    body = {
        "location": LOCATION,
        "sku": {"name": "Standard_D2s_v3", "capacity": 2},
        "properties": {
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {
                "storageProfile": {
                    "imageReference": {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": "16.04.209901010"}
                }
            },
        },
    }
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.begin_create_or_update(RG, "vmss-bad", body)
    assert arm_error(caught).code == "PlatformImageNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.virtual_machine_scale_sets.get(RG, "vmss-bad")


def test_capacity_changes_create_and_delete_instances(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)

    grown = client.virtual_machine_scale_sets.begin_update(
        RG, VMSS, VirtualMachineScaleSetUpdate(sku=Sku(capacity=12))
    ).result()
    assert grown.sku.capacity == 12
    events = control.instance_events()
    assert [(e["instanceId"], e["state"]) for e in events] == [
        ("10", "Creating"),
        ("11", "Creating"),
        ("10", "Running"),
        ("11", "Running"),
    ]
    assert {e["updateDomain"] for e in events} == {0, 1}
    assert {e["imageVersion"] for e in events} == {V1}

    shrunk = client.virtual_machine_scale_sets.begin_update(RG, VMSS, {"sku": {"capacity": 7}}).result()
    assert shrunk.sku.capacity == 7
    deleted = sorted(int(e["instanceId"]) for e in control.instance_events() if e["state"] == "Deleted")
    assert deleted == [7, 8, 9, 10, 11]
    ids = sorted(int(v.instance_id) for v in client.virtual_machine_scale_set_vms.list(RG, VMSS))
    assert ids == list(range(7))
    with pytest.raises(ResourceNotFoundError):
        client.virtual_machine_scale_set_vms.get(RG, VMSS, "9")
