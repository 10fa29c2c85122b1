"""Conditional status writes (issue 16): a status write goes through only if the status is what the pass read.

Aspects: the JSON patch tests every owned field (absent ones as null, ``leader`` always) and then sets only
what changed; nothing to change sends nothing; a status never written is tested as absent; against the
Kubernetes API emulator a write over a moved status is refused (422) and changes nothing, while a change to a
field another writer owns (``follow``) or to metadata (kopf's annotations) does not refuse it; with leader
election the writer's identity goes into ``status.leader`` and a replica whose fence is closed writes nothing;
the memory of the last write bridges the watch stream's lag and lets go once the watch caught up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import kopf
import pytest
from scaleset_testbed.kube import RunningKubeEmulator, start_kube_emulator
from scaleset_testbed.worlds import resources_path

from controller.config import OperatorConfig
from controller.operator import OperatorContext
from controller.operator.live import LiveReadError
from controller.operator.writes import WrittenStatus, follow_owned, rollout_owned, status_patch_ops
from tests.e2e.harness import ROOT

RESOURCES = resources_path("default")


def test_ops_test_every_owned_field_then_set_what_changed() -> None:
    old = {"phase": "Progressing", "currentDomain": "1", "follow": {"seenVersion": "1.0.0"}}
    new = {"phase": "Progressing", "currentDomain": "2", "operation": {"id": "op-1"}, "follow": {"x": 1}}
    assert status_patch_ops(old, new, rollout_owned) == [
        {"op": "test", "path": "/status/currentDomain", "value": "1"},
        {"op": "test", "path": "/status/leader", "value": None},
        {"op": "test", "path": "/status/operation", "value": None},
        {"op": "test", "path": "/status/phase", "value": "Progressing"},
        {"op": "add", "path": "/status/currentDomain", "value": "2"},
        {"op": "add", "path": "/status/operation", "value": {"id": "op-1"}},
    ]


def test_removed_fields_are_removed_and_nothing_changed_sends_nothing() -> None:
    old = {"phase": "Succeeded", "operation": {"id": "op-1"}}
    assert status_patch_ops(old, {"phase": "Succeeded"}, rollout_owned)[-1] == {
        "op": "remove",
        "path": "/status/operation",
    }
    assert status_patch_ops(old, dict(old), rollout_owned) == []
    assert status_patch_ops(old, {**old, "follow": {"a": 1}}, rollout_owned) == []  # not the rollout's field


def test_a_status_never_written_is_tested_as_absent() -> None:
    assert status_patch_ops({}, {"phase": "Pending"}, rollout_owned) == [
        {"op": "test", "path": "/status", "value": None},
        {"op": "add", "path": "/status", "value": {"phase": "Pending"}},
    ]


def test_following_tests_and_sets_only_its_own_field() -> None:
    ops = status_patch_ops({"phase": "Progressing"}, {"phase": "x", "follow": {"seen": "2"}}, follow_owned)
    assert ops == [
        {"op": "test", "path": "/status/follow", "value": None},
        {"op": "add", "path": "/status/follow", "value": {"seen": "2"}},
    ]


def test_the_last_write_stands_in_for_a_stale_watch_copy_until_the_watch_catches_up() -> None:
    memory = WrittenStatus()
    before = {"phase": "Progressing", "currentDomain": "1", "follow": {"a": 1}}
    after = {"phase": "Progressing", "currentDomain": "2", "follow": {"a": 1}}
    memory.wrote("ssi", "uid-1", before, after, rollout_owned)
    stale = {**before, "follow": {"a": 2}}  # follow moved meanwhile: it is kept from the watch's copy
    assert memory.freshest("ssi", "uid-1", stale, rollout_owned) == {**after, "follow": {"a": 2}}
    assert memory.freshest("ssi", "uid-1", after, rollout_owned) == after  # caught up: forgotten
    assert memory.freshest("ssi", "uid-1", before, rollout_owned) == before
    memory.wrote("ssi", "uid-1", before, after, rollout_owned)
    other = {**before, "currentDomain": "3"}  # someone else wrote: the watch's copy is the news
    assert memory.freshest("ssi", "uid-1", other, rollout_owned) == other


# --- against the Kubernetes API emulator ---------------------------------------------------------------


@pytest.fixture
async def kube() -> AsyncIterator[RunningKubeEmulator]:
    running = await start_kube_emulator(crd_paths=[ROOT / "crds"])
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def ctx(kube: RunningKubeEmulator) -> AsyncIterator[OperatorContext]:
    context = OperatorContext(config=OperatorConfig())
    context.connected(kopf.ConnectionInfo(server=kube.url, insecure=True))
    try:
        yield context
    finally:
        await context.close()


SPEC = {
    "scaleSet": {
        "subscriptionId": "00000000-0000-0000-0000-000000000001",
        "resourceGroup": "rg",
        "name": "vmss",
    },
    "image": {"marketplace": {"publisher": "p", "offer": "o", "sku": "s", "version": "1.0.0"}},
}


async def created(kube: RunningKubeEmulator, status: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"apiVersion": "imagerollout.dev/v1alpha1", "kind": "ScaleSetImage", "metadata": {"name": "web"}}
    async with aiohttp.ClientSession() as session:
        async with session.post(kube.url + RESOURCES, json={**body, "spec": SPEC}) as response:
            assert response.status == 201, await response.text()
            obj: dict[str, Any] = await response.json()
        if status is not None:
            async with session.patch(
                f"{kube.url}{RESOURCES}/web/status",
                json={"status": status},
                headers={"Content-Type": "application/merge-patch+json"},
            ) as response:
                assert response.status == 200
                obj = await response.json()
    return obj


def stored(kube: RunningKubeEmulator) -> dict[str, Any]:
    obj = kube.emulator.get_object("imagerollout.dev/v1alpha1/scalesetimages", "web", "default")
    assert obj is not None
    return obj


async def test_a_write_over_a_moved_status_is_refused_and_changes_nothing(
    kube: RunningKubeEmulator, ctx: OperatorContext
) -> None:
    obj = await created(kube, {"phase": "Progressing", "currentDomain": "1"})
    read = obj["status"]
    ok = await ctx.write_status(
        "scalesetimages", "default", "web", obj["metadata"]["uid"], read, {**read}, rollout_owned
    )
    assert ok  # nothing to write
    moved = {**read, "currentDomain": "2"}
    assert await ctx.write_status("scalesetimages", "default", "web", None, read, moved, rollout_owned)
    late = {**read, "currentDomain": "3", "phase": "Failed"}  # decided on the old status, after the move
    assert not await ctx.write_status("scalesetimages", "default", "web", None, read, late, rollout_owned)
    assert stored(kube)["status"]["currentDomain"] == "2"
    assert stored(kube)["status"]["phase"] == "Progressing"


async def test_other_writers_fields_and_metadata_do_not_refuse_a_write(
    kube: RunningKubeEmulator, ctx: OperatorContext
) -> None:
    obj = await created(kube, {"phase": "Progressing"})
    read = obj["status"]
    async with aiohttp.ClientSession() as session:
        async with session.patch(
            f"{kube.url}{RESOURCES}/web/status",
            json={"status": {"follow": {"latestVersion": "2.0.0"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response:
            assert response.status == 200
        async with session.patch(
            f"{kube.url}{RESOURCES}/web",
            json={"metadata": {"annotations": {"kopf.zalando.org/last-handled": "x"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response:
            assert response.status == 200
    assert await ctx.write_status(
        "scalesetimages", "default", "web", None, read, {**read, "phase": "Succeeded"}, rollout_owned
    )
    assert stored(kube)["status"]["phase"] == "Succeeded"
    assert stored(kube)["status"]["follow"] == {"latestVersion": "2.0.0"}


async def test_the_first_status_is_written_only_if_there_is_none(
    kube: RunningKubeEmulator, ctx: OperatorContext
) -> None:
    await created(kube)
    assert await ctx.write_status("scalesetimages", "default", "web", None, {}, {"phase": "Pending"}, rollout_owned)
    assert not await ctx.write_status("scalesetimages", "default", "web", None, {}, {"phase": "Failed"}, rollout_owned)
    assert stored(kube)["status"]["phase"] == "Pending"


async def test_with_election_the_writer_is_named_and_a_fenced_replica_writes_nothing(
    kube: RunningKubeEmulator, ctx: OperatorContext
) -> None:
    obj = await created(kube, {"phase": "Progressing"})
    read = obj["status"]
    reason: str | None = None
    ctx.identity, ctx.fence = "replica-a", lambda: reason
    assert await ctx.write_status(
        "scalesetimages", "default", "web", None, read, {**read, "currentDomain": "1"}, rollout_owned, stamp=True
    )
    assert stored(kube)["status"]["leader"] == "replica-a"
    now = stored(kube)["status"]
    reason = "LeaseNotRenewed"
    assert not await ctx.write_status(
        "scalesetimages", "default", "web", None, now, {**now, "phase": "Failed"}, rollout_owned
    )
    assert stored(kube)["status"] == now
    # A deposed replica that read the status before the new leader wrote once cannot write any more.
    reason = None
    ctx.identity = "replica-b"
    assert await ctx.write_status("scalesetimages", "default", "web", None, now, dict(now), rollout_owned, stamp=True)
    assert stored(kube)["status"]["leader"] == "replica-b"
    ctx.identity = "replica-a"
    assert not await ctx.write_status(
        "scalesetimages", "default", "web", None, now, {**now, "currentDomain": "2"}, rollout_owned
    )
    assert stored(kube)["status"]["currentDomain"] == "1"


async def test_only_a_scale_set_images_own_status_names_the_writer(
    kube: RunningKubeEmulator, ctx: OperatorContext
) -> None:
    obj = await created(kube, {"phase": "Progressing"})
    read = obj["status"]
    ctx.identity = "replica-a"  # a fleet's status or status.follow has no leader field: never stamped
    assert await ctx.write_status(
        "scalesetimages", "default", "web", None, read, {**read, "phase": "Succeeded"}, rollout_owned
    )
    assert "leader" not in stored(kube)["status"]


async def test_a_status_the_api_server_refuses_is_an_error_not_a_race(
    kube: RunningKubeEmulator, ctx: OperatorContext
) -> None:
    obj = await created(kube, {"phase": "Progressing"})
    read = obj["status"]
    with pytest.raises(LiveReadError, match="422"):
        await ctx.write_status(
            "scalesetimages", "default", "web", None, read, {**read, "phase": "Bogus"}, rollout_owned
        )
    assert stored(kube)["status"]["phase"] == "Progressing"
