"""The Kubernetes API emulator: kmock's ``KubernetesEmulator`` with an API server's write semantics.

Why a subclass and not kmock as is: kmock merges whatever it is sent into its store. An operator
under test needs the behaviour it will meet in a cluster: resourceVersion and generation that move
the way kopf and the operator's own ``observedGeneration`` logic expect, a status subresource that
keeps spec and status writes apart, 409 on stale writes, 422 with causes for invalid objects,
pruning and defaults from the CRD schema, finalizers that hold a deletion, and watch streams that say
ADDED/MODIFIED/DELETED and can resume from a resourceVersion.

How it plugs into kmock: kmock answers every request by matching it against reactions, and its
Kubernetes behaviour lives in low-priority "fallback" reactions (``_serve_list`` & co.) which read
its object store. This class keeps that design: the reading fallbacks are overridden, and writes,
which kmock applies *before* dispatching, are instead applied inside the write fallbacks. So a test
can still put a kmock reaction in front (``emulator['patch', ...] << 500``) to inject a failure, and
then the write does not happen, as with a real failed request. Objects live in kmock's
``objects`` store (with their history) and the served resources in kmock's ``resources``
(which kmock turns into API discovery).

Not emulated (a real API server does these): authentication/RBAC, admission webhooks, server-side
apply and real strategic-merge semantics (built-in resources take a strategic patch as a merge patch),
the scale subresource, version conversion (served versions share one storage; reads only relabel
``apiVersion``), ownerReference garbage collection, propagationPolicy, namespace termination,
deletecollection, managedFields, dryRun, periodic watch bookmarks, Event TTLs. Namespaces are
created on first use instead of being required (see ``auto_create_namespaces``).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime
import json
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
from kmock import Response  # type: ignore[attr-defined]  # exported, though not in __all__

from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._models import (
    BUILTIN_MODELS,
    CRD_API_VERSION,
    CRD_KIND,
    CRDS,
    EVENT_MODELS,
    NAMESPACES,
    ResourceModel,
    load_crd_documents,
    models_from_crd,
)
from scaleset_testbed.kube._patching import PatchFailed, PatchMalformed, json_patch, merge_patch
from scaleset_testbed.kube._schema import FieldError, Part, SchemaError, forbidden, invalid, required
from scaleset_testbed.kube._schema import validate_object_name as _name_problem
from scaleset_testbed.kube._status import KubeApiError

ObjectKey = tuple[kmock.resource, str | None, str]

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public")
_SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what the API server uses for generateName suffixes
_MERGE_PATCH = "application/merge-patch+json"
_JSON_PATCH = "application/json-patch+json"
_STRATEGIC_PATCH = "application/strategic-merge-patch+json"
# kmock 0.8 cannot parse URLs of the namespaces resource itself (it reads "namespaces" as the start
# of a namespaced path), so those are recognised here before kmock's parser sees them.
_NAMESPACE_URL = re.compile(r"^/api/v1/namespaces(?:/(?P<name>[^/]+)(?:/(?P<sub>status|finalize))?)?/?$")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _split_selector(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def _parse_label_term(term: str) -> tuple[str, str, frozenset[str]]:
    if match := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", term):
        return match[1], match[2], frozenset(v.strip() for v in match[3].split(","))
    if match := re.fullmatch(r"(\S+?)\s*(==|!=|=)\s*(\S*)", term):
        return match[1], "notin" if match[2] == "!=" else "in", frozenset({match[3]})
    if term.startswith("!"):
        return term[1:].strip(), "absent", frozenset()
    return term, "present", frozenset()


def label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """Compile a label selector (``a=b,c!=d,e in (f,g),!h,i``) into a predicate over labels."""
    terms = [_parse_label_term(term) for term in _split_selector(text)]

    def matches(labels: Mapping[str, str]) -> bool:
        for key, op, values in terms:
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and labels.get(key) in values:
                return False
            if op == "absent" and key in labels:
                return False
            if op == "present" and key not in labels:
                return False
        return True

    return matches


def field_selector(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a field selector (``metadata.name=x,involvedObject.kind!=Pod``) into a predicate."""
    terms: list[tuple[list[str], bool, str]] = []
    for term in _split_selector(text):
        match = re.fullmatch(r"([^=!]+?)\s*(==|!=|=)\s*(.*)", term)
        if match is None:
            raise status.bad_request(f"invalid field selector: {term!r}")
        terms.append((match[1].split("."), match[2] != "!=", match[3]))

    def matches(obj: Mapping[str, Any]) -> bool:
        for path, equal, expected in terms:
            node: Any = obj
            for part in path:
                node = node.get(part) if isinstance(node, Mapping) else None
            if (("" if node is None else str(node)) == expected) != equal:
                return False
        return True

    return matches


class _Watcher:
    """One open watch stream: what it wants to see and where to deliver it."""

    def __init__(
        self, model: ResourceModel, namespace: str | None, matches: Callable[[Mapping[str, Any]], bool]
    ) -> None:
        self.model = model
        self.namespace = namespace
        self.matches = matches
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def wants(self, storage: kmock.resource, obj: Mapping[str, Any]) -> bool:
        if storage != self.model.storage_resource:
            return False
        if self.namespace is not None and obj.get("metadata", {}).get("namespace") != self.namespace:
            return False
        return self.matches(obj)


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


CommitListener = Callable[[str, dict[str, Any]], None]


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
        auto_create_namespaces: bool = True,
        history_limit: int = 10_000,
        **kmock_options: Any,
    ) -> None:
        """Create the emulator with the given CRDs (as dicts, or read from YAML files/directories).

        ``auto_create_namespaces``: create a namespace the first time an object is created in it
        (a real API server answers 404 instead). ``history_limit``: how many past watch events are
        kept for watches that resume from a resourceVersion; older ones get 410 Gone.
        """
        self._auto_create_namespaces = auto_create_namespaces
        self._models: dict[kmock.resource, ResourceModel] = {}
        self._last_rv = 0
        self._history: collections.deque[tuple[int, kmock.resource, dict[str, Any]]] = collections.deque(
            maxlen=max(1, history_limit)
        )
        self._forgotten_rv = 0  # the newest resourceVersion that fell out of the history
        self._watchers: set[_Watcher] = set()
        self._closing = False
        # Test hooks: faults that lose writes, and listeners told of every stored change (in commit order).
        self.write_faults: list[WriteFault] = []
        self.listeners: list[CommitListener] = []
        super().__init__(**kmock_options)  # calls __attrs_post_init__ below
        for crd in [*crds, *load_crd_documents(crd_paths)]:
            self.add_crd(crd)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        # kmock routes no K8s action for PUT; replacing objects is served here.
        self.fallback[kmock.method.PUT] << self._serve_replace
        for model in BUILTIN_MODELS:
            self._register(model)
        for name in INITIAL_NAMESPACES:
            self._create(NAMESPACES, None, {"metadata": {"name": name}})

    # --- public helpers ------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The newest resourceVersion handed out (the server-wide counter)."""
        return str(self._last_rv)

    def add_crd(self, crd: Mapping[str, Any]) -> dict[str, Any]:
        """Install a CRD as if created through the API (served at once); returns the stored CRD."""
        body = dict(crd)
        body.setdefault("apiVersion", CRD_API_VERSION)
        return self._create(CRDS, None, body)

    def create_object(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object as a client would (validated, defaulted); raise :class:`KubeApiError` if refused.

        The resource is found from ``apiVersion`` and ``kind``; a namespaced object without
        ``metadata.namespace`` goes to ``default``.
        """
        model = self._model_for_kind(str(body.get("apiVersion", "")), str(body.get("kind", "")))
        namespace = (body.get("metadata") or {}).get("namespace") or "default"
        return copy.deepcopy(self._create(model, namespace if model.namespaced else None, copy.deepcopy(body)))

    def get_object(
        self, resource: str | kmock.resource, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The stored object (a copy), or ``None``; ``resource`` as in kmock: ``"group/v1/plural"``."""
        model = self._model_by_ref(resource)
        current = self._current(self._key(model, namespace, name))
        return None if current is None else copy.deepcopy(self._present(model, current))

    def list_objects(self, resource: str | kmock.resource, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of all stored objects of a resource (in one namespace, or in all)."""
        model = self._model_by_ref(resource)
        return [copy.deepcopy(self._present(model, obj)) for obj in self._select(model, namespace)]

    def events(self, *, namespace: str | None = None, involved_name: str | None = None) -> list[dict[str, Any]]:
        """Kubernetes Events posted so far (``v1`` and ``events.k8s.io/v1``), oldest first.

        ``involved_name`` keeps the events about an object of that name (``involvedObject`` for
        ``v1`` events, ``regarding`` for ``events.k8s.io/v1`` ones).
        """
        found: list[dict[str, Any]] = []
        for model in EVENT_MODELS:
            for event in self._select(model, namespace):
                subject = event.get("involvedObject") or event.get("regarding") or {}
                if involved_name is None or subject.get("name") == involved_name:
                    found.append(copy.deepcopy(event))
        return sorted(found, key=lambda event: int(event["metadata"]["resourceVersion"]))

    def close_watches(self) -> None:
        """End all open watch streams (and refuse new ones), so that an HTTP server can stop promptly."""
        self._closing = True
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)

    # --- routing -------------------------------------------------------------------------------

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

    async def _serve(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        match = _NAMESPACE_URL.match(raw_request.path)
        if match is None:
            return await super().__call__(raw_request)
        body = await raw_request.read()
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        method = raw_request.method.upper()
        name = match["name"]
        watching = raw_request.query.get("watch") in ("true", "1")
        action = (
            kmock.action.WATCH
            if method == "GET" and watching
            else (kmock.action.FETCH if name else kmock.action.LIST)
            if method == "GET"
            else kmock.action.CREATE
            if method == "POST" and not name
            else kmock.action.UPDATE
            if method == "PATCH" and name
            else kmock.action.DELETE
            if method == "DELETE" and name
            else None
        )
        request = kmock.Request(
            id=len(self._requests),
            raw_request=raw_request,
            url=raw_request.url,
            method=method,
            params=dict(raw_request.query),
            headers=dict(raw_request.headers),
            cookies=dict(raw_request.cookies),
            body=body,
            text=body.decode("utf-8", "replace"),
            data=data,
            action=action,
            resource=NAMESPACES.resource,
            namespace=None,
            name=name,
            subresource=match["sub"],
        )
        self._requests.append(request)
        try:
            return await self._handle(request)
        except Exception as exc:  # the same treatment kmock gives to failures of its own requests
            if not self._errors:
                raise
            self._errors[-1].append(exc)
            return await self._render_error(exc)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # KubernetesEmulator._handle applies writes to the store before dispatching, with plain
        # merge semantics. Here the write fallbacks apply them, so go straight to the dispatcher.
        return await kmock.RawHandler._handle(self, request)

    # --- reading fallbacks ---------------------------------------------------------------------

    async def _serve_version(self, request: kmock.Request) -> kmock.Payload:
        # kmock labels the core group's resource list "/v1"; clients expect "v1".
        listing = await super()._serve_version(request)
        if isinstance(listing, dict) and str(listing.get("groupVersion", "")).startswith("/"):
            listing["groupVersion"] = listing["groupVersion"][1:]
        return listing

    async def _serve_fetch(self, request: kmock.Request) -> kmock.Payload:
        return self._answer(lambda: self._fetch(request))

    async def _serve_list(self, request: kmock.Request) -> kmock.Payload:
        return self._answer(lambda: self._list(request))

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[kmock.Payload]:
        model = self._model(request)
        if model is None or request.subresource:
            error = status.no_such_resource()
            raise kmock.KubernetesError(
                status=error.code, reason=error.reason, message=error.message, details={"kind": str(request.resource)}
            )
        yield b""  # send the headers: the stream is open even if nothing happens for a while
        if self._closing:
            return
        # Snapshot and subscribe without yielding in between, so no write can fall in the gap.
        namespace = request.namespace if model.namespaced else None
        matches = self._selectors(request)
        watcher = _Watcher(model, namespace, matches)
        since = request.params.get("resourceVersion", "")
        initial = request.params.get("sendInitialEvents") == "true"
        backlog: list[dict[str, Any]] = []
        if initial or since in ("", "0"):
            for obj in self._select(model, namespace):
                if matches(obj):
                    backlog.append({"type": "ADDED", "object": self._present(model, obj)})
            if initial and request.params.get("allowWatchBookmarks") == "true":
                backlog.append(self._bookmark(model, {"k8s.io/initial-events-end": "true"}))
        elif not since.isdigit() or int(since) < self._forgotten_rv:
            error = status.expired(since)
            yield {"type": "ERROR", "object": error.status}
            return
        else:
            for rv, storage, event in self._history:
                if rv > int(since) and watcher.wants(storage, event["object"]):
                    backlog.append({"type": event["type"], "object": self._present(model, event["object"])})
        self._watchers.add(watcher)
        try:
            for event in backlog:
                yield event
            timeout = request.params.get("timeoutSeconds", "")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + float(timeout) if timeout.isdigit() and int(timeout) > 0 else None
            while True:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                try:
                    event_or_end = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    return
                if event_or_end is None:
                    return
                yield event_or_end
        finally:
            self._watchers.discard(watcher)

    # --- writing fallbacks ---------------------------------------------------------------------

    async def _serve_create(self, request: kmock.Request) -> kmock.Payload:
        def create() -> dict[str, Any]:
            model = self._require_model(request)
            if request.subresource:
                raise status.method_not_allowed()
            return self._present(model, self._create(model, request.namespace, self._body(request)))

        return self._answer(create, code=201)

    async def _serve_update(self, request: kmock.Request) -> kmock.Payload:
        return self._answer(lambda: self._patch(request))

    async def _serve_replace(self, request: kmock.Request) -> kmock.Payload:
        return self._answer(lambda: self._replace(request))

    async def _serve_delete(self, request: kmock.Request) -> kmock.Payload:
        return self._answer(lambda: self._delete(request))

    # --- request helpers -----------------------------------------------------------------------

    @staticmethod
    def _answer(fn: Callable[[], Any], code: int = 200) -> kmock.Payload:
        # Always answer with an explicit status: kmock keeps the status of a reaction's last answer.
        try:
            return Response(status=code, payload=fn())
        except KubeApiError as error:
            return Response(status=error.code, payload=error.status)

    def _model(self, request: kmock.Request) -> ResourceModel | None:
        resource = request.resource
        if resource is None or not resource.plural:
            return None
        key = kmock.resource(resource.group, resource.version, resource.plural)
        if key in self._models:
            return self._models[key]
        if key in self.resources:  # declared through kmock's API only: generic semantics
            info = self.resources[key]
            return ResourceModel(
                group=resource.group or "",
                version=resource.version or "",
                plural=resource.plural,
                kind=info.kind or resource.plural.capitalize(),
                singular=info.singular or resource.plural,
                namespaced=info.namespaced if info.namespaced is not None else True,
                subresources=frozenset(info.subresources),
            )
        return None

    def _require_model(self, request: kmock.Request) -> ResourceModel:
        model = self._model(request)
        if model is None or request.subresource not in (None, *model.subresources):
            raise status.no_such_resource()
        return model

    def _model_by_ref(self, resource: str | kmock.resource) -> ResourceModel:
        parsed = kmock.resource(resource)
        model = self._models.get(kmock.resource(parsed.group, parsed.version, parsed.plural))
        if model is None:
            raise KeyError(f"The emulator does not serve {resource!r}")
        return model

    def _model_for_kind(self, api_version: str, kind: str) -> ResourceModel:
        for model in self._models.values():
            if model.api_version == api_version and model.kind == kind:
                return model
        raise status.no_such_resource()

    @staticmethod
    def _body(request: kmock.Request) -> Any:
        if not request.body:
            raise status.bad_request("the request body is empty")
        try:
            return json.loads(request.body)
        except ValueError as exc:
            raise status.bad_request(f"the request body is not JSON: {exc}") from exc

    def _selectors(self, request: kmock.Request) -> Callable[[Mapping[str, Any]], bool]:
        labels = label_selector(request.params.get("labelSelector", ""))
        selector = request.params.get("fieldSelector", "")
        if request.name:  # a watch on one object's URL
            selector = f"{selector},metadata.name={request.name}" if selector else f"metadata.name={request.name}"
        fields = field_selector(selector)
        return lambda obj: labels(obj.get("metadata", {}).get("labels") or {}) and fields(obj)

    def _bookmark(self, model: ResourceModel, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"resourceVersion": str(self._last_rv)}
        if annotations:
            metadata["annotations"] = dict(annotations)
        return {
            "type": "BOOKMARK",
            "object": {"apiVersion": model.api_version, "kind": model.kind, "metadata": metadata},
        }

    # --- the store -----------------------------------------------------------------------------

    def _register(self, model: ResourceModel) -> None:
        self._models[model.resource] = model
        self.resources[model.resource] = model.resource_info()

    def _unregister(self, group: str, plural: str) -> None:
        for resource, model in list(self._models.items()):
            if model.group == group and model.plural == plural:
                del self._models[resource]
                del self.resources[resource]

    @staticmethod
    def _key(model: ResourceModel, namespace: str | None, name: str) -> ObjectKey:
        return (model.storage_resource, namespace if model.namespaced else None, name)

    def _current(self, key: ObjectKey) -> dict[str, Any] | None:
        if key not in self._objects:
            return None
        stored = self._objects[key]
        return None if stored.deleted else stored.last.raw

    def _select(self, model: ResourceModel, namespace: str | None) -> list[dict[str, Any]]:
        found = []
        for (storage, ns, _), stored in self._objects.items():
            wanted_namespace = namespace is None or not model.namespaced or ns == namespace
            if storage == model.storage_resource and not stored.deleted and wanted_namespace:
                found.append(stored.last.raw)
        return sorted(found, key=lambda obj: (obj["metadata"].get("namespace") or "", obj["metadata"]["name"]))

    @staticmethod
    def _present(model: ResourceModel, obj: dict[str, Any]) -> dict[str, Any]:
        # All served versions share one storage; a read through another version only relabels it.
        if obj.get("apiVersion") == model.api_version:
            return obj
        return {**obj, "apiVersion": model.api_version}

    def _commit(self, model: ResourceModel, key: ObjectKey, obj: dict[str, Any], event: str) -> dict[str, Any]:
        """Store a new version under a fresh resourceVersion and tell the watchers."""
        self._last_rv += 1
        obj["metadata"]["resourceVersion"] = str(self._last_rv)
        if key in self._objects:
            self._objects[key].history.append(obj)
        else:
            self._objects[key] = obj
        if event == "DELETED":
            self._objects[key].delete()
        if len(self._history) == self._history.maxlen:
            self._forgotten_rv = self._history[0][0]
        self._history.append((self._last_rv, model.storage_resource, {"type": event, "object": obj}))
        for watcher in self._watchers:
            if watcher.wants(model.storage_resource, obj):
                watcher.queue.put_nowait({"type": event, "object": self._present(watcher.model, obj)})
        for listener in self.listeners:
            listener(event, copy.deepcopy(self._present(model, obj)))
        return obj

    # --- reads ---------------------------------------------------------------------------------

    def _fetch(self, request: kmock.Request) -> dict[str, Any]:
        model = self._require_model(request)
        if request.name is None:
            raise status.no_such_resource()
        current = self._current(self._key(model, request.namespace, request.name))
        if current is None:
            raise status.not_found(model, request.name)
        return self._present(model, current)

    def _list(self, request: kmock.Request) -> dict[str, Any]:
        model = self._require_model(request)
        if request.subresource:
            raise status.no_such_resource()
        matches = self._selectors(request)
        items = [obj for obj in self._select(model, request.namespace) if matches(obj)]
        list_rv = str(self._last_rv)
        token = request.params.get("continue", "")
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
        limit = request.params.get("limit", "")
        if limit.isdigit() and 0 < int(limit) < len(items):
            items = items[: int(limit)]
            last = items[-1]["metadata"]
            position = [list_rv, last.get("namespace") or "", last["name"]]
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
        return {
            "apiVersion": model.api_version,
            "kind": f"{model.kind}List",
            "metadata": metadata,
            "items": [self._present(model, obj) for obj in items],
        }

    # --- writes --------------------------------------------------------------------------------

    def _create(self, model: ResourceModel, url_namespace: str | None, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise status.bad_request("the object must be a JSON object with an object in metadata")
        obj = copy.deepcopy(body)
        self._check_type_meta(model, obj)
        meta = obj.setdefault("metadata", {})
        if model.namespaced:
            if url_namespace and meta.get("namespace") and meta["namespace"] != url_namespace:
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = url_namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = str(meta["generateName"]) + "".join(random.choices(_NAME_ALPHABET, k=5))
        name = str(meta.get("name") or "")
        if not name:
            raise status.invalid(model, "", [required("metadata.name", "name or generateName is required")])
        problem = _name_problem(name, label=model is NAMESPACES)
        if problem:
            raise status.invalid(model, name, [invalid("metadata.name", name, problem)])
        key = self._key(model, meta.get("namespace"), name)
        if self._current(key) is not None:
            raise status.already_exists(model, name)
        for field in (*_SYSTEM_METADATA, "resourceVersion", "managedFields"):
            meta.pop(field, None)
        if "status" in model.subresources:
            obj.pop("status", None)  # status is only written through its subresource
        if model.schema is not None:
            errors = model.schema.admit(obj, None, "main" if "status" in model.subresources else "all")
            if errors:
                raise status.invalid(model, name, errors)
        crd_models = self._crd_models(obj, name) if model is CRDS else []
        if model is NAMESPACES:
            obj["status"] = {"phase": "Active"}
        if model is CRDS:
            obj["status"] = self._crd_status(obj)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if model.tracks_generation:
            meta["generation"] = 1
        if model.namespaced and self._auto_create_namespaces:
            self._ensure_namespace(meta["namespace"])
        head = {"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), "metadata": obj.pop("metadata")}
        stored = self._commit(model, key, {**head, **obj}, "ADDED")
        for crd_model in crd_models:
            self._register(crd_model)
        return stored

    def _patch(self, request: kmock.Request) -> dict[str, Any]:
        model = self._require_model(request)
        current, name = self._existing(model, request)
        content_type = _header(request.headers, "content-type").split(";")[0].strip().lower()
        accepted = [_JSON_PATCH, _MERGE_PATCH]
        if model.schema is None and not model.requires_resource_version_on_put:
            accepted.append(_STRATEGIC_PATCH)  # built-in resources; treated as a merge patch here
        if content_type not in accepted:
            raise status.unsupported_media_type(content_type, accepted)
        patch = self._body(request)
        try:
            if content_type == _JSON_PATCH:
                candidate = json_patch(current, patch)
            else:
                if not isinstance(patch, dict):
                    raise PatchMalformed("a merge patch must be a JSON object")
                candidate = merge_patch(copy.deepcopy(current), patch)
        except PatchMalformed as exc:
            raise status.bad_request(str(exc)) from exc
        except PatchFailed as exc:
            raise status.patch_not_applicable(str(exc)) from exc
        return self._present(model, self._update(model, name, current, candidate, request.subresource))

    def _replace(self, request: kmock.Request) -> dict[str, Any]:
        model = self._require_model(request)
        if request.name is None:
            raise status.method_not_allowed()
        current, name = self._existing(model, request)
        body = self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise status.bad_request("the object must be a JSON object with an object in metadata")
        body_name = body.get("metadata", {}).get("name")
        if body_name != name:
            raise status.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        if model.requires_resource_version_on_put and not body["metadata"].get("resourceVersion"):
            raise status.invalid(
                model, name, [invalid("metadata.resourceVersion", 0, "must be specified for an update")]
            )
        self._check_type_meta(model, body)
        return self._present(model, self._update(model, name, current, body, request.subresource))

    def _update(
        self, model: ResourceModel, name: str, current: dict[str, Any], candidate: Any, subresource: str | None
    ) -> dict[str, Any]:
        """The common part of PATCH and PUT: concurrency, status isolation, admission, bookkeeping."""
        if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata"), dict):
            raise status.bad_request("the patched object must be a JSON object with an object in metadata")
        meta, old_meta = candidate["metadata"], current["metadata"]
        rv = meta.get("resourceVersion")
        if rv not in (None, "") and str(rv) != old_meta["resourceVersion"]:
            raise status.conflict(model, name)
        if meta.get("uid") not in (None, "", old_meta.get("uid")):
            raise status.conflict(
                model,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old_meta.get('uid')}",
            )
        has_status = "status" in model.subresources
        if subresource == "status":
            new = copy.deepcopy(current)  # only .status may change through the subresource
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = candidate
            if has_status:  # .status may not change through the main endpoint
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                else:
                    new.pop("status", None)
            new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
            for field in (*_SYSTEM_METADATA, "name", "namespace"):
                if field in old_meta:
                    meta[field] = copy.deepcopy(old_meta[field])
                else:
                    meta.pop(field, None)
            meta.pop("managedFields", None)
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        errors: list[FieldError] = []
        if old_meta.get("deletionTimestamp"):
            added = [f for f in new["metadata"].get("finalizers") or () if f not in old_meta.get("finalizers") or ()]
            if added:
                quoted = ", ".join(json.dumps(f) for f in added)
                why = (
                    f"no new finalizers can be added if the object is being deleted, found new finalizers "
                    f"[]string{{{quoted}}}"
                )
                errors.append(forbidden("metadata.finalizers", why))
        if model.schema is not None:
            part: Part = "status" if subresource == "status" else ("main" if has_status else "all")
            errors.extend(model.schema.admit(new, current, part))
        if errors:
            raise status.invalid(model, name, errors)
        crd_models = self._crd_models(new, name) if model is CRDS and subresource is None else None
        if new == current:
            return current  # a write that changes nothing is not a write: no new resourceVersion, no event
        if model.tracks_generation and self._spec_of(model, new) != self._spec_of(model, current):
            new["metadata"]["generation"] = int(old_meta.get("generation") or 0) + 1
        key = self._key(model, old_meta.get("namespace"), name)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._forget_crd(model, new)
            return self._commit(model, key, new, "DELETED")  # the last finalizer is gone
        stored = self._commit(model, key, new, "MODIFIED")
        if crd_models is not None:
            self._unregister(str(current["spec"]["group"]), str(current["spec"]["names"]["plural"]))
            for crd_model in crd_models:
                self._register(crd_model)
        return stored

    def _delete(self, request: kmock.Request) -> dict[str, Any]:
        model = self._require_model(request)
        if request.subresource or request.name is None:
            raise status.method_not_allowed()
        current, name = self._existing(model, request)
        meta = current["metadata"]
        options = self._body(request) if request.body.strip() else {}
        preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
        for field, label in (("resourceVersion", "ResourceVersion"), ("uid", "UID")):
            expected = preconditions.get(field)
            if expected and expected != meta.get(field):
                raise status.conflict(
                    model,
                    name,
                    f"Precondition failed: {label} in precondition: {expected}, "
                    f"{label} in object meta: {meta.get(field)}",
                )
        key = self._key(model, meta.get("namespace"), name)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return self._present(model, current)  # already being deleted: nothing changes
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = _now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if model.tracks_generation:
                new["metadata"]["generation"] = int(meta.get("generation") or 0) + 1
            return self._present(model, self._commit(model, key, new, "MODIFIED"))
        self._forget_crd(model, current)
        return self._present(model, self._commit(model, key, copy.deepcopy(current), "DELETED"))

    # --- write helpers -------------------------------------------------------------------------

    def _existing(self, model: ResourceModel, request: kmock.Request) -> tuple[dict[str, Any], str]:
        if request.name is None:
            raise status.method_not_allowed()
        current = self._current(self._key(model, request.namespace, request.name))
        if current is None:
            raise status.not_found(model, request.name)
        return current, request.name

    @staticmethod
    def _check_type_meta(model: ResourceModel, obj: dict[str, Any]) -> None:
        # Clients may leave apiVersion/kind out (kopf does for Events); if given, they must fit the URL.
        api_version, kind = obj.setdefault("apiVersion", model.api_version), obj.setdefault("kind", model.kind)
        if api_version != model.api_version or kind != model.kind:
            raise status.bad_request(
                f"the API version/kind in the data ({api_version}, {kind}) does not match "
                f"the expected ones ({model.api_version}, {model.kind})"
            )
        obj["apiVersion"] = model.storage_api_version

    @staticmethod
    def _spec_of(model: ResourceModel, obj: Mapping[str, Any]) -> dict[str, Any]:
        ignored = {"metadata", "apiVersion", "kind"} | ({"status"} if "status" in model.subresources else set())
        return {key: value for key, value in obj.items() if key not in ignored}

    def _ensure_namespace(self, namespace: str) -> None:
        if self._current(self._key(NAMESPACES, None, namespace)) is None:
            self._create(NAMESPACES, None, {"metadata": {"name": namespace}})

    @staticmethod
    def _crd_models(crd: Mapping[str, Any], name: str) -> list[ResourceModel]:
        try:
            return models_from_crd(crd)
        except (SchemaError, ValueError) as exc:
            raise status.invalid(CRDS, name, [invalid("spec", "object", str(exc))]) from exc

    @staticmethod
    def _crd_status(crd: Mapping[str, Any]) -> dict[str, Any]:
        spec = crd.get("spec") or {}
        now = _now()
        conditions = [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            },
        ]
        stored = [v.get("name") for v in spec.get("versions") or () if isinstance(v, Mapping) and v.get("storage")]
        return {
            "acceptedNames": copy.deepcopy(spec.get("names") or {}),
            "conditions": conditions,
            "storedVersions": stored,
        }

    def _forget_crd(self, model: ResourceModel, crd: Mapping[str, Any]) -> None:
        if model is CRDS and crd.get("kind") == CRD_KIND:
            spec = crd.get("spec") or {}
            self._unregister(str(spec.get("group")), str((spec.get("names") or {}).get("plural")))
