"""Abort and retry (``spec.rollout.abort``, ``spec.rollout.retryToken``): what ``kubectl ssi`` asks of the planner.

Aspects: abort waits for the Azure operation in flight, then fails the domain in progress and applies
onFailure (Pause: Failed, Stalled=Aborted; Rollback: the previous image back, walked back while abort stays
true); abort between domains starts nothing; while abort is true nothing new starts and Stalled says why;
clearing abort retries a paused failure from its failed domain; after a rollback only a new retryToken
starts the rollout again, from the start, and a token is acted on once.
"""

from __future__ import annotations

from typing import Any

from controller.observed import ObservedScaleSet, OperationState
from controller.resource import (
    ConditionStatus,
    ConditionType,
    DomainState,
    Operation,
    OperationKind,
    Phase,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout import Plan, UpdateModel, UpgradeInstances

from .builders import NEW, NOW, OLD, later, scale_set, spec, with_instances
from .test_plan_next_step import _upgrading_ud0, cond, step, upgraded


def _aborted(**rollout: Any) -> tuple[ScaleSetImageStatus, Plan]:
    """ud-0's manualupgrade in flight, then abort; the plan once the operation ended."""
    _sp, s = _upgrading_ud0(**rollout)
    aborting = spec(abort=True, **rollout)
    in_flight = OperationState("InProgress")
    waiting = step(aborting, s, upgraded(scale_set(NEW), ["0", "5"]), generation=2, operation=in_flight)
    assert waiting.action is None, "the Azure operation in flight is followed to its end first"
    assert waiting.status.domains[0].state == DomainState.UPGRADING
    plan = step(aborting, waiting.status, upgraded(scale_set(NEW), ["0", "5"]), now=later(5), generation=2,
                operation=OperationState("Succeeded"))  # fmt: skip
    return plan.status, plan


def test_abort_waits_for_the_operation_then_fails_the_domain_and_stalls_with_pause() -> None:
    status, plan = _aborted()
    assert plan.action is None
    assert status.phase == Phase.FAILED
    assert status.domains[0].state == DomainState.FAILED
    assert status.domains[0].message == "Aborted by spec.rollout.abort during domain ud-0."
    assert all(d.state == DomainState.PENDING for d in status.domains[1:])
    assert cond(status, ConditionType.STALLED) == (ConditionStatus.TRUE, "Aborted")
    assert cond(status, ConditionType.READY) == (ConditionStatus.FALSE, "Aborted")
    assert [e.reason for e in plan.events][:1] == ["RolloutAborted"]
    assert status.observed_generation == 2
    again = step(spec(abort=True), status, upgraded(scale_set(NEW), ["0", "5"]), now=later(60), generation=2)
    assert again.action is None
    assert again.status.phase == Phase.FAILED


def test_abort_with_rollback_puts_the_previous_image_back_while_abort_stays_true() -> None:
    status, plan = _aborted(onFailure="Rollback")
    action = plan.action
    assert isinstance(action, UpdateModel)
    assert action.kind == OperationKind.ROLLBACK
    assert action.image_reference["version"] == OLD  # type: ignore[index]
    assert status.rollback is not None
    assert status.rollback.in_progress
    sp = spec(abort=True, onFailure="Rollback")
    s2 = evolve(status, operation=Operation(kind=OperationKind.ROLLBACK, started_at=NOW))
    reverted = with_instances(scale_set(OLD), {"0": {"image_version": NEW}, "5": {"image_version": NEW}})
    back = step(sp, s2, reverted, now=later(10), generation=2, operation=OperationState("Succeeded"))
    assert back.action == UpgradeInstances("ud-0", ("0", "5")), "abort never stops a rollback"
    assert back.status.domains[0].state == DomainState.ROLLING_BACK


def test_abort_between_domains_fails_at_once_and_starts_nothing() -> None:
    sp, s = _upgrading_ud0(pauseBetweenDomains="30s")
    ss = upgraded(scale_set(NEW), ["0", "5"])
    done = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded")).status
    assert done.domains[0].state == DomainState.VERIFYING, "judged on the listing after the pause"
    plan = step(spec(abort=True, pauseBetweenDomains="30s"), done, ss, now=later(20), generation=2)
    assert plan.action is None
    assert plan.status.phase == Phase.FAILED
    assert plan.status.domains[0].state == DomainState.SUCCEEDED, "a finished domain is not failed by an abort"
    assert cond(plan.status, ConditionType.STALLED) == (ConditionStatus.TRUE, "Aborted")


def test_while_aborted_a_new_image_waits_and_stalled_says_why() -> None:
    status, _ = _aborted()
    ss = upgraded(scale_set(NEW), ["0", "5"])
    newer = spec("16.04.201811010", abort=True)
    plan = step(newer, status, ss, now=later(60), generation=3)
    assert plan.action is None, "no model write while abort is true"
    assert plan.status.target is not None
    assert plan.status.target.image.marketplace.version == NEW  # type: ignore[union-attr]
    assert plan.status.observed_generation == 3
    stalled = plan.status.condition(ConditionType.STALLED)
    assert stalled is not None
    assert (stalled.status, stalled.reason) == (ConditionStatus.TRUE, "Aborted")
    assert "waits: spec.rollout.abort is true" in stalled.message
    assert "kubectl ssi retry" in stalled.message


def test_abort_on_a_succeeded_resource_changes_nothing() -> None:
    sp = spec()
    ss = scale_set(NEW, upgraded(scale_set(NEW), [str(i) for i in range(10)]).instances)
    done = step(sp, step(sp, ScaleSetImageStatus(), ss).status, ss, now=later(1))
    assert done.status.phase == Phase.SUCCEEDED
    plan = step(spec(abort=True), done.status, ss, now=later(2), generation=2)
    assert plan.action is None
    assert plan.status.phase == Phase.SUCCEEDED
    assert cond(plan.status, ConditionType.READY)[0] == ConditionStatus.TRUE


def test_clearing_abort_retries_a_paused_failure_from_its_failed_domain() -> None:
    status, _ = _aborted()
    ss = upgraded(scale_set(NEW), ["0", "5"])
    plan = step(spec(retryToken="t1"), status, ss, now=later(60), generation=3)
    assert plan.status.phase == Phase.PROGRESSING
    assert plan.status.retry_token == "t1"
    # ud-0's instances already run the target and are healthy: it is skipped, ud-1 starts
    assert plan.status.domains[0].state == DomainState.SKIPPED
    assert plan.action == UpgradeInstances("ud-1", ("1", "6"))
    assert any(e.reason == "RolloutResumed" for e in plan.events)


def _rolled_back(**rollout: Any) -> tuple[ScaleSetImageStatus, ObservedScaleSet]:
    """A rollout failed on ud-0 and rolled back to the old image; the scale set as it is then."""
    sp, s = _upgrading_ud0(onFailure="Rollback", maxUnhealthyInstances=0, **rollout)
    ss = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"0": {"health": "unhealthy"}})
    failed = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    s2 = evolve(failed.status, operation=Operation(kind=OperationKind.ROLLBACK, started_at=NOW))
    reverted = with_instances(scale_set(OLD), {"0": {"image_version": NEW}, "5": {"image_version": NEW}})
    back = step(sp, s2, reverted, now=later(10), operation=OperationState("Succeeded"))
    healthy = with_instances(scale_set(OLD), {i: {"latest_model": True, "image_version": OLD} for i in ("0", "5")})
    end = step(sp, evolve(back.status, operation=None), healthy, now=later(20))
    final = step(sp, end.status, healthy, now=later(21)).status
    assert final.phase == Phase.FAILED
    assert cond(final, ConditionType.STALLED) == (ConditionStatus.TRUE, "RolledBack")
    return final, healthy


def test_after_a_rollback_only_a_new_retry_token_rolls_out_again_from_the_start() -> None:
    final, healthy = _rolled_back()
    other_change = spec(onFailure="Rollback", maxUnhealthyInstances=0, pauseBetweenDomains="5s")
    still = step(other_change, final, healthy, now=later(30), generation=2)
    assert still.action is None, "a rolled-back image is not tried again on an unrelated spec change"
    assert still.status.phase == Phase.FAILED
    retry = spec(onFailure="Rollback", maxUnhealthyInstances=0, retryToken="2026-11-22T12:01:00Z")
    plan = step(retry, still.status, healthy, now=later(40), generation=3)
    assert plan.status.phase == Phase.PROGRESSING
    assert plan.status.rollback is None
    assert plan.status.retry_token == "2026-11-22T12:01:00Z"
    assert all(d.state == DomainState.PENDING for d in plan.status.domains), "a fresh plan"
    assert isinstance(plan.action, UpdateModel)
    assert plan.action.kind == OperationKind.MODEL_UPDATE
    assert plan.action.image_reference["version"] == NEW  # type: ignore[index]
    assert plan.status.previous_image is not None
    assert plan.status.previous_image.marketplace.version == OLD  # type: ignore[union-attr]
    assert cond(plan.status, ConditionType.STALLED)[0] == ConditionStatus.FALSE


def test_a_retry_token_is_acted_on_once() -> None:
    final, healthy = _rolled_back(retryToken="t1")
    assert final.retry_token == "t1", "recorded while the rollout ran"
    same = spec(onFailure="Rollback", maxUnhealthyInstances=0, retryToken="t1")
    plan = step(same, final, healthy, now=later(30), generation=2)
    assert plan.action is None
    assert plan.status.phase == Phase.FAILED
