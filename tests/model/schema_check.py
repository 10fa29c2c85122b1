"""An independent reading of the generated CRD schema: defaulting and validation as the API server does.

It covers what the ScaleSetImage schema uses (types, int-or-string, enum, pattern with ``re``, length
and number bounds, required, list types, date-time) and evaluates every ``x-kubernetes-validations``
rule with celpy, so tests can check that the CRD and the Python model accept and reject the same
objects. Unknown fields are ignored, as pruning would drop them.
"""

import copy
import re
from typing import Any

import celpy
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from controller.resource.crd import build_crd

_MISSING: Any = object()
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_ENV = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


def root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def cel(rule: str, value: Any, old: Any = _MISSING) -> bool:
    """Evaluate a CEL rule with ``self`` (and ``oldSelf``) bound; errors count as a violation."""
    if rule not in _PROGRAMS:
        _PROGRAMS[rule] = _ENV.program(_ENV.compile(rule))
    activation = {"self": json_to_cel(value)}
    if old is not _MISSING:
        activation["oldSelf"] = json_to_cel(old)
    try:
        result = _PROGRAMS[rule].evaluate(activation)
    except CELEvalError:
        return False
    return isinstance(result, celpy.celtypes.BoolType) and bool(result)


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """``value`` with schema defaults filled in, recursively (a defaulted ``{}`` gets its own defaults)."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, sub in schema["properties"].items():
            if out.get(name) is None and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = apply_defaults(sub, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], element) for element in value]
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_ok(schema: dict[str, Any], value: Any) -> bool:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if schema.get("x-kubernetes-int-or-string"):
        return is_int or isinstance(value, str)
    expected = schema["type"]
    return {
        "string": isinstance(value, str),
        "integer": is_int,
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
    }[expected]


def validate(schema: dict[str, Any], value: Any, path: str = "", old: Any = _MISSING) -> list[str]:
    """Errors as ``"<path>: <what>"``; an empty list means the API server would accept ``value``."""
    if not _type_ok(schema, value):
        return [f"{path}: must be of type {schema.get('type', 'integer or string')}, got {value!r}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: unsupported value {value!r}")
    if isinstance(value, str):
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            errors.append(f"{path}: should match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: should be at least {schema['minLength']} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: should be at most {schema['maxLength']} characters long")
        if schema.get("format") == "date-time" and not _DATE_TIME.match(value):
            errors.append(f"{path}: not a date-time")
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: should be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: should be less than or equal to {schema['maximum']}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if value.get(name) is None:
                errors.append(f"{_join(path, name)}: required value is missing")
        for name, sub in schema.get("properties", {}).items():
            if value.get(name) is not None:
                old_sub = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                errors += validate(sub, value[name], _join(path, name), old_sub)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: should have at most {schema['maxItems']} items")
        for index, element in enumerate(value):
            errors += validate(schema["items"], element, f"{path}[{index}]")
        if schema.get("x-kubernetes-list-type") == "set" and len(set(value)) != len(value):
            errors.append(f"{path}: duplicate items")
        if schema.get("x-kubernetes-list-type") == "map":
            keys = [tuple(element.get(k) for k in schema["x-kubernetes-list-map-keys"]) for element in value]
            if len(set(keys)) != len(keys):
                errors.append(f"{path}: duplicate keys")
    # Like the API server, CEL rules run even when other checks of the same value failed.
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"] and old is _MISSING:
            continue
        if not cel(rule["rule"], value, old):
            errors.append(f"{path}: {rule['message']}")
    return errors


def admit(body: dict[str, Any], old: Any = _MISSING) -> tuple[dict[str, Any], list[str]]:
    """Default then validate a whole resource against the generated CRD (``old`` for updates)."""
    schema = root_schema()
    defaulted = apply_defaults(schema, body)
    old_defaulted = apply_defaults(schema, old) if old is not _MISSING else _MISSING
    return defaulted, validate(schema, defaulted, "", old_defaulted)


def iter_nodes(schema: dict[str, Any], path: str = "") -> Any:
    """Every schema node with its path: properties by name, array items as ``[]``."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from iter_nodes(sub, _join(path, name))
    if "items" in schema:
        yield from iter_nodes(schema["items"], f"{path}[]")
