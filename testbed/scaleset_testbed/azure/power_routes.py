"""The scale-set actions on instances' power, and instance deletion: what the 2016 scale-set editor (vmsseditor)
and the portal call. Each is a long-running POST on ``{vmss}/<action>`` with an optional body
``{"instanceIds": [...]}`` (none, or ``["*"]``: every instance), answered ``202`` with ``Azure-AsyncOperation``
and ``Location`` as the other actions (VirtualMachineScaleSets_Start, _Restart, _PowerOff, _Deallocate,
_DeleteInstances in the spec, every api-version the emulator serves).

- ``start``: each named instance goes ``PowerState/starting``, then ``running``;
- ``restart``: ``starting``, then ``running``;
- ``poweroff``: ``stopping``, then ``stopped`` (``skipShutdown`` is accepted and changes nothing);
- ``deallocate``: ``deallocating``, then ``deallocated``;
- ``delete``: the instances are deleted as by a scale-in (``Deleting``, then ``Deleted``) and ``sku.capacity``
  drops by their number.

A transition takes ``POWER_SECONDS`` scenario seconds; an instance busy with another operation answers ``409
OperationNotAllowed``. Each power state reached is audited as a ``power`` event (``{"type": "power", "time",
"subscriptionId", "resourceGroup", "scaleSet", "instanceId", "powerState"}``); deletion uses the usual
``instance`` events, so the Uniform audit format is unchanged. While stopped or deallocated, an instance with the
health extension reports health ``unknown``; started again, its health settles as after an upgrade.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .errors import ArmError
from .routing import VMSS, Call, Route, route

if TYPE_CHECKING:
    from .server import AzureEmulator
    from .world import Instance, Operation, ScaleSet, World

POWER_SECONDS = 1.0

# action -> (operation name, power state while it runs, power state it ends in)
_ACTIONS: dict[str, tuple[str, str, str]] = {
    "start": ("StartInstances", "starting", "running"),
    "restart": ("RestartInstances", "starting", "running"),
    "poweroff": ("PowerOffInstances", "stopping", "stopped"),
    "deallocate": ("DeallocateInstances", "deallocating", "deallocated"),
}


def _record(world: World, ss: ScaleSet, inst: Instance, now: float) -> None:
    world.record(
        {
            "type": "power",
            "time": round(now, 6),
            "subscriptionId": ss.spec.subscription_id,
            "resourceGroup": ss.spec.resource_group,
            "scaleSet": ss.spec.name,
            "instanceId": inst.instance_id,
            "powerState": inst.power,
        }
    )


def _busy(ss: ScaleSet, inst: Instance) -> ArmError:
    return ArmError(
        409,
        "OperationNotAllowed",
        f"The operation cannot be performed on instance '{inst.instance_id}' of '{ss.spec.name}' because another "
        "operation is in progress on it. Retry after the running operation finishes.",
    )


def _one_done(world: World, op: Operation, now: float) -> None:
    op.pending -= 1
    if op.pending <= 0:
        world.finish_operation(op, now)


def change_power(world: World, ss: ScaleSet, instances: list[Instance], action: str, now: float, op: Operation) -> None:
    _, during, final = _ACTIONS[action]
    for inst in instances:
        inst.busy, inst.power = True, during
        if inst.health is not None:
            inst.health = "unknown"
        _record(world, ss, inst, now)
        op.pending += 1

        def settle(t: float, inst: Instance = inst) -> None:
            inst.busy, inst.power = False, final
            if inst.state != "Deleted" and final == "running" and inst.health is not None:
                inst.health = "unhealthy" if world.is_bad(inst.image) else "healthy"
            _record(world, ss, inst, t)
            _one_done(world, op, t)

        world.at(now + POWER_SECONDS, settle)
    if not instances:
        world.at(now + 0.05, lambda t: world.finish_operation(op, t))


def _idle_instances(
    emulator: AzureEmulator, call: Call, *, required: bool
) -> tuple[ScaleSet, list[str], list[Instance]]:
    """The scale set, the instance ids the call names (every one when optional and absent), and those
    instances; 409 when one of them is busy with another operation."""
    world = emulator.world
    ss = world.get_scale_set(call.params["sub"], call.params["rg"], call.params["name"])
    ids = emulator.instance_ids(call, ss, required=required)
    instances = [world.get_instance(ss, iid) for iid in ids]
    for inst in instances:
        if inst.busy:
            raise _busy(ss, inst)
    return ss, ids, instances


async def _power(emulator: AzureEmulator, call: Call, action: str) -> web.StreamResponse:
    world = emulator.world
    ss, ids, instances = _idle_instances(emulator, call, required=False)
    op = world.new_operation(_ACTIONS[action][0], ss, call.now, instance_ids=ids)
    change_power(world, ss, instances, action, call.now, op)
    return emulator.accepted(call, op)


async def start(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    return await _power(emulator, call, "start")


async def restart(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    return await _power(emulator, call, "restart")


async def power_off(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    return await _power(emulator, call, "poweroff")


async def deallocate(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    return await _power(emulator, call, "deallocate")


async def delete_instances(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    world = emulator.world
    ss, ids, instances = _idle_instances(emulator, call, required=True)
    op = world.new_operation("DeleteInstances", ss, call.now, instance_ids=ids)
    for inst in instances:
        world.delete_instance(ss, inst, call.now, op)
    ss.resource["sku"]["capacity"] = max(0, int(ss.resource["sku"].get("capacity", 0)) - len(instances))
    return emulator.accepted(call, op)


ROUTES: list[Route] = [
    route("POST", VMSS + "/start", "VirtualMachineScaleSets_Start", start),
    route("POST", VMSS + "/restart", "VirtualMachineScaleSets_Restart", restart),
    route("POST", VMSS + "/poweroff", "VirtualMachineScaleSets_PowerOff", power_off),
    route("POST", VMSS + "/deallocate", "VirtualMachineScaleSets_Deallocate", deallocate),
    route("POST", VMSS + "/delete", "VirtualMachineScaleSets_DeleteInstances", delete_instances),
]
