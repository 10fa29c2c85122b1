"""Flexible scale sets end to end (issue 12): the real operator against the emulator's Flex VMs.

Aspects: a regional Flex set is walked by fault domain, a zonal one by zone, upgrading VMs by name, with the
minimum of writes (one model PATCH, one manualupgrade per domain) and no per-VM reads; a bad image stops
after one domain; onFailure Rollback puts the old image back; an operator killed right after a
manualupgrade resumes without repeating or skipping a VM; VMs added mid-rollout end on the target; a Uniform
and a Flexible set roll side by side in one namespace; ``plan`` names the VMs per fault domain; a Rolling
Flex set is left to Azure's rolling upgrade and reported.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from typing import Any

import pytest
from scaleset_testbed import worlds
from scaleset_testbed.worlds import FLEX, RG, TOKEN, VMSS

from controller.azure.gateway import AzureComputeGateway
from controller.commands.plan import plan_manifest
from controller.config import CloudProfile

from .harness import BAD, NEW, OLD, System, running_system

pytestmark = pytest.mark.slow


def flex_world(capacity: int = 6, *, uniform: bool = False, **flex: Any) -> dict[str, Any]:
    sets = {FLEX: worlds.flex_scale_set(capacity, version=OLD, **flex)}
    if uniform:
        sets[VMSS] = worlds.scale_set(6, 3, 3, version=OLD)
    return worlds.scenario(
        {RG: sets},
        versions=[OLD, NEW, BAD],
        badImageVersions=[BAD],
        timing={"instanceUpgradeSeconds": 2.0, "jitterSeconds": 0.5, "modelUpdateSeconds": 0.5},
        throttling={"enabled": True},
    )


def flex_resource(name: str = "web", version: str = NEW, **rollout: Any) -> dict[str, Any]:
    return worlds.manifest(name, vmss=FLEX, version=version, rollout=rollout)


def flex_requests(system: System, method: str, suffix: str = "") -> list[dict[str, Any]]:
    return [e for e in system.requests(method, suffix) if f"/{FLEX}" in e["path"]]


def flex_upgrades(system: System) -> list[list[str]]:
    return [e["body"]["instanceIds"] for e in flex_requests(system, "POST", "/manualupgrade") if e["status"] == 202]


def vms(system: System) -> dict[str, dict[str, Any]]:
    """Every Flex VM's last audited state, by name."""
    last: dict[str, dict[str, Any]] = {}
    for e in system.audit():
        if e["type"] == "instance" and e["scaleSet"] == FLEX:
            last[e["instanceId"]] = e
    return last


def fault_domains(system: System) -> dict[str, int]:
    return {name: e["faultDomain"] for name, e in vms(system).items()}


async def test_a_regional_flex_set_is_walked_by_fault_domain_with_vm_names() -> None:
    async with running_system(flex_world(6, platformFaultDomainCount=3)) as system:
        await system.start_operator()
        await system.create(flex_resource())
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", what="Succeeded")
        status = system.status()
        assert status["orchestrationMode"] == "Flexible"
        assert status["domainKind"] == "FaultDomain"
        assert [d["id"] for d in status["domains"]] == ["fd-0", "fd-1", "fd-2"]
        fds = fault_domains(system)
        assert all(name.startswith(f"{FLEX}_") for name in fds)
        upgrades = flex_upgrades(system)
        assert [{fds[n] for n in ids} for ids in upgrades] == [{0}, {1}, {2}], "one fault domain per call, in order"
        assert sorted(n for ids in upgrades for n in ids) == sorted(fds), "every VM once"
        assert all(e["imageVersion"] == NEW and e["healthy"] for e in vms(system).values())
        assert system.condition("Ready")["status"] == "True"
        # Azure calls of a Flex rollout: 1 model PATCH + 1 manualupgrade per domain, no per-VM reads.
        writes = flex_requests(system, "PATCH") + flex_requests(system, "POST")
        assert len(writes) == 1 + 3
        vm_reads = [e for e in system.requests("GET") if "/virtualMachines/" in e["path"]]
        assert vm_reads == [], "VMs are read in the filtered listing only"
        reasons = {e.get("reason") for e in system.kube.events(involved_name="web")}
        assert "DomainKindFallback" in reasons


async def test_a_zonal_flex_set_is_walked_by_zone() -> None:
    async with running_system(flex_world(6, zones=["1", "2", "3"])) as system:
        await system.start_operator()
        await system.create(flex_resource())
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", what="Succeeded")
        status = system.status()
        assert status["domainKind"] == "Zone"
        assert [d["id"] for d in status["domains"]] == ["zone-1", "zone-2", "zone-3"]
        zones = {name: e["zone"] for name, e in vms(system).items()}
        assert [{zones[n] for n in ids} for ids in flex_upgrades(system)] == [{"1"}, {"2"}, {"3"}]


async def test_a_bad_image_on_a_flex_set_stops_after_one_domain() -> None:
    async with running_system(flex_world(6, platformFaultDomainCount=3)) as system:
        await system.start_operator()
        await system.create(flex_resource(version=BAD, maxUnhealthyInstances=0))
        await system.wait_for(lambda: system.status().get("phase") == "Failed", what="Failed")
        assert [d["state"] for d in system.status()["domains"]] == ["Failed", "Pending", "Pending"]
        assert system.condition("Stalled")["reason"] == "TooManyUnhealthyInstances"
        await asyncio.sleep(1.0)
        upgrades = flex_upgrades(system)
        assert len(upgrades) == 1
        fds = fault_domains(system)
        assert {fds[n] for n in upgrades[0]} == {0}
        touched = {n for n, e in vms(system).items() if e["imageVersion"] != OLD}
        assert touched == set(upgrades[0]), "only the first domain's VMs were touched"


async def test_rollback_on_a_flex_set_restores_the_previous_image() -> None:
    async with running_system(flex_world(6, platformFaultDomainCount=3)) as system:
        await system.start_operator()
        await system.create(flex_resource(version=BAD, maxUnhealthyInstances=0, onFailure="Rollback"))
        await system.wait_for(lambda: (system.status().get("rollback") or {}).get("finishedAt"), what="rolled back")
        status = system.status()
        assert status["domains"][0]["state"] == "RolledBack"
        model = system.azure.world.scale_sets[next(k for k in system.azure.world.scale_sets if k[2] == FLEX)]
        assert model.image_reference["version"] == OLD
        assert all(e["imageVersion"] == OLD for e in vms(system).values())
        first = flex_upgrades(system)[0]
        assert flex_upgrades(system) == [first, first], "the upgraded domain, then the same VMs back"


async def test_operator_killed_right_after_a_flex_manualupgrade_resumes_without_repeats() -> None:
    async with running_system(flex_world(9, platformFaultDomainCount=3), time_scale=5.0) as system:
        await system.start_operator()
        await system.create(flex_resource())
        await system.wait_for(lambda: len(flex_upgrades(system)) == 2, what="second manualupgrade sent")
        await system.kill_operator()  # before or after its status write: either must resume cleanly
        await asyncio.sleep(0.5)
        await system.start_operator()
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=120, what="Succeeded")
        upgrades = flex_upgrades(system)
        per_vm = Counter(n for ids in upgrades for n in ids)
        assert sorted(per_vm) == sorted(vms(system)), "no VM skipped"
        assert set(per_vm.values()) == {1}, f"a VM was upgraded twice: {upgrades}"
        fds = fault_domains(system)
        assert [{fds[n] for n in ids} for ids in upgrades] == [{0}, {1}, {2}]


async def test_vms_added_to_a_flex_set_mid_rollout_end_on_the_target() -> None:
    async with running_system(flex_world(6, platformFaultDomainCount=3), time_scale=5.0) as system:
        await system.start_operator()
        await system.create(flex_resource())
        await system.wait_for(lambda: len(flex_upgrades(system)) == 1, what="first domain started")
        path = f"/subscriptions/{worlds.SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
        path += f"/virtualMachineScaleSets/{FLEX}"
        async with system.http.patch(
            f"{system.azure.url}{path}?api-version=2024-11-01",
            json={"sku": {"capacity": 8}},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response:
            assert response.status in (200, 202), await response.text()
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=120, what="Succeeded")
        live = {n: e for n, e in vms(system).items() if e["state"] not in ("Deleting", "Deleted")}
        assert len(live) == 8
        assert all(e["imageVersion"] == NEW for e in live.values()), live
        assert system.status()["instances"]["total"] == 8


async def test_a_uniform_and_a_flex_set_roll_side_by_side_in_one_namespace() -> None:
    async with running_system(flex_world(6, uniform=True, platformFaultDomainCount=3)) as system:
        await system.start_operator()
        await system.create(flex_resource("flex"))
        await system.create(worlds.manifest("uniform", vmss=VMSS, version=NEW))
        await system.wait_for(
            lambda: system.status("flex").get("phase") == system.status("uniform").get("phase") == "Succeeded",
            within=120,
            what="both Succeeded",
        )
        assert system.status("flex")["domainKind"] == "FaultDomain"
        assert system.status("flex")["orchestrationMode"] == "Flexible"
        assert system.status("uniform")["domainKind"] == "UpdateDomain"
        assert system.status("uniform")["orchestrationMode"] == "Uniform"
        uniform_calls = [e for e in system.upgrades() if all(i.isdigit() for i in e)]
        assert sorted(i for ids in uniform_calls for i in ids) == [str(i) for i in range(6)]
        assert all(e["imageVersion"] == NEW for e in vms(system).values())


async def test_plan_on_a_flex_set_names_vms_by_fault_domain_and_changes_nothing() -> None:
    async with running_system(flex_world(6, platformFaultDomainCount=3)) as system:
        gateways: list[AzureComputeGateway] = []

        def gateway_for(profile: CloudProfile) -> AzureComputeGateway:
            gateways.append(AzureComputeGateway(profile))
            return gateways[-1]

        out = io.StringIO()
        try:
            ok = await plan_manifest(flex_resource(), system.config(), gateway_for, out)
        finally:
            for gateway in gateways:
                await gateway.close()
        text = out.getvalue()
        assert ok, text
        assert "Flexible orchestration, 6 instances" in text
        assert "domains: 3 by FaultDomain (a Flexible scale set has no update domains" in text
        fds = fault_domains(system)
        first = sorted(n for n, fd in fds.items() if fd == 0)
        assert f"1. fd-0: upgrade {', '.join(first)}" in text
        assert [e for e in system.audit() if e["type"] == "request" and e["method"] != "GET"] == []


async def test_a_rolling_flex_set_is_left_to_azure_and_reported() -> None:
    async with running_system(flex_world(6, platformFaultDomainCount=3, upgradePolicy="Rolling")) as system:
        await system.start_operator()
        await system.create(flex_resource())
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=120, what="Succeeded")
        assert system.status()["upgradePolicyMode"] == "Rolling"
        assert flex_upgrades(system) == [], "Azure's rolling upgrade walks the VMs, not manualupgrade"
        assert len(flex_requests(system, "PATCH")) == 1
        assert all(e["imageVersion"] == NEW for e in vms(system).values())
