"""Server-side printing: ``Table`` answers for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``.

Why: kubectl asks every ``get`` for a Table and prints the columns the server chose. For a custom
resource those are the CRD's ``additionalPrinterColumns`` (evaluated with client-go's JSONPath, each
cell typed as the column says); without them, NAME and AGE. Built-in kinds have their own printers
(NAME/STATUS/AGE for namespaces, LAST SEEN/TYPE/REASON/OBJECT/MESSAGE for events). All of it follows
apiextensions-apiserver's ``tableconvertor`` and kubernetes' ``pkg/printers/internalversion``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator, Mapping
from typing import Any

from scaleset_testbed.kube._models import ResourceModel

_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources may "
    "allow a client to request the generation of an appropriate name automatically. Name is primarily intended "
    "for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_CREATED_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
    "guaranteed to be set in happens-before order across separate operations. Clients may not set this value. "
    "It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. "
    "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "description": _NAME_DOC, "priority": 0}


def _column(name: str, kind: str = "string", description: str = "", priority: int = 0, fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": description, "priority": priority}


_NAMESPACE_COLUMNS = [
    _NAME_COLUMN,
    _column("Status", description="The status of the namespace"),
    _column("Age", description=_CREATED_DOC),
]
_EVENT_COLUMNS = [
    _column("Last Seen", description="The time at which the most recent occurrence of this event was recorded."),
    _column("Type", description="Type of this event (Normal, Warning), new types could be added in the future"),
    _column(
        "Reason",
        description="This should be a short, machine understandable string that gives the reason for the "
        "transition into the object's current status.",
    ),
    _column("Object", description="The object that this event is about."),
    _column(
        "Subobject",
        priority=1,
        description="If referring to a piece of an object instead of an entire object, this string should "
        "contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    _column(
        "Source",
        priority=1,
        description="The component reporting this event. Should be a short machine understandable string.",
    ),
    _column("Message", description="A human-readable description of the status of this operation."),
    _column(
        "First Seen",
        priority=1,
        description="The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    _column("Count", priority=1, description="The number of times this event has occurred."),
    _column("Name", priority=1, fmt="name", description=_NAME_DOC),
]
_DEFAULT_COLUMNS = [_NAME_COLUMN, _column("Created At", "date", _CREATED_DOC)]


# --- durations as kubectl shows them -------------------------------------------------------------


def _since(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        when = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (datetime.datetime.now(datetime.UTC) - when).total_seconds()


def short_duration(seconds: float) -> str:
    """apimachinery's ``ShortHumanDuration`` (``5s``, ``3m``, ``2h``, ``4d``, ``1y``)."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    hours = whole // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def human_duration(seconds: float) -> str:
    """apimachinery's ``HumanDuration`` (``90s``, ``3m20s``, ``5h12m``, ``3d4h``), as built-in printers use."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def _age(timestamp: Any, fmt: Any = human_duration) -> str:
    seconds = _since(timestamp)
    return "<unknown>" if seconds is None else str(fmt(seconds))


# --- JSONPath (the simple paths printer columns use) ----------------------------------------------

_TOKEN = re.compile(
    r"\.\.|\.([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(-?\d*)\s*(?::\s*(-?\d*)\s*)?\]|\[\s*\*\s*\]|\.\*"
)


def _steps(path: str) -> list[tuple[str, Any]]:
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"unrecognized column definition {path!r}")
        token = match.group(0)
        if token == "..":
            steps.append(("recurse", None))
        elif match.group(1) is not None:
            steps.append(("all", None) if match.group(1) == "*" else ("field", match.group(1)))
        elif match.group(2) is not None or match.group(3) is not None:
            steps.append(("field", match.group(2) if match.group(2) is not None else match.group(3)))
        elif token.replace(" ", "") in ("[*]", ".*"):
            steps.append(("all", None))
        elif ":" in token:
            steps.append(("slice", (match.group(4), match.group(5))))
        else:
            steps.append(("index", int(match.group(4))))
        position = match.end()
    return steps


def _descend(values: list[Any], step: tuple[str, Any]) -> Iterator[Any]:
    kind, arg = step
    for value in values:
        field = kind == "field" and isinstance(value, dict) and arg in value
        if field or (kind == "index" and isinstance(value, list) and -len(value) <= arg < len(value)):
            yield value[arg]
        elif kind == "slice" and isinstance(value, list):
            start, stop = (int(x) if x else None for x in arg)
            yield from value[start:stop]
        elif kind == "all":
            yield from (value.values() if isinstance(value, dict) else value if isinstance(value, list) else ())
        elif kind == "recurse":
            stack = [value]
            while stack:
                node = stack.pop(0)
                yield node
                stack.extend(node.values() if isinstance(node, dict) else node if isinstance(node, list) else ())


def find_first(obj: Any, path: str) -> tuple[bool, Any]:
    """The first value a JSONPath finds in ``obj`` (missing keys allowed, as printer columns do)."""
    values = [obj]
    for step in _steps(path):
        values = list(_descend(values, step))
        if not values:
            return False, None
    return True, values[0]


def go_print(value: Any) -> str:
    """How client-go's JSONPath prints a value (Go's ``fmt.Print`` of the decoded JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    return str(value)


def _cell(column: Mapping[str, Any], obj: Mapping[str, Any]) -> Any:
    try:
        found, value = find_first(obj, str(column.get("jsonPath") or ""))
    except ValueError:
        return None
    if not found or value is None:
        return None
    kind = column.get("type")
    if kind == "string":
        return go_print(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        seconds = _since(value)
        return "<invalid>" if seconds is None else short_duration(seconds)
    return None


# --- tables --------------------------------------------------------------------------------------


def _custom_columns(model: ResourceModel) -> list[Mapping[str, Any]]:
    """The CRD's printer columns, or AGE alone when it declares none (apiextensions' default)."""
    age = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "description": _CREATED_DOC}
    return list(model.columns) or [age]


def column_definitions(model: ResourceModel) -> list[dict[str, Any]]:
    if model.custom:
        columns = _custom_columns(model)
        return [_NAME_COLUMN] + [
            _column(
                str(c.get("name")),
                str(c.get("type") or "string"),
                str(
                    c.get("description")
                    or f"Custom resource definition column (in JSONPath format): {c.get('jsonPath')}"
                ),
                int(c.get("priority") or 0),
                str(c.get("format") or ""),
            )
            for c in columns
        ]
    if model.plural == "namespaces":
        return _NAMESPACE_COLUMNS
    if model.plural == "events":
        return _EVENT_COLUMNS
    return _DEFAULT_COLUMNS


def _event_cells(event: Mapping[str, Any]) -> list[Any]:
    first = event.get("firstTimestamp") or event.get("eventTime") or event.get("deprecatedFirstTimestamp")
    last = event.get("lastTimestamp") or event.get("deprecatedLastTimestamp") or first
    count = event.get("count") or event.get("deprecatedCount") or 1
    series = event.get("series")
    if isinstance(series, dict):
        last, count = series.get("lastObservedTime") or last, series.get("count") or count
    subject = event.get("involvedObject") or event.get("regarding") or {}
    kind = str(subject.get("kind") or "").lower()
    target = f"{kind}/{subject['name']}" if subject.get("name") else kind
    source = event.get("source") or event.get("deprecatedSource") or {}
    component = source.get("component") or event.get("reportingController") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return [
        _age(last),
        event.get("type") or "",
        event.get("reason") or "",
        target,
        subject.get("fieldPath") or "",
        f"{component}, {host}" if host else component,
        str(event.get("message") or event.get("note") or "").strip(),
        _age(first),
        int(count),
        event["metadata"]["name"],
    ]


def _cells(model: ResourceModel, obj: Mapping[str, Any]) -> list[Any]:
    meta = obj.get("metadata") or {}
    if model.custom:
        return [meta.get("name")] + [_cell(c, obj) for c in _custom_columns(model)]
    if model.plural == "namespaces":
        return [meta.get("name"), (obj.get("status") or {}).get("phase", ""), _age(meta.get("creationTimestamp"))]
    if model.plural == "events":
        return _event_cells(obj)
    return [meta.get("name"), meta.get("creationTimestamp")]


def _row_object(model: ResourceModel, obj: Mapping[str, Any], include: str) -> Any:
    if include == "None":
        return None
    if include == "Object":
        return obj
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def table(
    model: ResourceModel,
    objects: list[Mapping[str, Any]],
    *,
    resource_version: str,
    include_object: str = "Metadata",
    headers: bool = True,
    list_meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (one row each); ``headers=False`` leaves the columns out."""
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    metadata.update({k: v for k, v in (list_meta or {}).items() if k != "resourceVersion"})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(model) if headers else None,
        "rows": [{"cells": _cells(model, obj), "object": _row_object(model, obj, include_object)} for obj in objects],
    }
