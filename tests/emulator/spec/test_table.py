"""The emulator's field-introduction table against the stored spec data, and the validator against bad values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scaleset_testbed.azure import api_fields

from .extract import folder_definitions
from .fields import KINDS, coercible_types, emulator_table, property_paths
from .replay import data_folders, load
from .swagger import validate

HERE = Path(__file__).parent
TABLE = json.loads((HERE.parents[2] / "testbed" / "scaleset_testbed" / "azure" / "api_fields.json").read_text())
INDEX = json.loads((HERE / "fields.json").read_text())


def test_table_is_generated_from_the_stored_field_index() -> None:
    newest = max(f for f in data_folders() if f.startswith("compute-"))
    definitions = load(newest, "definitions")
    types = {kind: coercible_types(definitions, KINDS[kind][1]) for kind in TABLE["types"]}
    assert emulator_table(INDEX, types) == TABLE, "regenerate with python -m tests.emulator.spec.extract"
    assert TABLE["source"] == INDEX["commit"]


def definition_folders() -> list[str]:
    """Every stored folder with definitions: the replayed ones and the columns-only ones (no operations)."""
    return sorted(p.name for p in HERE.iterdir() if (p / "definitions.json").exists())


@pytest.mark.parametrize("folder", definition_folders())
def test_field_index_agrees_with_the_stored_definitions(folder: str) -> None:
    family, version = folder.split("-", 1)
    definitions = folder_definitions(HERE, folder)
    checked = 0
    for kind, (kind_family, root) in KINDS.items():
        if kind_family != family or root not in definitions or version not in INDEX["versions"][kind]:
            continue
        present = property_paths(definitions, root)
        position = INDEX["versions"][kind].index(version)
        for path, bits in INDEX["paths"][kind].items():
            assert (bits[position] == "1") == (path in present), (kind, path, version)
        checked += 1
    assert checked >= 1


IMAGE_REF = "properties.virtualMachineProfile.storageProfile.imageReference."


@pytest.mark.parametrize(
    ("kind", "path", "first", "older"),
    [
        ("virtualMachineScaleSets", "properties.orchestrationMode", "2020-12-01", "2020-06-01"),
        ("virtualMachineScaleSets", IMAGE_REF + "exactVersion", "2019-07-01", "2019-03-01"),
        ("virtualMachineScaleSets", IMAGE_REF + "sharedGalleryImageId", "2021-07-01", "2021-04-01"),
        ("virtualMachineScaleSets", IMAGE_REF + "communityGalleryImageId", "2021-11-01", "2021-07-01"),
        (
            "virtualMachineScaleSets",
            "properties.upgradePolicy.rollingUpgradePolicy.maxSurge",
            "2022-11-01",
            "2022-08-01",
        ),
        ("virtualMachineScaleSets", "etag", "2023-09-01", "2020-06-01"),
        ("virtualMachineScaleSets", "properties.timeCreated", "2021-11-01", "2021-07-01"),
        ("virtualMachines", "properties.timeCreated", "2021-11-01", "2021-07-01"),
        ("virtualMachines", "properties.platformFaultDomain", "2020-12-01", "2020-06-01"),
    ],
)
def test_the_issue_s_dates_come_out_of_the_spec(kind: str, path: str, first: str, older: str) -> None:
    assert api_fields.introduced(kind, path) == (first, None)
    assert not api_fields.visible(kind, path, older)
    assert api_fields.visible(kind, path, first)


def test_a_removed_field_has_its_last_version() -> None:
    # automaticOSUpgrade (a boolean) gave way to automaticOSUpgradePolicy in 2018-10-01.
    path = "properties.upgradePolicy.automaticOSUpgrade"
    assert api_fields.introduced("virtualMachineScaleSets", path) == ("2017-03-30", "2018-10-01")
    assert api_fields.visible("virtualMachineScaleSets", path, "2018-06-01")
    assert not api_fields.visible("virtualMachineScaleSets", path, "2020-06-01")


def _reference_strip(kind: str, obj: Any, version: str, path: str = "") -> Any:
    """The plain definition: every key is kept when its path is visible at ``version``, its value stripped too."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            here = f"{path}.{key}" if path else key
            if api_fields.visible(kind, here, version):
                out[key] = _reference_strip(kind, value, version, here)
        return out
    if isinstance(obj, list):
        return [_reference_strip(kind, item, version, path + "[]") for item in obj]
    return obj


def _steps(path: str) -> list[str]:
    """``a.b[].c`` -> ``["a", "b", "[]", "c"]``."""
    steps: list[str] = []
    for segment in path.split("."):
        name = segment.rstrip("[]")
        steps += ([name] if name else []) + ["[]"] * ((len(segment) - len(name)) // 2)
    return steps


def _body_with_every_path(kind: str) -> tuple[dict[str, Any], int]:
    """A body that holds every path of the kind's table (arrays of two items) besides fields every version has;
    and how many of those paths it holds (the deepest first, so that a field's parent is an object)."""
    body: dict[str, Any] = {"name": "x", "properties": {"always": 1, "list": [{"a": 1}]}}
    held = 0
    for steps in sorted((_steps(path) for path in TABLE["introduced"][kind]), key=len, reverse=True):
        node: Any = body
        for i, step in enumerate(steps):
            following = steps[i + 1] if i + 1 < len(steps) else None
            fresh: Any = f"value-{i}" if following is None else ([] if following == "[]" else {})
            if step == "[]":
                if not isinstance(node, list):
                    break
                if not node:
                    node.extend([fresh, {"second": 2} if isinstance(fresh, dict) else fresh])
                node = node[0]
            else:
                if not isinstance(node, dict):
                    break
                node = node.setdefault(step, fresh)
        else:
            held += 1
    return body, held


VERSIONS = sorted(
    {v for kind in TABLE["introduced"].values() for e in kind.values() for v in (e if isinstance(e, list) else [e])}
    | {"2015-06-15", "2099-01-01"}
)


@pytest.mark.parametrize("kind", sorted(TABLE["introduced"]))
def test_strip_answers_as_the_plain_definition_at_every_version(kind: str) -> None:
    body, held = _body_with_every_path(kind)
    assert held == len(TABLE["introduced"][kind]), "the body leaves out paths of the table"
    hidden_somewhere = 0
    for version in VERSIONS:
        expected = _reference_strip(kind, body, version)
        assert api_fields.strip(kind, body, version) == expected, version
        hidden_somewhere += expected != body
    assert hidden_somewhere, f"no version hides any field of {kind}: the body does not exercise strip"


# ------------------------------------------------------------------------------------------------ the validator
DEFS: dict[str, Any] = {
    "Base": {"properties": {"id": {"type": "string", "readOnly": True}, "location": {"type": "string"}}},
    "Thing": {
        "allOf": [{"$ref": "#/definitions/Base"}],
        "required": ["location"],
        "properties": {
            "properties": {"x-ms-client-flatten": True, "$ref": "#/definitions/ThingProperties"},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "ThingProperties": {
        "properties": {
            "count": {"type": "integer", "format": "int32"},
            "on": {"type": "boolean"},
            "mode": {"type": "string", "enum": ["Manual", "Rolling"], "x-ms-enum": {"modelAsString": False}},
            "open": {"type": "string", "enum": ["A"], "x-ms-enum": {"modelAsString": True}},
            "when": {"type": "string", "format": "date-time"},
            "items": {"type": "array", "items": {"$ref": "#/definitions/Base"}},
            "settings": {"type": "object"},
        }
    },
}
THING = {"$ref": "#/definitions/Thing"}
GOOD = {
    "id": "/x",
    "location": "westeurope",
    "tags": {"a": "b"},
    "properties": {
        "count": 3,
        "on": False,
        "mode": "Rolling",
        "open": "B",
        "when": "2026-01-01T12:00:00.1234567Z",
        "items": [{"id": "/y", "location": None}],
        "settings": {"anything": [1, {"goes": True}]},
    },
}


def test_a_conforming_value_passes() -> None:
    assert validate(DEFS, THING, GOOD, response=True) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"etag": '"1"'}, "$.etag: not defined by the schema"),
        ({"properties": {"count": "3"}}, "$.properties.count: expected integer"),
        ({"properties": {"count": True}}, "$.properties.count: expected integer"),
        ({"properties": {"on": "false"}}, "$.properties.on: expected boolean"),
        ({"properties": {"mode": "rolling"}}, "differs in casing from the enum value 'Rolling'"),
        ({"properties": {"mode": "Automatic"}}, "is not one of ['Manual', 'Rolling']"),
        ({"properties": {"when": "yesterday"}}, "is not a date-time"),
        ({"properties": {"items": [{"name": "z"}]}}, "$.properties.items[0].name: not defined by the schema"),
        ({"tags": {"a": 1}}, "$.tags.a: expected string"),
        ({"location": None, "drop": "location"}, "$.location: required, missing"),
    ],
)
def test_each_deviation_is_reported(change: dict[str, Any], problem: str) -> None:
    value = json.loads(json.dumps(GOOD))
    for key, new in change.items():
        if key == "drop":
            value.pop(new)
        elif isinstance(new, dict) and isinstance(value.get(key), dict):
            value[key].update(new)
        else:
            value[key] = new
    found = validate(DEFS, THING, value, response=True)
    assert any(problem in p for p in found), found


def test_requests_may_leave_out_required_fields() -> None:
    assert validate(DEFS, THING, {"properties": {"count": 1}}, response=False) == []
