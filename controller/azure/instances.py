"""Instances as Azure lists them, translated to :class:`ObservedInstance`: Uniform and Flexible alike.

A Uniform scale set's instances come from the scale-set VM list (``virtualMachineScaleSets/{name}/
virtualMachines``), numbered, with update and fault domains and ``latestModelApplied``. A Flexible scale
set's are ordinary VMs (``Microsoft.Compute/virtualMachines``) that name the scale set in
``properties.virtualMachineScaleSet.id``: listed with a ``$filter`` on that id, known by their names (which
is what ``manualupgrade`` takes on Flex), with fault domains (or zones) and no update domain, and no
``latestModelApplied``: whether one runs the target is read from its image reference alone. Both are read
from the listing's JSON pages.
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


def image_reference(reference: Any) -> dict[str, str]:
    """An SDK ImageReference as its wire fields (publisher, offer, sku, version, id), the empty ones left out."""
    out: dict[str, str] = {}
    for field_name in ("publisher", "offer", "sku", "version", "id"):
        value = getattr(reference, field_name, None) if reference is not None else None
        if value:
            out[field_name] = str(value)
    return out


# Listing pages are read as Azure sends them (JSON), not as azure-mgmt-compute models: a page holds up to 100
# instances with their instance views, which as models cost about 50 ms of CPU a page, and the few fields
# below are read from the JSON in well under a millisecond. The names are Azure's wire names, which the models
# map (tests/unit/test_listing_pages.py compares both readings on the emulator's pages).
Json = dict[str, Any]


def _obj(value: object) -> Json:
    return value if isinstance(value, dict) else {}


def view_fields(view: Json) -> tuple[int | None, int | None, str, str | None, str | None]:
    """(update domain, fault domain, provisioning, power, health) from an instance view's JSON."""
    provisioning, power = "unknown", None
    for status in view.get("statuses") or ():
        code = str(_obj(status).get("code") or "")
        if code.startswith("ProvisioningState/"):
            provisioning = code.split("/")[1].lower()
        elif code.startswith("PowerState/"):
            power = code.split("/", 1)[1].lower()
    health = None
    health_code = _obj(_obj(view.get("vmHealth")).get("status")).get("code")
    if health_code:
        health = str(health_code).split("/", 1)[-1].lower()
    ud = view.get("platformUpdateDomain")
    fd = view.get("platformFaultDomain")
    return (
        int(ud) if ud is not None else None,
        int(fd) if fd is not None else None,
        provisioning,
        power,
        health,
    )


def _image_json(storage: Json) -> tuple[dict[str, str], str | None, str | None]:
    image = _obj(storage.get("imageReference"))
    reference = {k: str(image[k]) for k in ("publisher", "offer", "sku", "version", "id") if image.get(k)}
    exact = image.get("exactVersion")
    uri = _obj(_obj(storage.get("osDisk")).get("image")).get("uri")
    return reference, str(exact) if exact is not None else None, str(uri) if uri is not None else None


def _zone(vm: Json) -> str | None:
    zones = vm.get("zones") or ()
    return str(zones[0]) if zones else None


def uniform_instance(vm: Json) -> ObservedInstance:
    """One scale-set VM of a listing page (``VirtualMachineScaleSetVM`` with ``$expand=instanceView``)."""
    props = _obj(vm.get("properties"))
    ud, fd, provisioning, power, health = view_fields(_obj(props.get("instanceView")))
    reference, exact, vhd = _image_json(_obj(props.get("storageProfile")))
    return ObservedInstance(
        instance_id=str(vm.get("instanceId")),
        update_domain=ud or 0,
        fault_domain=fd or 0,
        zone=_zone(vm),
        latest_model=bool(props.get("latestModelApplied")),
        image_version=exact,
        provisioning=provisioning,
        power=power,
        health=health,
        image_reference=reference,
        vhd_uri=vhd,
    )


def flexible_instance(vm: Json) -> ObservedInstance:
    """One VM of a Flexible scale set from a listing page (``VirtualMachine`` with ``$expand=instanceView``)."""
    props = _obj(vm.get("properties"))
    _ud, fd, provisioning, power, health = view_fields(_obj(props.get("instanceView")))
    if provisioning == "unknown" and props.get("provisioningState"):
        provisioning = str(props["provisioningState"]).lower()
    if fd is None:
        fd = props.get("platformFaultDomain")
    reference, exact, vhd = _image_json(_obj(props.get("storageProfile")))
    return ObservedInstance(
        instance_id=str(vm.get("name")),
        update_domain=None,
        fault_domain=int(fd or 0),
        zone=_zone(vm),
        latest_model=None,
        image_version=exact,
        provisioning=provisioning,
        power=power,
        health=health,
        image_reference=reference,
        vhd_uri=vhd,
    )
