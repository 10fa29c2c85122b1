"""Flexible orchestration: scenario validation, the azurestack profile (no Flex), api-version gating of the VM
routes and fields, and the aio client's manualupgrade and refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from scaleset_testbed.azure import EmulatorThread, ScenarioError, parse_scenario
from scaleset_testbed.worlds import FLEX, RG, SUB, V1, V2, VMSS, flex_scale_set, scale_set, vm_path, vmss_path

from .conftest import Control, arm_error, arm_message, raw_request, scenario_dict, versions_by_instance

REPO = Path(__file__).resolve().parents[2]
FLEX_ID = vmss_path(name=FLEX)
FILTER = f"'virtualMachineScaleSet/id' eq '{FLEX_ID}'"
VMS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines"
WORLD = scenario_dict({FLEX: flex_scale_set(3, platformFaultDomainCount=3)})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"zones": ["1", "2"], "platformFaultDomainCount": 2}, "zonal Flexible scale set has 1 fault domain per zone"),
        ({"platformFaultDomainCount": 4}, "regional Flexible scale set has 1..3"),
        ({"platformFaultDomainCount": 0}, "regional Flexible scale set has 1..3"),
        ({"updateDomains": 5}, "updateDomains: not for a Flexible scale set"),
        ({"faultDomains": 3}, "faultDomains: not for a Flexible scale set (it says platformFaultDomainCount)"),
        ({"allUpdateDomainsZero": True}, "allUpdateDomainsZero: not for a Flexible scale set"),
        ({"upgradePolicy": "Rolling", "healthExtension": False}, "upgradePolicy Rolling needs healthExtension"),
        ({"vhdUri": "https://example.blob.core.windows.net/vhds/os.vhd"}, "managed disks only"),
        ({"orchestrationMode": "Hybrid"}, "must be Uniform or Flexible"),
    ],
)
def test_bad_flexible_scenarios(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(scenario_dict({FLEX: flex_scale_set(2, **fields)}))
    assert message in str(caught.value)
    assert f"scaleSets.{FLEX}" in str(caught.value)


def test_flexible_scenario_names_and_uniform_keys() -> None:
    long_name = "f" * 36  # its VMs would be 36 + 9 = 45 characters; Flex VM names have at most 44
    with pytest.raises(ScenarioError, match="at most 35 characters"):
        parse_scenario(scenario_dict({long_name: flex_scale_set(1)}))
    parse_scenario(scenario_dict({"f" * 35: flex_scale_set(1)}))
    with pytest.raises(ScenarioError, match="a Uniform scale set says faultDomains"):
        parse_scenario(scenario_dict({VMSS: scale_set(2, platformFaultDomainCount=2)}))
    spec = parse_scenario(scenario_dict({FLEX: flex_scale_set(2, zones=["1", "2"])})).scale_sets[0]
    assert (spec.flexible, spec.fault_domains, spec.zones) == (True, 1, ["1", "2"])
    assert parse_scenario(scenario_dict({FLEX: flex_scale_set(2)})).scale_sets[0].fault_domains == 1  # the default


def test_azurestack_profile_refuses_a_flexible_scenario(emulator_thread: Any, tmp_path: Path) -> None:
    thread = EmulatorThread(parse_scenario(WORLD), profile="azurestack")
    try:
        with pytest.raises(ScenarioError, match=r"azurestack profile .* has no Flexible orchestration"):
            thread.start()
    finally:
        thread.stop()
    uniform = emulator_thread(scenario_dict(), profile="azurestack")
    answer = Control(uniform.url).call("POST", "scenario", WORLD, expect=400)
    assert "no Flexible orchestration" in answer["error"]

    path = tmp_path / "flex.yaml"
    path.write_text(yaml.safe_dump(WORLD))
    command = [sys.executable, "-m", "scaleset_testbed", "emulator", "--port", "0", "--profile", "azurestack"]
    done = subprocess.run(
        [*command, "--scenario", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "has no Flexible orchestration" in done.stderr


def _vm_list(url: str, api_version: str, **query: str) -> Any:
    return raw_request(f"{url}{VMS}?{urlencode({'api-version': api_version, **query})}")


def test_vm_list_options_follow_the_api_version(emulator_thread: Any) -> None:
    emu = emulator_thread(WORLD)
    old_filter = _vm_list(emu.url, "2021-07-01", **{"$filter": FILTER})
    assert old_filter.status == 400
    assert old_filter.json()["error"]["code"] == "InvalidParameter"
    assert "2021-11-01" in old_filter.json()["error"]["message"]
    assert len(_vm_list(emu.url, "2021-07-01").json()["value"]) == 3  # the list itself is older
    assert len(_vm_list(emu.url, "2021-11-01", **{"$filter": FILTER}).json()["value"]) == 3

    old_expand = _vm_list(emu.url, "2022-11-01", **{"$filter": FILTER, "$expand": "instanceView"})
    assert (old_expand.status, old_expand.json()["error"]["code"]) == (400, "InvalidParameter")
    assert "2023-03-01" in old_expand.json()["error"]["message"]
    fresh = _vm_list(emu.url, "2023-03-01", **{"$filter": FILTER, "$expand": "instanceView"}).json()["value"]
    assert all("instanceView" in vm["properties"] for vm in fresh)


@pytest.mark.parametrize(
    ("api_version", "present", "absent"),
    [
        ("2019-03-01", {"virtualMachineScaleSet"}, {"platformFaultDomain", "timeCreated"}),
        ("2020-06-01", {"virtualMachineScaleSet"}, {"platformFaultDomain", "timeCreated"}),
        ("2020-12-01", {"virtualMachineScaleSet", "platformFaultDomain"}, {"timeCreated"}),
        ("2021-07-01", {"virtualMachineScaleSet", "platformFaultDomain"}, {"timeCreated"}),
        ("2021-11-01", {"virtualMachineScaleSet", "platformFaultDomain", "timeCreated"}, set()),
    ],
)
def test_vm_fields_follow_the_api_version(
    emulator_thread: Any, sync_client: Any, api_version: str, present: set[str], absent: set[str]
) -> None:
    emu = emulator_thread(WORLD)
    name = sorted(vm.name for vm in sync_client(emu.url).virtual_machines.list(RG, filter=FILTER))[0]
    vm = raw_request(f"{emu.url}{vm_path(name)}?api-version={api_version}&$expand=instanceView").json()
    props = vm["properties"]
    assert present <= set(props), (api_version, sorted(props))
    assert not absent & set(props), (api_version, sorted(props))
    assert ("exactVersion" in props["storageProfile"]["imageReference"]) == (api_version >= "2019-12-01")
    assert ("vmHealth" in props["instanceView"]) == (api_version >= "2020-06-01")
    view = raw_request(f"{emu.url}{vm_path(name)}/instanceView?api-version={api_version}").json()
    assert ("vmHealth" in view) == (api_version >= "2020-06-01")


def test_scale_set_orchestration_mode_follows_the_api_version(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(WORLD)
    client = sync_client(emu.url)
    assert client.virtual_machine_scale_sets.get(RG, FLEX, api_version="2020-12-01").properties.orchestration_mode == (
        "Flexible"
    )
    old = client.virtual_machine_scale_sets.get(RG, FLEX, api_version="2020-06-01")
    assert old.properties.orchestration_mode is None  # the field is not in 2020-06-01's schema
    assert old.properties.platform_fault_domain_count == 3
    # A 2020-06-01 client cannot name the mode, and its PUT keeps it.
    body = raw_request(f"{emu.url}{FLEX_ID}?api-version=2020-06-01").json()
    refused = raw_request(
        f"{emu.url}{FLEX_ID}?api-version=2020-06-01",
        "PATCH",
        {"properties": {"orchestrationMode": "Flexible"}},
    )
    assert (refused.status, refused.json()["error"]["code"]) == (400, "InvalidRequestFormat")
    put = raw_request(f"{emu.url}{FLEX_ID}?api-version=2020-06-01", "PUT", body)
    assert put.status == 200
    assert client.virtual_machine_scale_sets.get(RG, FLEX).properties.orchestration_mode == "Flexible"


async def test_aio_manual_upgrade_by_names_and_refusals(aio_emulator: Any, aio_client: Any) -> None:
    emu = await aio_emulator(WORLD)
    client = aio_client(emu.url)
    names = sorted([vm.name async for vm in client.virtual_machines.list(RG, filter=FILTER)])
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    await (await client.virtual_machine_scale_sets.begin_update(RG, FLEX, patch)).result()
    await (
        await client.virtual_machine_scale_sets.begin_update_instances(RG, FLEX, {"instanceIds": [names[1]]})
    ).result()
    assert versions_by_instance(emu.world.audit) == {names[1]: [V2]}
    versions = {
        vm.name: vm.properties.storage_profile.image_reference.exact_version
        async for vm in client.virtual_machines.list(RG, filter=FILTER)
    }
    assert versions == {names[0]: V1, names[1]: V2, names[2]: V1}
    with pytest.raises(ResourceNotFoundError) as caught:
        await (
            await client.virtual_machine_scale_sets.begin_update_instances(RG, FLEX, {"instanceIds": ["1"]})
        ).result()
    assert arm_error(caught).code == "NotFound"
    with pytest.raises(HttpResponseError) as refused:
        await client.virtual_machine_scale_sets.get_instance_view(RG, FLEX)
    assert arm_error(refused).code == "BadRequest"
    assert "VirtualMachineScaleSets.instanceView.GET" in arm_message(refused)
