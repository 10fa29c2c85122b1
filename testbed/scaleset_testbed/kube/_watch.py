"""Watch streams as kube-apiserver writes them: ``application/json``, one event per line, bookmarks, 410s.

Why our own stream: client-go picks the stream decoder by the response's content type, and kmock
streams as ``application/octet-stream``, which kubectl refuses ("no stream serializers registered"),
so ``kubectl get -w``, ``kubectl wait`` and ``kubectl delete`` (which waits for the deletion) failed.
A watch starts from "now" (after the current objects as ADDED events), from a resourceVersion still in
the history (older ones get an ERROR event with a 410 Expired Status, as the watch cache answers), or
with ``sendInitialEvents``; ``allowWatchBookmarks`` adds periodic BOOKMARK events; ``timeoutSeconds``
ends it. A Table watch (``kubectl get -w``) sends each object as a one-row Table, the columns only in the
first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp.web

from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._models import ResourceModel
from scaleset_testbed.kube._paths import Target, selectors
from scaleset_testbed.kube._store import Store, Watcher

Transform = Callable[[dict[str, Any], bool], dict[str, Any]]


def bookmark(store: Store, model: ResourceModel, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": str(store.last_rv)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"type": "BOOKMARK", "object": {"apiVersion": model.api_version, "kind": model.kind, "metadata": metadata}}


def _start(store: Store, watcher: Watcher, model: ResourceModel, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """The events a new watch begins with (raises 410 Expired for a resourceVersion no longer kept)."""
    since = params.get("resourceVersion", "")
    initial = params.get("sendInitialEvents") == "true"
    if initial or since in ("", "0"):
        backlog = [
            {"type": "ADDED", "object": store.present(model, obj)}
            for obj in store.select(model, watcher.namespace)
            if watcher.matches(obj)
        ]
        if initial and params.get("allowWatchBookmarks") == "true":
            backlog.append(bookmark(store, model, {"k8s.io/initial-events-end": "true"}))
        return backlog
    if not since.isdigit() or int(since) < store.forgotten_rv:
        raise status.expired(since)
    return store.replay(watcher, int(since))


async def serve_watch(
    store: Store,
    model: ResourceModel,
    target: Target,
    params: Mapping[str, str],
    raw: aiohttp.web.BaseRequest,
    *,
    transform: Transform | None,
    closing: bool,
    bookmark_interval: float,
) -> aiohttp.web.StreamResponse:
    """Stream a watch until the client leaves, ``timeoutSeconds`` passes or the emulator closes."""
    namespace = target.namespace if model.namespaced else None
    watcher = Watcher(model, namespace, selectors(params, target.name))
    response = aiohttp.web.StreamResponse(
        status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
    )
    response.enable_chunked_encoding()
    # Snapshot and subscribe without an await in between, so that no write falls into the gap.
    try:
        backlog = _start(store, watcher, model, params)
    except status.KubeApiError as error:
        backlog, closing = [{"type": "ERROR", "object": error.status}], True
    store.watchers.add(watcher)
    headers_sent = [False]

    async def send(event: dict[str, Any]) -> None:
        if transform is not None and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
            event = {"type": event["type"], "object": transform(event["object"], not headers_sent[0])}
            headers_sent[0] = True
        await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")

    try:
        await response.prepare(raw)
        for event in backlog:
            await send(event)
        if closing:
            return response
        timeout = params.get("timeoutSeconds", "")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(timeout) if timeout.isdigit() and int(timeout) > 0 else None
        bookmarks = params.get("allowWatchBookmarks") == "true"
        while True:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            waits = [x for x in (remaining, bookmark_interval if bookmarks else None) if x is not None]
            wait = min(waits) if waits else None
            try:
                event_or_end = await asyncio.wait_for(watcher.queue.get(), wait)
            except TimeoutError:
                if deadline is not None and loop.time() >= deadline:
                    return response
                await send(bookmark(store, model))
                continue
            if event_or_end is None:
                return response
            await send(event_or_end)
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        return response
    finally:
        store.watchers.discard(watcher)
