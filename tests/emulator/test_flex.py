"""Flexible orchestration: VMs as Microsoft.Compute/virtualMachines (list with $filter/$expand and paging, get,
instance view), manualupgrade by VM name, the Uniform-only calls a Flex set refuses, Rolling without the health
extension, capacity changes and the fault-domain / zone spread."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from scaleset_testbed.worlds import FLEX, RG, SUB, V1, V2, VMSS, flex_scale_set, scale_set, vm_path, vmss_path

from .conftest import (
    DEFAULT_API_VERSION,
    Control,
    arm_error,
    arm_message,
    raw_request,
    scenario_dict,
    versions_by_instance,
)

NAME = re.compile(rf"^{FLEX}_[0-9a-f]{{8}}$")
FLEX_ID = vmss_path(name=FLEX)
FILTER = f"'virtualMachineScaleSet/id' eq '{FLEX_ID}'"
VMS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines"
REGIONAL = scenario_dict({FLEX: flex_scale_set(7, platformFaultDomainCount=3)}, pageSize=3)


def _names(client: Any, name: str = FLEX) -> list[str]:
    flt = f"'virtualMachineScaleSet/id' eq '{vmss_path(name=name)}'"
    return sorted(vm.name for vm in client.virtual_machines.list(RG, filter=flt))


def _set_image(client: Any, version: str, name: str = FLEX) -> None:
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": version}}}}}
    client.virtual_machine_scale_sets.begin_update(RG, name, patch).result()


def test_list_filtered_by_scale_set_with_instance_view_pages(emulator_thread: Any, sync_client: Any) -> None:
    data = scenario_dict(
        {FLEX: flex_scale_set(7, platformFaultDomainCount=3), "vmss-other": flex_scale_set(2), VMSS: scale_set(3)},
        pageSize=3,
    )
    emu = emulator_thread(data)
    control = Control(emu.url)
    client = sync_client(emu.url)
    vms = list(client.virtual_machines.list(RG, filter=FILTER, expand="instanceView"))
    assert len(vms) == 7
    assert all(NAME.match(vm.name) for vm in vms), [vm.name for vm in vms]
    assert len({vm.name for vm in vms}) == 7
    for vm in vms:
        assert vm.type == "Microsoft.Compute/virtualMachines"
        assert vm.id == vm_path(vm.name)
        assert vm.properties.virtual_machine_scale_set.id == FLEX_ID
        assert vm.properties.provisioning_state == "Succeeded"
        assert vm.properties.time_created is not None
        assert vm.properties.storage_profile.image_reference.exact_version == V1
        assert vm.zones is None
        view = vm.properties.instance_view
        assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
        assert view.vm_health.status.code == "HealthState/healthy"
        # Flex VMs have no update domain, and the instance view says nothing of domains (by design).
        assert (view.platform_update_domain, view.platform_fault_domain) == (None, None)
    assert Counter(vm.properties.platform_fault_domain for vm in vms) == {0: 3, 1: 2, 2: 2}
    pages = [r for r in control.requests(VMS, "GET") if r["operation"] == "VirtualMachines_List"]
    assert [p["status"] for p in pages] == [200, 200, 200]  # 3 + 3 + 1, following nextLinks

    first = raw_request(f"{emu.url}{VMS}?{urlencode({'api-version': DEFAULT_API_VERSION, '$filter': FILTER})}")
    link = first.json()["nextLink"]
    assert link.startswith(emu.url + VMS)
    query = parse_qs(urlsplit(link).query)
    assert (query["$filter"], query["api-version"], query["$skiptoken"]) == ([FILTER], [DEFAULT_API_VERSION], ["3"])

    # Without a filter, the resource group's VMs: both Flex sets, never the Uniform set's instances.
    everything = list(client.virtual_machines.list(RG))
    assert len(everything) == 9
    assert {vm.properties.virtual_machine_scale_set.id for vm in everything} == {FLEX_ID, vmss_path(name="vmss-other")}
    assert all(vm.properties.instance_view is None for vm in everything)


async def test_aio_list_get_and_instance_view(aio_emulator: Any, aio_client: Any) -> None:
    emu = await aio_emulator(REGIONAL)
    client = aio_client(emu.url)
    vms = [vm async for vm in client.virtual_machines.list(RG, filter=FILTER, expand="instanceView")]
    assert len(vms) == 7
    name = sorted(vm.name for vm in vms)[3]
    vm = await client.virtual_machines.get(RG, name, expand="instanceView")
    assert vm.properties.instance_view.vm_health.status.code == "HealthState/healthy"
    view = await client.virtual_machines.instance_view(RG, name)
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    with pytest.raises(ResourceNotFoundError):
        await client.virtual_machines.get(RG, f"{FLEX}_00000000")


def test_get_and_instance_view(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(REGIONAL)
    client = sync_client(emu.url)
    name = _names(client)[0]
    vm = client.virtual_machines.get(RG, name)
    assert vm.name == name
    assert vm.properties.instance_view is None
    assert vm.properties.os_profile.computer_name.startswith(FLEX)
    assert vm.properties.platform_fault_domain in (0, 1, 2)
    assert client.virtual_machines.get(RG, name.upper(), expand="instanceView").name == name  # names ignore case
    view = client.virtual_machines.instance_view(RG, name)
    assert view.vm_health.status.code == "HealthState/healthy"
    assert view.platform_fault_domain is None
    for missing in (f"{FLEX}_00000000", f"{VMSS}_3"):
        with pytest.raises(ResourceNotFoundError) as caught:
            client.virtual_machines.get(RG, missing)
        assert arm_error(caught).code == "ResourceNotFound"
        with pytest.raises(ResourceNotFoundError):
            client.virtual_machines.instance_view(RG, missing)


def test_expand_needs_a_filter_and_the_filter_is_checked(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(REGIONAL)
    client = sync_client(emu.url)
    with pytest.raises(HttpResponseError) as caught:
        list(client.virtual_machines.list(RG, expand="instanceView"))
    assert caught.value.status_code == 400
    assert arm_error(caught).code == "InvalidParameter"
    assert "$filter" in arm_message(caught)
    with pytest.raises(HttpResponseError) as bad:
        list(client.virtual_machines.list(RG, filter="properties/latestModelApplied eq true"))
    assert arm_error(bad).code == "InvalidParameter"
    assert list(client.virtual_machines.list(RG, filter=f"'virtualMachineScaleSet/id' eq '{vmss_path()}'")) == []


def test_manual_upgrade_takes_vm_names(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(REGIONAL)
    control = Control(emu.url)
    client = sync_client(emu.url)
    names = _names(client)
    _set_image(client, V2)
    client.virtual_machine_scale_sets.begin_update_instances(RG, FLEX, {"instanceIds": names[:2]}).result()
    events = control.instance_events(FLEX)
    assert [(e["instanceId"], e["state"]) for e in events] == [
        (names[0], "Updating"),
        (names[1], "Updating"),
        (names[0], "Running"),
        (names[1], "Running"),
    ]
    assert events[2]["time"] - events[0]["time"] >= 2.0 - 1e-6  # instanceUpgradeSeconds, as on Uniform
    assert {e["updateDomain"] for e in events} == {None}
    assert {e["zone"] for e in events} == {None}
    assert all(isinstance(e["faultDomain"], int) for e in events)
    assert versions_by_instance(events) == {names[0]: [V2], names[1]: [V2]}
    exact = {
        vm.name: vm.properties.storage_profile.image_reference.exact_version for vm in client.virtual_machines.list(RG)
    }
    assert exact == {n: (V2 if n in names[:2] else V1) for n in names}

    for ids in (["0", "1"], [f"{FLEX}_00000000"]):  # numeric instance ids are Uniform's; unknown names
        with pytest.raises(ResourceNotFoundError) as caught:
            client.virtual_machine_scale_sets.begin_update_instances(RG, FLEX, {"instanceIds": ids}).result()
        assert arm_error(caught).code == "NotFound"
        assert "VM names" in arm_message(caught)
    posts = control.requests(vmss_path(name=FLEX) + "/manualupgrade", "POST")
    assert [p["status"] for p in posts] == [202, 404, 404]


def test_failures_health_and_faults_on_flex_vms(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(
        scenario_dict({FLEX: flex_scale_set(4)}, badImageVersions=[{"version": V2, "effect": "failed"}])
    )
    control = Control(emu.url)
    client = sync_client(emu.url)
    names = _names(client)
    target = {"subscriptionId": SUB, "resourceGroup": RG, "scaleSet": FLEX}
    assert control.call("POST", "instances/health", {**target, "instanceId": names[3], "health": "unhealthy"}) == {
        "health": "unhealthy"
    }
    assert client.virtual_machines.instance_view(RG, names[3]).vm_health.status.code == "HealthState/unhealthy"
    assert control.call("POST", "instances/fail", {**target, "instanceId": names[2], "effect": "unhealthy"})
    _set_image(client, V2)
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.begin_update_instances(RG, FLEX, {"instanceIds": names[:3]}).result()
    assert arm_error(caught).code == "OSProvisioningTimedOut"
    # The bad image fails two; the VM armed "unhealthy" (by name) runs it but reports unhealthy.
    assert sorted(str(d.target) for d in arm_error(caught).details) == names[:2]
    failed = client.virtual_machines.get(RG, names[0], expand="instanceView").properties
    assert failed.provisioning_state == "Failed"
    assert failed.instance_view.statuses[0].code == "ProvisioningState/failed/OSProvisioningTimedOut"
    state = {i["instanceId"]: i for i in control.instances(FLEX)}
    assert set(state) == set(names)
    assert {i["updateDomain"] for i in state.values()} == {None}
    assert state[names[0]]["state"] == "Failed"
    assert (state[names[2]]["state"], state[names[2]]["healthy"]) == ("Running", False)

    client.virtual_machine_scale_sets.begin_update(
        RG, FLEX, {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V1}}}}}
    ).result()
    poller = client.virtual_machine_scale_sets.begin_update_instances(RG, FLEX, {"instanceIds": [names[0]]})
    preempted = control.call("POST", "operations/preempt", target)["preempted"]
    assert len(preempted) == 1
    with pytest.raises(HttpResponseError) as stopped:
        poller.result()
    assert arm_error(stopped).code == "OperationPreempted"


def test_uniform_only_calls_are_refused(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(REGIONAL)
    client = sync_client(emu.url)
    name = _names(client)[0]
    refused: dict[str, Callable[[], object]] = {
        "VirtualMachineScaleSets.instanceView.GET": lambda: client.virtual_machine_scale_sets.get_instance_view(
            RG, FLEX
        ),
        "VirtualMachineScaleSets.reimage.POST": lambda: client.virtual_machine_scale_sets.begin_reimage(RG, FLEX),
        "VirtualMachineScaleSets.virtualMachines.GET": lambda: list(
            client.virtual_machine_scale_set_vms.list(RG, FLEX, expand="instanceView")
        ),
        "VirtualMachineScaleSets.virtualMachines.instanceView.GET": lambda: (
            client.virtual_machine_scale_set_vms.get_instance_view(RG, FLEX, name)
        ),
        "VirtualMachineScaleSets.virtualMachines.reimage.POST": lambda: (
            client.virtual_machine_scale_set_vms.begin_reimage(RG, FLEX, name)
        ),
    }
    for operation, call in refused.items():
        with pytest.raises(HttpResponseError) as caught:
            call()
        assert caught.value.status_code == 400, operation
        assert arm_error(caught).code == "BadRequest"
        assert arm_message(caught) == f"Operation '{operation}' is not allowed on Virtual Machine Scale Set '{FLEX}'."
    with pytest.raises(HttpResponseError) as select:
        list(client.virtual_machine_scale_set_vms.list(RG, FLEX, select="instanceView"))
    assert arm_error(select).code == "BadRequest"

    # Without an instance view the scale-set VM list and get answer, with VM names as instance ids.
    listed = list(client.virtual_machine_scale_set_vms.list(RG, FLEX))
    assert sorted(v.instance_id for v in listed) == _names(client)
    assert all(v.name == v.instance_id for v in listed)
    assert client.virtual_machine_scale_set_vms.get(RG, FLEX, name).instance_id == name


def test_rolling_needs_the_health_extension(emulator_thread: Any, sync_client: Any) -> None:
    data = scenario_dict({FLEX: flex_scale_set(4, healthExtension=False), "vmss-healthy": flex_scale_set(5)})
    emu = emulator_thread(data)
    control = Control(emu.url)
    client = sync_client(emu.url)
    rolling = {"properties": {"upgradePolicy": {"mode": "Rolling"}}}
    probe = {
        "properties": {
            "upgradePolicy": {"mode": "Rolling"},
            "virtualMachineProfile": {"networkProfile": {"healthProbe": {"id": "/subscriptions/x/probes/p"}}},
        }
    }
    for patch in (rolling, probe):  # a load balancer probe is no substitute on Flex
        with pytest.raises(HttpResponseError) as caught:
            client.virtual_machine_scale_sets.begin_update(RG, FLEX, patch).result()
        assert caught.value.status_code == 400
        assert arm_error(caught).code == "BadRequest"
        assert "health probe or health extension was not provided" in arm_message(caught)
    assert client.virtual_machine_scale_sets.get(RG, FLEX).properties.upgrade_policy.mode == "Manual"

    client.virtual_machine_scale_sets.begin_update(RG, "vmss-healthy", rolling).result()
    _set_image(client, V2, "vmss-healthy")
    control.wait_until(
        lambda: len(versions_by_instance(control.instance_events("vmss-healthy"))) == 5, what="rolling upgrade"
    )
    latest = client.virtual_machine_scale_set_rolling_upgrades.get_latest(RG, "vmss-healthy")
    control.wait_until(
        lambda: (
            client.virtual_machine_scale_set_rolling_upgrades.get_latest(
                RG, "vmss-healthy"
            ).properties.running_status.code
            == "Completed"
        ),
        what="completion",
    )
    assert latest.properties.policy.max_batch_instance_percent == 20
    assert set(_names(client, "vmss-healthy")) == set(versions_by_instance(control.instance_events("vmss-healthy")))


def test_capacity_changes_create_and_delete_named_vms(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict({FLEX: flex_scale_set(3, platformFaultDomainCount=3)}))
    control = Control(emu.url)
    client = sync_client(emu.url)
    before = _names(client)
    client.virtual_machine_scale_sets.begin_update(RG, FLEX, {"sku": {"capacity": 7}}).result()
    after = _names(client)
    created = sorted(set(after) - set(before))
    assert len(created) == 4
    assert set(before) < set(after)
    assert all(NAME.match(n) for n in created)
    events = control.instance_events(FLEX)
    assert sorted({e["instanceId"] for e in events if e["state"] == "Creating"}) == created
    assert sorted(e["instanceId"] for e in events if e["state"] == "Running") == created
    vms = list(client.virtual_machines.list(RG, filter=FILTER))
    assert sorted(Counter(vm.properties.platform_fault_domain for vm in vms).values()) == [2, 2, 3]
    assert client.virtual_machine_scale_sets.get(RG, FLEX).sku.capacity == 7

    client.virtual_machine_scale_sets.begin_update(RG, FLEX, {"sku": {"capacity": 3}}).result()
    left = list(client.virtual_machines.list(RG, filter=FILTER))
    assert sorted(vm.properties.platform_fault_domain for vm in left) == [0, 1, 2]  # still one per fault domain
    deleted = {e["instanceId"] for e in control.instance_events(FLEX) if e["state"] == "Deleted"}
    assert len(deleted) == 4
    assert not deleted & {vm.name for vm in left}
    with pytest.raises(ResourceNotFoundError):
        client.virtual_machines.get(RG, sorted(deleted)[0])


def test_zonal_flex_spreads_over_zones_with_one_fault_domain(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict({FLEX: flex_scale_set(6, zones=["1", "2", "3"])}))
    control = Control(emu.url)
    client = sync_client(emu.url)
    ss = client.virtual_machine_scale_sets.get(RG, FLEX)
    assert (ss.properties.orchestration_mode, ss.properties.platform_fault_domain_count) == ("Flexible", 1)
    assert ss.zones == ["1", "2", "3"]
    vms = list(client.virtual_machines.list(RG, filter=FILTER))
    assert Counter(vm.zones[0] for vm in vms) == {"1": 2, "2": 2, "3": 2}
    assert {vm.properties.platform_fault_domain for vm in vms} == {0}
    client.virtual_machine_scale_sets.begin_update(RG, FLEX, {"sku": {"capacity": 8}}).result()
    vms = list(client.virtual_machines.list(RG, filter=FILTER))
    assert sorted(Counter(vm.zones[0] for vm in vms).values()) == [2, 3, 3]
    assert {i["zone"] for i in control.instances(FLEX)} == {"1", "2", "3"}


def test_put_creates_a_flexible_scale_set_and_the_mode_cannot_change(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    client = sync_client(emu.url)
    body = client.virtual_machine_scale_sets.get(RG, VMSS).as_dict()
    body["properties"]["orchestrationMode"] = "Flexible"
    with pytest.raises(HttpResponseError) as caught:  # Uniform stays Uniform
        client.virtual_machine_scale_sets.begin_update(RG, VMSS, {"properties": {"orchestrationMode": "Flexible"}})
    assert arm_error(caught).code == "PropertyChangeNotAllowed"

    create = {
        "location": body["location"],
        "sku": {"name": "Standard_D2s_v3", "capacity": 4},
        "properties": {
            "orchestrationMode": "Flexible",
            "platformFaultDomainCount": 2,
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {
                "storageProfile": {
                    "imageReference": body["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]
                }
            },
        },
    }
    created = client.virtual_machine_scale_sets.begin_create_or_update(RG, FLEX, create).result()
    assert created.properties.orchestration_mode == "Flexible"
    vms = list(client.virtual_machines.list(RG, filter=FILTER))
    assert len(vms) == 4
    assert all(NAME.match(vm.name) for vm in vms)
    assert Counter(vm.properties.platform_fault_domain for vm in vms) == {0: 2, 1: 2}
    with pytest.raises(HttpResponseError) as fds:
        client.virtual_machine_scale_sets.begin_update(RG, FLEX, {"properties": {"platformFaultDomainCount": 3}})
    assert arm_error(fds).code == "PropertyChangeNotAllowed"
    zonal = {**create, "zones": ["1", "2"], "properties": {**create["properties"], "platformFaultDomainCount": 2}}
    with pytest.raises(HttpResponseError) as bad:
        client.virtual_machine_scale_sets.begin_create_or_update(RG, "vmss-zonal", zonal)
    assert arm_error(bad).code == "InvalidParameter"
