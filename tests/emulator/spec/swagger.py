"""A small validator of JSON values against swagger 2.0 definitions, as Azure's REST specs write them.

It walks a value and its schema together: ``$ref`` is followed into the definitions table, ``allOf`` parents
contribute their properties (ARM's resource envelopes: ``id``, ``name``, ``type``, ``location``, ``tags``),
``x-ms-client-flatten`` changes nothing on the wire and is ignored, ``additionalProperties`` is a map. What it
reports, as ``"<json path>: <problem>"`` strings:

- a field the schema does not define (an object with ``properties`` and no ``additionalProperties``);
- a value of the wrong type (``integer``, ``number``, ``boolean``, ``string``, ``array``, ``object``), a
  ``date-time`` that does not parse;
- an enum value the schema does not list (unless ``x-ms-enum.modelAsString`` makes it extensible), and one
  that differs from a listed value only in casing;
- JSON ``null`` counts as an absent field;
- in a response, a missing ``required`` field; in a request, a read-only field is not a problem (ARM
  ignores those).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .fields import deref, object_properties

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def merged(definitions: dict[str, Any], schema: Any) -> dict[str, Any]:
    """The schema with ``$ref`` followed and its ``allOf`` parents' keys merged in (own keys win)."""
    _, body = deref(definitions, schema)
    out: dict[str, Any] = {}
    for parent in body.get("allOf") or []:
        for key, value in merged(definitions, parent).items():
            if key == "required":
                out["required"] = [*out.get("required", []), *value]
            else:
                out.setdefault(key, value)
    for key, value in body.items():
        if key == "required":
            out["required"] = [*out.get("required", []), *value]
        elif key != "allOf":
            out[key] = value
    if "allOf" in body or "properties" in body:
        out["properties"] = object_properties(definitions, schema)
    return out


def _is_date_time(value: str) -> bool:
    text = value.replace("Z", "+00:00")
    if "." in text:  # .NET sends seven fractional digits; Python parses at most six
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def validate(definitions: dict[str, Any], schema: Any, value: Any, *, response: bool, path: str = "$") -> list[str]:
    """Every problem of ``value`` against ``schema``; empty when it conforms."""
    if value is None:  # JSON null stands for an absent optional field
        return []
    body = merged(definitions, schema)
    problems: list[str] = []
    declared = body.get("type")
    if declared in _TYPES:
        expected = _TYPES[declared]
        if not isinstance(value, expected) or (declared in ("integer", "number") and isinstance(value, bool)):
            return [f"{path}: expected {declared}, got {type(value).__name__} {value!r}"[:300]]
    if isinstance(value, str):
        problems.extend(_check_string(body, value, path))
    elif isinstance(value, list):
        if body.get("items") is not None:
            for i, item in enumerate(value):
                problems.extend(validate(definitions, body["items"], item, response=response, path=f"{path}[{i}]"))
    elif isinstance(value, dict):
        problems.extend(_check_object(definitions, body, value, response=response, path=path))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in body and value < body["minimum"]:
            problems.append(f"{path}: {value} is below the minimum {body['minimum']}")
        if "maximum" in body and value > body["maximum"]:
            problems.append(f"{path}: {value} is above the maximum {body['maximum']}")
    return problems


def _check_string(body: dict[str, Any], value: str, path: str) -> list[str]:
    if body.get("format") == "date-time" and not _is_date_time(value):
        return [f"{path}: {value!r} is not a date-time"]
    enum = body.get("enum")
    if enum and value not in enum:
        same = [e for e in enum if isinstance(e, str) and e.lower() == value.lower()]
        if same:
            return [f"{path}: {value!r} differs in casing from the enum value {same[0]!r}"]
        if (body.get("x-ms-enum") or {}).get("modelAsString"):
            return []  # an extensible enum: other values are allowed
        return [f"{path}: {value!r} is not one of {enum}"]
    return []


def _check_object(
    definitions: dict[str, Any], body: dict[str, Any], value: dict[str, Any], *, response: bool, path: str
) -> list[str]:
    problems: list[str] = []
    props: dict[str, Any] = body.get("properties") or {}
    extra = body.get("additionalProperties")
    free_form = not props and extra in (None, True, {})
    for key, item in value.items():
        here = f"{path}.{key}"
        if key in props:
            problems.extend(validate(definitions, props[key], item, response=response, path=here))
        elif isinstance(extra, dict) and extra:
            problems.extend(validate(definitions, extra, item, response=response, path=here))
        elif not free_form and extra is not True:
            problems.append(f"{here}: not defined by the schema")
    if response:
        for key in body.get("required") or []:
            if key not in value:
                problems.append(f"{path}.{key}: required, missing")
    return problems
