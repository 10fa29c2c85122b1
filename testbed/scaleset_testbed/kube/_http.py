"""The HTTP side of the emulator: content negotiation, request bodies, and the non-resource endpoints.

Content negotiation follows kube-apiserver: JSON (or YAML) for objects, ``as=Table`` and
``as=PartialObjectMetadata`` in ``meta.k8s.io/v1``, 406 when the Accept header allows nothing the
server produces. ``Warning`` headers carry field-validation warnings as ``299 - "<text>"``. The
non-resource endpoints are discovery (legacy and aggregated), ``/version``, health, and OpenAPI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp.web
import yaml

from scaleset_testbed.kube import _discovery as discovery
from scaleset_testbed.kube import _openapi as openapi
from scaleset_testbed.kube import _protobuf as protobuf
from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._models import ResourceModel
from scaleset_testbed.kube._patching import loads_checked

_JSON_TYPES = ("application/json", "application/*", "*/*")


def media_params(part: str) -> tuple[str, dict[str, str]]:
    pieces = [p.strip() for p in part.split(";")]
    params = dict(p.split("=", 1) for p in pieces[1:] if "=" in p)
    return pieces[0].lower(), {k.strip(): v.strip() for k, v in params.items()}


def negotiate(accept: str) -> str:
    """What to answer with: ``Table``, ``PartialObjectMetadata``, ``json`` or ``yaml`` (406 if nothing fits)."""
    if not accept.strip():
        return "json"
    for part in accept.split(","):
        media, params = media_params(part)
        wanted = params.get("as")
        if wanted:
            meta_group = params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1")
            if meta_group and media == "application/json" and wanted in ("Table", "PartialObjectMetadata"):
                return wanted
            continue
        if media in _JSON_TYPES:
            return "json"
        if media == "application/yaml":
            return "yaml"
    raise status.not_acceptable(["application/json", "application/yaml"])


def _warning(text: str) -> str:
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def respond(
    payload: Any, code: int = 200, *, warnings: Iterable[str] = (), output: str = "json"
) -> aiohttp.web.Response:
    """A JSON (or YAML) answer with the API server's ``Warning`` headers."""
    if output == "yaml":
        response = aiohttp.web.Response(
            status=code, text=yaml.safe_dump(payload, sort_keys=False), content_type="application/yaml"
        )
    else:
        response = aiohttp.web.Response(status=code, body=json.dumps(payload).encode(), content_type="application/json")
    for text in warnings:
        response.headers.add("Warning", _warning(text))
    return response


def delete_options(body: bytes) -> dict[str, Any]:
    """A DELETE's body: DeleteOptions (kubectl sends ``dryRun`` and ``propagationPolicy`` there)."""
    if not body.strip():
        return {}
    try:
        options = json.loads(body)
    except ValueError as exc:
        raise status.bad_request(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(options, dict):
        raise status.bad_request("DeleteOptions must be a JSON object")
    return options


def with_body_options(params: Mapping[str, str], options: Mapping[str, Any]) -> dict[str, str]:
    merged = dict(params)
    dry_run = options.get("dryRun")
    if isinstance(dry_run, list) and dry_run:
        merged.setdefault("dryRun", str(dry_run[0]))
    return merged


def decode_body(body: bytes, content_type: str) -> tuple[Any, list[str]]:
    """A create or update body (JSON, YAML, or a Namespace in protobuf) and its duplicate fields' paths."""
    if not body.strip():
        raise status.bad_request("the request body is empty")
    if content_type == protobuf.PROTOBUF:
        return protobuf.decode(body), []
    if content_type not in ("", "application/json", "application/yaml", "*/*"):
        raise status.unsupported_media_type(["application/json", "application/yaml", protobuf.PROTOBUF])
    try:
        if content_type == "application/yaml":
            return yaml.safe_load(body.decode("utf-8")), []
        return loads_checked(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise status.bad_request(f"the request body is not valid JSON: {exc}") from exc


def accept_json(accept: str) -> None:
    medias = [media_params(part)[0] for part in accept.split(",") if part.strip()]
    if medias and not any(media in _JSON_TYPES for media in medias):
        raise status.not_acceptable(["application/json"])


class Endpoints:
    """The non-resource endpoints over the currently served models (OpenAPI documents cached per model set)."""

    def __init__(self, models: Callable[[], list[ResourceModel]], server_version: str) -> None:
        self.models = models
        self.server_version = server_version
        self._openapi_cache: tuple[Any, dict[str, bytes]] | None = None

    def serve(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Answer a GET of a non-resource path (404 Status for an unknown one, 405 for other methods)."""
        method = raw.method.upper()
        path = "/" + raw.path.strip("/")
        if method != "GET":
            raise status.method_not_allowed()
        models = self.models()
        accept = raw.headers.get("Accept", "")
        if path.split("/")[1] in ("healthz", "livez", "readyz"):
            return aiohttp.web.Response(text=discovery.health(path, "verbose" in raw.query), content_type="text/plain")
        if path == "/version":
            return respond(discovery.version_info(self.server_version))
        if path == "/":
            return respond(discovery.root_paths(models))
        if path in ("/api", "/apis"):
            if discovery.wants_aggregated(accept):
                document = discovery.aggregated(models, core=path == "/api")
                response = respond(document)
                response.content_type = "application/json"
                response.headers["Content-Type"] = discovery.AGGREGATED
                response.headers["Vary"] = "Accept"
                return response
            return respond(discovery.api_versions() if path == "/api" else discovery.api_group_list(models))
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            found = discovery.resource_list(models, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            found = discovery.api_group(models, parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            found = discovery.resource_list(models, parts[1], parts[2])
        elif path == "/openapi/v2":
            accept_json(accept)
            found = openapi.openapi_v2(models, self.server_version)
        elif parts[:2] == ["openapi", "v3"]:
            return self._openapi_v3("/".join(parts[2:]), accept)
        else:
            found = None
        if found is None:
            raise status.no_such_resource()
        return respond(found)

    def _openapi_documents(self) -> dict[str, bytes]:
        revision = tuple(sorted((str(k), id(m)) for k, m in ((m.resource, m) for m in self.models())))
        if self._openapi_cache is None or self._openapi_cache[0] != revision:
            by_path: dict[str, list[ResourceModel]] = {}
            for model in self.models():
                by_path.setdefault(openapi.group_version_path(model), []).append(model)
            documents = {
                path: json.dumps(openapi.openapi_v3(models, self.server_version)).encode()
                for path, models in by_path.items()
            }
            self._openapi_cache = (revision, documents)
        return self._openapi_cache[1]

    def _openapi_v3(self, path: str, accept: str) -> aiohttp.web.StreamResponse:
        accept_json(accept)
        documents = self._openapi_documents()
        if not path:
            return respond(openapi.openapi_v3_index(documents))
        if path not in documents:
            raise status.no_such_resource()
        return aiohttp.web.Response(body=documents[path], content_type="application/json")
