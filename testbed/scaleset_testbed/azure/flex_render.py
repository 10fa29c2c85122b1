"""JSON shapes of a Flexible scale set's VMs, as ``Microsoft.Compute/virtualMachines`` resources.

A Flex VM (``VirtualMachine`` in ComputeRP's virtualMachine.json) names its scale set in
``properties.virtualMachineScaleSet.id``, its fault domain in ``properties.platformFaultDomain`` (2020-12-01 and
later) and its zone in ``zones``; it has no ``instanceId``, no ``latestModelApplied`` and no update domain. Its
instance view (``VirtualMachineInstanceView``) has the provisioning and power statuses and, with the Application
Health extension, ``vmHealth``; it has no fault or update domain: "The API responses don't include fault domain
or update domain information. This behavior is by design" (MicrosoftDocs/azure-compute-docs,
virtual-machine-scale-sets-manage-fault-domains.md, "Instance View API").
"""

from __future__ import annotations

from typing import Any

from . import api_fields
from .flex import VM_TYPE, vm_id
from .render import computer_name, instance_statuses, os_disk_name, vm_etag, vm_health_json
from .world import Instance, ScaleSet, World

_PROVISIONING = {
    "succeeded": "Succeeded",
    "failed": "Failed",
    "creating": "Creating",
    "updating": "Updating",
    "deleting": "Deleting",
}


def vm_instance_view_json(world: World, ss: ScaleSet, inst: Instance) -> dict[str, Any]:
    view: dict[str, Any] = {
        "computerName": computer_name(ss, inst),
        "osName": "ubuntu",
        "statuses": instance_statuses(world, inst),
    }
    health = vm_health_json(inst)
    if health is not None:
        view["vmHealth"] = health
    return view


def vm_resource_json(world: World, ss: ScaleSet, inst: Instance, api_version: str, *, expand: bool) -> dict[str, Any]:
    image_ref = dict(inst.image.reference)  # an image reference is flat: names and ids
    if inst.image.exact_version:
        image_ref["exactVersion"] = inst.image.exact_version
    props: dict[str, Any] = {
        "vmId": inst.vm_id,
        "hardwareProfile": {"vmSize": ss.resource["sku"].get("name", "Standard_D2s_v3")},
        "storageProfile": {
            "imageReference": image_ref,
            "osDisk": {
                "osType": "Linux",
                "name": os_disk_name(ss, inst),
                "createOption": "FromImage",
                "caching": "ReadWrite",
                "managedDisk": {"storageAccountType": "Premium_LRS"},
                "deleteOption": "Delete",
            },
        },
        "osProfile": {"computerName": computer_name(ss, inst), "adminUsername": "azureuser"},
        "networkProfile": {"networkInterfaces": []},
        "virtualMachineScaleSet": {"id": ss.resource_id},
        "platformFaultDomain": inst.fault_domain,
        "provisioningState": _PROVISIONING.get(inst.provisioning, "Succeeded"),
        "timeCreated": world.iso(inst.time_created),
    }
    if expand:
        props["instanceView"] = vm_instance_view_json(world, ss, inst)
    out: dict[str, Any] = {
        "name": inst.instance_id,
        "id": vm_id(ss, inst),
        "type": VM_TYPE,
        "location": ss.spec.location,
        "etag": vm_etag(inst),
        "properties": props,
    }
    if inst.zone is not None:
        out["zones"] = [inst.zone]
    return dict(api_fields.strip("virtualMachines", out, api_version))


def instance_view_for(world: World, ss: ScaleSet, inst: Instance, api_version: str) -> dict[str, Any]:
    """``GET .../virtualMachines/{name}/instanceView``."""
    return dict(api_fields.strip("virtualMachineInstanceView", vm_instance_view_json(world, ss, inst), api_version))
