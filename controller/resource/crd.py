"""Generate the ScaleSetImage CustomResourceDefinition from ``controller.resource``.

Why: the CRD's OpenAPI schema is what the API server enforces and what ``kubectl explain`` teaches,
and it must say exactly what the operator's model says. So nobody writes it by hand; this module
derives it from the model classes (types, descriptions, validation, defaults, CEL rules) and a test
fails when the committed YAML differs from the output.

Usage::

    python -m controller.resource.crd            # print the CRD
    python -m controller.resource.crd --write    # rewrite crds/scalesetimages.imagerollout.dev.yaml
    python -m controller.resource.crd --check    # exit 1 if the committed file is stale
"""

import argparse
import copy
import dataclasses
import inspect
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import yaml

from controller import resource as model
from controller.resource import FieldInfo, Model

CRD_PATH: Final = Path(__file__).resolve().parents[2] / "crds" / f"{model.CRD_NAME}.yaml"

HEADER: Final = "# Generated from controller/resource/ by `make crds`. Do not edit by hand.\n"

PRINTER_COLUMNS: Final[tuple[dict[str, Any], ...]] = (
    {
        "name": "Image",
        "type": "string",
        "description": "The image being rolled out, pinned to an exact version.",
        "jsonPath": ".status.imageSummary",
    },
    {
        "name": "Phase",
        "type": "string",
        "description": "Pending, Progressing, Paused, Succeeded or Failed.",
        "jsonPath": ".status.phase",
    },
    {
        "name": "Domain",
        "type": "string",
        "description": "Domains completed out of all domains.",
        "jsonPath": ".status.domainProgress",
    },
    {
        "name": "Updated",
        "type": "string",
        "description": "Instances on the target image out of all instances.",
        "jsonPath": ".status.instanceProgress",
    },
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    },
    {
        "name": "Scale Set",
        "type": "string",
        "description": "Name of the Azure scale set.",
        "jsonPath": ".spec.scaleSet.name",
        "priority": 1,
    },
    {
        "name": "Domain Kind",
        "type": "string",
        "description": "How instances are grouped into domains, after any fallback.",
        "jsonPath": ".status.domainKind",
        "priority": 1,
    },
)


def _summary(cls: type[Model]) -> str:
    """A class docstring as one line, for object descriptions."""
    return " ".join(inspect.cleandoc(cls.__doc__ or "").split())


def _type_schema(hint: Any, *, defaults: bool) -> dict[str, Any]:
    """The schema of a value of ``hint``, without the facts that belong to the field."""
    if model.is_model(hint):
        return schema_for(hint, defaults=defaults)
    if model.is_enum(hint):
        return {"type": "string", "enum": [member.value for member in hint]}
    if hint is model.INT_OR_STRING:
        return {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    item = model.tuple_item(hint)
    if item is not None:
        items = _type_schema(item, defaults=defaults)
        if model.is_model(item):
            items = {"description": _summary(item), **items}
        return {"type": "array", "items": items}
    raise TypeError(f"no schema for type {hint!r}")


def _field_schema(info: FieldInfo, *, defaults: bool) -> dict[str, Any]:
    spec = info.spec
    if spec.schema is not None:
        return copy.deepcopy(dict(spec.schema))
    if spec.emit_defaults is not None:
        defaults = spec.emit_defaults
    out: dict[str, Any] = {"description": spec.description}
    out.update(_type_schema(info.hint, defaults=defaults))
    if spec.format is not None:
        out["format"] = spec.format
    if defaults and info.default is not dataclasses.MISSING and info.default is not None:
        # An object default of {} lets the API server fill in the object's own field defaults.
        out["default"] = {} if isinstance(info.default, Model) else model.to_wire(info.default)
    for key, value in (
        ("pattern", spec.pattern),
        ("minLength", spec.min_length),
        ("maxLength", spec.max_length),
        ("minimum", spec.minimum),
        ("maximum", spec.maximum),
        ("x-kubernetes-list-type", spec.list_type),
    ):
        if value is not None:
            out[key] = value
    if spec.list_map_keys:
        out["x-kubernetes-list-map-keys"] = list(spec.list_map_keys)
    # Rules on the field come first, then the rules of the field's class (already in ``out``).
    validations = [_rule(rule) for rule in spec.rules] + out.pop("x-kubernetes-validations", [])
    if validations:
        out["x-kubernetes-validations"] = validations
    return out


def _rule(rule: model.CelRule) -> dict[str, str]:
    return {"rule": rule.rule, "message": rule.message}


def schema_for(cls: type[Model], *, defaults: bool) -> dict[str, Any]:
    """The OpenAPI v3 object schema of a model class.

    ``defaults`` says whether field defaults become schema defaults: true under ``spec`` (the API
    server fills them in), false elsewhere (status is the operator's to write, defaults and all).
    """
    fields = model.model_fields(cls)
    out: dict[str, Any] = {
        "type": "object",
        "properties": {info.wire: _field_schema(info, defaults=defaults) for info in fields},
    }
    required = [info.wire for info in fields if info.required]
    if required:
        out["required"] = required
    if cls.cel_rules:
        out["x-kubernetes-validations"] = [_rule(rule) for rule in cls.cel_rules]
    return out


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition as a plain dict."""
    root = {"description": _summary(model.ScaleSetImage), **schema_for(model.ScaleSetImage, defaults=False)}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": model.CRD_NAME},
        "spec": {
            "group": model.GROUP,
            "names": {
                "kind": model.KIND,
                "listKind": model.LIST_KIND,
                "plural": model.PLURAL,
                "singular": model.SINGULAR,
                "shortNames": list(model.SHORT_NAMES),
                "categories": list(model.CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": model.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(column) for column in PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as the YAML text committed at ``CRD_PATH``."""
    body = yaml.safe_dump(build_crd(), sort_keys=False, width=100, allow_unicode=True)
    return HEADER + body


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.resource.crd", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write the CRD to {CRD_PATH}")
    action.add_argument("--check", action="store_true", help="exit 1 if the committed CRD is out of date")
    args = parser.parse_args(argv)
    text = render_crd()
    if args.write:
        CRD_PATH.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = CRD_PATH.read_text(encoding="utf-8") if CRD_PATH.exists() else ""
        if current != text:
            print(f"{CRD_PATH} is out of date; run: python -m controller.resource.crd --write", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
