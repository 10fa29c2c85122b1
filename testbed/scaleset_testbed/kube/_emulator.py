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
import copy
import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock

from scaleset_testbed.kube import _reads as reads
from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._discovery import SERVER_VERSION
from scaleset_testbed.kube._http import Endpoints, decode_body, delete_options, negotiate, respond, with_body_options
from scaleset_testbed.kube._lifecycle import Outcome
from scaleset_testbed.kube._models import (
    BUILTIN_MODELS,
    CRD_API_VERSION,
    EVENT_MODELS,
    NAMESPACES,
    ResourceModel,
    load_crd_documents,
)
from scaleset_testbed.kube._paths import Target, kmock_action, parse_target, selectors, write_options
from scaleset_testbed.kube._registry import Registry
from scaleset_testbed.kube._status import KubeApiError
from scaleset_testbed.kube._store import CommitListener, Store
from scaleset_testbed.kube._watch import serve_watch

__all__ = ["CommitListener", "KubeEmulator", "WriteFault"]

INITIAL_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
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
        server_version: str = SERVER_VERSION,
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
        self._native_done: set[kmock.Request] = set()  # served by the emulator itself, answered
        self._closing = False
        self._bookmark_interval = bookmark_interval
        self._server_version = server_version
        # Test hooks: faults that lose writes, and listeners told of every stored change (in commit order).
        self.write_faults: list[WriteFault] = []
        super().__init__(**kmock_options)  # calls __attrs_post_init__ below
        self.store = Store(self._objects, self.resources, history_limit)
        self.registry = Registry(self.store, namespace_auto_provision=namespace_auto_provision)
        self.endpoints = Endpoints(lambda: list(self.store.models.values()), server_version)
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
        native = False
        try:
            try:
                return await kmock.RawHandler._handle(self, request)  # test reactions first
            except _ServeNatively:
                native = True
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
            if native:
                self._native_done.add(request)
                self._forget_old_requests()

    def _forget_old_requests(self) -> None:
        """Forget requests the emulator served itself, but for the last ``request_history`` ones.

        Requests a test reaction took are kept (there are few, and reaction slices such as ``[:1]``
        count them), and so are those still in flight (kmock matches a request by finding it in the
        history). kmock would keep everything, making each request slower than the one before.
        """
        limit = self._request_limit
        if limit is None or len(self._native_done) <= 2 * limit + 8:
            return
        recent = set(self._requests[-limit:]) if limit else set()
        forgotten = self._native_done - recent
        self._requests[:] = [r for r in self._requests if r not in forgotten]
        self._native_done -= forgotten
        for payload in self._payloads:
            if payload._requests and any(r in forgotten for r in payload._requests):
                payload._requests[:] = [r for r in payload._requests if r not in forgotten]

    # --- native serving ------------------------------------------------------------------------

    async def _native(
        self, raw: aiohttp.web.BaseRequest, target: Target | None, body: bytes
    ) -> aiohttp.web.StreamResponse:
        method = raw.method.upper()
        if target is None:
            return self.endpoints.serve(raw)
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
                transform=reads.transform(self.store, model, output, params),
                closing=self._closing,
                bookmark_interval=self._bookmark_interval,
            )
        if method == "GET":
            return reads.render(self.store, model, reads.read(self.store, model, target, params), output, params)
        user_agent = raw.headers.get("User-Agent", "")
        content_type = raw.headers.get("Content-Type", "").split(";")[0].strip().lower()
        outcome: Outcome
        if method == "POST" and not target.name and not target.subresource:
            opts = write_options(params, "CreateOptions", user_agent=user_agent)
            obj, duplicates = decode_body(body, content_type)
            opts = dataclasses.replace(opts, duplicates=tuple(duplicates))
            outcome = self.registry.create(model, target.namespace, obj, opts)
        elif method == "PUT" and target.name:
            obj, duplicates = decode_body(body, content_type)
            opts = write_options(params, "UpdateOptions", user_agent=user_agent)
            opts = dataclasses.replace(opts, duplicates=tuple(duplicates))
            outcome = self.registry.replace(model, target.namespace, target.name, target.subresource, obj, opts)
        elif method == "PATCH" and target.name:
            opts = write_options(params, "PatchOptions", patch_type=content_type, user_agent=user_agent)
            outcome = self.registry.patch(
                model, target.namespace, target.name, target.subresource, content_type, body, opts
            )
        elif method == "DELETE" and target.name and not target.subresource:
            options = delete_options(body)
            opts = write_options(with_body_options(params, options), "DeleteOptions", user_agent=user_agent)
            outcome = self.registry.delete(model, target.namespace, target.name, options, opts)
        elif method == "DELETE" and not target.name:
            options = delete_options(body)
            return self._delete_collection(model, target, with_body_options(params, options), output, user_agent)
        else:
            raise status.method_not_allowed()
        return reads.render(
            self.store, model, outcome.obj, output, params, code=outcome.code, warnings=outcome.warnings
        )

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
        return reads.render(self.store, model, listing, output, params)
