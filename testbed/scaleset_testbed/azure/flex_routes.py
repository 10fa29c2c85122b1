"""The ``Microsoft.Compute/virtualMachines`` routes, which serve the VMs of Flexible scale sets.

- ``VirtualMachines_List``: ``GET {rg}/providers/Microsoft.Compute/virtualMachines`` with
  ``$filter='virtualMachineScaleSet/id' eq '<scale set id>'`` (api-version 2021-11-01 and later) and
  ``$expand=instanceView`` (2023-03-01 and later; "this can only be specified if a valid $filter option is
  specified"), paged like the scale-set VM list.
- ``VirtualMachines_Get``: ``GET {rg}/providers/Microsoft.Compute/virtualMachines/{name}`` (``$expand=instanceView``).
- ``VirtualMachines_InstanceView``: ``GET .../virtualMachines/{name}/instanceView``.

The world has no standalone VMs: a resource group's VMs are the VMs of its Flexible scale sets.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import flex
from .api_versions import VM_LIST_QUERY_INTRODUCED, field_visible
from .errors import invalid_parameter
from .flex_render import instance_view_for, vm_resource_json
from .routing import VMS, Call, Route, json_response, paged, route

if TYPE_CHECKING:
    from .server import AzureEmulator
    from .world import Instance, ScaleSet

_FILTER = re.compile(r"'?virtualMachineScaleSet/id'?\s+eq\s+'?(?P<id>/subscriptions/[^']+?)'?", re.IGNORECASE)


def _query_option(call: Call, name: str) -> str:
    value = call.request.query.get(name, "").strip()
    if value and not field_visible(name, call.api_version, VM_LIST_QUERY_INTRODUCED):
        raise invalid_parameter(
            f"The query parameter '{name}' is not supported in api-version '{call.api_version}'; it needs "
            f"'{VM_LIST_QUERY_INTRODUCED[name]}' or later.",
            name,
        )
    return value


def _expand(value: str, allowed: tuple[str, ...]) -> bool:
    if value and value.lower() not in allowed:
        raise invalid_parameter(f"The value '{value}' of parameter '$expand' is invalid.", "$expand")
    return value.lower() == "instanceview"


async def list_vms(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    sub, rg = call.params["sub"], call.params["rg"]
    emulator.world.check_resource_group(sub, rg)
    flt = _query_option(call, "$filter")
    want_view = _expand(_query_option(call, "$expand"), ("instanceview",))
    sets = flex.flexible_sets(emulator.world, sub, rg)
    if flt:
        match = _FILTER.fullmatch(flt)
        if match is None:
            raise invalid_parameter(f"The value '{flt}' of parameter '$filter' is invalid.", "$filter")
        sets = [ss for ss in sets if ss.resource_id.lower() == match.group("id").lower()]
    elif want_view:
        raise invalid_parameter(
            "The expand option 'instanceView' can only be specified if a valid $filter option is specified.",
            "$expand",
        )
    vms: list[tuple[ScaleSet, Instance]] = [(ss, inst) for ss in sets for inst in ss.live_instances()]
    vms.sort(key=lambda pair: pair[1].instance_id.lower())

    def render(pair: tuple[ScaleSet, Instance]) -> dict[str, Any]:
        return vm_resource_json(emulator.world, pair[0], pair[1], call.api_version, expand=want_view)

    return paged(call, vms, emulator.scenario.page_size, render)


async def get_vm(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    ss, inst = flex.find_vm(emulator.world, call.params["sub"], call.params["rg"], call.params["vm"])
    want_view = _expand(call.request.query.get("$expand", ""), ("instanceview", "userdata"))
    return json_response(vm_resource_json(emulator.world, ss, inst, call.api_version, expand=want_view))


async def get_vm_instance_view(emulator: AzureEmulator, call: Call) -> web.StreamResponse:
    ss, inst = flex.find_vm(emulator.world, call.params["sub"], call.params["rg"], call.params["vm"])
    return json_response(instance_view_for(emulator.world, ss, inst, call.api_version))


ROUTES: list[Route] = [
    route("GET", VMS, "VirtualMachines_List", list_vms, kind="virtualMachines"),
    route("GET", VMS + r"/(?P<vm>[^/]+)", "VirtualMachines_Get", get_vm, kind="virtualMachines"),
    route(
        "GET",
        VMS + r"/(?P<vm>[^/]+)/instanceView",
        "VirtualMachines_InstanceView",
        get_vm_instance_view,
        kind="virtualMachines",
    ),
]
