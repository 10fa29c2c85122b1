"""Pause, resume, a new target mid-rollout, and an operator killed mid-domain, end to end.

Aspects: ``paused: true`` stops before the next domain and ``false`` resumes; a new image declared while
rolling finishes the domain in flight, then rolls to the new image; an operator killed while a domain is
upgrading is replaced by a fresh one that resumes from ``.status`` and Azure: no domain repeated, none
skipped, every instance upgraded once; a resource deleted while a pass waits on Azure is gone in seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from scaleset_testbed.azure.faults import FaultRule
from scaleset_testbed.worlds import CR

from .harness import BAD, NEW, RESOURCES, resource, running_system, scenario

pytestmark = pytest.mark.slow


async def test_pause_stops_before_the_next_domain_and_resume_continues() -> None:
    async with running_system(scenario()) as system:
        await system.start_operator()
        await system.create(resource(pauseBetweenDomains="2s"))
        await system.wait_for(lambda: len(system.upgrades()) >= 1, what="first domain")
        await system.patch_spec("web", {"rollout": {"paused": True}})
        await system.wait_for(lambda: system.status().get("phase") == "Paused", what="Paused")
        count = len(system.upgrades())
        assert count in (1, 2), "at most the domain in flight finishes"
        await asyncio.sleep(2.5)
        assert len(system.upgrades()) == count, "no domain starts while paused"
        assert system.condition("Stalled")["status"] == "False"
        await system.patch_spec("web", {"rollout": {"paused": False}})
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=90, what="Succeeded")
        assert len(system.upgrades()) == 5
        wanted = {"RolloutPaused", "RolloutResumed", "RolloutSucceeded"}
        # kopf posts events from a queue: they may trail the status write a little.
        await system.wait_for(
            lambda: wanted <= {e.get("reason") for e in system.kube.events(involved_name="web")},
            within=10,
            what="events",
        )


async def test_operator_killed_mid_domain_resumes_without_repeating_or_skipping() -> None:
    async with running_system(scenario(capacity=15, uds=5), time_scale=5.0) as system:
        await system.start_operator()
        await system.create(resource())
        # Kill it while the second domain is being upgraded (its operation recorded in status).
        await system.wait_for(
            lambda: system.status().get("currentDomain") == "ud-1" and system.status().get("operation"),
            what="domain ud-1 in flight",
        )
        await system.kill_operator()
        await asyncio.sleep(0.5)
        await system.start_operator()
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=120, what="Succeeded")
        upgrades = system.upgrades()
        per_instance = Counter(i for ids in upgrades for i in ids)
        assert sorted(per_instance, key=int) == [str(i) for i in range(15)], "no instance skipped"
        assert set(per_instance.values()) == {1}, f"an instance was upgraded twice: {upgrades}"
        assert [int(ids[0]) % 5 for ids in upgrades] == [0, 1, 2, 3, 4], "domains in order, none repeated"


async def test_new_target_mid_rollout_finishes_the_domain_then_rolls_to_it() -> None:
    async with running_system(scenario()) as system:
        await system.start_operator()
        await system.create(resource(version=NEW, pauseBetweenDomains="1s"))
        await system.wait_for(lambda: len(system.upgrades()) >= 2, what="two domains")
        newest = "16.04.201811010"
        system.azure.world.bad_versions.pop(BAD, None)  # make the newest version good for this test
        await system.patch_spec("web", {"image": {"marketplace": {"version": newest}}})
        await system.wait_for(
            lambda: (
                system.status().get("phase") == "Succeeded"
                and system.status()["target"]["image"]["marketplace"]["version"] == newest
            ),
            within=120,
            what="Succeeded on the newest image",
        )
        final = {e["instanceId"]: e["imageVersion"] for e in system.audit() if e["type"] == "instance"}
        assert set(final.values()) == {newest}
        model_writes = [e for e in system.audit() if e["type"] == "request" and e["method"] in ("PATCH", "PUT")]
        assert len(model_writes) == 2


async def test_a_resource_deleted_while_a_pass_waits_on_azure_is_gone_within_seconds() -> None:
    """kopf keeps the finalizer until the timer's pass in flight ends; it used to check again only after its
    60 s polling, leaving the resource Terminating (and its name blocked) for a minute."""
    async with running_system(scenario(capacity=4, uds=2)) as system:
        await system.start_operator()
        await system.create(resource())
        await system.wait_for(lambda: system.status().get("phase") == "Progressing", what="Progressing")
        # Every instance listing now takes 1.5 s: a pass is in flight when the deletion arrives.
        rule = {"method": "GET", "path": "/virtualMachines$", "count": 50, "delay": 1.5}
        system.azure.faults.add(FaultRule.from_json(rule))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        async with system.http.delete(f"{system.kube.url}{RESOURCES}/web") as response:
            assert response.status == 200, await response.text()
        await system.wait_for(lambda: system.kube.get_object(CR, "web", "default") is None, within=30, what="gone")
        assert time.monotonic() - started < 10, "the deletion waited for kopf's long polling"
