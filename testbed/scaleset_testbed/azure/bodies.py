"""Reading a scale set's PUT or PATCH: its preconditions and its body, as ARM and the Compute RP read them.

- ``If-Match`` / ``If-None-Match`` are parameters of VirtualMachineScaleSets_CreateOrUpdate and _Update only
  from api-version 2023-09-01, the version that gives a scale set its ``etag``. At an older version (Azure Stack
  Hub's 2020-06-01 among them) the spec defines neither the header nor the etag; the emulator then ignores both
  headers: it neither refuses the request nor checks the condition (what Azure does with a header its
  api-version does not define is not documented; nothing in that version's contract honours it).
- The body is read as ARM's JSON reader does: a string where the schema says integer or boolean is converted
  (``"42"`` -> 42, ``"false"`` -> false); one that does not convert is refused with ``InvalidRequestFormat``.
- A field the api-version does not define is refused (``InvalidRequestFormat``, "Could not find member ...").
- Read-only fields (``id``, ``name``, ``type``, ``etag``, ``provisioningState``, ``uniqueId``, ``timeCreated``,
  ``exactVersion``) are ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from . import api_fields
from .errors import ArmError, invalid_parameter
from .routing import Call

_READ_ONLY_PATHS = (
    ("id",),
    ("name",),
    ("type",),
    ("etag",),
    ("properties", "provisioningState"),
    ("properties", "uniqueId"),
    ("properties", "timeCreated"),
    ("properties", "virtualMachineProfile", "timeCreated"),
    ("properties", "virtualMachineProfile", "storageProfile", "imageReference", "exactVersion"),
)
MAX_CAPACITY = 1000


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch, as ARM applies PATCH bodies."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def drop_read_only(body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for path in _READ_ONLY_PATHS:
        node: Any = body
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return body


def etag_defined(api_version: str) -> bool:
    """Whether the api-version gives a scale set an etag (and If-Match / If-None-Match)."""
    return api_fields.visible("virtualMachineScaleSets", "etag", api_version)


def check_preconditions(call: Call, etag: int | None) -> None:
    """``If-Match`` / ``If-None-Match`` against the scale set's etag (``None``: no scale set yet)."""
    if not etag_defined(call.api_version):
        return
    current = f'"{etag}"' if etag is not None else None
    if_match = call.request.headers.get("If-Match")
    if_none_match = call.request.headers.get("If-None-Match")
    if if_match is not None and (current is None or (if_match != "*" and if_match != current)):
        raise ArmError(412, "PreconditionFailed", f"The specified precondition 'If-Match = {if_match}' failed.")
    if if_none_match is not None and current is not None and if_none_match in ("*", current):
        raise ArmError(
            412, "PreconditionFailed", f"The specified precondition 'If-None-Match = {if_none_match}' failed."
        )


def _format_error(detail: str) -> ArmError:
    return ArmError(
        400,
        "InvalidRequestFormat",
        "Cannot parse the request.",
        details=[{"code": "InvalidJson", "message": detail}],
    )


def _unconverted(kind: str, obj: Any, path: str = "", shown: str = "") -> tuple[str, str, Any] | None:
    """The first integer or boolean field still holding a string (path, wanted type, value), if any."""
    types: dict[str, str] = api_fields.table()["types"].get(kind, {})
    if isinstance(obj, dict):
        for key, value in obj.items():
            here = f"{path}.{key}" if path else key
            found = _unconverted(kind, value, here, f"{shown}.{key}" if shown else key)
            if found:
                return found
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            found = _unconverted(kind, item, path + "[]", f"{shown}[{i}]")
            if found:
                return found
    elif isinstance(obj, str) and path in types:
        return shown, types[path], obj
    return None


def validate_model_body(call: Call, body: Any, kind: str) -> dict[str, Any]:
    """The scale set model a PUT (``virtualMachineScaleSets``) or PATCH (``virtualMachineScaleSetUpdate``) body
    asks for, read as ARM reads it; raises the ARM error Azure answers otherwise. A PATCH is also held to the
    scale set's own fields, as the emulator merges it into the model."""
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request.")
    unknown = [
        *api_fields.unknown_members(kind, body, call.api_version),
        *api_fields.unknown_members("virtualMachineScaleSets", body, call.api_version),
    ]
    if unknown:
        path = unknown[0]
        member = path.rsplit(".", 1)[-1]
        owner = path.rsplit(".", 1)[0].rsplit(".", 1)[-1].split("[")[0] if "." in path else "VirtualMachineScaleSet"
        raise _format_error(f"Could not find member '{member}' on object of type '{owner}'. Path '{path}'.")
    body = api_fields.coerce(kind, body)
    wrong = _unconverted(kind, body)
    if wrong is not None:
        path, wanted, value = wrong
        raise _format_error(f"Could not convert string to {wanted}: {value}. Path '{path}'.")
    body = drop_read_only(body)
    props = body.get("properties") or {}
    ref = (((props.get("virtualMachineProfile") or {}).get("storageProfile") or {}).get("imageReference")) or {}
    if ref.get("id") and any(ref.get(k) for k in ("publisher", "offer", "sku")):
        raise invalid_parameter(
            "Parameter 'imageReference' cannot have both 'id' and 'publisher/offer/sku'.", "imageReference"
        )
    mode = (props.get("upgradePolicy") or {}).get("mode")
    if mode is not None and mode not in ("Automatic", "Manual", "Rolling"):
        raise invalid_parameter(
            f"The value '{mode}' of parameter 'upgradePolicy.mode' is invalid.", "upgradePolicy.mode"
        )
    capacity = (body.get("sku") or {}).get("capacity")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int)):
        raise _format_error(f"Could not convert {type(capacity).__name__} to integer. Path 'sku.capacity'.")
    if capacity is not None and not 0 <= capacity <= MAX_CAPACITY:
        raise invalid_parameter(
            f"The value {capacity} of parameter 'sku.capacity' is out of range. The value must be between 0 and "
            f"{MAX_CAPACITY}, inclusive.",
            "sku.capacity",
        )
    return dict(body)
