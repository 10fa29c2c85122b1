"""The Kubernetes API emulator: kmock's ``KubernetesEmulator`` answering as kube-apiserver does.

Why a subclass of kmock and not a server of its own: tests put kmock reactions in front of the API
(``emulator['patch', resource][:1] << 503``) to inject failures, and read kmock's ``objects``. So every
request still goes through kmock's dispatcher first; when no test reaction takes it, the one fallback
reaction hands it back to this class, which serves it natively (``_native``): discovery, OpenAPI,
Tables, watch streams, writes with the API server's semantics (``_registry``), and Status bodies for
every refusal. kmock's own fallbacks (plain merging, ``octet-stream`` watches, discovery that lists
subresources as resources) are never registered.

What is emulated and what is not is listed in docs and in the package docstring; in short: no
authentication/RBAC, admission webhooks, protobuf or CBOR, conversion webhooks, scale subresource,
ownerReference garbage collection, or Event TTLs; strategic merge patches of built-in kinds are read
as merge patches.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import yaml

from scaleset_testbed.kube import _discovery as discovery
from scaleset_testbed.kube import _openapi as openapi
from scaleset_testbed.kube import _protobuf as protobuf
from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._models import (
    BUILTIN_MODELS,
    CRD_API_VERSION,
    EVENT_MODELS,
    NAMESPACES,
    ResourceModel,
    load_crd_documents,
)
from scaleset_testbed.kube._paths import Target, kmock_action, parse_target, selectors, write_options
from scaleset_testbed.kube._registry import Outcome, Registry
from scaleset_testbed.kube._status import KubeApiError
from scaleset_testbed.kube._store import CommitListener, Store
from scaleset_testbed.kube._tables import table
from scaleset_testbed.kube._watch import serve_watch

__all__ = ["CommitListener", "KubeEmulator", "WriteFault"]

INITIAL_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
_TABLE = re.compile(r"(^|;)\s*as=Table\s*(;|$)")
_JSON_TYPES = ("application/json", "application/*", "*/*")


class _ServeNatively(Exception):
    """Raised by the fallback reaction: no test reaction took the request, so the emulator serves it."""


class WriteFault:
    """Lose the next ``count`` writes (POST, PATCH, PUT, DELETE) whose path matches ``path`` (a regex).

    ``after=False``: the write is not applied and the connection closes without an answer (a request lost
    on the way in). ``after=True``: the write is applied, then the connection closes (the answer is lost,
    the client cannot tell whether it happened). Either way kopf sees a connection error.
    """

    def __init__(self, path: str, *, method: str = "PATCH", count: int = 1, after: bool = False) -> None:
        self.path = re.compile(path)
        self.method = method.upper()
        self.count = count
        self.after = after
        self.hits = 0

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.count and self.method in ("*", method) and bool(self.path.search(path))


def _media_params(part: str) -> tuple[str, dict[str, str]]:
    pieces = [p.strip() for p in part.split(";")]
    params = dict(p.split("=", 1) for p in pieces[1:] if "=" in p)
    return pieces[0].lower(), {k.strip(): v.strip() for k, v in params.items()}


def negotiate(accept: str) -> str:
    """What to answer with: ``Table``, ``PartialObjectMetadata``, ``json`` or ``yaml`` (406 if nothing fits)."""
    if not accept.strip():
        return "json"
    for part in accept.split(","):
        media, params = _media_params(part)
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


class KubeEmulator(kmock.KubernetesEmulator):
    """An in-memory Kubernetes API server for tests and demos (see the module docstring).

    Serves the CRDs it is given (validated, pruned and defaulted by their schemas), CRD objects
    themselves, namespaces, and both kinds of Events. Use it like kmock's emulator (it is one), or
    through :func:`scaleset_testbed.kube.start_kube_emulator`, which also serves it over HTTP.

    All methods are meant to be called from the event loop that serves the emulator; writes are
    applied synchronously and so never interleave.
    """

    def __init__(
        self,
        *,
        crds: Iterable[Mapping[str, Any]] = (),
        crd_paths: Iterable[str | Path] = (),
        namespaces: Iterable[str] = (),
        namespace_auto_provision: bool = False,
        history_limit: int = 10_000,
        request_history: int | None = 100,
        bookmark_interval: float = 60.0,
        server_version: str = discovery.SERVER_VERSION,
        **kmock_options: Any,
    ) -> None:
        """Create the emulator with the given CRDs (as dicts, or read from YAML files/directories).

        ``namespaces``: created at start, besides ``default``, ``kube-system``, ``kube-public`` and
        ``kube-node-lease``. ``namespace_auto_provision``: create a namespace the first time something is
        created in it (kube-apiserver's NamespaceAutoProvision admission plugin); by default a write into a
        missing namespace gets 404, as with the default plugins. ``history_limit``: how many past watch
        events are kept for watches that resume from a resourceVersion (older ones get 410 Gone).
        ``request_history``: how many finished requests kmock keeps for assertions and reaction slices
        (``None``: all of them, kmock's own behaviour; each request costs time in proportion to it).
        ``bookmark_interval``: seconds between BOOKMARK events on watches that allow them.
        """
        self._request_limit = request_history
        self._request_count = 0
        self._in_flight: set[int] = set()
        self._closing = False
        self._bookmark_interval = bookmark_interval
        self._server_version = server_version
        self._openapi_cache: tuple[Any, dict[str, bytes]] | None = None
        # Test hooks: faults that lose writes, and listeners told of every stored change (in commit order).
        self.write_faults: list[WriteFault] = []
        super().__init__(**kmock_options)  # calls __attrs_post_init__ below
        self.store = Store(self._objects, self.resources, history_limit)
        self.registry = Registry(self.store, namespace_auto_provision=namespace_auto_provision)
        for model in BUILTIN_MODELS:
            self.store.register(model)
        for name in (*INITIAL_NAMESPACES, *namespaces):
            if self.store.current(self.store.key(NAMESPACES, None, name)) is None:
                self._system_create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        for crd in [*crds, *load_crd_documents(crd_paths)]:
            self.add_crd(crd)

    def __attrs_post_init__(self) -> None:
        # Not kmock's fallbacks: one catch-all that hands the request back to this class (see ``_serve``).
        self.fallback << self._serve_natively

    @staticmethod
    def _serve_natively(request: kmock.Request) -> None:
        raise _ServeNatively()

    # --- public helpers ------------------------------------------------------------------------

    @property
    def listeners(self) -> list[CommitListener]:
        """Callbacks told of every stored change, in commit order: ``(event type, object copy)``."""
        return self.store.listeners

    @property
    def resource_version(self) -> str:
        """The newest resourceVersion handed out (the server-wide counter)."""
        return str(self.store.last_rv)

    def add_crd(self, crd: Mapping[str, Any]) -> dict[str, Any]:
        """Install a CRD as if created through the API (served at once); returns the stored CRD."""
        return self._system_create({"apiVersion": CRD_API_VERSION, **crd})

    def create_object(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object as a client would (validated, defaulted); raise :class:`KubeApiError` if refused.

        The resource is found from ``apiVersion`` and ``kind``; a namespaced object without
        ``metadata.namespace`` goes to ``default``.
        """
        return copy.deepcopy(self._system_create(body))

    def _system_create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model = self.store.model_for_kind(str(body.get("apiVersion", "")), str(body.get("kind", "")))
        if model is None:
            raise status.no_such_resource()
        namespace = (body.get("metadata") or {}).get("namespace") or "default"
        options = write_options({}, "CreateOptions", user_agent="kube-emulator")
        return self.registry.create(
            model, namespace if model.namespaced else None, copy.deepcopy(dict(body)), options
        ).obj

    def get_object(
        self, resource: str | kmock.resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The stored object (a copy), or ``None``; ``resource`` as in kmock: ``"group/v1/plural"``."""
        model = self.store.model_by_ref(resource)
        current = self.store.current(self.store.key(model, namespace, name))
        return None if current is None else copy.deepcopy(self.store.present(model, current))

    def list_objects(self, resource: str | kmock.resource, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of all stored objects of a resource (in one namespace, or in all)."""
        model = self.store.model_by_ref(resource)
        return [copy.deepcopy(self.store.present(model, obj)) for obj in self.store.select(model, namespace)]

    def events(self, *, namespace: str | None = None, involved_name: str | None = None) -> list[dict[str, Any]]:
        """Kubernetes Events posted so far (``v1`` and ``events.k8s.io/v1``), oldest first.

        ``involved_name`` keeps the events about an object of that name (``involvedObject`` for
        ``v1`` events, ``regarding`` for ``events.k8s.io/v1`` ones).
        """
        found: list[dict[str, Any]] = []
        for model in EVENT_MODELS:
            for event in self.store.select(model, namespace):
                subject = event.get("involvedObject") or event.get("regarding") or {}
                if involved_name is None or subject.get("name") == involved_name:
                    found.append(copy.deepcopy(event))
        return sorted(found, key=lambda event: int(event["metadata"]["resourceVersion"]))

    def close_watches(self) -> None:
        """End all open watch streams (and refuse new ones), so that an HTTP server can stop promptly."""
        self._closing = True
        self.store.close_watches()

    # --- the request pipeline ------------------------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        fault = self._take_write_fault(raw_request.method.upper(), raw_request.path)
        if fault is None:
            return await self._serve(raw_request)
        if fault.after:
            await self._serve(raw_request)
        if raw_request.transport is not None:
            raw_request.transport.close()
        raise asyncio.CancelledError  # aiohttp ends the request without answering

    def _take_write_fault(self, method: str, path: str) -> WriteFault | None:
        if method == "GET":
            return None
        for fault in self.write_faults:
            if fault.matches(method, path):
                fault.hits += 1
                self.write_faults = [f for f in self.write_faults if f.hits < f.count]
                return fault
        return None

    async def _serve(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw.read()
        target = parse_target(raw.path)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        request = kmock.Request(
            id=self._request_count,
            raw_request=raw,
            url=raw.url,
            method=raw.method.upper(),
            params=dict(raw.query),
            headers=dict(raw.headers),
            cookies=dict(raw.cookies),
            body=body,
            text=body.decode("utf-8", "replace"),
            data=data,
            action=kmock_action(raw.method.upper(), target, raw.query),
            resource=target.resource if target else None,
            namespace=target.namespace if target else None,
            name=target.name if target else None,
            subresource=target.subresource if target else None,
        )
        self._request_count += 1
        self._requests.append(request)
        self._in_flight.add(id(request))
        try:
            try:
                return await kmock.RawHandler._handle(self, request)  # test reactions first
            except _ServeNatively:
                return await self._native(raw, target, body)
        except KubeApiError as error:
            return respond(error.status, error.code)
        except Exception as exc:  # a failure of the emulator itself: recorded, answered as the API server would
            if not self._errors:
                raise
            self._errors[-1].append(exc)
            failure = status.internal_error(f"{type(exc).__name__}: {exc}")
            return respond(failure.status, failure.code)
        finally:
            self._in_flight.discard(id(request))
            self._forget_old_requests()

    def _forget_old_requests(self) -> None:
        """Keep the requests in flight and the last ``request_history`` ones (kmock would keep all)."""
        limit = self._request_limit
        if limit is None or len(self._requests) <= 2 * limit + len(self._in_flight) + 8:
            return
        cutoff = len(self._requests) - limit
        self._requests[:] = [r for i, r in enumerate(self._requests) if i >= cutoff or id(r) in self._in_flight]
        for payload in self._payloads:
            if len(payload._requests) > limit:
                del payload._requests[: len(payload._requests) - limit]

    # --- native serving ------------------------------------------------------------------------

    async def _native(
        self, raw: aiohttp.web.BaseRequest, target: Target | None, body: bytes
    ) -> aiohttp.web.StreamResponse:
        method = raw.method.upper()
        if target is None:
            return self._non_resource(raw, method)
        model = self.store.model(target.group, target.version, target.plural)
        if model is None or target.subresource not in (None, *model.subresources):
            raise status.no_such_resource()
        output = negotiate(raw.headers.get("Accept", ""))
        params = raw.query
        if method == "GET" and params.get("watch") in ("true", "1"):
            return await serve_watch(
                self.store,
                model,
                target,
                params,
                raw,
                transform=self._transform(model, output, params),
                closing=self._closing,
                bookmark_interval=self._bookmark_interval,
            )
        if method == "GET":
            return self._render(model, self._read(model, target, params), output, params)
        user_agent = raw.headers.get("User-Agent", "")
        content_type = raw.headers.get("Content-Type", "").split(";")[0].strip().lower()
        outcome: Outcome
        if method == "POST" and not target.name and not target.subresource:
            opts = write_options(params, "CreateOptions", user_agent=user_agent)
            outcome = self.registry.create(model, target.namespace, self._decode(body, content_type), opts)
        elif method == "PUT" and target.name:
            opts = write_options(params, "UpdateOptions", user_agent=user_agent)
            outcome = self.registry.replace(
                model, target.namespace, target.name, target.subresource, self._decode(body, content_type), opts
            )
        elif method == "PATCH" and target.name:
            opts = write_options(params, "PatchOptions", patch_type=content_type, user_agent=user_agent)
            outcome = self.registry.patch(
                model, target.namespace, target.name, target.subresource, content_type, body, opts
            )
        elif method == "DELETE" and target.name and not target.subresource:
            options = self._delete_options(body)
            opts = write_options(self._with_body_options(params, options), "DeleteOptions", user_agent=user_agent)
            outcome = self.registry.delete(model, target.namespace, target.name, options, opts)
        elif method == "DELETE" and not target.name:
            options = self._delete_options(body)
            return self._delete_collection(model, target, self._with_body_options(params, options), output, user_agent)
        else:
            raise status.method_not_allowed()
        return self._render(model, outcome.obj, output, params, code=outcome.code, warnings=outcome.warnings)

    @staticmethod
    def _delete_options(body: bytes) -> dict[str, Any]:
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

    @staticmethod
    def _with_body_options(params: Mapping[str, str], options: Mapping[str, Any]) -> dict[str, str]:
        merged = dict(params)
        dry_run = options.get("dryRun")
        if isinstance(dry_run, list) and dry_run:
            merged.setdefault("dryRun", str(dry_run[0]))
        return merged

    @staticmethod
    def _decode(body: bytes, content_type: str) -> Any:
        if not body.strip():
            raise status.bad_request("the request body is empty")
        if content_type == protobuf.PROTOBUF:
            return protobuf.decode(body)
        if content_type not in ("", "application/json", "application/yaml", "*/*"):
            raise status.unsupported_media_type(["application/json", "application/yaml", protobuf.PROTOBUF])
        try:
            if content_type == "application/yaml":
                return yaml.safe_load(body.decode("utf-8"))
            return json.loads(body)
        except (ValueError, yaml.YAMLError) as exc:
            raise status.bad_request(f"the request body is not valid JSON: {exc}") from exc

    def _delete_collection(
        self, model: ResourceModel, target: Target, params: Mapping[str, str], output: str, user_agent: str
    ) -> aiohttp.web.StreamResponse:
        opts = write_options(params, "DeleteOptions", user_agent=user_agent)
        matches = selectors(params)
        deleted = []
        for obj in list(self.store.select(model, target.namespace)):
            if matches(obj):
                name = obj["metadata"]["name"]
                deleted.append(self.registry.delete(model, obj["metadata"].get("namespace"), name, None, opts).obj)
        listing = {"apiVersion": model.api_version, "kind": model.list_kind, "metadata": {}, "items": deleted}
        return self._render(model, listing, output, params)

    def _read(self, model: ResourceModel, target: Target, params: Mapping[str, str]) -> dict[str, Any]:
        if target.name:
            current = self.store.current(self.store.key(model, target.namespace, target.name))
            if current is None:
                raise status.not_found(model, target.name)
            return self.store.present(model, current)
        if target.subresource:
            raise status.no_such_resource()
        matches = selectors(params)
        items = [obj for obj in self.store.select(model, target.namespace) if matches(obj)]
        list_rv = str(self.store.last_rv)
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
            "items": [self.store.present(model, obj) for obj in items],
        }

    @staticmethod
    def _include_object(params: Mapping[str, str]) -> str:
        include = params.get("includeObject", "") or "Metadata"
        if include not in ("None", "Metadata", "Object"):
            raise status.bad_request(
                f'Unable to convert to Table as requested: unrecognized includeObject value: "{include}"'
            )
        return include

    def _transform(self, model: ResourceModel, output: str, params: Mapping[str, str]) -> Any:
        if output == "Table":
            include = self._include_object(params)
            return lambda obj, headers: table(
                model, [obj], resource_version=self.resource_version, include_object=include, headers=headers
            )
        if output == "PartialObjectMetadata":
            return lambda obj, headers: {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        return None

    def _render(
        self,
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
            rv = str(meta.get("resourceVersion") or self.resource_version)
            list_meta = meta if is_list else None
            payload = table(
                model, objects, resource_version=rv, include_object=self._include_object(params), list_meta=list_meta
            )
        elif output == "PartialObjectMetadata":

            def partial(obj: Mapping[str, Any]) -> dict[str, Any]:
                return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}

            if is_list:
                items = [partial(obj) for obj in payload["items"]]
                payload = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "items": items}
            else:
                payload = partial(payload)
        return respond(payload, code, warnings=warnings, output="yaml" if output == "yaml" else "json")

    # --- non-resource endpoints ----------------------------------------------------------------

    def _non_resource(self, raw: aiohttp.web.BaseRequest, method: str) -> aiohttp.web.StreamResponse:
        path = "/" + raw.path.strip("/")
        if method != "GET":
            raise status.method_not_allowed()
        models = list(self.store.models.values())
        accept = raw.headers.get("Accept", "")
        if path.split("/")[1] in ("healthz", "livez", "readyz"):
            return aiohttp.web.Response(text=discovery.health(path, "verbose" in raw.query), content_type="text/plain")
        if path == "/version":
            return respond(discovery.version_info(self._server_version))
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
            self._accept_json(accept)
            found = openapi.openapi_v2(models, self._server_version)
        elif parts[:2] == ["openapi", "v3"]:
            return self._openapi_v3("/".join(parts[2:]), accept)
        else:
            found = None
        if found is None:
            raise status.no_such_resource()
        return respond(found)

    @staticmethod
    def _accept_json(accept: str) -> None:
        medias = [_media_params(part)[0] for part in accept.split(",") if part.strip()]
        if medias and not any(media in _JSON_TYPES for media in medias):
            raise status.not_acceptable(["application/json"])

    def _openapi_documents(self) -> dict[str, bytes]:
        revision = tuple(sorted((str(k), id(m)) for k, m in self.store.models.items()))
        if self._openapi_cache is None or self._openapi_cache[0] != revision:
            by_path: dict[str, list[ResourceModel]] = {}
            for model in self.store.models.values():
                by_path.setdefault(openapi.group_version_path(model), []).append(model)
            documents = {
                path: json.dumps(openapi.openapi_v3(models, self._server_version)).encode()
                for path, models in by_path.items()
            }
            self._openapi_cache = (revision, documents)
        return self._openapi_cache[1]

    def _openapi_v3(self, path: str, accept: str) -> aiohttp.web.StreamResponse:
        self._accept_json(accept)
        documents = self._openapi_documents()
        if not path:
            return respond(openapi.openapi_v3_index(documents))
        if path not in documents:
            raise status.no_such_resource()
        return aiohttp.web.Response(body=documents[path], content_type="application/json")
