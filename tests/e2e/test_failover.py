"""Two replicas with leader election (issue 16, part 2), as processes: ``scaleset-image run --leader-election``.

Aspects: the leader is SIGKILLed mid-domain and the standby takes over after the Lease runs out, then finishes
the rollout without repeating or skipping a domain (each instance upgraded once, domains in order); a leader
cut off from the API server (a relay that black-holes its traffic) stops sending Azure writes by its renew
deadline, exits with code 1, and the standby finishes; a leader frozen (SIGSTOP) past the lease duration wakes
up believing it leads, while the standby leads too: it sends nothing to Azure and writes no status, and exits.
Which replica sent an Azure request is read from the User-Agent the operator sends (``replica/<identity>``).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from scaleset_testbed import worlds
from scaleset_testbed.netcut import Relay
from scaleset_testbed.system import Election, Env, OperatorProcess, OperatorSettings, emulators, wait_until
from scaleset_testbed.worlds import RG, V1, V2, VMSS

pytestmark = pytest.mark.slow

TIMINGS = {"lease_duration": 3.0, "renew_deadline": 2.0, "retry_period": 0.5}


def world() -> dict[str, Any]:
    return worlds.scenario(
        {RG: {VMSS: worlds.scale_set(10, 5, 5, version=V1)}},
        timing={"instanceUpgradeSeconds": 40.0, "jitterSeconds": 0.0, "modelUpdateSeconds": 2.0},
    )


def settings(identity: str) -> OperatorSettings:
    election = Election(
        identity,
        lease_duration=TIMINGS["lease_duration"],
        renew_deadline=TIMINGS["renew_deadline"],
        retry_period=TIMINGS["retry_period"],
    )
    return OperatorSettings(poll_interval=0.2, tick=0.1, resync_interval=2.0, election=election)


def writes_by(env: Env, identity: str, since: int = 0) -> list[dict[str, Any]]:
    """Azure writes (anything but GET) the replica sent, from audit entry ``since`` on."""
    return [
        e
        for e in env.audit()[since:]
        if e["type"] == "request" and e["method"] != "GET" and f"replica/{identity}" in str(e.get("userAgent", ""))
    ]


def check_walk(env: Env) -> None:
    """Every instance upgraded exactly once, domain after domain, none repeated or skipped."""
    upgrades = env.accepted_upgrades()
    per_instance = Counter(i for ids in upgrades for i in ids)
    assert sorted(per_instance, key=int) == [str(i) for i in range(10)], f"an instance skipped: {upgrades}"
    assert set(per_instance.values()) == {1}, f"an instance upgraded twice: {upgrades}"
    assert [int(ids[0]) % 5 for ids in upgrades] == [0, 1, 2, 3, 4], f"domains out of order: {upgrades}"


@asynccontextmanager
async def replicas(
    tmp_path: Path, *, a_via: Relay | None = None
) -> AsyncIterator[tuple[Env, OperatorProcess, OperatorProcess]]:
    async with emulators(world(), 20.0, tmp_path) as env:
        a = OperatorProcess(env, settings("a"), "replica-a", kube_url=a_via.url if a_via is not None else None)
        b = OperatorProcess(env, settings("b"), "replica-b")
        try:
            await a.start()
            await wait_until(lambda: env.lease_holder() == "a", within=30, what="replica a to lead")
            await b.start()
            yield env, a, b
        finally:
            for process in (a, b):
                if process.proc is not None and process.proc.returncode is None:
                    process.proc.send_signal(signal.SIGCONT)
                await process.stop()


async def domain_in_flight(env: Env, domain: str) -> None:
    await wait_until(
        lambda: env.status("web").get("currentDomain") == domain and bool(env.status("web").get("operation")),
        within=60,
        what=f"domain {domain} in flight",
    )


async def test_the_standby_takes_over_a_killed_leader_and_finishes_without_repeating(tmp_path: Path) -> None:
    async with replicas(tmp_path) as (env, a, _b):
        await env.create(worlds.manifest("web", version=V2))
        await domain_in_flight(env, "ud-1")
        assert env.status("web")["leader"] == "a"
        killed = time.monotonic()
        await a.kill()
        took_over = await wait_until(lambda: env.lease_holder() == "b", within=30, what="replica b to take the Lease")
        failover = took_over - killed
        # At most the lease duration, plus one jittered retry and the time to see and write the Lease.
        assert failover <= TIMINGS["lease_duration"] + 1.2 * TIMINGS["retry_period"] + 1.5, failover
        await wait_until(lambda: env.status("web").get("phase") == "Succeeded", within=90, what="Succeeded")
        assert env.status("web")["leader"] == "b"
        check_walk(env)
        assert writes_by(env, "b"), "the new leader finished the rollout"
        lease = env.lease()
        assert lease is not None
        assert lease["spec"]["leaseTransitions"] == 1


async def test_a_leader_cut_off_from_the_api_server_stops_writing_to_azure(tmp_path: Path) -> None:
    relay = await Relay("127.0.0.1", 0).start()
    try:
        async with emulators(world(), 20.0, tmp_path) as env:
            relay.target = ("127.0.0.1", int(env.kube.url.rsplit(":", 1)[1]))
            a = OperatorProcess(env, settings("a"), "replica-a", kube_url=relay.url)
            b = OperatorProcess(env, settings("b"), "replica-b")
            try:
                await a.start()
                await wait_until(lambda: env.lease_holder() == "a", within=30, what="replica a to lead")
                await b.start()
                await env.create(worlds.manifest("web", version=V2))
                await domain_in_flight(env, "ud-1")
                relay.cut()
                # By the renew deadline (from its last renewal, which was before the cut) a must have stopped.
                await asyncio.sleep(TIMINGS["renew_deadline"])
                fenced_from = len(env.audit())
                assert a.proc is not None
                await asyncio.wait_for(a.proc.wait(), 20)
                assert a.proc.returncode == 1
                assert "leader election lost" in a.log_path.read_text()
                await wait_until(lambda: env.lease_holder() == "b", within=30, what="replica b to take the Lease")
                await wait_until(lambda: env.status("web").get("phase") == "Succeeded", within=90, what="Succeeded")
                assert writes_by(env, "a", fenced_from) == []
                check_walk(env)
            finally:
                await a.stop()
                await b.stop()
    finally:
        await relay.stop()


async def test_a_frozen_leader_that_wakes_after_the_takeover_writes_nothing(tmp_path: Path) -> None:
    async with replicas(tmp_path) as (env, a, _b):
        await env.create(worlds.manifest("web", version=V2))
        await domain_in_flight(env, "ud-1")
        assert a.proc is not None
        a.proc.send_signal(signal.SIGSTOP)  # a long GC pause, a starved node: a still believes it leads
        await wait_until(lambda: env.lease_holder() == "b", within=30, what="replica b to take the Lease")
        await wait_until(lambda: writes_by(env, "b") != [], within=30, what="replica b to write to Azure")
        await wait_until(lambda: env.status("web").get("leader") == "b", within=30, what="b's first status write")
        woke = len(env.audit())
        a.proc.send_signal(signal.SIGCONT)  # both believe they lead, for a moment
        await asyncio.wait_for(a.proc.wait(), 20)
        assert a.proc.returncode == 1
        assert writes_by(env, "a", woke) == [], "the woken replica sent an Azure write"
        assert env.status("web")["leader"] == "b", "the woken replica wrote the status"
        await wait_until(lambda: env.status("web").get("phase") == "Succeeded", within=90, what="Succeeded")
        assert env.status("web")["leader"] == "b"
        check_walk(env)
