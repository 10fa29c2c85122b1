"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) as the API server applies them.

Why our own: kmock's merge refuses to replace an object with a scalar (RFC 7386 allows it) and its
JSON patch failures surface as 500. The API server answers 422 for a patch that cannot be applied
(a failed ``test`` included, which kopf relies on for its optimistic finalizer updates) and 400 for
one that is malformed. Errors here carry that distinction; the messages follow the Go library the
API server uses (``testing value /metadata/resourceVersion failed: test failed``).
"""

from __future__ import annotations

import copy
import json
from typing import Any


class PatchMalformed(ValueError):
    """The patch document itself is not a valid patch (the API server answers 400)."""


class PatchFailed(ValueError):
    """The patch is valid but does not apply to the current object (the API server answers 422)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch; ``null`` removes a key, lists and scalars replace."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchMalformed(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_insert: bool, path: str) -> int:
    if for_insert and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchFailed(f"invalid array index {token!r} in {path}")
    index = int(token)
    limit = len(container) if for_insert else len(container) - 1
    if index > limit:
        raise PatchFailed(f"array index out of bounds {index} in {path}")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchFailed(f"doc is missing path: {path!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_insert=False, path=path)]
        else:
            raise PatchFailed(f"doc is missing path: {path!r}")
    if not isinstance(node, dict | list):
        raise PatchFailed(f"doc is missing path: {path!r}")
    return node


def _get(doc: Any, path: str) -> Any:
    node = doc
    for token in _pointer(path):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_insert=False, path=path)]
        else:
            raise PatchFailed(f"doc is missing path: {path!r}")
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return copy.deepcopy(value)
    parent = _parent(doc, tokens, path)
    if isinstance(parent, dict):
        parent[tokens[-1]] = copy.deepcopy(value)
    else:
        parent.insert(_index(parent, tokens[-1], for_insert=True, path=path), copy.deepcopy(value))
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchFailed("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise PatchFailed(f"unable to remove nonexistent key: {tokens[-1]}: missing value")
        return doc, parent.pop(tokens[-1])
    return doc, parent.pop(_index(parent, tokens[-1], for_insert=False, path=path))


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def json_patch(doc: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch to a deep copy of ``doc`` and return the result."""
    if not isinstance(operations, list):
        raise PatchMalformed("a JSON patch must be a list of operations")
    result = copy.deepcopy(doc)
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("op"), str):
            raise PatchMalformed(f"invalid JSON patch operation: {operation!r}")
        op, path, source = operation["op"], operation.get("path"), operation.get("from", "")
        if not isinstance(path, str) or not isinstance(source, str):
            raise PatchMalformed(f"invalid JSON pointer in operation: {operation!r}")
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchMalformed(f"operation {op!r} on {path!r} has no value")
        if op == "add":
            result = _add(result, path, operation["value"])
        elif op == "remove":
            result, _ = _remove(result, path)
        elif op == "replace":
            _get(result, path)  # must exist
            result, _ = _remove(result, path) if _pointer(path) else (result, None)
            result = _add(result, path, operation["value"])
        elif op == "move":
            result, value = _remove(result, source)
            result = _add(result, path, value)
        elif op == "copy":
            result = _add(result, path, _get(result, source))
        elif op == "test":
            try:
                actual = _get(result, path)
            except PatchFailed:
                actual = None
            if not _json_equal(actual, operation["value"]):
                raise PatchFailed(f"testing value {path} failed: test failed")
        else:
            raise PatchMalformed(f"unexpected kind of JSON patch operation: {op!r}")
    return result


class _Pairs(list[tuple[str, Any]]):
    """An object as decoded, before keys are merged: duplicates are still visible."""


def loads_checked(raw: bytes | str) -> tuple[Any, list[str]]:
    """Decode JSON like ``json.loads`` (the last of duplicate keys wins) and list the duplicate keys' paths.

    The API server reports them as ``duplicate field "spec.replicas"`` (a warning, or an error under strict
    field validation).
    """
    decoded = json.loads(raw, object_pairs_hook=_Pairs)
    duplicates: list[str] = []

    def plain(node: Any, path: str) -> Any:
        if isinstance(node, _Pairs):
            seen: dict[str, Any] = {}
            for key, value in node:
                child = f"{path}.{key}" if path else key
                if key in seen and child not in duplicates:
                    duplicates.append(child)
                seen[key] = plain(value, child)
            return seen
        if isinstance(node, list):
            return [plain(item, f"{path}[{index}]") for index, item in enumerate(node)]
        return node

    return plain(decoded, ""), duplicates
