"""Reads as kube-apiserver answers them: objects, lists (selectors, limit/continue), Tables, partial metadata."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp.web

from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._http import respond
from scaleset_testbed.kube._models import ResourceModel
from scaleset_testbed.kube._paths import Target, selectors
from scaleset_testbed.kube._store import Store
from scaleset_testbed.kube._tables import table
from scaleset_testbed.kube._watch import Transform


def read(store: Store, model: ResourceModel, target: Target, params: Mapping[str, str]) -> dict[str, Any]:
    if target.name:
        current = store.current(store.key(model, target.namespace, target.name))
        if current is None:
            raise status.not_found(model, target.name)
        return store.present(model, current)
    if target.subresource:
        raise status.no_such_resource()
    matches = selectors(params)
    items = [obj for obj in store.select(model, target.namespace) if matches(obj)]
    list_rv = str(store.last_rv)
    token = params.get("continue", "")
    if token:
        try:
            list_rv, after_ns, after_name = json.loads(base64.urlsafe_b64decode(token))
        except ValueError as exc:
            raise status.bad_request(f"invalid continue token: {exc}") from exc
        items = [
            obj
            for obj in items
            if (obj["metadata"].get("namespace") or "", obj["metadata"]["name"]) > (after_ns, after_name)
        ]
    metadata: dict[str, Any] = {"resourceVersion": list_rv}
    limit = params.get("limit", "")
    if limit.isdigit() and 0 < int(limit) < len(items):
        metadata["remainingItemCount"] = len(items) - int(limit)
        items = items[: int(limit)]
        last = items[-1]["metadata"]
        position = [list_rv, last.get("namespace") or "", last["name"]]
        metadata["continue"] = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    return {
        "apiVersion": model.api_version,
        "kind": model.list_kind,
        "metadata": metadata,
        "items": [store.present(model, obj) for obj in items],
    }


def include_object(params: Mapping[str, str]) -> str:
    include = params.get("includeObject", "") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise status.bad_request(
            f'Unable to convert to Table as requested: unrecognized includeObject value: "{include}"'
        )
    return include


def transform(store: Store, model: ResourceModel, output: str, params: Mapping[str, str]) -> Transform | None:
    if output == "Table":
        include = include_object(params)
        return lambda obj, headers: table(
            model, [obj], resource_version=str(store.last_rv), include_object=include, headers=headers
        )
    if output == "PartialObjectMetadata":
        return lambda obj, headers: {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    return None


def render(
    store: Store,
    model: ResourceModel,
    payload: dict[str, Any],
    output: str,
    params: Mapping[str, str],
    *,
    code: int = 200,
    warnings: Iterable[str] = (),
) -> aiohttp.web.Response:
    is_list = "items" in payload and payload.get("kind", "").endswith("List")
    if output == "Table":
        objects = payload["items"] if is_list else [payload]
        meta = payload.get("metadata") or {}
        rv = str(meta.get("resourceVersion") or store.last_rv)
        list_meta = meta if is_list else None
        payload = table(model, objects, resource_version=rv, include_object=include_object(params), list_meta=list_meta)
    elif output == "PartialObjectMetadata":

        def partial(obj: Mapping[str, Any]) -> dict[str, Any]:
            return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}

        if is_list:
            items = [partial(obj) for obj in payload["items"]]
            payload = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": payload["metadata"],
                "items": items,
            }
        else:
            payload = partial(payload)
    return respond(payload, code, warnings=warnings, output="yaml" if output == "yaml" else "json")
