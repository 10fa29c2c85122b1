"""The image catalogue's routes: marketplace image versions, gallery image versions and managed images.

Each answer leaves out what the request's api-version does not define (``api_fields``). A gallery image version
answers what Azure's GalleryImageVersion carries: ``publishingProfile`` with ``publishedDate``,
``excludeFromLatest``, ``replicaCount`` and ``targetRegions`` (each with its ``excludeFromLatest`` from
2022-01-03), ``storageProfile`` (2019-07-01 on) or, before that, ``publishingProfile.source``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import api_fields
from .errors import ArmError, invalid_parameter
from .routing import GALLERY_IMAGE, IMAGES, RG, Call, Route, json_response, route
from .world import version_key

if TYPE_CHECKING:
    from .scenario import GalleryImageSpec
    from .server import AzureEmulator


def _catalog_not_found(p: dict[str, str]) -> ArmError:
    return ArmError(
        404,
        "NotFound",
        f"Artifact: VMImage was not found. (publisher {p['pub']}, offer {p['offer']}, sku {p['sku']} in {p['loc']})",
    )


def _marketplace_item(p: dict[str, str], version: str) -> dict[str, Any]:
    return {
        "location": p["loc"],
        "name": version,
        "id": f"/Subscriptions/{p['sub']}/Providers/Microsoft.Compute/Locations/{p['loc']}/Publishers/{p['pub']}"
        f"/ArtifactTypes/VMImage/Offers/{p['offer']}/Skus/{p['sku']}/Versions/{version}",
    }


async def list_marketplace_versions(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    p = call.params
    versions = emulator.world.marketplace.get(
        (p["loc"].lower(), p["pub"].lower(), p["offer"].lower(), p["sku"].lower())
    )
    if versions is None:
        raise _catalog_not_found(p)
    ordered = list(versions)
    orderby = call.request.query.get("$orderby", "")
    if orderby:
        if orderby.lower() not in ("name", "name asc", "name desc"):
            raise invalid_parameter(f"The value '{orderby}' of parameter '$orderby' is invalid.", "$orderby")
        ordered.sort(reverse=orderby.lower().endswith("desc"))  # ARM sorts names as strings
    top = call.request.query.get("$top")
    if top is not None:
        try:
            ordered = ordered[: max(0, int(top))]
        except ValueError as exc:
            raise invalid_parameter(f"The value '{top}' of parameter '$top' is invalid.", "$top") from exc
    return json_response([_marketplace_item(p, v) for v in ordered])


async def get_marketplace_version(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    p = call.params
    versions = emulator.world.marketplace.get(
        (p["loc"].lower(), p["pub"].lower(), p["offer"].lower(), p["sku"].lower())
    )
    versions = versions or []
    version = p["version"]
    if version.lower() == "latest" and versions:
        version = max(versions, key=version_key)
    if version not in versions:
        raise ArmError(404, "NotFound", f"Artifact: VMImage was not found. (version {p['version']})")
    item = _marketplace_item(p, version)
    item["properties"] = {
        "osDiskImage": {"operatingSystem": "Linux"},
        "dataDiskImages": [],
        "hyperVGeneration": "V1",
        "architecture": "x64",
    }
    return json_response(api_fields.strip("virtualMachineImages", item, call.api_version))


def _gallery(emulator: AzureEmulator, call: Call) -> GalleryImageSpec:
    p = call.params
    image_id = (
        f"/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/Microsoft.Compute/galleries/"
        f"{p['gallery']}/images/{p['image']}"
    )
    emulator.world.check_resource_group(p["sub"], p["rg"])
    gallery = emulator.world.galleries.get(image_id.lower())
    if gallery is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Compute/galleries/{p['gallery']}/images/{p['image']}' under resource group "
            f"'{p['rg']}' was not found.",
        )
    return gallery


def _gallery_version_json(emulator: AzureEmulator, gallery: GalleryImageSpec, version: str, api_version: str) -> Any:
    excluded = version in gallery.exclude_from_latest
    body = {
        "id": f"{gallery.image_id}/versions/{version}",
        "name": version,
        "type": "Microsoft.Compute/galleries/images/versions",
        "location": gallery.regions_of(version)[0] if gallery.regions_of(version) else emulator.scenario.location,
        "properties": {
            "publishingProfile": {
                "targetRegions": [
                    {
                        "name": r,
                        "regionalReplicaCount": 1,
                        "storageAccountType": "Standard_LRS",
                        "excludeFromLatest": excluded,
                    }
                    for r in gallery.regions_of(version)
                ],
                "replicaCount": 1,
                "excludeFromLatest": excluded,
                "publishedDate": emulator.world.iso(0.0),
                "storageAccountType": "Standard_LRS",
                # Before 2019-07-01 the source sat here (and was required); the table drops it later.
                "source": {"managedImage": {"id": f"{gallery.image_id}/sources/{version}"}},
            },
            "provisioningState": "Succeeded",
            "storageProfile": {"osDiskImage": {"hostCaching": "ReadWrite", "sizeInGB": 30}},
        },
    }
    return api_fields.strip("galleryImageVersions", body, api_version)


async def list_gallery_versions(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    gallery = _gallery(emulator, call)
    items = [_gallery_version_json(emulator, gallery, v, call.api_version) for v in gallery.versions]
    return json_response({"value": items})


async def get_gallery_version(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    gallery = _gallery(emulator, call)
    version = call.params["version"]
    if version not in gallery.versions:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Compute/galleries/{call.params['gallery']}/images/{call.params['image']}"
            f"/versions/{version}' was not found.",
        )
    return json_response(_gallery_version_json(emulator, gallery, version, call.api_version))


async def get_managed_image(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    p = call.params
    image_id = f"/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/Microsoft.Compute/images/{p['image']}"
    emulator.world.check_resource_group(p["sub"], p["rg"])
    if image_id.lower() not in emulator.world.managed_images:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Compute/images/{p['image']}' under resource group '{p['rg']}' was not found.",
        )
    body = {
        "id": image_id,
        "name": p["image"],
        "type": "Microsoft.Compute/images",
        "location": emulator.scenario.location,
        "properties": {
            "provisioningState": "Succeeded",
            "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized"}},
            "hyperVGeneration": "V1",
        },
    }
    return json_response(api_fields.strip("images", body, call.api_version))


ROUTES: list[Route] = [
    route("GET", IMAGES, "VirtualMachineImages_List", list_marketplace_versions),
    route("GET", IMAGES + r"/(?P<version>[^/]+)", "VirtualMachineImages_Get", get_marketplace_version),
    route(
        "GET", GALLERY_IMAGE + "/versions", "GalleryImageVersions_ListByGalleryImage", list_gallery_versions, "gallery"
    ),
    route(
        "GET",
        GALLERY_IMAGE + r"/versions/(?P<version>[^/]+)",
        "GalleryImageVersions_Get",
        get_gallery_version,
        "gallery",
    ),
    route("GET", RG + r"/providers/Microsoft\.Compute/images/(?P<image>[^/]+)", "Images_Get", get_managed_image),
]
