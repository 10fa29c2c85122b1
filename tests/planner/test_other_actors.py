"""The planner when the operator is not alone: other actors, scale-out, preempted writes, unknown history.

Aspects (issue 11, each written to fail on the planner before it): another actor's image in the model is
never installed and is reported (ModelInSync); "on target" is the image an instance runs, not
latestModelApplied; no domain starts while Azure updates instances outside it; instances created during
the rollout get domains of their own before Succeeded, and drift of instances is repaired after it; a
preempted model write is judged by the model Azure shows; a scale set already on the target still gets a
previous image to roll back to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from scaleset_testbed.worlds import VERSIONS

from controller.observed import ImageFacts, Observation, ObservedInstance, ObservedScaleSet, OperationState
from controller.resource import (
    ConditionStatus,
    ConditionType,
    DomainState,
    OperationKind,
    Phase,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout import Plan, UpdateModel, UpgradeInstances, plan_next_step, record_operation

from .builders import NEW, NOW, OLD, instances, later, scale_set, spec, with_instances

OTHER = VERSIONS[2]
FACTS = ImageFacts(marketplace_versions=VERSIONS)


def step(
    sp: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    ss: ObservedScaleSet,
    *,
    now: float = 0,
    operation: OperationState | None = None,
) -> Plan:
    obs = Observation(scale_set=ss, image=FACTS, operation=operation)
    return plan_next_step(sp, status, obs, now=later(now), generation=1)


def on(ss: ObservedScaleSet, ids: Sequence[str], version: str = NEW, **changes: object) -> ObservedScaleSet:
    """Instances ``ids`` run ``version`` (and match the model when the model names it)."""
    model_version = ss.image_reference.get("version")
    return with_instances(
        ss, {i: {"image_version": version, "latest_model": version == model_version, **changes} for i in ids}
    )


def walked_ud0() -> tuple[ScaleSetImageSpec, ScaleSetImageStatus]:
    """ud-0 upgraded and Succeeded; the walk is about to start ud-1."""
    sp = spec()
    s = step(sp, ScaleSetImageStatus(), scale_set()).status  # model update planned
    s = step(sp, s, scale_set(NEW)).status  # ud-0 started
    s = record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW)
    s = step(sp, s, on(scale_set(NEW), ["0", "5"]), now=5, operation=OperationState("Succeeded")).status
    assert s.domains[0].state == DomainState.SUCCEEDED
    # That pass also started ud-1 from the same observation; these tests start from just before it (as when
    # the start was held back), so the next pass, on what they observe, decides whether ud-1 starts.
    assert s.domains[1].state == DomainState.UPGRADING
    ud1 = evolve(s.domains[1], state=DomainState.PENDING, started_at=None)
    s = evolve(s, domains=(s.domains[0], ud1, *s.domains[2:]), current_domain=None)
    return sp, s


def test_another_actors_image_in_the_model_is_put_back_and_reported_never_installed() -> None:
    sp, s = walked_ud0()
    # Someone sets the model to another version mid-walk; every instance now reads latestModelApplied=false.
    drifted = on(scale_set(OTHER), ["0", "5"], NEW)
    plan = step(sp, s, drifted, now=6)
    assert isinstance(plan.action, UpdateModel), "the model is put back before any manualupgrade"
    assert plan.action.image_reference is not None
    assert plan.action.image_reference["version"] == NEW
    in_sync = plan.status.condition(ConditionType.MODEL_IN_SYNC)
    assert in_sync is not None
    assert (in_sync.status, in_sync.reason) == (ConditionStatus.FALSE, "ModelChangedOutsideOperator")
    assert OTHER in in_sync.message
    assert any(e.reason == "ModelChangedOutsideOperator" and e.warning for e in plan.events)
    assert plan.status.domains[0].state == DomainState.SUCCEEDED, "a finished domain stays finished"


def test_the_condition_recovers_once_the_model_names_the_target_again() -> None:
    sp, s = walked_ud0()
    s = step(sp, s, on(scale_set(OTHER), ["0", "5"], NEW), now=6).status
    back = step(sp, s, on(scale_set(NEW), ["0", "5"]), now=8)
    in_sync = back.status.condition(ConditionType.MODEL_IN_SYNC)
    assert in_sync is not None
    assert (in_sync.status, in_sync.reason) == (ConditionStatus.TRUE, "ModelNamesTarget")
    assert back.action == UpgradeInstances("ud-1", ("1", "6"))


def test_a_first_rollout_does_not_report_a_conflict() -> None:
    plan = step(spec(), ScaleSetImageStatus(), scale_set())
    assert plan.status.condition(ConditionType.MODEL_IN_SYNC) is None


def test_latest_model_applied_on_another_image_is_not_on_target() -> None:
    """An instance that matches the model but runs another version is pending, so never Succeeded."""
    sp, s = walked_ud0()
    ss = on(scale_set(NEW), [str(i) for i in range(10)], NEW)
    ss = with_instances(ss, {"9": {"image_version": OLD, "latest_model": True}})
    plan = step(sp, s, ss, now=6)
    assert plan.status.phase != Phase.SUCCEEDED
    assert plan.action == UpgradeInstances("ud-4", ("9",))


def test_upgraded_instances_stay_on_target_after_the_model_is_rewritten() -> None:
    """After the model is written again (latestModelApplied false everywhere) ud-0 is not upgraded again."""
    sp, s = walked_ud0()
    ss = with_instances(on(scale_set(NEW), ["0", "5"]), {"0": {"latest_model": False}, "5": {"latest_model": False}})
    plan = step(sp, s, ss, now=6)
    assert plan.action == UpgradeInstances("ud-1", ("1", "6"))
    assert plan.status.instances.updated == 2


def test_no_domain_starts_while_azure_updates_instances_outside_it() -> None:
    sp, s = walked_ud0()
    busy = with_instances(on(scale_set(NEW), ["0", "5"]), {"8": {"provisioning": "updating"}})
    plan = step(sp, s, busy, now=6)
    assert plan.action is None
    assert plan.status.domains[1].state == DomainState.PENDING
    reconciling = plan.status.condition(ConditionType.RECONCILING)
    assert reconciling is not None
    assert reconciling.reason == "WaitingForOtherUpdates"
    assert "8" in reconciling.message
    assert plan.requeue_after is not None


def test_a_new_resource_waits_for_an_upgrade_someone_else_started() -> None:
    s = step(spec(), ScaleSetImageStatus(), scale_set()).status
    busy = with_instances(scale_set(NEW), {"3": {"provisioning": "updating"}})
    plan = step(spec(), s, busy)
    assert plan.action is None, "ud-0 would be a second domain in flight next to instance 3's"


def _all_upgraded(ss: ObservedScaleSet) -> ObservedScaleSet:
    return on(ss, [i.instance_id for i in ss.instances])


def test_instances_created_during_the_rollout_get_domains_before_succeeded() -> None:
    sp, s = walked_ud0()
    for n, ud in enumerate(["ud-1", "ud-2", "ud-3", "ud-4"], start=1):
        ids = next(d.instance_ids for d in s.domains if d.id == ud)
        s = step(sp, s, on(scale_set(NEW), ["0", "5"]), now=10 * n).status
        s = record_operation(s, UpgradeInstances(ud, ids), "dG9rZW4=", NOW)
        s = evolve(s, operation=None)
    # Autoscale added instances 10 and 11 (created on the old image) while the walk went on.
    grown = _all_upgraded(scale_set(NEW, instances(12)))
    grown = with_instances(grown, {i: {"image_version": OLD, "latest_model": False} for i in ("10", "11")})
    plan = step(sp, s, grown, now=100)
    while plan.action is None and plan.status.phase != Phase.SUCCEEDED and plan.requeue_after == 0.0:
        plan = step(sp, plan.status, grown, now=100)
    assert plan.status.phase != Phase.SUCCEEDED
    extra = [d for d in plan.status.domains if d.id.startswith("x1-")]
    assert sorted(i for d in extra for i in d.instance_ids) == ["10", "11"]
    assert isinstance(plan.action, UpgradeInstances)
    assert plan.action.domain.startswith("x1-")
    assert set(plan.action.instance_ids) <= {"10", "11"}


def test_instance_drift_after_success_is_repaired_by_new_domains() -> None:
    sp, s = walked_ud0()
    everything = _all_upgraded(scale_set(NEW))
    s = evolve(s, domains=tuple(evolve(d, state=DomainState.SUCCEEDED) for d in s.domains))
    done = step(sp, s, everything, now=50)
    assert done.status.phase == Phase.SUCCEEDED
    # Someone reimaged instance 7 back to the old image.
    drifted = with_instances(everything, {"7": {"image_version": OLD, "latest_model": False}})
    plan = step(sp, done.status, drifted, now=400)
    assert plan.status.phase == Phase.PROGRESSING
    assert plan.action is not None
    assert isinstance(plan.action, UpgradeInstances)
    assert plan.action.instance_ids == ("7",)
    assert [d.state for d in plan.status.domains[:5]] == [DomainState.SUCCEEDED] * 5, "finished domains not redone"


def model_write_in_flight() -> tuple[ScaleSetImageSpec, ScaleSetImageStatus]:
    """A fresh rollout whose model update Azure is working on."""
    sp = spec()
    s = step(sp, ScaleSetImageStatus(), scale_set()).status
    return sp, record_operation(s, UpdateModel(OperationKind.MODEL_UPDATE, {}, None, None), "dG9rZW4=", NOW)


def test_a_preempted_model_write_that_was_applied_carries_on() -> None:
    sp, s = model_write_in_flight()
    preempted = OperationState("Canceled", "OperationPreempted", "preempted by a later operation")
    plan = step(sp, s, scale_set(NEW), now=3, operation=preempted)
    assert plan.status.phase == Phase.PROGRESSING
    assert plan.action == UpgradeInstances("ud-0", ("0", "5"))


def test_a_preempted_model_write_that_was_not_applied_is_made_again() -> None:
    sp, s = model_write_in_flight()
    preempted = OperationState("Canceled", "OperationPreempted", "preempted by a later operation")
    plan = step(sp, s, scale_set(OLD), now=3, operation=preempted)
    assert plan.status.phase == Phase.PROGRESSING
    assert isinstance(plan.action, UpdateModel)


def test_a_failed_model_write_still_fails_the_rollout() -> None:
    sp, s = model_write_in_flight()
    failed = OperationState("Failed", "InvalidParameter", "bad image")
    plan = step(sp, s, scale_set(OLD), now=3, operation=failed)
    assert plan.status.phase == Phase.FAILED


def test_a_scale_set_already_on_the_target_model_takes_its_previous_image_from_the_instances() -> None:
    plan = step(spec(onFailure="Rollback"), ScaleSetImageStatus(), scale_set(NEW))
    previous = plan.status.previous_image
    assert previous is not None
    assert previous.marketplace is not None
    assert previous.marketplace.version == OLD


def _instance(ss: ObservedScaleSet, instance_id: str) -> ObservedInstance:
    return next(i for i in ss.instances if i.instance_id == instance_id)


def test_builders_describe_what_azure_reports() -> None:
    """The helpers above mean what they say (guards the tests, not the planner)."""
    ss = on(scale_set(OTHER), ["0"], NEW)
    inst = _instance(ss, "0")
    assert (inst.image_version, inst.latest_model) == (NEW, False)
    assert replace(inst, latest_model=True).latest_model
