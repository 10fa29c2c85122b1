"""Images: marketplace list/get, gallery image versions, managed images, `latest` resolution, and the
image rules of model updates and scale-out (including Azure Stack Hub's pinned-version rule)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from scaleset_testbed.worlds import LOCATION, OFFER, PUBLISHER, RG, SKU, SUB, V1, V2, V3, VMSS, scale_set

from .conftest import DEFAULT_API_VERSION, Control, ForceApiVersion, arm_error, arm_message, raw_request, scenario_dict

GALLERY_IMAGE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/gal/images/web"
MANAGED_IMAGE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/golden"


def _image_scenario(**kw: Any) -> dict[str, Any]:
    return scenario_dict(
        galleries=[
            {
                "subscriptionId": SUB,
                "resourceGroup": RG,
                "gallery": "gal",
                "image": "web",
                "versions": ["1.0.0", "1.2.0"],
                "regions": [LOCATION],
            }
        ],
        managedImages=[MANAGED_IMAGE],
        **kw,
    )


def test_marketplace_versions_list_and_get(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    images = sync_client(emu.url).virtual_machine_images
    listed = images.list(LOCATION, PUBLISHER, OFFER, SKU)
    assert [i.name for i in listed] == [V1, V2, V3]
    assert all(i.location == LOCATION for i in listed)
    assert listed[0].id.endswith(f"/Skus/{SKU}/Versions/{V1}")

    raw = raw_request(
        f"{emu.url}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/{LOCATION}/publishers/{PUBLISHER}"
        f"/artifacttypes/vmimage/offers/{OFFER}/skus/{SKU}/versions?api-version={DEFAULT_API_VERSION}"
    )
    assert raw.status == 200
    assert isinstance(raw.json(), list)  # a bare JSON array, not {"value": [...]}
    assert [i["name"] for i in raw.json()] == [V1, V2, V3]

    one = images.get(LOCATION, PUBLISHER, OFFER, SKU, V2)
    assert one.name == V2
    assert one.properties.os_disk_image.operating_system == "Linux"

    with pytest.raises(ResourceNotFoundError):
        images.get(LOCATION, PUBLISHER, OFFER, SKU, "16.04.209901010")
    with pytest.raises(ResourceNotFoundError):
        images.list(LOCATION, PUBLISHER, OFFER, "18.04-LTS")


def test_gallery_image_versions(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(_image_scenario())
    control = Control(emu.url)
    versions = sync_client(emu.url).gallery_image_versions
    one = versions.get(RG, "gal", "web", "1.2.0")
    assert one.name == "1.2.0"
    assert one.id == f"{GALLERY_IMAGE}/versions/1.2.0"
    assert one.properties.provisioning_state == "Succeeded"
    assert [r.name for r in one.properties.publishing_profile.target_regions] == [LOCATION]
    assert sorted(v.name for v in versions.list_by_gallery_image(RG, "gal", "web")) == ["1.0.0", "1.2.0"]
    with pytest.raises(ResourceNotFoundError):
        versions.get(RG, "gal", "web", "9.9.9")
    with pytest.raises(ResourceNotFoundError):
        versions.get(RG, "gal", "other", "1.0.0")
    assert {r["apiVersion"] for r in control.requests("/galleries/")} == {"2026-03-03"}


def test_managed_image_get(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(_image_scenario())
    images = sync_client(emu.url).images
    image = images.get(RG, "golden")
    assert image.id == MANAGED_IMAGE
    assert image.name == "golden"
    assert image.properties.storage_profile.os_disk.os_type == "Linux"
    with pytest.raises(ResourceNotFoundError):
        images.get(RG, "missing")


def test_gallery_image_model_updates(emulator_thread: Any, sync_client: Any) -> None:
    gallery_ref = {"id": f"{GALLERY_IMAGE}/versions/1.0.0"}
    emu = emulator_thread(_image_scenario(scale_sets={VMSS: scale_set(capacity=2, image=gallery_ref)}))
    client = sync_client(emu.url)
    control = Control(emu.url)
    assert {i["imageVersion"] for i in control.instances()} == {"1.0.0"}

    def set_id(image_id: str) -> None:
        patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": image_id}}}}}
        client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch).result()

    with pytest.raises(HttpResponseError) as caught:
        set_id(f"{GALLERY_IMAGE}/versions/3.0.0")
    assert arm_error(caught).code == "GalleryImageVersionNotFound"
    set_id(GALLERY_IMAGE)  # no version: the gallery's latest
    client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["0"]}).result()
    assert {i["instanceId"]: i["imageVersion"] for i in control.instances()} == {"0": "1.2.0", "1": "1.0.0"}


@pytest.mark.parametrize(
    ("versions", "numeric_max", "string_max"),
    [
        (["1.9.0", "1.10.0", "1.2.0"], "1.10.0", "1.9.0"),
        (["16.04.201810", "16.04.2018090"], "16.04.2018090", "16.04.201810"),
    ],
)
def test_latest_resolves_numerically(
    emulator_thread: Any, sync_client: Any, versions: list[str], numeric_max: str, string_max: str
) -> None:
    assert max(versions) == string_max  # the trap: string order disagrees
    image = {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": "latest"}
    emu = emulator_thread(scenario_dict({VMSS: scale_set(capacity=3, image=image)}, versions=versions))
    client = sync_client(emu.url)
    vms = list(client.virtual_machine_scale_set_vms.list(RG, VMSS))
    refs = [v.properties.storage_profile.image_reference for v in vms]
    assert {(r.version, r.exact_version) for r in refs} == {("latest", numeric_max)}
    model = client.virtual_machine_scale_sets.get(RG, VMSS)
    assert model.properties.virtual_machine_profile.storage_profile.image_reference.version == "latest"


def test_model_update_to_a_missing_marketplace_version_changes_nothing(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    before = client.virtual_machine_scale_sets.get(RG, VMSS)
    patch = {
        "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "16.04.209901010"}}}}
    }
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch)
    assert arm_error(caught).code == "PlatformImageNotFound"
    assert "16.04.209901010" in arm_message(caught)
    after = client.virtual_machine_scale_sets.get(RG, VMSS)
    assert after.etag == before.etag
    assert after.properties.virtual_machine_profile.storage_profile.image_reference.version == V1
    assert control.instance_events() == []
    assert all(v.properties.latest_model_applied for v in client.virtual_machine_scale_set_vms.list(RG, VMSS))


def test_azure_stack_answers_image_not_found(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(profile="azurestack")
    client = sync_client(emu.url, policies=[ForceApiVersion("2020-06-01")])
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": "1.0.0"}}}}}
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch)
    assert arm_error(caught).code == "ImageNotFound"


def test_removed_pinned_version_blocks_scale_out(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(profile="azurestack")
    control = Control(emu.url)
    client = sync_client(emu.url, policies=[ForceApiVersion("2020-06-01")])
    removed = control.call(
        "DELETE", "images/marketplace", {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": V1}
    )
    assert removed == {"removed": True}
    assert [i.name for i in client.virtual_machine_images.list(LOCATION, PUBLISHER, OFFER, SKU)] == [V2, V3]
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.begin_update(RG, VMSS, {"sku": {"capacity": 12}})
    assert arm_error(caught).code == "ImageNotFound"
    assert client.virtual_machine_scale_sets.get(RG, VMSS).sku.capacity == 10
    assert control.instance_events() == []
    # Scaling in needs no image.
    client.virtual_machine_scale_sets.begin_update(RG, VMSS, {"sku": {"capacity": 9}}).result()
    assert client.virtual_machine_scale_sets.get(RG, VMSS).sku.capacity == 9


def test_latest_model_scales_out_with_the_newest_remaining_version(emulator_thread: Any, sync_client: Any) -> None:
    image = {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": "latest"}
    emu = emulator_thread(scenario_dict({VMSS: scale_set(capacity=2, image=image)}), profile="azurestack")
    control = Control(emu.url)
    client = sync_client(emu.url, policies=[ForceApiVersion("2020-06-01")])
    assert {i["imageVersion"] for i in control.instances()} == {V3}
    control.call("DELETE", "images/marketplace", {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": V3})
    client.virtual_machine_scale_sets.begin_update(RG, VMSS, {"sku": {"capacity": 4}}).result()
    assert {i["instanceId"]: i["imageVersion"] for i in control.instances()} == {"0": V3, "1": V3, "2": V2, "3": V2}
    vms = {v.instance_id: v for v in client.virtual_machine_scale_set_vms.list(RG, VMSS)}
    assert vms["3"].properties.storage_profile.image_reference.exact_version == V2
