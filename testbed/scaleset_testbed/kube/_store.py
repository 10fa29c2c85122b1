"""The emulator's storage: objects under one resourceVersion counter, the served models, and watch fan-out.

Why a layer of its own: the API server's write semantics (``_registry``), its HTTP surface
(``_emulator``) and its watch streams (``_watch``) all need the same few facts: which resources are
served, what is stored now, which resourceVersion comes next, which recent changes a resuming watch
may replay. Objects live in kmock's ``objects`` array (so kmock's assertions keep working), one
version each: the API server keeps no history either, and a long run must not grow without bound.
"""

from __future__ import annotations

import asyncio
import collections
import copy
from collections.abc import Callable, Mapping
from typing import Any

import kmock

from scaleset_testbed.kube._models import ResourceModel

ObjectKey = tuple[kmock.resource, str | None, str]
CommitListener = Callable[[str, dict[str, Any]], None]


class Watcher:
    """One open watch stream: what it wants to see and where to deliver it (``None`` ends the stream)."""

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


class Store:
    """Stored objects, served models, the resourceVersion counter and the event history for watches."""

    def __init__(self, objects: Any, resources: Any, history_limit: int) -> None:
        self.objects = objects  # kmock's ObjectsArray of the emulator
        self.resources = resources  # kmock's ResourcesArray (kept in step with the models)
        self.models: dict[kmock.resource, ResourceModel] = {}
        self.last_rv = 0
        self.history: collections.deque[tuple[int, kmock.resource, dict[str, Any]]] = collections.deque(
            maxlen=max(1, history_limit)
        )
        self.forgotten_rv = 0  # the newest resourceVersion that fell out of the history
        self.watchers: set[Watcher] = set()
        self.listeners: list[CommitListener] = []

    # --- models ----------------------------------------------------------------------------------

    def register(self, model: ResourceModel) -> None:
        self.models[model.resource] = model
        self.resources[model.resource] = model.resource_info()

    def unregister(self, group: str, plural: str) -> None:
        for resource, model in list(self.models.items()):
            if model.group == group and model.plural == plural:
                del self.models[resource]
                del self.resources[resource]

    def model(self, group: str, version: str, plural: str) -> ResourceModel | None:
        return self.models.get(kmock.resource(group, version, plural))

    def model_by_ref(self, resource: str | kmock.resource) -> ResourceModel:
        parsed = kmock.resource(resource)
        model = self.models.get(kmock.resource(parsed.group, parsed.version, parsed.plural))
        if model is None:
            raise KeyError(f"The emulator does not serve {resource!r}")
        return model

    def model_for_kind(self, api_version: str, kind: str) -> ResourceModel | None:
        for model in self.models.values():
            if model.api_version == api_version and model.kind == kind:
                return model
        return None

    # --- objects ---------------------------------------------------------------------------------

    @staticmethod
    def key(model: ResourceModel, namespace: str | None, name: str) -> ObjectKey:
        return (model.storage_resource, namespace if model.namespaced else None, name)

    def current(self, key: ObjectKey) -> dict[str, Any] | None:
        if key not in self.objects:
            return None
        stored = self.objects[key]
        return None if stored.deleted else stored.last.raw

    def select(self, model: ResourceModel, namespace: str | None) -> list[dict[str, Any]]:
        found = []
        for (storage, ns, _), stored in self.objects.items():
            wanted_namespace = namespace is None or not model.namespaced or ns == namespace
            if storage == model.storage_resource and not stored.deleted and wanted_namespace:
                found.append(stored.last.raw)
        return sorted(found, key=lambda obj: (obj["metadata"].get("namespace") or "", obj["metadata"]["name"]))

    def count_in_namespace(self, namespace: str) -> int:
        return sum(1 for (_, ns, _), stored in self.objects.items() if ns == namespace and not stored.deleted)

    @staticmethod
    def present(model: ResourceModel, obj: dict[str, Any]) -> dict[str, Any]:
        """An object as read through ``model``'s version (all served versions share one storage)."""
        if obj.get("apiVersion") == model.api_version:
            return obj
        return {**obj, "apiVersion": model.api_version}

    def commit(self, model: ResourceModel, key: ObjectKey, obj: dict[str, Any], event: str) -> dict[str, Any]:
        """Store a new version under a fresh resourceVersion and tell the watchers and listeners."""
        self.last_rv += 1
        obj["metadata"]["resourceVersion"] = str(self.last_rv)
        if event == "DELETED":
            if key in self.objects:
                del self.objects[key]  # the API server forgets deleted objects too
        elif key in self.objects:
            history = self.objects[key].history
            history.append(obj)
            del history[:-1]
        else:
            self.objects[key] = obj
        if len(self.history) == self.history.maxlen:
            self.forgotten_rv = self.history[0][0]
        self.history.append((self.last_rv, model.storage_resource, {"type": event, "object": obj}))
        for watcher in self.watchers:
            if watcher.wants(model.storage_resource, obj):
                watcher.queue.put_nowait({"type": event, "object": self.present(watcher.model, obj)})
        for listener in self.listeners:
            listener(event, copy.deepcopy(self.present(model, obj)))
        return obj

    def replay(self, watcher: Watcher, since: int) -> list[dict[str, Any]]:
        """The kept events after ``since`` that ``watcher`` wants, oldest first."""
        return [
            {"type": event["type"], "object": self.present(watcher.model, event["object"])}
            for rv, storage, event in self.history
            if rv > since and watcher.wants(storage, event["object"])
        ]

    def close_watches(self) -> None:
        for watcher in self.watchers:
            watcher.queue.put_nowait(None)
