"""The API server read right before each Azure write (controller/operator/live.py), against the Kubernetes
emulator.

Aspects: the reader sees an object's uid, generation and deletion mark as the API server holds them, and a
name that is gone; an API server that cannot be reached is an error, not "gone"; during a real rollout the
operator reads the object once per Azure write. (That a deletion the watch has not delivered stops the
write is tested in tests/unit/test_writes.py: here kopf itself stops the timer of a deleted object.)
"""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from controller.operator.live import LiveMeta, LiveObjects, LiveReadError, StatusWrite

from .harness import RESOURCES, resource, running_system, scenario

pytestmark = pytest.mark.slow


class Counting:
    """LiveObjects that counts its reads and can stand in for a watch that lags behind."""

    def __init__(self, inner: LiveObjects) -> None:
        self.inner = inner
        self.reads = 0
        self.answers: list[LiveMeta] = []

    async def meta(self, namespace: str, name: str) -> LiveMeta:
        self.reads += 1
        answer = await self.inner.meta(namespace, name)
        self.answers.append(answer)
        return answer

    async def patch_status(self, plural: str, namespace: str, name: str, ops: list[dict[str, Any]]) -> StatusWrite:
        return await self.inner.patch_status(plural, namespace, name, ops)

    async def close(self) -> None:
        await self.inner.close()


async def test_the_reader_sees_the_object_its_new_spec_its_deletion_and_its_absence() -> None:
    async with running_system(scenario()) as system:
        live = LiveObjects(kopf.ConnectionInfo(server=system.kube.url, insecure=True))
        try:
            assert await live.meta("default", "web") == LiveMeta(uid=None, generation=None, deleting=False)
            body = resource()
            body["metadata"]["finalizers"] = ["test/hold"]  # deletion marks it and leaves it there
            created = await system.create(body)
            uid = created["metadata"]["uid"]
            assert await live.meta("default", "web") == LiveMeta(uid=uid, generation=1, deleting=False)
            await system.patch_spec("web", {"rollout": {"paused": True}})
            assert (await live.meta("default", "web")).generation == 2
            async with system.http.delete(f"{system.kube.url}{RESOURCES}/web") as response:
                assert response.status == 200, await response.text()
            marked = await live.meta("default", "web")
            assert (marked.uid, marked.deleting) == (uid, True)  # (the API server bumps generation here too)
        finally:
            await live.close()
        nowhere = LiveObjects(kopf.ConnectionInfo(server="http://127.0.0.1:9", insecure=True))
        try:
            with pytest.raises(LiveReadError):
                await nowhere.meta("default", "web")
        finally:
            await nowhere.close()


async def test_a_rollout_reads_the_object_once_per_azure_write() -> None:
    async with running_system(scenario(capacity=6, uds=3)) as system:
        ctx = await system.start_operator()
        counting = Counting(LiveObjects(kopf.ConnectionInfo(server=system.kube.url, insecure=True)))
        ctx.live = counting  # type: ignore[assignment]  # before kopf logs in: connected() keeps it
        await system.create(resource())
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=90, what="Succeeded")
        writes = [e for e in system.requests() if e["method"] in ("PATCH", "PUT", "POST")]
        assert len(writes) == 4, writes  # the model, then one manualupgrade per domain
        assert counting.reads == len(writes)
        assert all(a.uid == system.get()["metadata"]["uid"] for a in counting.answers)
