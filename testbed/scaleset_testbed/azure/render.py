"""JSON shapes of scale sets, scale-set VMs and instance views, as Microsoft.Compute returns them.

Fields the request's api-version does not define are left out (``api_fields``, generated from Azure's REST
spec), so an old client sees what an old Azure (or Azure Stack Hub) would send.
"""

from __future__ import annotations

import copy
from typing import Any

from . import api_fields
from .world import Instance, ScaleSet, World

_PROVISIONING_DISPLAY = {
    "succeeded": "Provisioning succeeded",
    "updating": "Updating",
    "creating": "Creating",
    "failed": "Provisioning failed",
    "deleting": "Deleting",
}
_POWER_DISPLAY = {
    "running": "VM running",
    "stopped": "VM stopped",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "deallocating": "VM deallocating",
    "deallocated": "VM deallocated",
}
_HEALTH_DISPLAY = {
    "healthy": "The VM is reporting healthy",
    "unhealthy": "The VM is reporting unhealthy",
    "initializing": "The VM health is initializing",
    "unknown": "The VM health is unknown",
}


def scale_set_json(world: World, ss: ScaleSet, api_version: str) -> dict[str, Any]:
    body = copy.deepcopy(ss.resource)
    props = body["properties"]
    props["provisioningState"] = ss.provisioning_state
    props["uniqueId"] = ss.unique_id
    props["timeCreated"] = world.iso(ss.time_created)
    upgrade = props.setdefault("upgradePolicy", {"mode": "Manual"})
    # Azure answers the default automatic OS upgrade policy when the model has none (the spec's Get examples).
    upgrade.setdefault("automaticOSUpgradePolicy", {"enableAutomaticOSUpgrade": False})
    if not ss.spec.flexible:
        props.setdefault("singlePlacementGroup", True)
    body["sku"]["capacity"] = (
        len(ss.live_instances()) if ss.provisioning_state == "Succeeded" else body["sku"].get("capacity", 0)
    )
    out = {
        "id": ss.resource_id,
        "name": ss.spec.name,
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": ss.spec.location,
        "etag": f'"{ss.etag}"',
        **{k: v for k, v in body.items() if k not in ("location",)},
    }
    return dict(api_fields.strip("virtualMachineScaleSets", out, api_version))


def _status(code: str, display: str, level: str = "Info", time: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"code": code, "level": level, "displayStatus": display}
    if time:
        status["time"] = time
    return status


def instance_statuses(world: World, inst: Instance, *, power_only: bool = False) -> list[dict[str, Any]]:
    """An instance view's ``statuses``: ProvisioningState/<state>, then PowerState/<state>."""
    prov_code = "ProvisioningState/" + inst.provisioning
    if inst.provisioning == "failed":
        prov_code += "/OSProvisioningTimedOut"
    statuses = [
        _status(
            prov_code,
            _PROVISIONING_DISPLAY.get(inst.provisioning, inst.provisioning),
            "Error" if inst.provisioning == "failed" else "Info",
            world.iso(inst.state_time),
        ),
        _status("PowerState/" + inst.power, _POWER_DISPLAY.get(inst.power, inst.power)),
    ]
    if power_only:
        statuses = [s for s in statuses if s["code"].startswith("PowerState")]
    return statuses


def vm_health_json(inst: Instance) -> dict[str, Any] | None:
    """``vmHealth`` (Application Health extension), or None when the instance reports no health."""
    if inst.health is None:
        return None
    level = "Warning" if inst.health == "unhealthy" else "Info"
    return {"status": _status("HealthState/" + inst.health, _HEALTH_DISPLAY[inst.health], level)}


def instance_view_json(world: World, ss: ScaleSet, inst: Instance, *, power_only: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "platformUpdateDomain": inst.reported_update_domain,
        "platformFaultDomain": inst.fault_domain,
        "computerName": computer_name(ss, inst),
        "osName": "ubuntu",
        "statuses": instance_statuses(world, inst, power_only=power_only),
    }
    health = vm_health_json(inst)
    if health is not None:
        view["vmHealth"] = health
    return view


def computer_name(ss: ScaleSet, inst: Instance) -> str:
    """Uniform: ``{prefix}{instance id in base 36, 6 digits}``; Flexible: ``{prefix}{6 characters}``
    (virtual-machine-scale-sets-instance-ids.md)."""
    prefix = ss.resource["properties"]["virtualMachineProfile"].get("osProfile", {}).get("computerNamePrefix", "vm")
    if ss.spec.flexible:
        return f"{prefix}{inst.vm_id.replace('-', '')[:6]}"
    n, digits = int(inst.instance_id), ""
    for _ in range(6):
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return f"{prefix}{digits}"


def vm_etag(inst: Instance) -> str:
    """A VM's etag (2023-09-01 and later): it changes when the VM takes a new model."""
    return f'"{inst.model_generation}"'


def os_disk_name(ss: ScaleSet, inst: Instance) -> str:
    if ss.spec.flexible:
        return f"{inst.instance_id}_OsDisk_1_{inst.vm_id.replace('-', '')}"
    return f"{ss.spec.name}_{inst.instance_id}_OsDisk"


def vm_json(
    world: World, ss: ScaleSet, inst: Instance, api_version: str, *, expand: bool, power_only: bool = False
) -> dict[str, Any]:
    image_ref = dict(inst.image.reference)  # an image reference is flat: names and ids
    if inst.image.exact_version:
        image_ref["exactVersion"] = inst.image.exact_version
    storage: dict[str, Any] = {
        "osDisk": {
            "osType": "Linux",
            "name": os_disk_name(ss, inst),
            "createOption": "FromImage",
            "caching": "ReadWrite",
        }
    }
    if inst.image.vhd_uri:
        storage["osDisk"]["image"] = {"uri": inst.image.vhd_uri}
    else:
        storage["imageReference"] = image_ref
    provisioning = {
        "succeeded": "Succeeded",
        "failed": "Failed",
        "creating": "Creating",
        "updating": "Updating",
        "deleting": "Deleting",
    }.get(inst.provisioning, "Succeeded")
    props: dict[str, Any] = {
        "latestModelApplied": inst.model_generation == ss.model_generation,
        "modelDefinitionApplied": "VirtualMachineScaleSet",
        "vmId": inst.vm_id,
        "provisioningState": provisioning,
        "hardwareProfile": {"vmSize": ss.resource["sku"].get("name", "Standard_D2s_v3")},
        "storageProfile": storage,
        "osProfile": {"computerName": computer_name(ss, inst), "adminUsername": "azureuser"},
        "networkProfile": {"networkInterfaces": []},
    }
    if expand:
        props["instanceView"] = instance_view_json(world, ss, inst, power_only=power_only)
    out: dict[str, Any] = {
        "name": inst.instance_id if ss.spec.flexible else f"{ss.spec.name}_{inst.instance_id}",
        "id": f"{ss.resource_id}/virtualMachines/{inst.instance_id}",
        "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "location": ss.spec.location,
        "etag": vm_etag(inst),
        "instanceId": inst.instance_id,
        "sku": {"name": ss.resource["sku"].get("name", "Standard_D2s_v3"), "tier": "Standard"},
        "properties": props,
    }
    if inst.zone is not None:
        out["zones"] = [inst.zone]
    return dict(api_fields.strip("virtualMachineScaleSetVMs", out, api_version))


def scale_set_instance_view_json(world: World, ss: ScaleSet, api_version: str) -> dict[str, Any]:
    counts: dict[str, int] = {}
    health_counts: dict[str, int] = {}
    for inst in ss.live_instances():
        code = "ProvisioningState/" + inst.provisioning
        counts[code] = counts.get(code, 0) + 1
        if inst.health is not None:
            health_counts["HealthState/" + inst.health] = health_counts.get("HealthState/" + inst.health, 0) + 1
    out: dict[str, Any] = {
        "virtualMachine": {"statusesSummary": [{"code": c, "count": n} for c, n in sorted(counts.items())]},
        "statuses": [
            _status(
                "ProvisioningState/" + ss.provisioning_state.lower(),
                _PROVISIONING_DISPLAY.get(ss.provisioning_state.lower(), ss.provisioning_state),
            )
        ],
    }
    if ss.has_health_extension:
        out["extensions"] = [
            {
                "name": "HealthExtension",
                "statusesSummary": [{"code": c, "count": n} for c, n in sorted(health_counts.items())],
            }
        ]
    return dict(api_fields.strip("virtualMachineScaleSetInstanceView", out, api_version))
