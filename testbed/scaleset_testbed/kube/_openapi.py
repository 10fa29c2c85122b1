"""OpenAPI v2 (``/openapi/v2``) and v3 (``/openapi/v3``, one document per group-version) for what is served.

Why: kubectl reads them for ``explain``, for client-side validation, and to decide whether the server
validates fields itself (it looks for a ``fieldValidation`` parameter on the kind's PATCH operation)
and which patch type ``apply`` may use (a kind whose PATCH does not consume strategic merge patches gets
a JSON merge patch). Custom kinds are built from their CRD schema as apiextensions-apiserver's OpenAPI
builder does (the standard ``metadata``, ``apiVersion`` and ``kind``, ``x-kubernetes-group-version-kind``);
built-in kinds come from the Kubernetes OpenAPI (``builtin_schemas.yaml``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from scaleset_testbed.kube._models import ResourceModel, builtin_definitions

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_OBJECT_META_DOC = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_LIST_META_DOC = (
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this from "
    "the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
_PARAMS: dict[str, tuple[str, str]] = {
    "allowWatchBookmarks": ("boolean", 'allowWatchBookmarks requests watch events with type "BOOKMARK".'),
    "continue": ("string", "The continue option should be set when retrieving more results from the server."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted. Valid values: All"),
    "fieldManager": (
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
    ),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by their fields."),
    "fieldValidation": (
        "string",
        "fieldValidation instructs the server on how to handle objects in the request containing unknown or "
        "duplicate fields. Valid values are: - Ignore - Warn - Strict",
    ),
    "force": ("boolean", 'Force is going to "force" Apply requests. It must be unset for non-apply patches.'),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be deleted."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by their labels."),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "orphanDependents": ("boolean", "Deprecated: please use the PropagationPolicy."),
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed."),
    "resourceVersion": (
        "string",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    "resourceVersionMatch": ("string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
    "sendInitialEvents": ("boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": (
        "boolean",
        "Watch for changes to the described resources and return them as a stream of add, update, and remove "
        "notifications.",
    ),
}
_LIST = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
         "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")  # fmt: skip
_WRITE = ("dryRun", "fieldManager", "fieldValidation")
_DELETE = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json")


def _ref(name: str, v3: bool) -> str:
    return ("#/components/schemas/" if v3 else "#/definitions/") + name


def _gvk(model: ResourceModel, kind: str | None = None) -> dict[str, str]:
    return {"group": model.group, "kind": kind or model.kind, "version": model.version}


def _for_version(node: Any, v3: bool) -> Any:
    """A v2-form schema as v3 wants it (``components`` refs; a ``$ref`` with siblings inside ``allOf``)."""
    if isinstance(node, list):
        return [_for_version(item, v3) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _for_version(value, v3) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and v3:
        out["$ref"] = ref.replace("#/definitions/", "#/components/schemas/")
        if len(out) > 1:
            return {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def _v2_structural(node: Any) -> Any:
    """What OpenAPI v2 can say of a structural schema (no nullable, no value-combinators, no CEL)."""
    if isinstance(node, list):
        return [_v2_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    dropped = {"nullable", "anyOf", "oneOf", "allOf", "not", "x-kubernetes-validations"}
    out = {k: _v2_structural(v) for k, v in node.items() if k not in dropped}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if node.get("nullable"):
        for key in ("type", "items", "properties"):
            out.pop(key, None)
    return out


def _unfold(node: Any) -> Any:
    """What the structural schema's ``Unfold`` adds: int-or-string fields say so with ``anyOf``."""
    if isinstance(node, list):
        return [_unfold(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _unfold(value) for key, value in node.items()}
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out and "allOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return out


def _custom_schemas(model: ResourceModel, v3: bool) -> dict[str, Any]:
    raw = copy.deepcopy(dict(model.openapi_schema or {"type": "object"}))
    schema = _unfold(raw) if v3 else _v2_structural(raw)
    properties = schema.setdefault("properties", {})
    meta_ref = _ref(_META + "ObjectMeta", v3)
    properties["metadata"] = (
        {"allOf": [{"$ref": meta_ref}], "description": _OBJECT_META_DOC}
        if v3
        else {"$ref": meta_ref, "description": _OBJECT_META_DOC}
    )
    properties["apiVersion"] = {"type": "string", "description": _API_VERSION_DOC}
    properties["kind"] = {"type": "string", "description": _KIND_DOC}
    schema["x-kubernetes-group-version-kind"] = [_gvk(model)]
    list_meta_ref = _ref(_META + "ListMeta", v3)
    list_schema = {
        "description": f"{model.list_kind} is a list of {model.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DOC},
            "kind": {"type": "string", "description": _KIND_DOC},
            "items": {
                "type": "array",
                "description": f"List of {model.plural}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                "items": {"$ref": _ref(model.definition, v3)},
            },
            "metadata": {"allOf": [{"$ref": list_meta_ref}], "description": _LIST_META_DOC}
            if v3
            else {"$ref": list_meta_ref, "description": _LIST_META_DOC},
        },
        "x-kubernetes-group-version-kind": [_gvk(model, model.list_kind)],
    }
    return {model.definition: schema, _list_definition(model): list_schema}


def _list_definition(model: ResourceModel) -> str:
    return model.definition.rsplit(".", 1)[0] + "." + model.list_kind


def _definitions(models: Iterable[ResourceModel], v3: bool) -> dict[str, Any]:
    builtin = builtin_definitions()
    wanted = {_META + name for name in ("ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch", "WatchEvent")}
    out: dict[str, Any] = {}
    for model in models:
        if model.custom:
            out.update(_custom_schemas(model, v3))
        else:
            wanted |= {model.definition, _list_definition(model)}
    pending = sorted(wanted)
    while pending:
        name = pending.pop()
        if name in out or name not in builtin:
            continue
        out[name] = _for_version(builtin[name], v3)
        text = json.dumps(builtin[name])
        pending.extend(part.split('"')[0] for part in text.split("#/definitions/")[1:])
    return dict(sorted(out.items()))


def _parameter(name: str, v3: bool) -> dict[str, Any]:
    kind, doc = _PARAMS[name]
    if v3:
        return {"name": name, "in": "query", "description": doc, "schema": {"type": kind, "uniqueItems": True}}
    return {"uniqueItems": True, "type": kind, "description": doc, "name": name, "in": "query"}


def _operation(
    model: ResourceModel, action: str, verb: str, params: Iterable[str], sub: str, v3: bool
) -> dict[str, Any]:
    scope = "Namespaced" if model.namespaced else ""
    group_id = "".join(part.capitalize() for part in (model.group or "core").split(".")) + model.version.capitalize()
    suffix = sub.capitalize()
    returned = {"$ref": _ref(_list_definition(model) if action == "list" else model.definition, v3)}
    if action in ("delete", "deletecollection"):
        returned = {"$ref": _ref(_META + "Status", v3)}
    op: dict[str, Any] = {
        "description": f"{verb} {model.kind}",
        "operationId": f"{verb}{group_id}{scope}{model.kind}{suffix}",
        "parameters": [_parameter(name, v3) for name in params],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(model),
    }
    consumes = list(_PATCH_TYPES) if action == "patch" else ["application/json", "application/yaml"]
    if action == "patch" and not model.custom:
        consumes.insert(3, "application/strategic-merge-patch+json")
    body = _ref(_META + "Patch", v3) if action == "patch" else _ref(model.definition, v3)
    if v3:
        op["responses"] = {
            "200": {
                "description": "OK",
                "content": {t: {"schema": returned} for t in ("application/json", "application/yaml")},
            },
            "401": {"description": "Unauthorized"},
        }
        if action in ("post", "put", "patch"):
            op["requestBody"] = {"content": {t: {"schema": {"$ref": body}} for t in consumes}, "required": True}
    else:
        op.update(consumes=consumes, produces=["application/json", "application/yaml"], schemes=["https"])
        op["responses"] = {"200": {"description": "OK", "schema": returned}, "401": {"description": "Unauthorized"}}
        if action in ("post", "put", "patch"):
            op["parameters"].insert(0, {"name": "body", "in": "body", "required": True, "schema": {"$ref": body}})
    return op


def _paths(model: ResourceModel, v3: bool) -> dict[str, Any]:
    prefix = f"/apis/{model.group}/{model.version}" if model.group else f"/api/{model.version}"
    collection = f"{prefix}/namespaces/{{namespace}}/{model.plural}" if model.namespaced else f"{prefix}/{model.plural}"
    common = [_parameter("pretty", v3)]
    if model.namespaced:
        common.insert(0, _path_parameter("namespace", "object name and auth scope, such as for teams and projects", v3))
    named = [_path_parameter("name", f"name of the {model.kind}", v3), *common]
    paths: dict[str, Any] = {
        collection: {
            "get": _operation(model, "list", "list", _LIST, "", v3),
            "post": _operation(model, "post", "create", _WRITE, "", v3),
            "delete": _operation(model, "deletecollection", "deletecollection", (*_DELETE, *_LIST), "", v3),
            "parameters": common,
        },
        f"{collection}/{{name}}": {
            "get": _operation(model, "get", "read", ("resourceVersion",), "", v3),
            "put": _operation(model, "put", "replace", _WRITE, "", v3),
            "patch": _operation(model, "patch", "patch", (*_WRITE, "force"), "", v3),
            "delete": _operation(model, "delete", "delete", _DELETE, "", v3),
            "parameters": named,
        },
    }
    if model.namespaced:
        paths[f"{prefix}/{model.plural}"] = {
            "get": _operation(model, "list", "list", _LIST, "ForAllNamespaces", v3),
            "parameters": [_parameter("pretty", v3)],
        }
    for sub in sorted(model.subresources):
        paths[f"{collection}/{{name}}/{sub}"] = {
            "get": _operation(model, "get", "read", ("resourceVersion",), sub, v3),
            "put": _operation(model, "put", "replace", _WRITE, sub, v3),
            "patch": _operation(model, "patch", "patch", (*_WRITE, "force"), sub, v3),
            "parameters": named,
        }
    return paths


def _path_parameter(name: str, doc: str, v3: bool) -> dict[str, Any]:
    if v3:
        return {
            "name": name,
            "in": "path",
            "description": doc,
            "required": True,
            "schema": {"type": "string", "uniqueItems": True},
        }
    return {"uniqueItems": True, "type": "string", "description": doc, "name": name, "in": "path", "required": True}


def _all_paths(models: Iterable[ResourceModel], v3: bool) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for model in models:
        paths.update(_paths(model, v3))
    return dict(sorted(paths.items()))


def openapi_v2(models: list[ResourceModel], version: str) -> dict[str, Any]:
    """The whole API as one Swagger 2.0 document."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": _all_paths(models, v3=False),
        "definitions": _definitions(models, v3=False),
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    }


def group_version_path(model: ResourceModel) -> str:
    return f"apis/{model.group}/{model.version}" if model.group else f"api/{model.version}"


def openapi_v3(models: list[ResourceModel], version: str) -> dict[str, Any]:
    """One group-version as an OpenAPI 3.0 document."""
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": _all_paths(models, v3=True),
        "components": {
            "schemas": _definitions(models, v3=True),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        },
    }


def openapi_v3_index(documents: dict[str, bytes]) -> dict[str, Any]:
    """``/openapi/v3``: where each group-version's document is, with a hash clients cache by."""
    return {
        "paths": {
            path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={hashlib.sha512(body).hexdigest().upper()[:128]}"}
            for path, body in sorted(documents.items())
        }
    }
