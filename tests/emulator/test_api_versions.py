"""api-versions: the SDK default, 2020-06-01 and 2019-03-01 (per-call kwarg, or a policy rewriting every
request including nextLink pages and polls); the Azure Stack Hub profile; endpoint discovery."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from scaleset_testbed.worlds import RG, V1, V2, VMSS, scale_set, vmss_path

from .conftest import DEFAULT_API_VERSION, Control, ForceApiVersion, arm_error, arm_message, raw_request, scenario_dict

PAGED = scenario_dict({VMSS: scale_set(capacity=10)}, pageSize=4)


def _rollout(client: Any) -> list[Any]:
    """get, PATCH (LRO), paged list, manualupgrade (LRO), paged list with $expand."""
    assert client.virtual_machine_scale_sets.get(RG, VMSS).sku.capacity == 10
    assert len(list(client.virtual_machine_scale_set_vms.list(RG, VMSS))) == 10
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch).result()
    client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["0", "5"]}).result()
    vms = list(client.virtual_machine_scale_set_vms.list(RG, VMSS, expand="instanceView"))
    assert sorted(v.instance_id for v in vms if v.properties.latest_model_applied) == ["0", "5"]
    return vms


@pytest.mark.parametrize("api_version", [DEFAULT_API_VERSION, "2020-06-01", "2019-03-01"])
def test_rollout_at_each_api_version(emulator_thread: Any, sync_client: Any, api_version: str) -> None:
    emu = emulator_thread(PAGED)
    control = Control(emu.url)
    policies = [] if api_version == DEFAULT_API_VERSION else [ForceApiVersion(api_version)]
    vms = _rollout(sync_client(emu.url, policies=policies))
    requests = control.requests()
    assert len(requests) >= 12  # gets, 3 pages twice, a PATCH, a POST and their polls
    assert {r["apiVersion"] for r in requests} == {api_version}
    assert {r["status"] for r in requests} <= {200, 202}
    exact = {v.instance_id: v.properties.storage_profile.image_reference.exact_version for v in vms}
    if api_version == "2019-03-01":  # exactVersion arrived with 2019-12-01
        assert set(exact.values()) == {None}
    else:
        assert exact["0"] == V2
        assert exact["1"] == V1


def test_per_call_api_version_kwarg(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(PAGED)
    control = Control(emu.url)
    client = sync_client(emu.url)
    ss = client.virtual_machine_scale_sets.get(RG, VMSS, api_version="2020-12-01")
    assert ss.properties.orchestration_mode == "Uniform"
    old = client.virtual_machine_scale_sets.get(RG, VMSS, api_version="2020-06-01")
    assert old.properties.orchestration_mode is None  # orchestrationMode arrived with 2020-12-01
    vms = list(client.virtual_machine_scale_set_vms.list(RG, VMSS, api_version="2020-06-01"))
    assert len(vms) == 10
    pages = control.requests("/virtualMachines")
    assert [p["apiVersion"] for p in pages] == ["2020-06-01"] * 3  # the nextLinks carried it
    client.virtual_machine_scale_sets.begin_update_instances(
        RG, VMSS, {"instanceIds": ["1"]}, api_version="2019-03-01"
    ).result()
    posts = control.requests("/manualupgrade")
    assert [p["apiVersion"] for p in posts] == ["2019-03-01"]


def test_newer_fields_are_refused_by_older_api_versions(emulator_thread: Any) -> None:
    emu = emulator_thread()
    body = {"properties": {"upgradePolicy": {"mode": "Rolling", "rollingUpgradePolicy": {"maxSurge": True}}}}
    old = raw_request(f"{emu.url}{vmss_path()}?api-version=2020-06-01", "PATCH", body)
    assert old.status == 400
    assert old.json()["error"]["code"] == "InvalidRequestFormat"
    assert "maxSurge" in old.json()["error"]["details"][0]["message"]


def test_azure_stack_profile_accepts_only_2020_06_01(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(PAGED, profile="azurestack")
    control = Control(emu.url)
    with pytest.raises(HttpResponseError) as caught:
        sync_client(emu.url).virtual_machine_scale_sets.get(RG, VMSS)
    assert caught.value.status_code == 400
    assert arm_error(caught).code == "NoRegisteredProviderFound"
    assert DEFAULT_API_VERSION in arm_message(caught)
    assert "2020-06-01" in arm_message(caught)
    with pytest.raises(HttpResponseError) as old:
        sync_client(emu.url, policies=[ForceApiVersion("2019-03-01")]).virtual_machine_scale_sets.get(RG, VMSS)
    assert arm_error(old).code == "NoRegisteredProviderFound"
    with pytest.raises(HttpResponseError) as gallery:
        sync_client(emu.url).gallery_image_versions.get(RG, "gal", "img", "1.0.0")
    assert arm_error(gallery).code == "NoRegisteredProviderFound"

    _rollout(sync_client(emu.url, policies=[ForceApiVersion("2020-06-01")]))
    accepted = [r for r in control.requests() if r["status"] in (200, 202)]
    assert {r["apiVersion"] for r in accepted} == {"2020-06-01"}


def test_azure_stack_update_domains_all_zero(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict(allUpdateDomainsZero=True), profile="azurestack")
    client = sync_client(emu.url, policies=[ForceApiVersion("2020-06-01")])
    vms = list(client.virtual_machine_scale_set_vms.list(RG, VMSS, expand="instanceView"))
    assert len(vms) == 10
    assert {v.properties.instance_view.platform_update_domain for v in vms} == {0}
    assert {v.properties.instance_view.platform_fault_domain for v in vms} == {0, 1, 2, 3, 4}
    assert client.virtual_machine_scale_set_vms.get_instance_view(RG, VMSS, "7").platform_update_domain == 0


@pytest.mark.parametrize("profile", ["azure", "azurestack"])
def test_metadata_endpoints(emulator_thread: Any, profile: str) -> None:
    emu = emulator_thread(profile=profile)
    answer = raw_request(f"{emu.url}/metadata/endpoints?api-version=2015-01-01", token=None)
    assert answer.status == 200
    doc = answer.json()
    assert set(doc) == {"galleryEndpoint", "graphEndpoint", "portalEndpoint", "authentication"}
    assert set(doc["authentication"]) == {"loginEndpoint", "audiences"}
    audience = doc["authentication"]["audiences"][0]
    if profile == "azurestack":
        assert audience == emu.url + "/"
        assert doc["authentication"]["loginEndpoint"].endswith("/adfs/")
    else:
        assert audience == "https://management.core.windows.net/"
    missing = raw_request(f"{emu.url}/metadata/endpoints", token=None)
    assert missing.status == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
