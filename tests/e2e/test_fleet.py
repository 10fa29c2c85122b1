"""Fleets end to end (issue 18): a ScaleSetImageRollout driving real ScaleSetImages on the emulators.

Aspects: a 3-stage run over 6 scale sets (Uniform and Flexible) where stage 2 fails and stage 3 never starts
(and no stage-3 scale set sees an Azure write); a stage behind an approval, with the operator killed while it
waits and restarted, resuming without repeating an upgrade; following a gallery image whose new version
appears mid-run (the run keeps its version; the new one waits for approval, then is a run of its own); the
Azure calls of a fleet run against the same scale sets rolled one by one.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from typing import Any

import pytest
from scaleset_testbed import worlds
from scaleset_testbed.worlds import GROUP, RG, SUB, VERSION

from controller.commands.fleets import render_fleets

from .harness import BAD, NEW, OLD, System, running_system

pytestmark = pytest.mark.slow

FLEETS = f"{GROUP}/{VERSION}/scalesetimagerollouts"
FLEETS_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/default/scalesetimagerollouts"
GALLERY_IMAGE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/corp/images/hardened"

# name -> (scale set, Flexible?, stage label)
SIX: dict[str, tuple[str, bool, str]] = {
    "canary": ("vmss-canary", False, "canary"),
    "eu-web": ("vmss-eu-web", False, "wave-1"),
    "eu-app": ("vmss-eu-app", True, "wave-1"),
    "us-web": ("vmss-us-web", False, "wave-2"),
    "us-app": ("vmss-us-app", True, "wave-2"),
    "us-api": ("vmss-us-api", False, "wave-2"),
}


def world(members: dict[str, tuple[str, bool, str]], *, gallery: list[str] | None = None) -> dict[str, Any]:
    sets = {
        vmss: worlds.flex_scale_set(4, version=OLD, platformFaultDomainCount=2)
        if flex
        else worlds.scale_set(4, 2, 2, version=OLD)
        for vmss, flex, _ in members.values()
    }
    extra: dict[str, Any] = {}
    if gallery is not None:
        extra["galleries"] = [
            {
                "subscriptionId": SUB,
                "resourceGroup": RG,
                "gallery": "corp",
                "image": "hardened",
                "versions": gallery,
                "regions": [worlds.LOCATION],
            }
        ]
    return worlds.scenario(
        {RG: sets},
        versions=[OLD, NEW, BAD],
        badImageVersions=[BAD],
        timing={"instanceUpgradeSeconds": 2.0, "jitterSeconds": 0.5, "modelUpdateSeconds": 0.5},
        throttling={"enabled": True},
        **extra,
    )


def member(name: str, vmss: str, stage: str, **rollout: Any) -> dict[str, Any]:
    body = worlds.manifest(name, vmss=vmss, version=OLD, rollout=rollout)
    body["metadata"]["labels"] = {"fleet": "web", "stage": stage}
    return body


def fleet(stages: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ScaleSetImageRollout",
        "metadata": {"name": "web-fleet", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"fleet": "web"}}, "stages": stages, **spec},
    }


def stage(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "selector": {"matchLabels": {"stage": name}}, **fields}


def marketplace(version: str) -> dict[str, Any]:
    return {"marketplace": worlds.image_reference(version)}


async def create_fleet(system: System, body: dict[str, Any]) -> None:
    async with system.http.post(system.kube.url + FLEETS_PATH, json=body) as response:
        assert response.status == 201, await response.text()


async def patch_fleet(system: System, patch: dict[str, Any]) -> None:
    async with system.http.patch(
        f"{system.kube.url}{FLEETS_PATH}/web-fleet",
        json=patch,
        headers={"Content-Type": "application/merge-patch+json"},
    ) as response:
        assert response.status == 200, await response.text()


def fleet_status(system: System) -> dict[str, Any]:
    obj = system.kube.get_object(FLEETS, "web-fleet", "default")
    assert obj is not None
    return dict(obj.get("status") or {})


def stage_states(system: System) -> dict[str, str]:
    return {s["name"]: s["state"] for s in fleet_status(system).get("stages", [])}


def gallery_lookups(system: System) -> int:
    return sum(1 for e in system.requests() if "/galleries/corp/images/hardened/versions" in e["path"])


def writes_by_scale_set(system: System) -> Counter[str]:
    """Azure writes (PATCH of a model, POST manualupgrade) per scale set name."""
    out: Counter[str] = Counter()
    for e in system.requests():
        if e["method"] in ("PATCH", "POST") and "/virtualMachineScaleSets/" in e["path"]:
            out[e["path"].split("/virtualMachineScaleSets/")[1].split("/")[0]] += 1
    return out


async def create_members(system: System, members: dict[str, tuple[str, bool, str]], **rollout: Any) -> None:
    for name, (vmss, _, label) in members.items():
        await system.create(member(name, vmss, label, **rollout.get(name, {})))
    # each member settles on the image it already runs before the fleet moves it
    await system.wait_for(
        lambda: all(system.status(n).get("phase") == "Succeeded" for n in members), what="members settled on OLD"
    )


async def test_three_stages_over_six_scale_sets_stage_two_fails_and_stage_three_never_starts() -> None:
    async with running_system(world(SIX)) as system:
        await system.start_operator()
        # eu-web has one instance whose next upgrade comes back unhealthy; with no unhealthy budget it fails.
        await create_members(system, SIX, **{"eu-web": {"maxUnhealthyInstances": 0}})
        ss = system.azure.world.get_scale_set(SUB, RG, "vmss-eu-web")
        system.azure.world.force_instance_effect(ss, "0", "unhealthy")
        before = len(system.requests())
        await create_fleet(
            system,
            fleet(
                [stage("canary"), stage("wave-1", maxParallel=2), stage("wave-2", maxParallel=3)],
                image=marketplace(NEW),
            ),
        )
        await system.wait_for(lambda: fleet_status(system).get("phase") == "Failed", within=120, what="fleet Failed")
        status = fleet_status(system)
        assert stage_states(system) == {"canary": "Succeeded", "wave-1": "Failed", "wave-2": "NotStarted"}
        members = {m["name"]: m for m in status["members"]}
        assert members["canary"]["state"] == "Succeeded"
        assert members["eu-web"]["state"] == "Failed"
        assert members["eu-app"]["state"] == "Succeeded", "its sibling in the stage rolled in parallel and finished"
        assert {members[n]["state"] for n in ("us-web", "us-app", "us-api")} == {"Pending"}
        conditions = {c["type"]: c for c in status["conditions"]}
        assert conditions["Stalled"]["status"] == "True"
        assert "Failed: default/eu-web (TooManyUnhealthyInstances" in conditions["Stalled"]["message"]
        assert conditions["Ready"]["status"] == "False"
        assert status["stageProgress"] == "2/3", "stages that ran, out of all"
        assert status["memberProgress"] == "2/6"
        # stage 3 never starts: its members keep their image, and its scale sets see no Azure write
        await asyncio.sleep(1.0)
        for name in ("us-web", "us-app", "us-api"):
            assert system.get(name)["spec"]["image"] == marketplace(OLD)
        writes = writes_by_scale_set(system)
        assert not {"vmss-us-web", "vmss-us-app", "vmss-us-api"} & set(writes)
        assert system.get("canary")["spec"]["image"] == marketplace(NEW)
        managers = {f["manager"] for f in system.get("canary")["metadata"].get("managedFields", [])}
        assert "scaleset-image-fleet" in managers, "the fleet applies the image under its own field manager"
        reasons = [e.get("reason") for e in system.kube.events(involved_name="web-fleet")]
        for reason in ("RunStarted", "StageStarted", "StageSucceeded", "MemberFailed", "StageFailed", "RunFailed"):
            assert reason in reasons
        print("fleet run, Azure requests:", len(system.requests()) - before)
        # the status view groups the members by stage
        view = render_fleets([system.kube.get_object(FLEETS, "web-fleet", "default") or {}])
        print("\n".join(view))
        text = "\n".join(view)
        assert "fleet default/web-fleet  Failed  run 1" in text
        assert any(line.strip().startswith("wave-2") and "NotStarted" in line for line in view)
        assert "default/eu-web: Failed" in text


def rolled(system: System, name: str) -> bool:
    status = system.status(name)
    return bool(status.get("target", {}).get("image") == marketplace(NEW) and status.get("phase") == "Succeeded")


async def test_a_fleet_run_costs_no_azure_call_more_than_rolling_the_six_one_by_one() -> None:
    async with running_system(world(SIX)) as system:
        await system.start_operator()
        await create_members(system, SIX)
        start = len(system.requests())
        await create_fleet(
            system,
            fleet(
                [stage("canary"), stage("wave-1", maxParallel=2), stage("wave-2", maxParallel=3)],
                image=marketplace(NEW),
            ),
        )
        await system.wait_for(lambda: fleet_status(system).get("phase") == "Succeeded", within=120, what="Succeeded")
        fleet_calls = system.requests()[start:]
    async with running_system(world(SIX)) as system:
        await system.start_operator()
        await create_members(system, SIX)
        start = len(system.requests())
        for name in SIX:
            await system.patch_spec(name, {"image": marketplace(NEW)})
            await system.wait_for(functools.partial(rolled, system, name), within=60, what=f"{name} Succeeded")
        single_calls = system.requests()[start:]

    def writes(calls: list[dict[str, Any]]) -> Counter[str]:
        return Counter(
            f"{e['method']} {e['path'].rsplit('/', 1)[-1]}" for e in calls if e["method"] in ("PATCH", "POST")
        )

    print(f"Azure requests, fleet of 6 in 3 stages: {len(fleet_calls)} (writes {sum(writes(fleet_calls).values())})")
    print(f"Azure requests, the 6 one by one:        {len(single_calls)} (writes {sum(writes(single_calls).values())})")
    print("fleet writes:", dict(writes(fleet_calls)), "one by one:", dict(writes(single_calls)))
    assert writes(fleet_calls) == writes(single_calls), "the fleet itself writes nothing to Azure"
    assert not [e for e in fleet_calls if "/galleries/" in e["path"]], "no follow, no image listing"


async def test_an_approval_gate_survives_an_operator_restart_between_stages() -> None:
    three = {k: SIX[k] for k in ("canary", "eu-web", "eu-app")}
    async with running_system(world(three)) as system:
        await system.start_operator()
        await create_members(system, three)
        await create_fleet(
            system,
            fleet([stage("canary"), stage("wave-1", approval=True, maxParallel=2)], image=marketplace(NEW)),
        )
        await system.wait_for(
            lambda: fleet_status(system).get("phase") == "WaitingForApproval", within=90, what="waiting for approval"
        )
        status = fleet_status(system)
        assert status["pendingApproval"] == "wave-1@run-1"
        assert stage_states(system) == {"canary": "Succeeded", "wave-1": "WaitingForApproval"}
        assert system.get("eu-web")["spec"]["image"] == marketplace(OLD), "nothing starts before the approval"
        # The operator dies between stages; a stale approval (another run's token) opens nothing.
        await system.kill_operator()
        await patch_fleet(system, {"spec": {"approvals": ["wave-1@run-7"]}})
        await system.start_operator()
        await asyncio.sleep(1.5)
        assert fleet_status(system)["phase"] == "WaitingForApproval"
        assert system.get("eu-web")["spec"]["image"] == marketplace(OLD)
        upgrades_before = writes_by_scale_set(system)
        await patch_fleet(system, {"spec": {"approvals": ["wave-1@run-7", "wave-1@run-1"]}})
        await system.wait_for(lambda: fleet_status(system).get("phase") == "Succeeded", within=90, what="Succeeded")
        assert stage_states(system) == {"canary": "Succeeded", "wave-1": "Succeeded"}
        stages = {s["name"]: s for s in fleet_status(system)["stages"]}
        assert stages["wave-1"]["approvedAt"]
        writes = writes_by_scale_set(system)
        assert writes["vmss-canary"] == upgrades_before["vmss-canary"], "the restart repeated nothing on stage 1"
        assert all(system.status(n)["phase"] == "Succeeded" for n in three)
        assert fleet_status(system)["conditions"][0]["type"] == "Ready"


async def test_a_gallery_version_appearing_mid_run_waits_for_its_own_approval() -> None:
    three = {k: SIX[k] for k in ("canary", "eu-web", "eu-app")}
    async with running_system(world(three, gallery=["1.0.0", "1.0.1"])) as system:
        await system.start_operator()
        await create_members(system, three)
        follow = {"galleryImageId": GALLERY_IMAGE}  # the regions: those of the members' scale sets
        await create_fleet(system, fleet([stage("canary"), stage("wave-1", maxParallel=1)], follow=follow))
        await system.wait_for(
            lambda: (fleet_status(system).get("follow") or {}).get("latestVersion") == "1.0.1", what="1.0.1 seen"
        )
        assert fleet_status(system)["phase"] == "WaitingForApproval"
        assert "run" not in fleet_status(system), "no run before a version is approved"
        await patch_fleet(system, {"spec": {"follow": {"approvedVersion": "1.0.1"}}})
        await system.wait_for(lambda: stage_states(system).get("wave-1") == "Progressing", within=90, what="wave-1")
        # 1.0.2 is published mid-run, first replicated to another region only (and a 1.0.3 that is excluded from
        # latest): not followed until 1.0.2 reaches the members' region.
        gallery = system.azure.world.galleries[GALLERY_IMAGE.lower()]
        gallery.versions.extend(["1.0.2", "1.0.3"])
        gallery.version_regions["1.0.2"] = ["northeurope"]
        gallery.exclude_from_latest.append("1.0.3")
        looked = gallery_lookups(system)
        await system.wait_for(lambda: gallery_lookups(system) >= looked + 2, what="two more look-ups")
        assert fleet_status(system)["follow"]["latestVersion"] == "1.0.1"
        gallery.version_regions["1.0.2"] = ["northeurope", worlds.LOCATION]
        await system.wait_for(lambda: fleet_status(system)["follow"].get("latestVersion") == "1.0.2", what="1.0.2 seen")
        await system.wait_for(lambda: fleet_status(system).get("phase") == "Succeeded", within=90, what="run 1 done")
        status = fleet_status(system)
        assert status["run"]["number"] == 1
        assert status["run"]["imageSummary"] == "corp/hardened:1.0.1"
        assert status["follow"]["approvedVersion"] == "1.0.1"
        assert status["follow"]["seenAt"]
        for name in three:
            assert system.get(name)["spec"]["image"]["galleryImageVersionId"].endswith("/versions/1.0.1")
        await asyncio.sleep(1.0)
        assert fleet_status(system)["run"]["number"] == 1, "1.0.2 waits for approval"
        await patch_fleet(system, {"metadata": {"annotations": {"imagerollout.dev/approved-version": "1.0.2"}}})
        await system.wait_for(
            lambda: (
                fleet_status(system).get("run", {}).get("number") == 2
                and fleet_status(system).get("phase") == "Succeeded"
            ),
            within=120,
            what="run 2 done",
        )
        assert fleet_status(system)["follow"]["approvedBy"] == "Annotation"
        for name in three:
            assert system.get(name)["spec"]["image"]["galleryImageVersionId"].endswith("/versions/1.0.2")


async def test_pausing_the_fleet_pauses_its_members_in_flight_and_resuming_goes_on() -> None:
    three = {k: SIX[k] for k in ("canary", "eu-web", "eu-app")}
    async with running_system(world(three)) as system:
        await system.start_operator()
        # a pause between the canary's two domains leaves time to pause the fleet while the canary rolls
        await create_members(system, three, canary={"pauseBetweenDomains": "3s"})
        await create_fleet(system, fleet([stage("canary"), stage("wave-1", maxParallel=2)], image=marketplace(NEW)))
        await system.wait_for(
            lambda: (
                system.status("canary").get("phase") == "Progressing"
                and system.get("canary")["spec"]["image"] == marketplace(NEW)
            ),
            what="canary rolling",
        )
        await patch_fleet(system, {"spec": {"paused": True}})
        await system.wait_for(lambda: fleet_status(system).get("phase") == "Paused", what="fleet Paused")
        await system.wait_for(lambda: system.status("canary").get("phase") == "Paused", what="canary Paused")
        assert system.get("canary")["spec"]["rollout"]["paused"] is True
        conditions = {c["type"]: c["status"] for c in fleet_status(system)["conditions"]}
        assert conditions == {"Ready": "False", "Reconciling": "False", "Stalled": "False"}
        await asyncio.sleep(1.0)
        assert system.status("canary")["phase"] == "Paused", "a paused fleet's member stays paused"
        assert stage_states(system) == {"canary": "Progressing", "wave-1": "Pending"}
        for name in ("eu-web", "eu-app"):
            assert system.get(name)["spec"]["image"] == marketplace(OLD), "no stage starts while paused"
        await patch_fleet(system, {"spec": {"paused": False}})
        await system.wait_for(lambda: fleet_status(system).get("phase") == "Succeeded", within=90, what="Succeeded")
        assert system.get("canary")["spec"]["rollout"]["paused"] is False
        assert all(rolled(system, n) for n in three)
        reasons = [e.get("reason") for e in system.kube.events(involved_name="web-fleet")]
        assert "FleetPaused" in reasons
        assert "FleetResumed" in reasons
