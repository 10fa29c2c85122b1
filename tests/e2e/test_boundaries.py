"""Domain boundaries with a pause, end to end (issue 14): one instance listing per boundary, never a domain early.

Aspects: with ``pauseBetweenDomains`` a 5-domain rollout lists the instances at most D + 2 = 7 times (before
the model write, after it, and once per domain, when its pause is over), and each domain starts only once
the previous one runs the new image and is healthy; a domain still initializing when its pause is over is
verified until healthy and the pause is waited again, so no domain starts before the previous is healthy.
"""

from __future__ import annotations

from typing import Any

import pytest
from scaleset_testbed import worlds
from scaleset_testbed.worlds import RG, VMSS

from .harness import NEW, OLD, System, resource, running_system, scenario

pytestmark = pytest.mark.slow

DOMAINS = 5


def listings(system: System) -> list[dict[str, Any]]:
    """The instance listings the operator made (one page each: 10 instances)."""
    return [e for e in system.requests("GET") if e["path"].lower().endswith("/virtualmachines")]


def assert_each_domain_waits_for_the_previous(system: System) -> None:
    events = [e for e in system.audit() if e["type"] == "instance"]
    for d in range(DOMAINS - 1):
        done = max(e["time"] for e in events if int(e["instanceId"]) % DOMAINS == d and e["healthy"])
        nxt = min(e["time"] for e in events if int(e["instanceId"]) % DOMAINS == d + 1 and e["state"] == "Updating")
        assert done <= nxt, f"domain {d + 1} started before domain {d} was healthy"


async def test_with_a_pause_a_rollout_lists_the_instances_once_per_domain_boundary() -> None:
    async with running_system(scenario(capacity=10, uds=DOMAINS)) as system:
        await system.start_operator()
        await system.create(resource(pauseBetweenDomains="1s"))
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", what="Succeeded")
        made = len(listings(system))  # counted now: a settled resource lists again at every resync

        assert made <= DOMAINS + 2, f"{made} instance listings for {DOMAINS} domains with a pause"
        assert len(system.upgrades()) == DOMAINS
        assert_each_domain_waits_for_the_previous(system)
        status = system.status()
        assert all(d["state"] == "Succeeded" for d in status["domains"])


async def test_a_domain_healthy_only_after_its_pause_is_waited_for() -> None:
    slow_health = worlds.scenario(
        {RG: {VMSS: worlds.scale_set(10, DOMAINS, 3, version=OLD)}},
        versions=[OLD, NEW],
        timing={"instanceUpgradeSeconds": 1.0, "jitterSeconds": 0.2, "modelUpdateSeconds": 0.3,
                "healthGraceSeconds": 1.5},
        throttling={"enabled": True},
    )  # fmt: skip
    async with running_system(slow_health) as system:
        await system.start_operator()
        await system.create(resource(pauseBetweenDomains="1s"))
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=90, what="Succeeded")

        assert len(system.upgrades()) == DOMAINS
        assert_each_domain_waits_for_the_previous(system)
