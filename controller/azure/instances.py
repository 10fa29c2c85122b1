"""Instances as Azure lists them, translated to :class:`ObservedInstance`: Uniform and Flexible alike.

A Uniform scale set's instances come from the scale-set VM list (``virtualMachineScaleSets/{name}/
virtualMachines``), numbered, with update and fault domains and ``latestModelApplied``. A Flexible scale
set's are ordinary VMs (``Microsoft.Compute/virtualMachines``) that name the scale set in
``properties.virtualMachineScaleSet.id``: listed with a ``$filter`` on that id, known by their names (which
is what ``manualupgrade`` takes on Flex), with fault domains (or zones) and no update domain, and no
``latestModelApplied``: whether one runs the target is read from its image reference alone.
"""

from __future__ import annotations

from typing import Any

from controller.observed import ObservedInstance
from controller.resource import ScaleSetRef


def scale_set_id(ref: ScaleSetRef) -> str:
    return (
        f"/subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
        f"/providers/Microsoft.Compute/virtualMachineScaleSets/{ref.name}"
    )


def flexible_filter(ref: ScaleSetRef) -> str:
    """The ``$filter`` of the VM list that selects the VMs of one Flexible scale set."""
    return f"'virtualMachineScaleSet/id' eq '{scale_set_id(ref)}'"


def instance_view_fields(view: Any) -> tuple[int | None, int | None, str, str | None, str | None]:
    """(update domain, fault domain, provisioning, power, health) from an instance view, None when absent."""
    statuses = list(getattr(view, "statuses", None) or [])
    provisioning, power = "unknown", None
    for status in statuses:
        code = str(status.code or "")
        if code.startswith("ProvisioningState/"):
            provisioning = code.split("/")[1].lower()
        elif code.startswith("PowerState/"):
            power = code.split("/", 1)[1].lower()
    health = None
    vm_health = getattr(view, "vm_health", None)
    if vm_health is not None and vm_health.status is not None and vm_health.status.code:
        health = str(vm_health.status.code).split("/", 1)[-1].lower()
    ud = getattr(view, "platform_update_domain", None)
    fd = getattr(view, "platform_fault_domain", None)
    return (
        int(ud) if ud is not None else None,
        int(fd) if fd is not None else None,
        provisioning,
        power,
        health,
    )


def image_reference(reference: Any) -> dict[str, str]:
    """An SDK ImageReference as its wire fields (publisher, offer, sku, version, id), the empty ones left out."""
    out: dict[str, str] = {}
    for field_name in ("publisher", "offer", "sku", "version", "id"):
        value = getattr(reference, field_name, None) if reference is not None else None
        if value:
            out[field_name] = str(value)
    return out


def _image_fields(storage: Any) -> tuple[dict[str, str], str | None, str | None]:
    image = storage.image_reference if storage else None
    disk_image = storage.os_disk.image if storage and storage.os_disk else None
    return (
        image_reference(image),
        getattr(image, "exact_version", None) if image else None,
        disk_image.uri if disk_image is not None else None,
    )


def uniform_instance(vm: Any) -> ObservedInstance:
    """One scale-set VM (``VirtualMachineScaleSetVM``, listed with ``$expand=instanceView``)."""
    ud, fd, provisioning, power, health = instance_view_fields(vm.instance_view)
    reference, exact, vhd = _image_fields(vm.storage_profile)
    return ObservedInstance(
        instance_id=str(vm.instance_id),
        update_domain=ud or 0,
        fault_domain=fd or 0,
        zone=vm.zones[0] if vm.zones else None,
        latest_model=bool(vm.latest_model_applied),
        image_version=exact,
        provisioning=provisioning,
        power=power,
        health=health,
        image_reference=reference,
        vhd_uri=vhd,
    )


def flexible_instance(vm: Any) -> ObservedInstance:
    """One VM of a Flexible scale set (``VirtualMachine``, listed with ``$expand=instanceView``)."""
    _ud, fd, provisioning, power, health = instance_view_fields(vm.instance_view)
    if provisioning == "unknown" and vm.provisioning_state:
        provisioning = str(vm.provisioning_state).lower()
    if fd is None:
        fd = getattr(vm, "platform_fault_domain", None)
    reference, exact, vhd = _image_fields(vm.storage_profile)
    return ObservedInstance(
        instance_id=str(vm.name),
        update_domain=None,
        fault_domain=int(fd or 0),
        zone=vm.zones[0] if vm.zones else None,
        latest_model=None,
        image_version=exact,
        provisioning=provisioning,
        power=power,
        health=health,
        image_reference=reference,
        vhd_uri=vhd,
    )
