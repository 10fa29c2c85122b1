"""Scale-set VMs: paged list (1000 instances), $filter, $expand/$select, get, instanceView, reimage."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from scaleset_testbed.worlds import RG, V1, V2, VMSS, scale_set, vmss_path

from .conftest import DEFAULT_API_VERSION, Control, arm_error, raw_request, scenario_dict, versions_by_instance

BIG = scenario_dict({VMSS: scale_set(capacity=1000, healthExtension=False)}, pageSize=100)


def test_list_follows_absolute_next_links_over_1000_instances(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(BIG)
    control = Control(emu.url)
    vms = list(sync_client(emu.url).virtual_machine_scale_set_vms.list(RG, VMSS))
    ids = [int(v.instance_id) for v in vms]
    assert len(ids) == 1000
    assert sorted(ids) == list(range(1000))  # every instance exactly once
    pages = control.requests(vmss_path() + "/virtualMachines", "GET")
    assert len(pages) == 10
    assert {p["apiVersion"] for p in pages} == {DEFAULT_API_VERSION}
    assert {p["status"] for p in pages} == {200}

    first = raw_request(f"{emu.url}{vmss_path()}/virtualMachines?api-version={DEFAULT_API_VERSION}").json()
    assert len(first["value"]) == 100
    assert first["nextLink"].startswith(emu.url + "/subscriptions/")
    assert f"api-version={DEFAULT_API_VERSION}" in first["nextLink"]
    last = raw_request(first["nextLink"].replace("skiptoken=100", "skiptoken=900")).json()
    assert len(last["value"]) == 100
    assert "nextLink" not in last


async def test_aio_list_pages_over_1000_instances(aio_emulator: Any, aio_client: Any) -> None:
    emu = await aio_emulator(BIG)
    client = aio_client(emu.url)
    ids = [int(v.instance_id) async for v in client.virtual_machine_scale_set_vms.list(RG, VMSS, expand="instanceView")]
    assert sorted(ids) == list(range(1000))
    pages = [e for e in emu.world.audit if e["type"] == "request" and e["path"].endswith("/virtualMachines")]
    assert len(pages) == 10


def test_filter_latest_model_applied(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    client = sync_client(emu.url)
    vms = client.virtual_machine_scale_set_vms

    def ids(flt: str) -> list[int]:
        return sorted(int(v.instance_id) for v in vms.list(RG, VMSS, filter=flt))

    stale, fresh = "properties/latestModelApplied eq false", "properties/latestModelApplied eq true"
    assert ids(stale) == []
    assert ids(fresh) == list(range(10))
    client.virtual_machine_scale_sets.begin_update(
        RG, VMSS, {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    ).result()
    assert ids(stale) == list(range(10))
    assert ids(fresh) == []
    client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["3", "7"]}).result()
    assert ids(stale) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert ids(fresh) == [3, 7]
    with pytest.raises(HttpResponseError) as caught:
        ids("properties/provisioningState eq 'Succeeded'")
    assert arm_error(caught).code == "InvalidParameter"


@pytest.mark.parametrize("how", ["expand", "select"])
def test_instance_view_in_the_list(emulator_thread: Any, sync_client: Any, how: str) -> None:
    data = scenario_dict({VMSS: scale_set(capacity=10, updateDomains=5, faultDomains=3, zones=["1", "2"])})
    emu = emulator_thread(data)
    vms = list(sync_client(emu.url).virtual_machine_scale_set_vms.list(RG, VMSS, **{how: "instanceView"}))
    assert len(vms) == 10
    for vm in vms:
        n = int(vm.instance_id)
        view = vm.properties.instance_view
        assert (view.platform_update_domain, view.platform_fault_domain) == (n % 5, n % 3)
        assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
        assert view.vm_health.status.code == "HealthState/healthy"
        assert vm.zones == [["1", "2"][n % 2]]
        assert vm.properties.latest_model_applied is True
        assert vm.properties.storage_profile.image_reference.exact_version == V1

    plain = list(sync_client(emu.url).virtual_machine_scale_set_vms.list(RG, VMSS))
    assert all(v.properties.instance_view is None for v in plain)


def test_power_state_filter(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    vms = list(
        sync_client(emu.url).virtual_machine_scale_set_vms.list(
            RG, VMSS, filter="startswith(instanceView/statuses/code, 'PowerState') eq true"
        )
    )
    assert len(vms) == 10
    assert {tuple(s.code for s in v.properties.instance_view.statuses) for v in vms} == {("PowerState/running",)}


def test_get_and_instance_view(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    vms = sync_client(emu.url).virtual_machine_scale_set_vms
    vm = vms.get(RG, VMSS, "3")
    assert vm.instance_id == "3"
    assert vm.name == f"{VMSS}_3"
    assert vm.id == f"{vmss_path()}/virtualMachines/3"
    assert vm.properties.provisioning_state == "Succeeded"
    assert vm.properties.instance_view is None
    assert vms.get(RG, VMSS, "3", expand="instanceView").properties.instance_view.platform_update_domain == 3

    view = vms.get_instance_view(RG, VMSS, "8")
    assert (view.platform_update_domain, view.platform_fault_domain) == (3, 3)
    assert view.vm_health.status.code == "HealthState/healthy"
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]

    with pytest.raises(ResourceNotFoundError) as caught:
        vms.get(RG, VMSS, "42")
    assert arm_error(caught).code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError):
        vms.get_instance_view(RG, VMSS, "42")


def test_reimage_one_instance(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    vms = sync_client(emu.url).virtual_machine_scale_set_vms
    assert vms.begin_reimage(RG, VMSS, "4").result() is None
    events = control.instance_events()
    assert [(e["instanceId"], e["state"], e["imageVersion"]) for e in events] == [
        ("4", "Updating", V1),
        ("4", "Running", V1),
    ]
    # instanceUpgradeSeconds, in scenario seconds (times are floats: allow for rounding in the sum)
    assert events[1]["time"] - events[0]["time"] >= 2.0 - 1e-6
    assert vms.get_instance_view(RG, VMSS, "4").vm_health.status.code == "HealthState/healthy"
    post = control.requests(vmss_path() + "/virtualMachines/4/reimage", "POST")
    assert [p["status"] for p in post] == [202]


def test_reimage_scale_set_instances(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict({VMSS: scale_set(capacity=4)}))
    control = Control(emu.url)
    client = sync_client(emu.url)
    client.virtual_machine_scale_sets.begin_reimage(RG, VMSS, {"instanceIds": ["1", "2"]}).result()
    assert versions_by_instance(control.audit()) == {"1": [V1], "2": [V1]}
    client.virtual_machine_scale_sets.begin_reimage(RG, VMSS).result()  # no body: every instance
    assert versions_by_instance(control.audit()) == {"0": [V1], "1": [V1, V1], "2": [V1, V1], "3": [V1]}
    posts = control.requests(vmss_path() + "/reimage", "POST")
    assert [(p["status"], p["body"]) for p in posts] == [(202, {"instanceIds": ["1", "2"]}), (202, None)]
