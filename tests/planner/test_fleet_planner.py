"""The fleet planner, case by case (no I/O): each test names a situation and checks the decision.

Aspects covered: a run starts and its first stage's members get the image up to maxParallel; a member succeeds
only on a status for the generation that carries the image (never on one left by the previous image); StopRun
leaves later stages NotStarted, ContinueOtherGroups goes on; a wait between stages; an approval token tied to
the run; pause and resume reach the members in flight; a followed version needs approval unless autoApprove, and
a newer version mid-run waits for the run to end; newest_version honours excludeFromLatest and regions; the
apply that did not go through puts the member back to Pending; the kstatus conditions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controller.fleet import MemberView, approval_token, newest_version, plan_fleet, record_applied, unrecord_started
from controller.observed import GalleryVersion
from controller.resource import ImageSource
from controller.resource.fleet import (
    FollowSpec,
    ScaleSetImageRolloutSpec,
    ScaleSetImageRolloutStatus,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GALLERY = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute"
    "/galleries/g/images/i"
)
OLD = ImageSource.from_dict({"marketplace": {"publisher": "P", "offer": "O", "sku": "S", "version": "1.0.0"}})
NEW = ImageSource.from_dict({"marketplace": {"publisher": "P", "offer": "O", "sku": "S", "version": "2.0.0"}})


def spec(**fields: Any) -> ScaleSetImageRolloutSpec:
    data: dict[str, Any] = {
        "selector": {"matchLabels": {"fleet": "f"}},
        "image": NEW.to_dict(),
        "stages": [
            {"name": "one", "selector": {"matchLabels": {"s": "one"}}},
            {"name": "two", "selector": {"matchLabels": {"s": "two"}}, "maxParallel": 2},
            {"name": "three"},
        ],
    }
    data.update(fields)
    return ScaleSetImageRolloutSpec.from_dict(data)


def view(name: str, stage: str, image: ImageSource = OLD, generation: int = 1, **status: Any) -> MemberView:
    return MemberView(
        namespace="ns",
        name=name,
        labels={"fleet": "f", "s": stage},
        generation=generation,
        image=image,
        phase=status.get("phase", "Succeeded"),
        observed_generation=status.get("observed", generation),
        target_generation=status.get("target", generation),
        stalled=status.get("stalled"),
    )


MEMBERS = [view("a", "one"), view("b", "two"), view("c", "two"), view("d", "two"), view("e", "three")]


def step(
    s: ScaleSetImageRolloutSpec,
    status: ScaleSetImageRolloutStatus,
    members: list[MemberView],
    now: datetime = NOW,
    **kw: Any,
) -> Any:
    return plan_fleet(s, status, members, now=now, generation=1, **kw)


def applied(plan: Any, generation: int = 2) -> ScaleSetImageRolloutStatus:
    status: ScaleSetImageRolloutStatus = plan.status
    for action in plan.actions:
        status = record_applied(status, action.namespace, action.name, generation)
    return status


def on_new(members: list[MemberView], names: set[str], **status: Any) -> list[MemberView]:
    return [view(m.name, m.labels["s"], NEW, 2, **status) if m.name in names else m for m in members]


def test_a_run_starts_with_the_first_stage_only() -> None:
    plan = step(spec(), ScaleSetImageRolloutStatus(), MEMBERS)
    assert [(a.name, a.image, a.paused) for a in plan.actions] == [("a", NEW, False)]
    assert plan.status.run is not None
    assert plan.status.run.number == 1
    assert [s.state for s in plan.status.stages] == ["Progressing", "Pending", "Pending"]
    assert plan.status.phase == "Progressing"
    assert plan.status.condition("Reconciling").status == "True"


def test_a_member_succeeds_only_on_a_status_for_its_new_generation() -> None:
    status = applied(step(spec(), ScaleSetImageRolloutStatus(), MEMBERS))
    # the member's status is still the previous image's Succeeded (observed generation 1 < 2)
    stale = on_new(MEMBERS, {"a"}, observed=1, target=1)
    plan = step(spec(), status, stale)
    assert plan.status.member("ns", "a").state == "Progressing"
    assert plan.actions == ()
    done = step(spec(), status, on_new(MEMBERS, {"a"}))
    assert done.status.member("ns", "a").state == "Succeeded"
    assert [a.name for a in done.actions] == ["b", "c"], "stage two starts at once, two at a time"


def test_stop_run_leaves_later_stages_not_started() -> None:
    status = applied(step(spec(), ScaleSetImageRolloutStatus(), MEMBERS))
    status = applied(step(spec(), status, on_new(MEMBERS, {"a"})))
    failing = on_new(MEMBERS, {"a", "c"})
    failing = [view("b", "two", NEW, 2, phase="Failed", stalled="TooManyUnhealthyInstances: x"), *failing[2:]]
    failing.insert(0, view("a", "one", NEW, 2))
    plan = step(spec(), status, failing)
    assert [s.state for s in plan.status.stages] == ["Succeeded", "Failed", "NotStarted"]
    assert plan.actions == (), "d (stage two) and e (stage three) never start"
    assert plan.status.phase == "Failed"
    assert plan.status.condition("Stalled").status == "True"


def test_continue_other_groups_goes_on_after_a_failure() -> None:
    s = spec(failurePolicy="ContinueOtherGroups")
    status = applied(step(s, ScaleSetImageRolloutStatus(), MEMBERS))
    status = applied(step(s, status, on_new(MEMBERS, {"a"})))
    members = [view("a", "one", NEW, 2), view("b", "two", NEW, 2, phase="Failed"), view("c", "two", NEW, 2)]
    plan = step(s, status, [*members, view("d", "two"), view("e", "three")])
    assert [a.name for a in plan.actions] == ["d"]


def test_a_wait_between_stages() -> None:
    s = spec(stages=[{"name": "one", "selector": {"matchLabels": {"s": "one"}}}, {"name": "two", "waitBefore": "10m"}])
    status = applied(step(s, ScaleSetImageRolloutStatus(), MEMBERS[:2]))
    plan = step(s, status, [view("a", "one", NEW, 2), MEMBERS[1]])
    assert [x.state for x in plan.status.stages] == ["Succeeded", "Waiting"]
    assert plan.actions == ()
    assert plan.requeue_after == 600
    later = step(s, plan.status, [view("a", "one", NEW, 2), MEMBERS[1]], now=NOW + timedelta(minutes=10))
    assert [a.name for a in later.actions] == ["b"]


def test_an_approval_token_is_tied_to_the_run() -> None:
    stages = [{"name": "one", "selector": {"matchLabels": {"s": "one"}}}, {"name": "two", "approval": True}]
    status = applied(step(spec(stages=stages), ScaleSetImageRolloutStatus(), MEMBERS[:2]))
    members = [view("a", "one", NEW, 2), MEMBERS[1]]
    plan = step(spec(stages=stages), status, members)
    assert plan.status.pending_approval == approval_token("two", 1) == "two@run-1"
    assert plan.status.phase == "WaitingForApproval"
    stale = step(spec(stages=stages, approvals=["two@run-0"]), plan.status, members)
    assert stale.actions == ()
    by_annotation = step(
        spec(stages=stages), plan.status, members, annotations={"imagerollout.dev/approve": "two@run-1"}
    )
    assert [a.name for a in by_annotation.actions] == ["b"]
    assert by_annotation.status.stages[1].approved_at == NOW


def test_pause_and_resume_reach_the_members_in_flight() -> None:
    status = applied(step(spec(), ScaleSetImageRolloutStatus(), MEMBERS))
    paused = step(spec(paused=True), status, on_new(MEMBERS, {"a"}, phase="Progressing"))
    assert [(a.name, a.paused) for a in paused.actions] == [("a", True)]
    assert paused.status.phase == "Paused"
    done = step(spec(paused=True), paused.status, on_new(MEMBERS, {"a"}))
    assert done.actions == (), "paused: stage two does not start"
    resumed = step(spec(), paused.status, on_new(MEMBERS, {"a"}, phase="Progressing"))
    assert [(a.name, a.paused) for a in resumed.actions] == [("a", False)]


def test_an_apply_that_failed_puts_the_member_back_to_pending() -> None:
    plan = step(spec(), ScaleSetImageRolloutStatus(), MEMBERS)
    status = unrecord_started(plan.status, "ns", "a")
    assert status.member("ns", "a").state == "Pending"  # type: ignore[union-attr]
    again = step(spec(), status, MEMBERS)
    assert [a.name for a in again.actions] == ["a"]


def follow_spec(**follow: Any) -> ScaleSetImageRolloutSpec:
    return spec(image=None, follow={"galleryImageId": GALLERY, "regions": ["westeurope"], **follow})


def gallery(version: str) -> ImageSource:
    return ImageSource(gallery_image_version_id=f"{GALLERY}/versions/{version}")


def test_a_followed_version_waits_for_approval_unless_auto_approved() -> None:
    plan = step(follow_spec(), ScaleSetImageRolloutStatus(), MEMBERS, latest_version="1.0.1")
    assert plan.status.run is None
    assert plan.status.phase == "WaitingForApproval"
    assert plan.status.follow is not None
    assert plan.status.follow.latest_version == "1.0.1"
    approved = step(follow_spec(approvedVersion="1.0.1"), plan.status, MEMBERS, latest_version="1.0.1")
    assert approved.status.run is not None
    assert approved.status.run.image == gallery("1.0.1")
    assert approved.status.follow is not None
    assert approved.status.follow.approved_by == "Spec"
    auto = step(follow_spec(autoApprove=True), ScaleSetImageRolloutStatus(), MEMBERS, latest_version="1.0.1")
    assert [a.image for a in auto.actions] == [gallery("1.0.1")]


def test_a_newer_version_mid_run_waits_for_the_run_to_end() -> None:
    s = follow_spec(autoApprove=True)
    status = applied(step(s, ScaleSetImageRolloutStatus(), MEMBERS[:1], latest_version="1.0.1"))
    mid = step(s, status, [view("a", "one", gallery("1.0.1"), 2, phase="Progressing")], latest_version="1.0.2")
    assert mid.status.run is not None
    assert mid.status.run.image == gallery("1.0.1")
    assert mid.status.follow is not None
    assert mid.status.follow.approved_version == "1.0.2"
    assert mid.actions == ()
    ended = step(s, mid.status, [view("a", "one", gallery("1.0.1"), 2)], latest_version="1.0.2")
    assert ended.status.run is not None
    assert ended.status.run.finished_at == NOW
    nxt = step(s, ended.status, [view("a", "one", gallery("1.0.1"), 2)], latest_version="1.0.2")
    assert nxt.status.run is not None
    assert nxt.status.run.number == 2
    assert [a.image for a in nxt.actions] == [gallery("1.0.2")]


def test_newest_version_honours_exclude_from_latest_and_regions() -> None:
    follow = FollowSpec.from_dict({"galleryImageId": GALLERY, "regions": ["westeurope", "East US"]})
    versions = [
        GalleryVersion("1.0.0", False, ("westeurope", "eastus")),
        GalleryVersion("1.1.0", False, ("westeurope",)),  # not yet in eastus
        GalleryVersion("1.2.0", True, ("westeurope", "eastus")),  # excluded from latest
        GalleryVersion("1.0.10", False, ("westeurope", "eastus")),
    ]
    assert newest_version(follow, versions, None, follow.regions) == "1.0.10"
    assert newest_version(follow, versions, None, ["westeurope"]) == "1.1.0"
    market = FollowSpec.from_dict(
        {
            "marketplace": {"publisher": "P", "offer": "O", "sku": "S"},
            "regions": ["westeurope"],
            "subscriptionId": "00000000-0000-0000-0000-000000000001",
        }
    )
    assert newest_version(market, None, ["1.9.0", "1.10.0"]) == "1.10.0"


def test_a_member_that_follows_its_own_image_is_left_out() -> None:
    members = [*MEMBERS[:1], MemberView(**{**vars(view("f", "one")), "follows": True})]
    plan = step(spec(), ScaleSetImageRolloutStatus(), members)
    assert [m.name for m in plan.status.members] == ["a"]
    assert plan.status.excluded == ("ns/f: follows its own image (spec.follow)",)
    assert [a.name for a in plan.actions] == ["a"]
