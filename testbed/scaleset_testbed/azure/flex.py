"""Flexible orchestration: the rules a Flexible scale set follows where they differ from Uniform.

A Flexible ("Flex") scale set's instances are ordinary ``Microsoft.Compute/virtualMachines`` resources in the
scale set's resource group, named ``{scale set}_{8 hexadecimal characters}``; that name is also their instance
id wherever a scale-set API takes one (``manualupgrade``'s ``instanceIds``). They have no update domain. A
regional Flex set spreads its VMs over ``platformFaultDomainCount`` (1..3) fault domains, a zonal one over its
zones with one fault domain per zone. Sources: MicrosoftDocs/azure-compute-docs
``articles/virtual-machine-scale-sets/`` (virtual-machine-scale-sets-orchestration-modes.md,
orchestration-modes-api-comparison.md, virtual-machine-scale-sets-instance-ids.md,
virtual-machine-scale-sets-manage-fault-domains.md, virtual-machine-scale-sets-upgrade-policy.md,
virtual-machine-scale-sets-perform-manual-upgrades.md).

Everything else (upgrades, health, bad images, faults, preemption, rolling upgrades) is the world's common
machinery, keyed by instance id, which for a Flex VM is its name.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .errors import ArmError, invalid_parameter

if TYPE_CHECKING:
    from .world import Instance, ScaleSet, World

VM_TYPE = "Microsoft.Compute/virtualMachines"

# Observed on Azure for Get-AzVmssVM -InstanceView against a Flexible scale set (microsoft/OMS-Agent-for-Linux
# pull request 1475): 400 BadRequest "Operation 'VirtualMachineScaleSets.virtualMachines.GET' is not allowed on
# Virtual Machine Scale Set 'testvmss'." The scale-set instance view answers the same way (hashicorp/
# nomad-autoscaler issue 1096: "Operation 'VirtualMachineScaleSets.instanceView.GET' is not allowed on Virtual
# Machine Scale Set"). The other operation names follow that pattern.
SCALE_SET_INSTANCE_VIEW = "VirtualMachineScaleSets.instanceView.GET"
SCALE_SET_REIMAGE = "VirtualMachineScaleSets.reimage.POST"
SCALE_SET_VM_GET = "VirtualMachineScaleSets.virtualMachines.GET"
SCALE_SET_VM_INSTANCE_VIEW = "VirtualMachineScaleSets.virtualMachines.instanceView.GET"
SCALE_SET_VM_REIMAGE = "VirtualMachineScaleSets.virtualMachines.reimage.POST"

# Observed on Azure for a Rolling policy without a health signal (gbowerman/azure-myriad issue 30).
ROLLING_NEEDS_HEALTH = (
    "Rolling Upgrade mode is not supported for this Virtual Machine Scale Set because a health probe or health "
    "extension was not provided."
)


def not_allowed(ss: ScaleSet, operation: str) -> ArmError:
    """What a Flexible scale set answers to a Uniform-only operation."""
    return ArmError(
        400, "BadRequest", f"Operation '{operation}' is not allowed on Virtual Machine Scale Set '{ss.spec.name}'."
    )


def vm_not_found(resource_group: str, name: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{VM_TYPE}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def vm_id(ss: ScaleSet, inst: Instance) -> str:
    s = ss.spec
    group = f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}"
    return f"{group}/providers/{VM_TYPE}/{inst.instance_id}"


# ------------------------------------------------------------------------------------------------- placement
def new_vm_name(world: World, ss: ScaleSet) -> str:
    """``{scale set}_{8 hexadecimal characters}``, unique among the VMs of the resource group (seeded)."""
    taken = {
        iid.lower()
        for other in flexible_sets(world, ss.spec.subscription_id, ss.spec.resource_group)
        for iid in other.instances
    }
    while True:
        name = f"{ss.spec.name}_{world.rng.getrandbits(32):08x}"
        if name.lower() not in taken:
            return name


def _domain_of(ss: ScaleSet, inst: Instance) -> str:
    return inst.zone if ss.spec.zones and inst.zone is not None else str(inst.fault_domain)


def _standing(ss: ScaleSet) -> list[Instance]:
    return [i for i in ss.live_instances() if i.state != "Deleting"]


def place(ss: ScaleSet) -> tuple[int, str | None]:
    """Fault domain and zone of a new VM: the zone (zonal) or fault domain (regional) with the fewest VMs,
    first in order on a tie. Scale-in removes the newest VMs first, which keeps this spread even."""
    counts: dict[str, int] = {}
    for inst in _standing(ss):
        counts[_domain_of(ss, inst)] = counts.get(_domain_of(ss, inst), 0) + 1
    if ss.spec.zones:
        zone = min(ss.spec.zones, key=lambda z: (counts.get(z, 0), ss.spec.zones.index(z)))
        return 0, zone
    fd = min(range(ss.spec.fault_domains), key=lambda d: (counts.get(str(d), 0), d))
    return fd, None


# ------------------------------------------------------------------------------------------------- lookups
def flexible_sets(world: World, sub: str, rg: str) -> list[ScaleSet]:
    return [
        ss
        for ss in world.scale_sets.values()
        if ss.spec.flexible and ss.spec.subscription_id == sub and ss.spec.resource_group.lower() == rg.lower()
    ]


def canonical_name(ss: ScaleSet, name: str) -> str | None:
    """The name of ``ss``'s live VM called ``name`` (ARM names compare case-insensitively), or None."""
    inst = ss.instances.get(name)
    if inst is None:
        inst = next((i for i in ss.instances.values() if i.instance_id.lower() == name.lower()), None)
    return inst.instance_id if inst is not None and inst.state != "Deleted" else None


def find_vm(world: World, sub: str, rg: str, name: str) -> tuple[ScaleSet, Instance]:
    world.check_resource_group(sub, rg)
    for ss in flexible_sets(world, sub, rg):
        found = canonical_name(ss, name)
        if found is not None:
            return ss, ss.instances[found]
    raise vm_not_found(rg, name)


# ------------------------------------------------------------------------------------------------- model rules
def _has_health_probe(resource: dict[str, Any]) -> bool:
    profile = resource.get("properties", {}).get("virtualMachineProfile") or {}
    return bool(((profile.get("networkProfile") or {}).get("healthProbe") or {}).get("id"))


def _has_health_extension(resource: dict[str, Any]) -> bool:
    profile = resource.get("properties", {}).get("virtualMachineProfile") or {}
    for ext in (profile.get("extensionProfile") or {}).get("extensions") or []:
        if str((ext.get("properties") or {}).get("type", "")).startswith("ApplicationHealth"):
            return True
    return False


def check_fault_domains(zones: list[str], count: int) -> None:
    """A zonal Flexible set has 1 fault domain (per zone); a regional one 1, 2 or 3."""
    if (zones and count != 1) or not 1 <= count <= 3:
        allowed = "1 for a zonal" if zones else "1, 2 or 3 for a regional"
        raise invalid_parameter(
            f"The value {count} of parameter 'platformFaultDomainCount' is invalid: it must be {allowed} "
            "Virtual Machine Scale Set with Flexible orchestration mode.",
            "platformFaultDomainCount",
        )


def check_rolling(resource: dict[str, Any], *, flexible: bool) -> None:
    """Rolling on a Flexible set needs the Application Health extension; a load-balancer probe does not count."""
    mode = (resource.get("properties", {}).get("upgradePolicy") or {}).get("mode")
    if flexible and mode == "Rolling" and not _has_health_extension(resource):
        raise ArmError(400, "BadRequest", ROLLING_NEEDS_HEALTH)


def check_new_flexible(body: dict[str, Any], zones: list[str], fault_domains: int) -> dict[str, Any]:
    """Validate a PUT that creates a Flexible scale set; returns its properties with the fault domain count."""
    check_fault_domains(zones, fault_domains)
    props = dict(body.get("properties") or {})
    os_disk = ((props.get("virtualMachineProfile") or {}).get("storageProfile") or {}).get("osDisk") or {}
    if (os_disk.get("image") or {}).get("uri") or os_disk.get("vhdContainers"):
        raise invalid_parameter(
            "Virtual Machine Scale Sets with Flexible orchestration mode support managed disks only.",
            "properties.virtualMachineProfile.storageProfile.osDisk",
        )
    check_rolling(body, flexible=True)
    props["platformFaultDomainCount"] = fault_domains
    props.setdefault("singlePlacementGroup", False)
    return props


def _property_change(name: str) -> ArmError:
    return ArmError(400, "PropertyChangeNotAllowed", f"Changing property '{name}' is not allowed.", target=name)


def check_model(ss: ScaleSet, new_resource: dict[str, Any]) -> dict[str, Any]:
    """Validate a PUT/PATCH result for ``ss`` before anything changes; returns the model to store.

    The orchestration mode is fixed at creation (virtual-machine-scale-sets-orchestration-modes.md), and so is a
    Flexible set's fault domain count; a body that leaves them out keeps them.
    """
    new = copy.deepcopy(new_resource)
    props = new.setdefault("properties", {})
    old_props = ss.resource["properties"]
    for key in ("orchestrationMode", "platformFaultDomainCount"):
        if key == "platformFaultDomainCount" and not ss.spec.flexible:
            continue
        old = old_props.get(key, "Uniform" if key == "orchestrationMode" else None)
        if key not in props and key in old_props:
            props[key] = old_props[key]
        elif key in props and props[key] != old:
            raise _property_change(key)
    check_rolling(new, flexible=ss.spec.flexible)
    return new
