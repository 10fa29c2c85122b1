"""Generate the ScaleSetImage CustomResourceDefinition from ``controller.resource``.

Why: the CRD's OpenAPI schema is what the API server enforces and what ``kubectl explain`` teaches,
and it must say exactly what the operator's model says. So nobody writes it by hand; this module
derives it from pydantic's JSON schema of the model classes (types, descriptions, validation, defaults,
CEL rules), cut down to the structural subset Kubernetes accepts, and a test fails when the committed
YAML differs from the output.

Usage::

    python -m controller.resource.crd            # print the ScaleSetImage CRD
    python -m controller.resource.crd --kind ScaleSetImageRollout   # print the fleet's CRD
    python -m controller.resource.crd --write    # rewrite both files in crds/
    python -m controller.resource.crd --check    # exit 1 if a committed file is stale
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from controller import resource as model
from controller.resource import fleet

CRD_DIR: Final = Path(__file__).resolve().parents[2] / "crds"
CRD_PATH: Final = CRD_DIR / f"{model.CRD_NAME}.yaml"
FLEET_CRD_PATH: Final = CRD_DIR / f"{fleet.FLEET_CRD_NAME}.yaml"

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


# Keys of the structural OpenAPI v3 subset this CRD uses, in the order they are written.
_KEY_ORDER: Final = (
    "description",
    "type",
    "x-kubernetes-int-or-string",
    "anyOf",
    "enum",
    "properties",
    "required",
    "items",
    "format",
    "default",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "additionalProperties",
    "x-kubernetes-validations",
)
_DROPPED: Final = frozenset({"title", "readOnly"})
_VALIDATIONS: Final = "x-kubernetes-validations"


def _inline(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` replaced by the definition; the node's own keys win, its rules come first."""
    if "$ref" not in node:
        return node
    outer = {key: value for key, value in node.items() if key != "$ref"}
    target = defs[node["$ref"].rsplit("/", 1)[-1]]
    return _merge(outer, target)


def _merge(outer: dict[str, Any], inner: dict[str, Any]) -> dict[str, Any]:
    merged = {**inner, **outer}
    rules = [*outer.get(_VALIDATIONS, []), *inner.get(_VALIDATIONS, [])]
    if rules:
        merged[_VALIDATIONS] = rules
    return merged


def _structural(node: dict[str, Any], defs: dict[str, Any], *, defaults: bool) -> dict[str, Any]:
    """One node of pydantic's JSON schema as Kubernetes wants it: no $ref, no anyOf but int-or-string."""
    node = _inline(node, defs)
    for key in ("anyOf", "oneOf"):
        if key in node:
            outer = {k: v for k, v in node.items() if k != key}
            options = [_structural(option, defs, defaults=defaults) for option in node[key]]
            options = [option for option in options if option.get("type") != "null"]  # Optional[X] is X
            node = _merge(outer, options[0] if len(options) == 1 else _int_or_string(options))
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "default" and (value is None or not defaults)):
            continue
        if key not in _KEY_ORDER:
            raise TypeError(f"{key!r} is not in the structural schema subset: {node}")
        if key == "description":
            value = " ".join(value.split())
        elif key == "properties":
            value = {name: _structural(sub, defs, defaults=defaults) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            value = _structural(value, defs, defaults=defaults)
        elif key == _VALIDATIONS:
            value = [{"rule": rule["rule"], "message": rule["message"]} for rule in value]
        out[key] = value
    derived = {name for name, sub in node.get("properties", {}).items() if sub.get("readOnly")}
    required = [name for name in out.pop("required", []) if name not in derived]
    if required:
        out["required"] = required
    return {key: out[key] for key in _KEY_ORDER if key in out}


def _int_or_string(options: list[dict[str, Any]]) -> dict[str, Any]:
    """``int | str`` as Kubernetes spells it; each branch's bounds move up (they apply to their type only)."""
    if len(options) != 2 or {option.get("type") for option in options} != {"integer", "string"}:
        raise TypeError(f"the only union a CRD allows is int-or-string, got {options}")
    out: dict[str, Any] = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    for option in options:
        out.update({key: value for key, value in option.items() if key != "type"})
    return out


def openapi_schema(root_model: type[model.Model] = model.ScaleSetImage) -> dict[str, Any]:
    """The resource's ``openAPIV3Schema``: defaults under spec only (status is the operator's to write)."""
    raw = root_model.model_json_schema(by_alias=True, mode="serialization")
    defs = raw.pop("$defs", {})
    # The API server accepts nothing but this for the root metadata, description included.
    raw["properties"]["metadata"] = {"type": "object"}
    root = _structural(raw, defs, defaults=False)
    root["properties"]["spec"] = _structural(raw["properties"]["spec"], defs, defaults=True)
    copied: dict[str, Any] = json.loads(json.dumps(root))  # no shared nodes, so no YAML anchors
    return copied


def build_crd(kind: str = model.KIND) -> dict[str, Any]:
    """The CustomResourceDefinition of ``kind`` (ScaleSetImage or ScaleSetImageRollout) as a plain dict."""
    if kind == fleet.FLEET_KIND:
        root = openapi_schema(fleet.ScaleSetImageRollout)
        name, names, columns = (
            fleet.FLEET_CRD_NAME,
            {
                "kind": fleet.FLEET_KIND,
                "listKind": fleet.FLEET_LIST_KIND,
                "plural": fleet.FLEET_PLURAL,
                "singular": fleet.FLEET_SINGULAR,
                "shortNames": list(fleet.FLEET_SHORT_NAMES),
                "categories": list(model.CATEGORIES),
            },
            fleet.FLEET_PRINTER_COLUMNS,
        )
    else:
        root = openapi_schema()
        name, names, columns = (
            model.CRD_NAME,
            {
                "kind": model.KIND,
                "listKind": model.LIST_KIND,
                "plural": model.PLURAL,
                "singular": model.SINGULAR,
                "shortNames": list(model.SHORT_NAMES),
                "categories": list(model.CATEGORIES),
            },
            PRINTER_COLUMNS,
        )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": model.GROUP,
            "names": names,
            "scope": "Namespaced",
            "versions": [
                {
                    "name": model.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(column) for column in columns],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render_crd(kind: str = model.KIND) -> str:
    """The CRD of ``kind`` as the YAML text committed in ``crds/``."""
    body = yaml.safe_dump(build_crd(kind), sort_keys=False, width=100, allow_unicode=True)
    return HEADER + body


CRD_FILES: Final = {model.KIND: CRD_PATH, fleet.FLEET_KIND: FLEET_CRD_PATH}
"""Each kind's committed CRD file."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.resource.crd", description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=sorted(CRD_FILES), default=model.KIND, help="the CRD printed")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write every CRD into {CRD_DIR}")
    action.add_argument("--check", action="store_true", help="exit 1 if a committed CRD is out of date")
    args = parser.parse_args(argv)
    if args.write:
        for kind, path in CRD_FILES.items():
            path.write_text(render_crd(kind), encoding="utf-8")
        return 0
    if args.check:
        stale = [
            path
            for kind, path in CRD_FILES.items()
            if (path.read_text(encoding="utf-8") if path.exists() else "") != render_crd(kind)
        ]
        for path in stale:
            print(f"{path} is out of date; run: python -m controller.resource.crd --write", file=sys.stderr)
        return 1 if stale else 0
    sys.stdout.write(render_crd(args.kind))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
