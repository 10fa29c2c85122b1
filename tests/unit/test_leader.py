"""Leader election over a Lease (issue 16), against the Kubernetes API emulator over HTTP.

Aspects: of two candidates exactly one leads and the Lease names it; a standby takes over only after the
holder stopped renewing for a whole lease duration, and ``leaseTransitions`` counts the change of hands; a
released Lease is taken at once; the fence closes when the renew deadline passes without a renewal (on the
elector's clock, whatever the API server says) and when the Lease is found held by another replica; bad
timings are refused with the flag at fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import kopf
import pytest
from scaleset_testbed.kube import RunningKubeEmulator, start_kube_emulator

from controller.operator.leader import ElectionSettings, LeaderElector, LeadershipLost
from controller.operator.live import LiveObjects

LEASE = "/apis/coordination.k8s.io/v1/namespaces/default/leases/ops"


@pytest.fixture
async def kube() -> AsyncIterator[RunningKubeEmulator]:
    running = await start_kube_emulator(crd_paths=[])
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def live(kube: RunningKubeEmulator) -> AsyncIterator[LiveObjects]:
    objects = LiveObjects(kopf.ConnectionInfo(server=kube.url, insecure=True))
    try:
        yield objects
    finally:
        await objects.close()


def settings(identity: str, **timings: float) -> ElectionSettings:
    values = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.2, **timings}
    return ElectionSettings(lease_name="ops", lease_namespace="default", identity=identity, **values)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def lease(kube: RunningKubeEmulator) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(kube.url + LEASE) as response:
        assert response.status == 200
        spec: dict[str, Any] = (await response.json())["spec"]
        return spec


async def acquired_within(elector: LeaderElector, seconds: float) -> bool:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    return await elector.acquire(stop)


async def test_exactly_one_of_two_candidates_leads(kube: RunningKubeEmulator, live: LiveObjects) -> None:
    a, b = LeaderElector(settings("a"), live), LeaderElector(settings("b"), live)
    results = await asyncio.gather(acquired_within(a, 0.6), acquired_within(b, 0.6))
    assert sorted(results) == [False, True]
    winner, loser = (a, b) if results[0] else (b, a)
    assert (winner.fence(), loser.fence()) == (None, "NotLeader")
    spec = await lease(kube)
    assert spec["holderIdentity"] == winner.settings.identity
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0


async def test_a_standby_waits_a_whole_lease_duration_after_the_last_renewal(
    kube: RunningKubeEmulator, live: LiveObjects
) -> None:
    a, b = LeaderElector(settings("a"), live), LeaderElector(settings("b"), live)
    assert await acquired_within(a, 1.0)
    # "a" never renews (as if it died): b must see the record unchanged for 2 s before it may take it.
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await acquired_within(b, 5.0)
    assert loop.time() - started >= 2.0
    spec = await lease(kube)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)


async def test_a_renewing_leader_keeps_the_lease(kube: RunningKubeEmulator, live: LiveObjects) -> None:
    a, b = LeaderElector(settings("a"), live), LeaderElector(settings("b"), live)
    assert await acquired_within(a, 1.0)
    keeping = asyncio.create_task(a.keep())
    try:
        assert not await acquired_within(b, 3.0)  # longer than the lease duration: renewals kept it
        assert a.fence() is None
        assert b.holder == "a"
    finally:
        keeping.cancel()


async def test_a_released_lease_is_taken_at_once(kube: RunningKubeEmulator, live: LiveObjects) -> None:
    a = LeaderElector(settings("a", lease_duration=30.0, renew_deadline=20.0), live)
    b = LeaderElector(settings("b", lease_duration=30.0, renew_deadline=20.0), live)
    assert await acquired_within(a, 1.0)
    assert not await acquired_within(b, 0.3)
    await a.release()
    assert a.fence() == "NotLeader"
    assert (await lease(kube))["holderIdentity"] == ""
    assert await acquired_within(b, 1.0)  # far less than the 30 s lease duration
    assert (await lease(kube))["holderIdentity"] == "b"


async def test_the_fence_closes_at_the_renew_deadline_without_a_renewal(live: LiveObjects) -> None:
    clock = Clock()
    elector = LeaderElector(settings("a"), live, clock=clock)
    assert await acquired_within(elector, 1.0)
    assert elector.fence() is None
    clock.now += 1.4
    assert elector.fence() is None
    clock.now += 0.1  # 1.5 s since the renewal started: the renew deadline
    assert elector.fence() == "LeaseNotRenewed"


async def test_a_leader_cut_off_from_the_api_server_gives_up(kube: RunningKubeEmulator) -> None:
    live = LiveObjects(kopf.ConnectionInfo(server=kube.url, insecure=True))
    elector = LeaderElector(settings("a", lease_duration=3.0, renew_deadline=1.0), live)
    try:
        assert await acquired_within(elector, 1.0)
        await kube.stop()  # every renewal fails from now on
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(LeadershipLost, match="renew deadline"):
            await asyncio.wait_for(elector.keep(), 5.0)
        assert elector.fence() == "NotLeader"
        assert loop.time() - started < 3.0  # it gave up before anyone else could take the Lease
    finally:
        await live.close()


async def test_a_leader_that_finds_the_lease_taken_gives_up(kube: RunningKubeEmulator, live: LiveObjects) -> None:
    a = LeaderElector(settings("a"), live)
    assert await acquired_within(a, 1.0)
    spec = await lease(kube)
    async with aiohttp.ClientSession() as session:
        async with session.get(kube.url + LEASE) as response:
            body = await response.json()
        body["spec"] = {**spec, "holderIdentity": "intruder", "leaseTransitions": 1}
        async with session.put(kube.url + LEASE, json=body) as response:
            assert response.status == 200
    with pytest.raises(LeadershipLost, match="held by intruder"):
        await asyncio.wait_for(a.keep(), 5.0)
    assert a.fence() == "NotLeader"


@pytest.mark.parametrize(
    ("timings", "flag"),
    [
        ({"lease_duration": 10.0, "renew_deadline": 10.0}, "--lease-duration"),
        ({"renew_deadline": 2.0, "retry_period": 2.0}, "--renew-deadline"),
        ({"retry_period": 0.0}, "--retry-period"),
    ],
)
def test_timings_that_cannot_be_safe_are_refused(timings: dict[str, float], flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        settings("a", **timings)
