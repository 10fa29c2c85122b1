"""The Azure world that tests and benchmarks build, named once: its subscription, resource group, scale set,
marketplace image and image versions, the ScaleSetImage API on the wire, and builders for the pieces every
suite assembles (a scale set entry, a one-subscription scenario, a ScaleSetImage manifest, a scale set path).

Pure data and dict builders: nothing here imports the operator or starts an emulator. The wire names of the
custom resource are written out on purpose, so a test notices when the operator's own constants change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

# --- Azure ---------------------------------------------------------------------------------------------------
SUB: Final = "00000000-0000-0000-0000-000000000001"
RG: Final = "rg-web"
VMSS: Final = "vmss-web"
FLEX: Final = "vmss-flex"  # a Flexible scale set, where a world has one
LOCATION: Final = "westeurope"
PUBLISHER: Final = "Canonical"
OFFER: Final = "UbuntuServer"
SKU: Final = "16.04-LTS"
# The marketplace image's versions, oldest first; V4 is published only where a world lists it.
V1: Final = "16.04.201801010"
V2: Final = "16.04.201807060"
V3: Final = "16.04.201811010"
V4: Final = "16.04.201901010"
VERSIONS: Final = (V1, V2, V3)

ARM_ENDPOINT: Final = "https://management.azure.com/"
ARM_SCOPES: Final = ("https://management.azure.com/.default",)
# The bearer token clients send to the emulator (it accepts any).
TOKEN: Final = "emulator-token"

# --- the ScaleSetImage API on the wire ------------------------------------------------------------------------
GROUP: Final = "imagerollout.dev"
VERSION: Final = "v1alpha1"
PLURAL: Final = "scalesetimages"
KIND: Final = "ScaleSetImage"
API_VERSION: Final = f"{GROUP}/{VERSION}"
CR: Final = f"{GROUP}/{VERSION}/{PLURAL}"  # the Kubernetes emulator's key for the kind


def resources_path(namespace: str = "default") -> str:
    """The collection URL path of ScaleSetImages in ``namespace``."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def vmss_path(sub: str = SUB, rg: str = RG, name: str = VMSS) -> str:
    """The ARM path of a scale set."""
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"


# --- scenarios (the Azure emulator's input) -------------------------------------------------------------------
def image_reference(version: str = V1) -> dict[str, Any]:
    """The marketplace image reference of one version."""
    return {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": version}


def scale_set(
    capacity: int = 10, update_domains: int = 5, fault_domains: int = 5, *, version: str = V1, **fields: Any
) -> dict[str, Any]:
    """A scenario's scale set: Manual policy, health extension, on ``version``; ``fields`` (scenario keys,
    camelCase) are added or replace any of these."""
    spec: dict[str, Any] = {
        "capacity": capacity,
        "updateDomains": update_domains,
        "faultDomains": fault_domains,
        "upgradePolicy": "Manual",
        "healthExtension": True,
        "image": image_reference(version),
    }
    spec.update(fields)
    return spec


def flex_scale_set(capacity: int = 6, *, version: str = V1, **fields: Any) -> dict[str, Any]:
    """A scenario's Flexible scale set: Manual policy, health extension, on ``version``, regional with the default
    fault domain count (1) unless ``fields`` (``platformFaultDomainCount``, ``zones`` ...) say otherwise."""
    spec: dict[str, Any] = {
        "capacity": capacity,
        "orchestrationMode": "Flexible",
        "upgradePolicy": "Manual",
        "healthExtension": True,
        "image": image_reference(version),
    }
    spec.update(fields)
    return spec


def vm_path(name: str, sub: str = SUB, rg: str = RG) -> str:
    """The ARM path of a virtual machine (a Flexible scale set's VM)."""
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def scenario(
    resource_groups: dict[str, dict[str, dict[str, Any]]], *, versions: Sequence[str] = VERSIONS, **top: Any
) -> dict[str, Any]:
    """A one-subscription world in ``LOCATION``: ``resource_groups`` is {group: {scale set name: scale set}};
    the marketplace image offers ``versions``; ``top`` adds scenario keys (timing, badImageVersions,
    throttling...) or replaces these."""
    data: dict[str, Any] = {
        "location": LOCATION,
        "subscriptions": {SUB: {"resourceGroups": {rg: {"scaleSets": sets} for rg, sets in resource_groups.items()}}},
        "images": [{"location": LOCATION, "publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "versions": [*versions]}],
    }
    data.update(top)
    return data


# --- ScaleSetImage manifests ----------------------------------------------------------------------------------
def manifest(
    name: str = "web",
    *,
    namespace: str = "default",
    rg: str = RG,
    vmss: str = VMSS,
    version: str = V2,
    rollout: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ScaleSetImage that rolls scale set ``rg``/``vmss`` of ``SUB`` to the marketplace image ``version``."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleSet": {"subscriptionId": SUB, "resourceGroup": rg, "name": vmss},
            "image": {"marketplace": image_reference(version)},
            "rollout": dict(rollout or {}),
        },
    }
