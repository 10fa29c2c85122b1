"""Watch streams: typed events with the new resourceVersions, resumable, with 410 for forgotten history."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from scaleset_testbed.kube import KubeEmulator, start_kube_emulator

from .support import CRD_FILE, WIDGETS, Api, widget


@asynccontextmanager
async def watching(api: Api, path: str = WIDGETS, **params: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Open a watch stream and feed its events into a queue (so a test can await them with a timeout)."""
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    opened = asyncio.Event()

    async def pump() -> None:
        async with api.session.get(path, params={"watch": "true", **params}) as response:
            assert response.status == 200
            opened.set()
            async for line in response.content:
                if line.strip():
                    await events.put(json.loads(line))
        await events.put({"type": "END"})

    task = asyncio.create_task(pump())
    await asyncio.wait_for(opened.wait(), 5)
    try:
        yield events
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def next_events(events: asyncio.Queue[dict[str, Any]], count: int) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of the next ``count`` events."""
    found = []
    for _ in range(count):
        event = await asyncio.wait_for(events.get(), 5)
        meta = event["object"].get("metadata", {}) if event["type"] != "END" else {}
        found.append((event["type"], meta.get("name", ""), meta.get("resourceVersion", "")))
    return found


async def test_live_events_carry_their_type_and_new_resource_version(api: Api) -> None:
    since = (await api.get(WIDGETS)).body["metadata"]["resourceVersion"]
    async with watching(api, resourceVersion=since) as events:
        created = (await api.create(widget("w1"))).body
        patched = (await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})).body
        deleted = (await api.delete(f"{WIDGETS}/w1")).body
        got = await next_events(events, 3)
    assert got == [
        ("ADDED", "w1", created["metadata"]["resourceVersion"]),
        ("MODIFIED", "w1", patched["metadata"]["resourceVersion"]),
        ("DELETED", "w1", deleted["metadata"]["resourceVersion"]),
    ]
    assert int(got[2][2]) > int(got[1][2])  # the deletion is a write with its own resourceVersion


async def test_a_watch_without_resource_version_starts_with_the_current_objects(api: Api) -> None:
    await api.create(widget("w1"))
    await api.create(widget("w2"))
    await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
    async with watching(api) as events:
        initial = await next_events(events, 2)
        await api.merge(f"{WIDGETS}/w2", {"spec": {"replicas": 3}})
        live = await next_events(events, 1)
    assert [(kind, name) for kind, name, _ in initial] == [("ADDED", "w1"), ("ADDED", "w2")]
    assert [(kind, name) for kind, name, _ in live] == [("MODIFIED", "w2")]


async def test_a_watch_resumes_after_the_given_resource_version(api: Api) -> None:
    await api.create(widget("w1"))
    since = (await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})).body["metadata"]["resourceVersion"]
    await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 3}})
    await api.create(widget("w2"))
    async with watching(api, resourceVersion=since) as events:
        replayed = await next_events(events, 2)
    assert [(kind, name) for kind, name, _ in replayed] == [("MODIFIED", "w1"), ("ADDED", "w2")]


async def test_a_watch_from_forgotten_history_gets_410_gone() -> None:
    running = await start_kube_emulator(emulator=KubeEmulator(crd_paths=[CRD_FILE], history_limit=2))
    try:
        async with aiohttp.ClientSession(base_url=running.url) as session:
            api = Api(session)
            since = (await api.create(widget("w1"))).body["metadata"]["resourceVersion"]
            for replicas in (2, 3, 4):
                await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": replicas}})
            async with watching(api, resourceVersion=since) as events:
                error = await asyncio.wait_for(events.get(), 5)
                end = await asyncio.wait_for(events.get(), 5)
    finally:
        await running.stop()
    assert error["type"] == "ERROR"
    assert (error["object"]["code"], error["object"]["reason"]) == (410, "Expired")
    assert end == {"type": "END"}


async def test_a_watch_on_one_object_sees_only_that_object(api: Api) -> None:
    await api.create(widget("w1"))
    async with watching(api, f"{WIDGETS}/w2") as events:
        await api.create(widget("w3"))
        await api.create(widget("w2"))
        got = await next_events(events, 1)
    assert [(kind, name) for kind, name, _ in got] == [("ADDED", "w2")]


async def test_initial_events_end_with_a_bookmark_when_asked(api: Api) -> None:
    await api.create(widget("w1"))
    async with watching(
        api, sendInitialEvents="true", allowWatchBookmarks="true", resourceVersionMatch="NotOlderThan"
    ) as events:
        added = await asyncio.wait_for(events.get(), 5)
        bookmark = await asyncio.wait_for(events.get(), 5)
    assert added["type"] == "ADDED"
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_timeout_seconds_ends_the_stream_and_selectors_filter_it(api: Api) -> None:
    labelled = widget("w1")
    labelled["metadata"]["labels"] = {"team": "a"}
    await api.create(labelled)
    await api.create(widget("w2"))
    async with watching(api, timeoutSeconds="1", labelSelector="team=a") as events:
        got = await next_events(events, 2)
    assert got[0][:2] == ("ADDED", "w1")
    assert got[1][0] == "END"


async def test_watch_streams_are_json_with_periodic_bookmarks_when_allowed() -> None:
    running = await start_kube_emulator(emulator=KubeEmulator(crd_paths=[CRD_FILE], bookmark_interval=0.2))
    try:
        async with aiohttp.ClientSession(base_url=running.url) as session:
            params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "1"}
            async with session.get(WIDGETS, params=params) as response:
                assert response.headers["Content-Type"] == "application/json"
                lines = [json.loads(line) async for line in response.content if line.strip()]
            async with session.get(WIDGETS, params={**params, "allowWatchBookmarks": "false"}) as response:
                quiet = [line async for line in response.content if line.strip()]
    finally:
        await running.stop()
    assert len(lines) >= 3
    assert {event["type"] for event in lines} == {"BOOKMARK"}
    assert lines[0]["object"]["metadata"]["resourceVersion"] == running.emulator.resource_version
    assert quiet == []


async def test_a_table_watch_sends_the_columns_with_the_first_event_only(api: Api) -> None:
    await api.create(widget("w1"))
    events: list[dict[str, Any]] = []
    headers = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    async with api.session.get(WIDGETS, params={"watch": "true"}, headers=headers) as response:
        async for line in response.content:
            events.append(json.loads(line))
            if len(events) == 1:
                await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
            else:
                break
    first, second = events
    assert [c["name"] for c in first["object"]["columnDefinitions"]][:2] == ["Name", "Replicas"]
    assert first["object"]["rows"][0]["cells"][:2] == ["w1", 1]
    assert (second["type"], second["object"]["columnDefinitions"]) == ("MODIFIED", None)
    assert second["object"]["rows"][0]["cells"][:2] == ["w1", 2]


async def test_dry_runs_send_no_watch_events(api: Api) -> None:
    await api.create(widget("w1"))
    since = (await api.get(WIDGETS)).body["metadata"]["resourceVersion"]
    async with watching(api, resourceVersion=since) as events:
        assert (await api.create(widget("w2"), path=f"{WIDGETS}?dryRun=All")).status == 201
        assert (await api.merge(f"{WIDGETS}/w1?dryRun=All", {"spec": {"replicas": 5}})).status == 200
        assert (await api.delete(f"{WIDGETS}/w1?dryRun=All")).status == 200
        real = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
        got = await next_events(events, 1)
    assert got == [("MODIFIED", "w1", real.body["metadata"]["resourceVersion"])]
    assert int(real.body["metadata"]["resourceVersion"]) == int(since) + 1
