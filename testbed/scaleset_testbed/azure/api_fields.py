"""When each field of a Microsoft.Compute resource appeared, by api-version, generated from Azure's REST spec.

``api_fields.json`` beside this file is written by ``tests/emulator/spec/extract.py`` from
Azure/azure-rest-api-specs (the commit is its ``source``) and checked against the spec data stored in
``tests/emulator/spec/`` by the suite there; do not edit it by hand. Per kind of resource (``KINDS`` in
``tests/emulator/spec/fields.py``), it maps a property path (``properties.upgradePolicy.rollingUpgradePolicy.
maxSurge``; ``[]`` stands for array items) to the first api-version that defines it, or to
``[first, removedIn]`` for a field a later version dropped. A path absent from the table is defined by every
version of its kind. It also lists the integer and boolean paths of a scale set's request bodies, which ARM's
JSON reader fills from strings (``"42"``, ``"false"``).

The emulator leaves a field out of an answer when the request's api-version does not define it, and refuses a
PUT or PATCH body naming one (``InvalidRequestFormat``, "Could not find member ...").
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_TABLE = Path(__file__).with_name("api_fields.json")


@cache
def table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_TABLE.read_text())
    return data


def introduced(kind: str, path: str) -> tuple[str, str | None] | None:
    """``(first api-version, api-version that removed it or None)`` for a path younger than its kind."""
    entry = table()["introduced"].get(kind, {}).get(path)
    if entry is None:
        return None
    if isinstance(entry, list):
        return str(entry[0]), str(entry[1])
    return str(entry), None


def visible(kind: str, path: str, api_version: str) -> bool:
    span = introduced(kind, path)
    if span is None:
        return True
    version = api_version[:10]
    return version >= span[0] and (span[1] is None or version < span[1])


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def strip(kind: str, obj: Any, api_version: str) -> Any:
    """``obj`` without the fields ``api_version`` does not define (recursively).

    Only the branches that hold such a field are rebuilt; the rest of the answer is ``obj``'s own (every caller
    passes a body it has just built). A listing page of 100 instances went from ~6 ms to under 1 ms."""
    return _pruned(obj, _hidden(kind, api_version[:10]))


_HIDE = "hide"
"""A ``_hidden`` tree's mark for a field the api-version does not define (its whole branch goes)."""
_ITEMS = "[]"
"""A ``_hidden`` tree's key for the items of an array."""


@cache
def _hidden(kind: str, version: str) -> dict[str, Any]:
    """The fields of ``kind`` that ``version`` does not define, as a tree: key -> ``_HIDE`` or a subtree."""
    tree: dict[str, Any] = {}
    for path in table()["introduced"].get(kind, {}):
        if visible(kind, path, version):
            continue
        steps: list[str] = []
        for segment in path.split("."):
            name = segment.rstrip("[]")
            if name:
                steps.append(name)
            steps.extend([_ITEMS] * ((len(segment) - len(name)) // 2))
        node = tree
        for step in steps[:-1]:
            child = node.setdefault(step, {})
            if child == _HIDE:
                break  # an ancestor is hidden already: all of it goes
            node = child
        else:
            node[steps[-1]] = _HIDE
    return tree


def _pruned(obj: Any, hidden: dict[str, Any]) -> Any:
    if isinstance(obj, dict):
        out = obj
        for key, below in hidden.items():  # a few keys: walk them, not the object's
            if key == _ITEMS or key not in obj:
                continue
            value = obj[key] if below == _HIDE else _pruned(obj[key], below)
            if below != _HIDE and value is obj[key]:
                continue
            if out is obj:
                out = dict(obj)
            if below == _HIDE:
                del out[key]
            else:
                out[key] = value
        return out
    if isinstance(obj, list):
        items = hidden.get(_ITEMS)
        if isinstance(items, dict):
            pruned = [_pruned(item, items) for item in obj]
            return obj if all(a is b for a, b in zip(pruned, obj, strict=True)) else pruned
    return obj


def unknown_members(kind: str, obj: Any, api_version: str, path: str = "", shown: str = "") -> list[str]:
    """Paths (with indexes, as ARM words them) of the fields in ``obj`` that ``api_version`` does not define."""
    found: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            here, show = _join(path, key), _join(shown, key)
            if not visible(kind, here, api_version):
                found.append(show)
            else:
                found.extend(unknown_members(kind, value, api_version, here, show))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            found.extend(unknown_members(kind, item, api_version, path + "[]", f"{shown}[{i}]"))
    return found


def coerce(kind: str, obj: Any, path: str = "") -> Any:
    """``obj`` with JSON strings converted where the schema says integer or boolean, as ARM's reader does
    (``"42"`` -> 42, ``"false"`` -> false); a string that does not convert is left for validation to refuse."""
    types: dict[str, str] = table()["types"].get(kind, {})
    if isinstance(obj, dict):
        return {key: coerce(kind, value, _join(path, key)) for key, value in obj.items()}
    if isinstance(obj, list):
        return [coerce(kind, item, path + "[]") for item in obj]
    if isinstance(obj, str):
        wanted = types.get(path)
        text = obj.strip()
        if wanted == "integer" and text.lstrip("+-").isdigit():
            return int(text)
        if wanted == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
    return obj
