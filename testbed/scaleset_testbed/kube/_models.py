"""What the emulator knows about each resource it serves, and how CRDs become such knowledge.

Why: kmock treats every resource the same (a bag of JSON). The API server's behaviour depends on the
resource: namespaced or not, whether ``status`` is a subresource, which schema applies, whether
``metadata.generation`` is tracked. :class:`ResourceModel` carries exactly those facts, built either
from a CustomResourceDefinition or from the few built-in resources the emulator serves itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import kmock
import yaml

from scaleset_testbed.kube._schema import StructuralSchema

CRD_API_VERSION = "apiextensions.k8s.io/v1"
CRD_KIND = "CustomResourceDefinition"


@dataclass(frozen=True)
class ResourceModel:
    """The facts about one served group/version/plural that change how writes behave."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    schema: StructuralSchema | None = None
    storage_version: str = ""
    tracks_generation: bool = True
    requires_resource_version_on_put: bool = False
    list_kind: str = ""
    custom: bool = False  # served from a CustomResourceDefinition
    definition: str = ""  # the OpenAPI definition name (dev.imagerollout.v1alpha1.ScaleSetImage)
    columns: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, hash=False)
    openapi_schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_api_version(self) -> str:
        """The ``apiVersion`` objects are stored with (all served versions share one storage)."""
        version = self.storage_version or self.version
        return f"{self.group}/{version}" if self.group else version

    @property
    def group_resource(self) -> str:
        """``plural.group`` as used in API error messages (``widgets.example.com``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``Kind.group`` as used in 422 messages (``Widget.example.com``)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def resource(self) -> kmock.resource:
        """The kmock resource of this served version."""
        return kmock.resource(self.group, self.version, self.plural)

    @property
    def storage_resource(self) -> kmock.resource:
        """The kmock resource under which objects of all served versions are stored."""
        return kmock.resource(self.group, self.storage_version or self.version, self.plural)

    @property
    def scope(self) -> str:
        return "Namespaced" if self.namespaced else "Cluster"

    def resource_info(self) -> kmock.ResourceInfo:
        """Discovery information in kmock's terms (what ``/apis/<group>/<version>`` lists)."""
        return kmock.ResourceInfo(
            kind=self.kind,
            singular=self.singular,
            namespaced=self.namespaced,
            verbs={"create", "delete", "get", "list", "patch", "update", "watch"},
            shortnames=set(self.short_names),
            categories=set(self.categories),
            subresources=set(self.subresources),
        )


_BUILTIN_SCHEMAS = "builtin_schemas.yaml"


@functools.cache
def builtin_definitions() -> dict[str, Any]:
    """The OpenAPI (v2 form) definitions of the built-in kinds served, and the meta types they use."""
    text = resources.files("scaleset_testbed.kube").joinpath(_BUILTIN_SCHEMAS).read_text(encoding="utf-8")
    definitions: dict[str, Any] = yaml.safe_load(text)["definitions"]
    return definitions


def _inline(definitions: Mapping[str, Any], node: Any, seen: tuple[str, ...]) -> Any:
    """A schema with its ``$ref``s inlined; a recursive reference becomes an object of any shape."""
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        target = _inline(definitions, definitions[name], (*seen, name))
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _inline(definitions, sub, seen) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _inline(definitions, value, seen)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_inline(definitions, sub, seen) for sub in value]
        elif key != "x-kubernetes-validations":
            out[key] = value
    if out.get("type") in (None, "object") and not {"properties", "additionalProperties", "items"} & set(out):
        out["x-kubernetes-preserve-unknown-fields"] = True  # RawExtension, FieldsV1, JSON: any value
    return out


@functools.cache
def builtin_schema(definition: str) -> StructuralSchema:
    """A built-in kind's schema, inlined for admission (pruning, type checks) and field ownership."""
    definitions = builtin_definitions()
    return StructuralSchema(_inline(definitions, definitions[definition], (definition,)))


def _builtin(definition: str, **facts: Any) -> ResourceModel:
    return ResourceModel(
        definition=definition,
        schema=builtin_schema(definition),
        list_kind=f"{facts['kind']}List",
        tracks_generation=facts.pop("tracks_generation", False),
        **facts,
    )


BUILTIN_MODELS: tuple[ResourceModel, ...] = (
    _builtin(
        "io.k8s.api.core.v1.Namespace",
        group="",
        version="v1",
        plural="namespaces",
        kind="Namespace",
        singular="namespace",
        namespaced=False,
        subresources=frozenset({"status"}),
        short_names=("ns",),
    ),
    _builtin(
        "io.k8s.api.core.v1.Event",
        group="",
        version="v1",
        plural="events",
        kind="Event",
        singular="event",
        namespaced=True,
        short_names=("ev",),
    ),
    _builtin(
        "io.k8s.api.events.v1.Event",
        group="events.k8s.io",
        version="v1",
        plural="events",
        kind="Event",
        singular="event",
        namespaced=True,
    ),
    _builtin(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        group="apiextensions.k8s.io",
        version="v1",
        plural="customresourcedefinitions",
        kind=CRD_KIND,
        singular="customresourcedefinition",
        namespaced=False,
        subresources=frozenset({"status"}),
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        tracks_generation=True,
    ),
    _builtin(
        "io.k8s.api.coordination.v1.Lease",  # what leader election (client-go's, and the operator's) holds
        group="coordination.k8s.io",
        version="v1",
        plural="leases",
        kind="Lease",
        singular="lease",
        namespaced=True,
    ),
)
NAMESPACES = BUILTIN_MODELS[0]
CRDS = BUILTIN_MODELS[3]
EVENT_MODELS = BUILTIN_MODELS[1:3]


def definition_name(group: str, version: str, kind: str) -> str:
    """The OpenAPI definition name of a custom kind: the group reversed (``dev.imagerollout.v1alpha1.Kind``)."""
    return ".".join([*reversed(group.split(".")), version, kind])


def models_from_crd(crd: Mapping[str, Any]) -> list[ResourceModel]:
    """Turn one ``apiextensions.k8s.io/v1`` CRD into a model per served version.

    Raises ``ValueError`` (or its subclass ``SchemaError``) for a CRD a real API server would reject
    in ways that matter here: missing names, no storage version, a pattern or CEL rule that does
    not compile.
    """
    if crd.get("kind") != CRD_KIND:
        raise ValueError(f"not a {CRD_KIND}: kind={crd.get('kind')!r}")
    spec = crd.get("spec")
    if not isinstance(spec, Mapping):
        raise ValueError("spec: Required value")
    group = spec.get("group")
    names = spec.get("names") or {}
    plural = names.get("plural")
    kind = names.get("kind")
    if not group or not plural or not kind:
        raise ValueError("spec.group, spec.names.plural and spec.names.kind are required")
    expected_name = f"{plural}.{group}"
    name = (crd.get("metadata") or {}).get("name")
    if name != expected_name:
        raise ValueError(f'metadata.name: Invalid value: {name!r}: must be spec.names.plural+"."+spec.group')
    scope = spec.get("scope", "Namespaced")
    if scope not in ("Namespaced", "Cluster"):
        raise ValueError(f'spec.scope: Unsupported value: {scope!r}: supported values: "Cluster", "Namespaced"')
    versions = [v for v in spec.get("versions") or () if isinstance(v, Mapping)]
    storage = [v.get("name") for v in versions if v.get("storage")]
    if len(storage) != 1:
        raise ValueError("spec.versions: Invalid value: must have exactly one version marked as storage version")
    models: list[ResourceModel] = []
    for version in versions:
        if not version.get("served", True):
            continue
        raw_schema = (version.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")
        subresources = version.get("subresources") or spec.get("subresources") or {}
        models.append(
            ResourceModel(
                group=str(group),
                version=str(version.get("name")),
                plural=str(plural),
                kind=str(kind),
                singular=str(names.get("singular") or str(kind).lower()),
                namespaced=scope == "Namespaced",
                # The scale subresource is not emulated, so it is not advertised either.
                subresources=frozenset({"status"}) if "status" in subresources else frozenset(),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                schema=StructuralSchema(raw_schema) if isinstance(raw_schema, Mapping) else None,
                storage_version=str(storage[0]),
                requires_resource_version_on_put=True,
                list_kind=str(names.get("listKind") or f"{kind}List"),
                custom=True,
                definition=definition_name(str(group), str(version.get("name")), str(kind)),
                columns=tuple(version.get("additionalPrinterColumns") or spec.get("additionalPrinterColumns") or ()),
                openapi_schema=raw_schema if isinstance(raw_schema, Mapping) else None,
            )
        )
    return models


def _yaml_files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    else:
        yield path


def load_crd_documents(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read every CRD from the given YAML files and directories (searched recursively).

    Other documents (a Deployment next to the CRDs, say) are skipped; a named path that does not
    exist is an error, so that a typo does not silently start an emulator without the CRDs.
    """
    crds: list[dict[str, Any]] = []
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            raise FileNotFoundError(f"No such CRD file or directory: {path}")
        for file in _yaml_files(path):
            with file.open(encoding="utf-8") as stream:
                for doc in yaml.safe_load_all(stream):
                    if isinstance(doc, dict) and doc.get("kind") == CRD_KIND:
                        crds.append(doc)
    return crds
