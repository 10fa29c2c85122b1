"""The CRD schema and the model agree, field by field, and the schema is what Kubernetes requires:
structural, described everywhere, with patterns the API server (Go RE2) can compile.

The model side is read from pydantic's field metadata (``model_facts``), not from the generator."""

import enum
import re
from datetime import datetime
from typing import Any, Literal, get_args, get_origin

import pytest
import re2  # type: ignore[import-untyped]

from controller.resource import Model, ScaleSetImage, crd

from . import samples
from .model_facts import INT_OR_STRING, MISSING, Facts, fields_of, is_enum, is_model, tuple_item
from .schema_check import iter_nodes, root_schema


def expected_node(hint: Any) -> dict[str, Any]:
    """The type facts a schema node must carry for a Python type hint (the test's own table)."""
    if is_model(hint):
        return {"type": "object"}
    if is_enum(hint):
        return {"type": "string", "enum": [member.value for member in hint]}
    if get_origin(hint) is Literal:
        return {"type": "string", "enum": list(get_args(hint))}
    if hint is INT_OR_STRING:
        return {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if tuple_item(hint) is not None:
        return {"type": "array"}
    table: dict[Any, dict[str, Any]] = {str: {"type": "string"}, int: {"type": "integer"}, bool: {"type": "boolean"}}
    return table[hint]


def wire_default(value: Any) -> Any:
    if isinstance(value, Model):
        return {}  # an object default of {} lets the API server fill in the object's own field defaults
    if isinstance(value, enum.Enum):
        return value.value
    return list(value) if isinstance(value, tuple) else value


def check_field(info: Facts, node: dict[str, Any], where: str, defaults: bool) -> None:
    for key, value in expected_node(info.hint).items():
        assert node.get(key) == value, f"{where}: {key} is {node.get(key)!r}, model says {value!r}"
    assert node.get("description") == info.description, f"{where}: description"
    list_type = info.list_type
    array = node.get("type") == "array"  # a length bound on a list is minItems/maxItems in the schema
    for key, value in (
        ("pattern", info.pattern),
        ("minItems" if array else "minLength", info.min_length),
        ("maxItems" if array else "maxLength", info.max_length),
        ("minimum", info.minimum),
        ("maximum", info.maximum),
        ("x-kubernetes-list-type", list_type.kind if list_type else None),
    ):
        assert node.get(key) == value, f"{where}: {key}"
    if info.format is not None:
        assert node["format"] == info.format, f"{where}: format"
    assert node.get("x-kubernetes-list-map-keys", []) == list(list_type.map_keys if list_type else ()), where
    # A field's rules, then the rules of its class: all of them, nothing else, messages included.
    rules = [*info.rules, *(info.hint.cel_rules if is_model(info.hint) else ())]
    assert node.get("x-kubernetes-validations", []) == [{"rule": r.rule, "message": r.message} for r in rules], where
    has_default = defaults and info.default is not MISSING and info.default is not None
    assert ("default" in node) == has_default, f"{where}: default"
    if has_default:
        assert node["default"] == wire_default(info.default), f"{where}: default"


def walk(cls: type[Model], schema: dict[str, Any], where: str, defaults: bool) -> int:
    """Compare a model class with its schema node both ways; returns the number of fields checked."""
    overridden = {"metadata"} if cls is ScaleSetImage else set()
    fields = [info for info in fields_of(cls) if info.wire not in overridden]
    assert set(schema["properties"]) - overridden == {info.wire for info in fields}, where
    assert set(schema.get("required", [])) == {info.wire for info in fields_of(cls) if info.required}
    count = 0
    for info in fields:
        node = schema["properties"][info.wire]
        sub_defaults = defaults or (cls is ScaleSetImage and info.wire == "spec")
        check_field(info, node, f"{where}.{info.wire}", sub_defaults)
        count += 1
        item = tuple_item(info.hint)
        if is_model(info.hint):
            count += walk(info.hint, node, f"{where}.{info.wire}", sub_defaults)
        elif item is not None:
            assert node["items"].get("type") == expected_node(item)["type"]
            if is_model(item):
                rules = [{"rule": r.rule, "message": r.message} for r in item.cel_rules]
                assert node["items"].get("x-kubernetes-validations", []) == rules
                count += walk(item, node["items"], f"{where}.{info.wire}[]", sub_defaults)
    return count


def test_schema_and_model_agree_both_ways() -> None:
    schema = root_schema()
    assert walk(ScaleSetImage, schema, "", defaults=False) > 80


def test_root_metadata_is_left_to_kubernetes() -> None:
    # The API server rejects anything but `type: object` here, description included.
    assert root_schema()["properties"]["metadata"] == {"type": "object"}


def test_every_property_has_a_description() -> None:
    missing = [
        path
        for path, node in iter_nodes(root_schema())
        if path and path != "metadata" and not path.endswith("[]") and len(node.get("description", "").split()) < 3
    ]
    assert missing == []


def test_array_items_of_objects_are_described() -> None:
    for path, node in iter_nodes(root_schema()):
        if path.endswith("[]") and node.get("type") == "object":
            assert node.get("description"), path


@pytest.mark.parametrize(
    ("path", "node"), list(iter_nodes(root_schema())), ids=lambda v: v if isinstance(v, str) else ""
)
def test_schema_is_structural(path: str, node: dict[str, Any]) -> None:
    if node.get("x-kubernetes-int-or-string"):
        assert "type" not in node
        assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    else:
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, path
        assert not {"anyOf", "oneOf", "allOf", "not"} & set(node), path
    assert "x-kubernetes-preserve-unknown-fields" not in node, path
    if node.get("type") == "array":
        assert "items" in node, path
    if node.get("type") == "object" and path != "metadata":
        assert node.get("properties"), path
        assert set(node.get("required", [])) <= set(node["properties"]), path
    if node.get("x-kubernetes-list-type") == "map":
        assert set(node["x-kubernetes-list-map-keys"]) <= set(node["items"].get("required", [])), path


def test_defaults_only_under_spec() -> None:
    defaulted = [path for path, node in iter_nodes(root_schema()) if "default" in node]
    assert defaulted
    assert all(path.startswith("spec.") for path in defaulted), defaulted


def all_patterns() -> list[str]:
    return sorted({node["pattern"] for _, node in iter_nodes(root_schema()) if "pattern" in node})


@pytest.mark.parametrize("pattern", all_patterns())
def test_patterns_are_anchored_and_compile_as_re2(pattern: str) -> None:
    assert pattern.startswith("^")
    assert pattern.endswith("$")
    re2.compile(pattern)
    assert not re.search(r"\\[dwsDWS]", pattern), "use ASCII classes: \\d, \\w, \\s differ between Go and Python"


def test_enum_and_rule_values_are_valid_wire_values() -> None:
    for path, node in iter_nodes(root_schema()):
        if "default" in node and "enum" in node:
            assert node["default"] in node["enum"], path
        if "default" in node and "pattern" in node and isinstance(node["default"], str):
            assert re.fullmatch(node["pattern"], node["default"]), path


def resolve(schema: dict[str, Any], json_path: str) -> dict[str, Any]:
    node = schema
    for key in json_path.strip(".").split("."):
        node = node["properties"][key]
    return node


@pytest.mark.parametrize("column", crd.PRINTER_COLUMNS, ids=lambda column: str(column["name"]))
def test_printer_columns_point_at_schema_fields(column: dict[str, Any]) -> None:
    if column["jsonPath"] == ".metadata.creationTimestamp":
        assert column["type"] == "date"
        return
    node = resolve(root_schema(), column["jsonPath"])
    assert node["type"] == column["type"] == "string"


def test_printer_columns_render_a_mid_rollout_resource() -> None:
    body = ScaleSetImage.from_dict(samples.mid_rollout()).to_dict()
    values = {}
    for column in crd.PRINTER_COLUMNS:
        node: Any = body
        for key in column["jsonPath"].strip(".").split("."):
            node = node.get(key) if isinstance(node, dict) else None
        values[column["name"]] = node
    assert values["Image"] == "Canonical:ubuntu-24_04-lts:server:24.04.202405010"
    assert values["Phase"] == "Progressing"
    assert values["Domain"] == "2/5"
    assert values["Updated"] == "27/50"
    assert values["Domain Kind"] == "FaultDomain"
    assert values["Scale Set"] == "web-vmss"
