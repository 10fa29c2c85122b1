"""A single ScaleSetImage following a gallery image end to end (issue 18, "a ScaleSetImage ... can follow").

Aspects: the newest version is seen in status.follow and waits for approval (nothing is written until then);
approval by spec.follow.approvedVersion sets spec.image (under the field manager scaleset-image-follow) and the
ScaleSetImage rolls it out; a version not yet replicated to the scale set's region, or excludeFromLatest, is
never followed; a version approved (by annotation) while a rollout is in flight waits for that rollout to end,
then is a rollout of its own; with autoApprove a new version is rolled without anyone; the events of each step.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from scaleset_testbed import worlds
from scaleset_testbed.worlds import RG, SUB

from controller.commands.grid import render_resource

from .harness import OLD, System, running_system

pytestmark = pytest.mark.slow

GALLERY_IMAGE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/corp/images/hardened"


def world() -> dict[str, Any]:
    return worlds.scenario(
        {RG: {"vmss-web": worlds.scale_set(4, 2, 2, version=OLD)}},
        versions=[OLD],
        timing={"instanceUpgradeSeconds": 1.0, "jitterSeconds": 0.2, "modelUpdateSeconds": 0.3},
        galleries=[
            {
                "subscriptionId": SUB,
                "resourceGroup": RG,
                "gallery": "corp",
                "image": "hardened",
                "versions": ["1.0.0"],
                "regions": [worlds.LOCATION, "northeurope"],
            }
        ],
    )


def following(**follow: Any) -> dict[str, Any]:
    body = worlds.manifest("web", vmss="vmss-web", version=OLD)
    body["spec"]["follow"] = {"galleryImageId": GALLERY_IMAGE, **follow}
    return body


def version_of(system: System) -> str | None:
    image = system.get()["spec"]["image"]
    gallery_id = image.get("galleryImageVersionId")
    return str(gallery_id).rsplit("/", 1)[-1] if gallery_id else None


def follow_status(system: System) -> dict[str, Any]:
    return dict(system.status().get("follow") or {})


def reasons(system: System) -> list[str]:
    return [str(e.get("reason")) for e in system.kube.events(involved_name="web")]


def gallery_lookups(system: System) -> int:
    return sum(1 for e in system.requests() if "/galleries/corp/images/hardened/versions" in e["path"])


def model_versions(system: System) -> list[str]:
    """The gallery versions written to the scale set model, in order (PATCH/PUT bodies)."""
    out: list[str] = []
    for e in system.requests():
        if e["method"] in ("PATCH", "PUT") and e["path"].endswith("/vmss-web"):
            found = re.search(r"/versions/([0-9.]+)", json.dumps(e.get("body")))
            if found and (not out or out[-1] != found[1]):
                out.append(found[1])
    return out


def rolled_to(system: System, version: str) -> bool:
    status = system.status()
    target = (status.get("target") or {}).get("image") or {}
    return bool(
        str(target.get("galleryImageVersionId", "")).endswith(f"/versions/{version}")
        and status.get("phase") == "Succeeded"
        and status.get("observedGeneration") == system.get()["metadata"]["generation"]
    )


async def test_a_scale_set_image_follows_a_gallery_image_with_approval() -> None:
    async with running_system(world()) as system:
        await system.start_operator()
        await system.create(following())
        # Seen, not approved: nothing moves.
        await system.wait_for(lambda: follow_status(system).get("latestVersion") == "1.0.0", what="1.0.0 seen")
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", what="settled on OLD")
        assert follow_status(system).get("approvedVersion") is None
        assert follow_status(system)["seenAt"]
        assert system.get()["spec"]["image"] == {"marketplace": worlds.image_reference(OLD)}
        assert "ApprovalRequired" in reasons(system)
        view = render_resource("default", "web", system.status())
        assert any(
            line.strip().startswith("follow: latest 1.0.0") and "1.0.0 waits for approval" in line for line in view
        )

        # Approved in spec: spec.image follows, under its own field manager, and rolls out.
        await system.patch_spec("web", {"follow": {"approvedVersion": "1.0.0"}})
        await system.wait_for(lambda: version_of(system) == "1.0.0", what="spec.image set to 1.0.0")
        managers = {f["manager"] for f in system.get()["metadata"].get("managedFields", [])}
        assert "scaleset-image-follow" in managers
        await system.wait_for(lambda: system.status().get("phase") == "Progressing", what="rollout of 1.0.0")
        assert follow_status(system)["approvedBy"] == "Spec"
        assert follow_status(system)["approvedAt"]

        # Paused mid-rollout (a rollout in flight). Meanwhile 1.0.1 is published but still replicating (not in
        # this scale set's region) and 1.0.2 is excluded from latest: neither is followed.
        await system.patch_spec("web", {"rollout": {"paused": True}})
        await system.wait_for(lambda: system.status().get("phase") == "Paused", what="paused")
        gallery = system.azure.world.galleries[GALLERY_IMAGE.lower()]
        gallery.versions.extend(["1.0.1", "1.0.2"])
        gallery.version_regions["1.0.1"] = ["northeurope"]
        gallery.exclude_from_latest.append("1.0.2")
        looked = gallery_lookups(system)
        await system.wait_for(lambda: gallery_lookups(system) >= looked + 2, what="two more look-ups")
        assert follow_status(system)["latestVersion"] == "1.0.0"

        # Replicated: seen; approved by annotation while the rollout of 1.0.0 is in flight (paused): it waits.
        gallery.version_regions["1.0.1"] = ["northeurope", worlds.LOCATION]
        await system.wait_for(lambda: follow_status(system).get("latestVersion") == "1.0.1", what="1.0.1 seen")
        async with system.http.patch(
            f"{system.kube.url}/apis/imagerollout.dev/v1alpha1/namespaces/default/scalesetimages/web",
            json={"metadata": {"annotations": {"imagerollout.dev/approved-version": "1.0.1"}}},
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response:
            assert response.status == 200, await response.text()
        await system.wait_for(lambda: follow_status(system).get("approvedVersion") == "1.0.1", what="1.0.1 approved")
        assert follow_status(system)["approvedBy"] == "Annotation"
        await asyncio.sleep(0.5)
        assert version_of(system) == "1.0.0", "no image change while a rollout is in flight"
        assert system.status()["phase"] == "Paused"

        # Resumed: 1.0.0 finishes, then 1.0.1 is a rollout of its own.
        await system.patch_spec("web", {"rollout": {"paused": False}})
        await system.wait_for(lambda: version_of(system) == "1.0.1", within=90, what="spec.image set to 1.0.1")
        await system.wait_for(lambda: rolled_to(system, "1.0.1"), within=90, what="1.0.1 rolled out")
        assert model_versions(system) == ["1.0.0", "1.0.1"], "1.0.0 was rolled out (to the end) before 1.0.1"
        assert len(system.upgrades()) == 4, "two update domains per rollout, each upgraded once"

        # autoApprove: the next version is rolled out without anyone.
        await system.patch_spec("web", {"follow": {"autoApprove": True}})
        gallery.versions.append("1.1.0")
        await system.wait_for(lambda: rolled_to(system, "1.1.0"), within=90, what="1.1.0 rolled out")
        assert follow_status(system)["approvedBy"] == "AutoApprove"
        for reason in ("NewVersionSeen", "ApprovalRequired", "VersionApproved", "ImageFollowed"):
            assert reason in reasons(system), reason
