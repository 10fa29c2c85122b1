"""Rollouts that go wrong, end to end: bad image, rollback, missing image, Automatic policy, Azure faults.

Aspects: a bad image stops at the first domain (Failed/Stalled, later domains untouched); onFailure
Rollback puts the old image back on the model and on the upgraded domain; a missing image changes
nothing in Azure and says what to download; Automatic policy is refused; 429 bursts and 5xx answers
during the rollout are ridden out without breaking the one-domain-at-a-time rule.
"""

from __future__ import annotations

import asyncio

import pytest
from scaleset_testbed.azure.faults import FaultRule

from controller.config import BudgetConfig, WindowLimit

from .harness import BAD, NEW, OLD, resource, running_system, scenario

pytestmark = pytest.mark.slow


async def test_bad_image_stops_at_the_first_domain() -> None:
    async with running_system(scenario()) as system:
        await system.start_operator()
        await system.create(resource(version=BAD, maxUnhealthyInstances=0))
        await system.wait_for(lambda: system.status().get("phase") == "Failed", what="Failed")
        status = system.status()
        assert [d["state"] for d in status["domains"]] == ["Failed", "Pending", "Pending", "Pending", "Pending"]
        stalled = system.condition("Stalled")
        assert stalled["status"] == "True"
        assert stalled["reason"] == "TooManyUnhealthyInstances"
        assert "ud-0" in stalled["message"]
        assert system.upgrades() == [["0", "5"]]
        running = {e["instanceId"]: e["imageVersion"] for e in system.audit() if e["type"] == "instance"}
        assert set(running) == {"0", "5"}, "only the first domain's instances were touched"
        wanted = {"DomainStarted", "DomainFailed", "RolloutFailed"}
        await system.wait_for(
            lambda: wanted <= {e.get("reason") for e in system.kube.events(involved_name="web")},
            within=10,
            what="events",
        )
        await asyncio.sleep(1.0)
        assert system.upgrades() == [["0", "5"]], "a failed rollout stays stopped"


async def test_rollback_restores_the_previous_image_on_the_upgraded_domain() -> None:
    async with running_system(scenario()) as system:
        await system.start_operator()
        await system.create(resource(version=BAD, maxUnhealthyInstances=0, onFailure="Rollback"))
        await system.wait_for(
            lambda: (system.status().get("rollback") or {}).get("finishedAt"), what="rollback finished"
        )
        status = system.status()
        assert status["phase"] == "Failed"
        assert status["domains"][0]["state"] == "RolledBack"
        assert system.condition("Stalled")["reason"] == "RolledBack"
        model = system.azure.world.scale_sets[next(iter(system.azure.world.scale_sets))]
        assert model.image_reference["version"] == OLD
        final = {}
        for e in system.audit():
            if e["type"] == "instance":
                final[e["instanceId"]] = e
        assert final["0"]["imageVersion"] == OLD
        assert final["5"]["imageVersion"] == OLD
        assert final["0"]["healthy"] is True
        assert system.upgrades() == [["0", "5"], ["0", "5"]]
        wanted = {"RollbackStarted", "RollbackSucceeded"}
        await system.wait_for(lambda: wanted <= {e.get("reason") for e in system.kube.events()}, within=10)


async def test_missing_image_changes_nothing_in_azure() -> None:
    async with running_system(scenario()) as system:
        await system.start_operator()
        await system.create(resource(version="16.04.209912310"))
        await system.wait_for(lambda: system.condition("ImageAvailable").get("status") == "False", what="condition")
        message = system.condition("ImageAvailable")["message"]
        assert "download version 16.04.209912310 in Marketplace management" in message
        assert system.condition("Stalled")["status"] == "True"
        await asyncio.sleep(0.5)
        assert [e for e in system.audit() if e["type"] == "request" and e["method"] != "GET"] == []


async def test_automatic_policy_is_refused() -> None:
    async with running_system(scenario(upgradePolicy="Automatic")) as system:
        await system.start_operator()
        await system.create(resource())
        await system.wait_for(lambda: system.condition("UpgradePolicyCompatible").get("status") == "False")
        assert system.condition("Stalled")["status"] == "True"
        assert [e for e in system.audit() if e["type"] == "request" and e["method"] != "GET"] == []


async def test_throttling_bursts_and_server_errors_are_ridden_out() -> None:
    async with running_system(scenario()) as system:
        faults = system.azure.faults
        faults.add(
            FaultRule.from_json(
                {
                    "method": "GET",
                    "path": "/virtualMachines$",
                    "count": 4,
                    "status": 429,
                    "code": "TooManyRequests",
                    "retryAfter": 1,
                }
            )
        )
        faults.add(FaultRule.from_json({"method": "POST", "path": "/manualupgrade$", "count": 2, "status": 500}))
        faults.add(
            FaultRule.from_json(
                {
                    "method": "PATCH",
                    "path": "virtualMachineScaleSets/[^/]+$",
                    "count": 1,
                    "status": 503,
                    "code": "ServiceUnavailable",
                }
            )
        )
        await system.start_operator()
        await system.create(resource())
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=90, what="Succeeded")
        hit = [e for e in system.audit() if e["type"] == "request" and "fault" in e]
        assert len(hit) == 7, "every injected fault was met"
        assert [sorted(ids, key=int) for ids in system.upgrades()] == [[str(d), str(d + 5)] for d in range(5)]
        final = {e["instanceId"]: e["imageVersion"] for e in system.audit() if e["type"] == "instance"}
        assert set(final.values()) == {NEW}
        assert len(final) == 10


async def test_operator_budget_keeps_a_rollout_under_tight_azure_limits() -> None:
    tight = scenario()
    tight["throttling"] = {
        "enabled": True,
        "reads": {"capacity": 15, "refillPerSecond": 3.0},
        "writes": {"capacity": 5, "refillPerSecond": 1.0},
        "computePolicies": [],
    }
    async with running_system(tight) as system:
        system.budget = BudgetConfig(
            reads_per_second=2.0, read_burst=10, writes_per_second=0.5, write_burst=3, windows=()
        )
        await system.start_operator()
        await system.create(resource())
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=120, what="Succeeded")
        statuses = [e["status"] for e in system.audit() if e["type"] == "request"]
        assert 429 not in statuses
        assert system.azure.throttler.throttled == 0


async def test_a_long_wait_for_the_budget_is_shown_in_status() -> None:
    """Issue 14: the operator's own budget holding a rollout is visible while it holds it."""
    async with running_system(scenario(capacity=6, uds=3)) as system:
        # At most 2 instance listings per 3 s: a 3-domain rollout needs more, so it must wait at least once.
        system.budget = BudgetConfig(windows=(WindowLimit("vm_list", 2, 3.0),))
        await system.start_operator()
        await system.create(resource())
        held = await system.wait_for(
            lambda: (
                system.condition("Reconciling").get("reason") == "WaitingForAzureBudget"
                and system.condition("Reconciling")
            ),
            within=60,
            what="the wait shown",
        )
        assert "operator window on vm_list (2 per 3 s)" in held["message"]
        assert "(until " in held["message"]
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=120, what="Succeeded")
        listings = system.requests("GET", "/virtualMachines")
        times = sorted(e["time"] for e in listings)
        scale = 20.0  # emulated seconds per real second in the harness
        assert all(b - a >= 3.0 * scale - 1e-6 for a, b in zip(times, times[2:], strict=False)), "never 3 in 3 s"
