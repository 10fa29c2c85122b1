"""The real operator (kopf) against the Kubernetes and Azure emulators: whole rollouts, as users see them.

Aspects: a 5-domain rollout to success (one domain in flight at a time, in order, each manualupgrade
naming exactly that domain's pending instances), the status and printer fields afterwards, and that a
settled resource costs no Azure writes.
"""

from __future__ import annotations

import asyncio

import pytest

from .harness import NEW, OLD, resource, running_system, scenario

pytestmark = pytest.mark.slow


def domain_of(instance_id: str, uds: int = 5) -> int:
    return int(instance_id) % uds


async def test_five_domain_rollout_walks_one_domain_at_a_time_in_order() -> None:
    async with running_system(scenario(capacity=10, uds=5)) as system:
        await system.start_operator()
        await system.create(resource(pauseBetweenDomains="0s"))
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", what="Succeeded")

        status = system.status()
        assert status["domainProgress"] == "5/5"
        assert status["instanceProgress"] == "10/10"
        assert status["target"]["image"]["marketplace"]["version"] == NEW
        assert status["previousImage"]["marketplace"]["version"] == OLD
        assert [d["id"] for d in status["domains"]] == ["ud-0", "ud-1", "ud-2", "ud-3", "ud-4"]
        assert all(d["state"] == "Succeeded" for d in status["domains"])
        assert "operation" not in status
        assert system.condition("Ready")["status"] == "True"

        # Each manualupgrade names exactly one domain's instances, in domain order.
        upgrades = system.upgrades()
        assert [sorted(ids, key=int) for ids in upgrades] == [[str(d), str(d + 5)] for d in range(5)]
        # One model write, with If-Match.
        model_writes = system.requests("PATCH") + system.requests("PUT")
        assert len(model_writes) == 1

        # One domain in flight at a time: no instance of domain k+1 starts before all of domain k run
        # the new image and are healthy.
        events = [e for e in system.audit() if e["type"] == "instance"]
        for d in range(4):
            done = max(e["time"] for e in events if domain_of(e["instanceId"]) == d and e["state"] == "Running")
            nxt = min(e["time"] for e in events if domain_of(e["instanceId"]) == d + 1 and e["state"] == "Updating")
            assert done <= nxt, f"domain {d + 1} started before domain {d} finished"
        final = {e["instanceId"]: e for e in events}
        assert all(e["imageVersion"] == NEW and e["healthy"] for e in final.values())

        # Each manualupgrade's Azure operation id is the one the operator reported.
        started = [e.get("message", "") for e in system.kube.events() if e.get("reason") == "AzureOperationStarted"]
        upgrade_ops = [e["operationId"] for e in system.requests("POST", "/manualupgrade")]
        assert upgrade_ops
        assert all(any(op in message for message in started) for op in upgrade_ops)

        # Settled: no further Azure writes.
        writes = len([e for e in system.audit() if e["type"] == "request" and e["method"] != "GET"])
        await asyncio.sleep(1.0)
        assert len([e for e in system.audit() if e["type"] == "request" and e["method"] != "GET"]) == writes
