"""The planner, case by case: each test names a situation and checks the step and the status it yields.

Aspects covered: fresh rollout (model first, then the first domain), waiting on an operation, domain
verification (healthy, unhealthy over/within budget, timeout), pause between domains, paused spec
(before a domain, never mid-domain), a new target mid-rollout, instances already on the target, restart
between an Azure call and the status write, all-update-domain-0 fallbacks, Rolling and Automatic
policies, missing images, numeric 'latest', rollback, drift, and the kstatus conditions.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from scaleset_testbed.worlds import VERSIONS

from controller.config import DEFAULT_TIMINGS
from controller.observed import (
    GalleryVersion,
    ImageFacts,
    Observation,
    ObservedScaleSet,
    OperationState,
    RollingProgress,
)
from controller.resource import (
    ConditionStatus,
    ConditionType,
    DomainKind,
    DomainState,
    Operation,
    OperationKind,
    Phase,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout import (
    Plan,
    UpdateModel,
    UpgradeInstances,
    layout_domains,
    plan_next_step,
    record_operation,
    resolve_image,
)

from .builders import NEW, NOW, OLD, instances, later, scale_set, spec, with_instances

FACTS = ImageFacts(marketplace_versions=VERSIONS)


def step(sp, status, ss, *, now=NOW, generation=1, facts=FACTS, operation=None, rolling=None) -> Plan:  # type: ignore[no-untyped-def]
    obs = Observation(scale_set=ss, image=facts, operation=operation, rolling=rolling)
    return plan_next_step(sp, status, obs, now=now, generation=generation)


def cond(status: ScaleSetImageStatus, type_: ConditionType) -> tuple[str, str]:
    c = status.condition(type_)
    assert c is not None, f"condition {type_} missing"
    return c.status, c.reason


def started(sp=None) -> ScaleSetImageStatus:  # type: ignore[no-untyped-def]
    """Status right after a fresh rollout's model update finished."""
    sp = sp or spec()
    plan = step(sp, ScaleSetImageStatus(), scale_set())
    assert isinstance(plan.action, UpdateModel)
    return plan.status


def upgraded(ss: ObservedScaleSet, ids: Sequence[str]) -> ObservedScaleSet:
    return with_instances(ss, {i: {"latest_model": True, "image_version": NEW} for i in ids})


# --------------------------------------------------------------------------------------- fresh rollout
def test_fresh_rollout_pins_the_image_and_updates_the_model_before_any_instance() -> None:
    plan = step(spec(), ScaleSetImageStatus(), scale_set())
    assert plan.action == UpdateModel(
        OperationKind.MODEL_UPDATE,
        {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS", "version": NEW},
        None,
        '"3"',
    )
    s = plan.status
    assert s.phase == Phase.PROGRESSING
    assert s.target is not None
    assert s.target.image.marketplace is not None
    assert s.target.image.marketplace.version == NEW
    assert s.previous_image is not None
    assert s.previous_image.marketplace is not None
    assert s.previous_image.marketplace.version == OLD
    assert [d.id for d in s.domains] == ["ud-0", "ud-1", "ud-2", "ud-3", "ud-4"]
    assert s.domains[0].instance_ids == ("0", "5")
    assert all(d.state == DomainState.PENDING for d in s.domains)
    assert cond(s, ConditionType.READY) == (ConditionStatus.FALSE, "RolloutInProgress")
    assert cond(s, ConditionType.RECONCILING)[0] == ConditionStatus.TRUE


def test_model_on_target_starts_the_first_domain_with_only_its_pending_instances() -> None:
    plan = step(spec(), started(), scale_set(NEW))
    assert plan.action == UpgradeInstances("ud-0", ("0", "5"))
    assert plan.status.domains[0].state == DomainState.UPGRADING
    assert plan.status.current_domain == "ud-0"
    assert all(d.state == DomainState.PENDING for d in plan.status.domains[1:])


def test_operation_in_flight_is_waited_on_without_any_azure_write() -> None:
    s = step(spec(), started(), scale_set(NEW)).status
    s = record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW)
    plan = step(spec(), s, scale_set(NEW), operation=OperationState("InProgress"))
    assert plan.action is None
    assert plan.requeue_after is not None
    assert plan.requeue_after > 0
    assert plan.status.operation is not None


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(3.0, 3.0), (45.0, 45.0), (None, DEFAULT_TIMINGS.poll_interval)],
)  # fmt: skip
def test_an_operation_in_flight_is_polled_again_when_azure_says(retry_after: float | None, expected: float) -> None:
    """Issue 14: the status answer's Retry-After sets the next poll; without one, the operator's interval."""
    s = step(spec(), started(), scale_set(NEW)).status
    s = record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW)
    plan = step(spec(), s, scale_set(NEW), operation=OperationState("InProgress", retry_after=retry_after))
    assert plan.action is None
    assert plan.requeue_after == expected


# ------------------------------------------------------------------------------------ verification
def _upgrading_ud0(**rollout) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    sp = spec(**rollout)
    s = step(sp, started(sp), scale_set(NEW)).status
    s = record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW)
    return sp, s


def test_with_a_pause_the_domain_is_judged_when_it_is_over_and_the_next_starts_then() -> None:
    sp, s = _upgrading_ud0(pauseBetweenDomains="30s")
    ss = upgraded(scale_set(NEW), ["0", "5"])
    plan = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert plan.action is None
    assert plan.status.domains[0].state == DomainState.VERIFYING, "not judged before the pause is over"
    assert plan.status.operation is None
    assert plan.requeue_after == pytest.approx(30)
    waiting = step(sp, plan.status, ss, now=later(20))
    assert waiting.action is None, "the pause between domains must pass first"
    assert cond(waiting.status, ConditionType.RECONCILING) == (ConditionStatus.TRUE, "PausingBetweenDomains")
    go = step(sp, plan.status, ss, now=later(36))
    assert go.status.domains[0].state == DomainState.SUCCEEDED
    assert go.action == UpgradeInstances("ud-1", ("1", "6"))


def test_a_domain_unhealthy_when_the_pause_is_over_fails_and_the_next_never_starts() -> None:
    sp, s = _upgrading_ud0(pauseBetweenDomains="30s", maxUnhealthyInstances=0)
    plan = step(sp, s, upgraded(scale_set(NEW), ["0", "5"]), now=later(5), operation=OperationState("Succeeded"))
    sick = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"5": {"health": "unhealthy"}})
    after = step(sp, plan.status, sick, now=later(36))
    assert after.action is None
    assert after.status.domains[0].state == DomainState.FAILED
    assert after.status.domains[1].state == DomainState.PENDING


def test_a_domain_healthy_only_after_the_pause_is_paused_for_again_in_full() -> None:
    sp, s = _upgrading_ud0(pauseBetweenDomains="30s")
    settling = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"5": {"health": "initializing"}})
    plan = step(sp, s, settling, now=later(5), operation=OperationState("Succeeded"))
    verifying = step(sp, plan.status, settling, now=later(36))
    assert verifying.action is None
    assert verifying.status.domains[0].state == DomainState.VERIFYING
    healthy = step(sp, verifying.status, upgraded(scale_set(NEW), ["0", "5"]), now=later(40))
    assert healthy.status.domains[0].state == DomainState.SUCCEEDED
    assert healthy.action is None, "seen healthy after the pause: the whole pause again"
    assert healthy.requeue_after == pytest.approx(30)
    go = step(sp, healthy.status, upgraded(scale_set(NEW), ["0", "5"]), now=later(71))
    assert go.action == UpgradeInstances("ud-1", ("1", "6"))


def test_instances_still_initializing_keep_the_domain_verifying() -> None:
    sp, s = _upgrading_ud0()
    ss = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"5": {"health": "initializing"}})
    plan = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert plan.action is None
    assert plan.status.domains[0].state == DomainState.VERIFYING


def test_unhealthy_domain_over_budget_fails_and_stalls_with_pause_policy() -> None:
    sp, s = _upgrading_ud0(maxUnhealthyInstances=1)
    ss = with_instances(
        upgraded(scale_set(NEW), ["0", "5"]), {"0": {"health": "unhealthy"}, "5": {"health": "unhealthy"}}
    )
    plan = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert plan.action is None
    assert plan.status.phase == Phase.FAILED
    assert plan.status.domains[0].state == DomainState.FAILED
    assert cond(plan.status, ConditionType.STALLED) == (ConditionStatus.TRUE, "TooManyUnhealthyInstances")
    assert cond(plan.status, ConditionType.READY)[0] == ConditionStatus.FALSE
    # and it stays stopped: the next pass starts nothing
    again = step(sp, plan.status, ss, now=later(60))
    assert again.action is None
    assert again.status.domains[1].state == DomainState.PENDING


def test_unhealthy_within_budget_lets_the_rollout_continue() -> None:
    sp, s = _upgrading_ud0(maxUnhealthyInstances=1)
    ss = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"0": {"health": "unhealthy"}})
    plan = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert plan.status.domains[0].state == DomainState.SUCCEEDED
    assert plan.status.phase == Phase.PROGRESSING


def test_domain_timeout_fails_the_domain() -> None:
    sp, s = _upgrading_ud0(domainTimeout="10m")
    ss = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"5": {"health": "initializing"}})
    plan = step(sp, s, ss, now=later(11 * 60), operation=OperationState("Succeeded"))
    assert plan.status.domains[0].state == DomainState.FAILED
    assert cond(plan.status, ConditionType.STALLED) == (ConditionStatus.TRUE, "DomainTimedOut")


def test_failed_manualupgrade_is_judged_by_the_instances() -> None:
    sp, s = _upgrading_ud0()
    ss = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"0": {"provisioning": "failed", "health": None}})
    plan = step(sp, s, ss, now=later(5), operation=OperationState("Failed", "OSProvisioningTimedOut", "boom"))
    assert plan.status.last_error is not None
    assert plan.status.last_error.code == "OSProvisioningTimedOut"
    # one failed instance of 10 is within the default 20% budget, the other is healthy
    assert plan.status.domains[0].state == DomainState.SUCCEEDED
    assert any(e.reason == "AzureOperationFailed" for e in plan.events)


# -------------------------------------------------------------------------------------------- pause
def test_paused_stops_before_the_next_domain() -> None:
    sp = spec(paused=True)
    plan = step(sp, started(sp), scale_set(NEW))
    assert plan.action is None
    assert plan.status.phase == Phase.PAUSED
    assert cond(plan.status, ConditionType.STALLED)[0] == ConditionStatus.FALSE


def test_paused_mid_domain_finishes_the_domain_first() -> None:
    _sp, s = _upgrading_ud0()
    paused = spec(paused=True)
    ss = upgraded(scale_set(NEW), ["0", "5"])
    plan = step(paused, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert plan.status.domains[0].state == DomainState.SUCCEEDED
    after = step(paused, plan.status, ss, now=later(6))
    assert after.action is None
    assert after.status.phase == Phase.PAUSED
    resumed = step(spec(), after.status, ss, now=later(7), generation=2)
    assert resumed.action == UpgradeInstances("ud-1", ("1", "6"))
    assert resumed.status.phase == Phase.PROGRESSING


# --------------------------------------------------------------------------------- new target, drift
def test_new_target_mid_rollout_finishes_the_domain_then_restarts() -> None:
    _sp, s = _upgrading_ud0()
    newer = spec(VERSIONS[2])
    ss = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"5": {"health": "initializing"}})
    mid = step(newer, s, ss, now=later(5), operation=OperationState("Succeeded"), generation=2)
    assert mid.action is None, "the domain in flight finishes first"
    assert mid.status.target is not None
    assert mid.status.target.image.marketplace is not None
    assert mid.status.target.image.marketplace.version == NEW
    done = step(newer, mid.status, upgraded(scale_set(NEW), ["0", "5"]), now=later(9), generation=2)
    assert done.status.domains[0].state == DomainState.SUCCEEDED
    restart = step(newer, done.status, upgraded(scale_set(NEW), ["0", "5"]), now=later(10), generation=2)
    assert isinstance(restart.action, UpdateModel)
    assert restart.action.image_reference is not None
    assert restart.action.image_reference["version"] == VERSIONS[2]
    assert restart.status.target.image.marketplace.version == VERSIONS[2]  # type: ignore[union-attr]


def test_domain_already_on_target_is_skipped_and_never_upgraded() -> None:
    ss = upgraded(scale_set(NEW), ["0", "5"])
    plan = step(spec(), started(), ss)
    assert plan.status.domains[0].state == DomainState.SKIPPED
    assert plan.action == UpgradeInstances("ud-1", ("1", "6"))


def test_model_drift_after_success_is_reported_and_the_declared_image_wins() -> None:
    sp = spec()
    s = evolve(started(sp), phase=Phase.SUCCEEDED, domains=())
    plan = step(sp, s, scale_set("16.04.201801010"), now=later(100))
    assert isinstance(plan.action, UpdateModel)
    assert plan.action.image_reference["version"] == NEW  # type: ignore[index]
    assert any(e.warning and "outside the operator" in e.message for e in plan.events)


# ------------------------------------------------------------------------------------------- restart
def test_restart_between_manualupgrade_and_status_write_does_not_repeat_busy_instances() -> None:
    sp = spec()
    s = step(sp, started(sp), scale_set(NEW)).status  # ud-0 Upgrading, but the operation was never recorded
    busy = with_instances(scale_set(NEW), {"0": {"provisioning": "updating"}, "5": {"provisioning": "updating"}})
    plan = step(sp, s, busy, now=later(3))
    assert plan.action is None
    assert plan.status.domains[0].state == DomainState.VERIFYING


def test_restart_before_manualupgrade_reached_azure_asks_again_for_the_same_domain() -> None:
    sp = spec()
    s = step(sp, started(sp), scale_set(NEW)).status
    plan = step(sp, s, scale_set(NEW), now=later(3))
    assert plan.action == UpgradeInstances("ud-0", ("0", "5"))


# ------------------------------------------------------------------------------------------ layouts
@pytest.mark.parametrize(
    ("name", "kind", "insts", "expected_kind", "expected_ids"),
    [
        (
            "update domains",
            DomainKind.UPDATE_DOMAIN,
            instances(10, 5, 5),
            DomainKind.UPDATE_DOMAIN,
            ["ud-0", "ud-1", "ud-2", "ud-3", "ud-4"],
        ),
        (
            "all UD 0 falls back to fault domains",
            DomainKind.UPDATE_DOMAIN,
            instances(6, 5, 3, ud_zero=True),
            DomainKind.FAULT_DOMAIN,
            ["fd-0", "fd-1", "fd-2"],
        ),
        (
            "all UD 0 and FD 0 falls back to batches",
            DomainKind.UPDATE_DOMAIN,
            instances(10, 5, 5, ud_zero=True, fd_zero=True),
            DomainKind.BATCH,
            ["batch-0", "batch-1", "batch-2", "batch-3", "batch-4"],
        ),
        ("batches of 3", DomainKind.BATCH, instances(7), DomainKind.BATCH, ["batch-0", "batch-1", "batch-2"]),
        (
            "zones without zones fall back",
            DomainKind.ZONE,
            instances(4, 2, 2),
            DomainKind.UPDATE_DOMAIN,
            ["ud-0", "ud-1"],
        ),
        (
            # Azure Stack Hub without zones: never one domain of everything (zone -> update domain -> fault).
            "zones without zones and all UD 0 fall back twice",
            DomainKind.ZONE,
            instances(6, 5, 3, ud_zero=True),
            DomainKind.FAULT_DOMAIN,
            ["fd-0", "fd-1", "fd-2"],
        ),
    ],
)
def test_layout(name: str, kind: DomainKind, insts: tuple, expected_kind: DomainKind, expected_ids: list[str]) -> None:  # type: ignore[type-arg]
    batch = 3 if name == "batches of 3" else None
    got_kind, reason, layout = layout_domains(kind, batch, insts)
    assert got_kind == expected_kind
    assert [key for key, _ in layout] == expected_ids
    assert sorted(i for _, ids in layout for i in ids) == sorted(i.instance_id for i in insts), "no instance lost"
    assert (reason is not None) == (got_kind != kind)


def test_fallback_is_reported_in_status_and_an_event() -> None:
    ss = scale_set(insts=instances(6, 5, 3, ud_zero=True))
    plan = step(spec(), ScaleSetImageStatus(), ss)
    assert plan.status.domain_kind == DomainKind.FAULT_DOMAIN
    assert plan.status.domain_kind_reason
    assert "update domain 0" in plan.status.domain_kind_reason
    assert any(e.reason == "DomainKindFallback" for e in plan.events)


# ---------------------------------------------------------------------------------------- policies
def test_automatic_policy_is_refused_and_nothing_changes() -> None:
    plan = step(spec(), ScaleSetImageStatus(), scale_set(mode="Automatic"))
    assert plan.action is None
    assert cond(plan.status, ConditionType.UPGRADE_POLICY_COMPATIBLE) == (
        ConditionStatus.FALSE,
        "AutomaticUpgradePolicy",
    )
    assert cond(plan.status, ConditionType.STALLED)[0] == ConditionStatus.TRUE


def test_rolling_policy_updates_the_model_then_follows_azure() -> None:
    sp = spec()
    first = step(sp, ScaleSetImageStatus(), scale_set(mode="Rolling"))
    assert isinstance(first.action, UpdateModel)
    progress = RollingProgress("RollingForward", successful=2, failed=0, in_progress=2, pending=6)
    ss = upgraded(scale_set(NEW, mode="Rolling"), ["0", "5"])
    mid = step(sp, first.status, ss, rolling=progress)
    assert mid.action is None
    assert mid.status.rolling is not None
    assert mid.status.rolling.successful_instances == 2
    assert mid.status.domains[0].state == DomainState.SUCCEEDED
    assert mid.status.phase == Phase.PROGRESSING
    done = step(
        sp,
        mid.status,
        scale_set(NEW, instances(latest=True), mode="Rolling"),
        rolling=RollingProgress("Completed", 10, 0, 0, 0),
    )
    assert done.status.phase == Phase.SUCCEEDED
    faulted = step(sp, mid.status, ss, rolling=RollingProgress("Faulted", 2, 2, 0, 6, "X", "too many unhealthy"))
    assert faulted.status.phase == Phase.FAILED


# -------------------------------------------------------------------------------------------- images
def test_missing_version_sets_image_unavailable_with_an_actionable_message() -> None:
    plan = step(spec("16.04.209901010"), ScaleSetImageStatus(), scale_set())
    assert plan.action is None
    status, reason = cond(plan.status, ConditionType.IMAGE_AVAILABLE)
    assert (status, reason) == (ConditionStatus.FALSE, "ImageNotFound")
    message = plan.status.condition(ConditionType.IMAGE_AVAILABLE).message  # type: ignore[union-attr]
    assert "download version 16.04.209901010 in Marketplace management" in message
    assert cond(plan.status, ConditionType.STALLED)[0] == ConditionStatus.TRUE


def test_latest_resolves_numerically_not_as_strings() -> None:
    resolved = resolve_image(spec("latest").image, ImageFacts(marketplace_versions=("1.9.0", "1.10.0", "1.2.0")), "x")
    assert resolved.marketplace.version == "1.10.0"  # type: ignore[union-attr]


def test_gallery_latest_skips_excluded_and_unreplicated_versions() -> None:
    image_id = (
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute"
        "/galleries/g/images/web"
    )
    sp = spec().image.__class__(gallery_image_version_id=image_id)
    facts = ImageFacts(
        gallery_versions=(
            GalleryVersion("1.0.0", False, ("westeurope",)),
            GalleryVersion("1.2.0", True, ("westeurope",)),
            GalleryVersion("1.10.0", False, ("eastus",)),
            GalleryVersion("1.1.0", False, ("westeurope",)),
        )
    )
    resolved = resolve_image(sp, facts, "westeurope")
    assert resolved.gallery_image_version_id == image_id + "/versions/1.1.0"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------ rollback
def test_rollback_restores_the_previous_image_and_walks_upgraded_domains_back() -> None:
    sp, s = _upgrading_ud0(onFailure="Rollback", maxUnhealthyInstances=0)
    ss = with_instances(upgraded(scale_set(NEW), ["0", "5"]), {"0": {"health": "unhealthy"}})
    failed = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert isinstance(failed.action, UpdateModel)
    assert failed.action.kind == OperationKind.ROLLBACK
    assert failed.action.image_reference["version"] == OLD  # type: ignore[index]
    assert failed.status.rollback is not None
    assert failed.status.rollback.in_progress
    # the model now names the old image again: every instance reads latestModelApplied=false
    s2 = evolve(failed.status, operation=Operation(kind=OperationKind.ROLLBACK, started_at=NOW))
    reverted = with_instances(scale_set(OLD), {"0": {"image_version": NEW}, "5": {"image_version": NEW}})
    back = step(sp, s2, reverted, now=later(10), operation=OperationState("Succeeded"))
    assert back.action == UpgradeInstances("ud-0", ("0", "5"))
    assert back.status.domains[0].state == DomainState.ROLLING_BACK
    healthy_again = with_instances(
        scale_set(OLD), {i: {"latest_model": True, "image_version": OLD} for i in ("0", "5")}
    )
    end = step(sp, evolve(back.status, operation=None), healthy_again, now=later(20))
    assert end.status.domains[0].state == DomainState.ROLLED_BACK
    final = step(sp, end.status, healthy_again, now=later(21))
    assert final.status.phase == Phase.FAILED
    assert final.status.rollback is not None
    assert not final.status.rollback.in_progress
    assert cond(final.status, ConditionType.STALLED) == (ConditionStatus.TRUE, "RolledBack")
    assert all(d.state == DomainState.PENDING for d in final.status.domains[1:]), "untouched domains stay untouched"


def test_success_sets_ready_and_last_succeeded() -> None:
    sp = spec()
    s = started(sp)
    ss = scale_set(NEW, instances(latest=True))
    plan = step(sp, s, ss, now=later(1))
    # every domain already on target: all skipped, the rollout is done
    final = step(sp, plan.status, ss, now=later(2))
    assert final.status.phase == Phase.SUCCEEDED
    assert final.status.last_succeeded_at is not None
    assert cond(final.status, ConditionType.READY) == (ConditionStatus.TRUE, "RolloutSucceeded")
    assert final.status.domain_progress == "5/5"


def test_instances_running_the_exact_target_are_not_touched_after_a_model_rewrite() -> None:
    # The model was written again (e.g. drift put back): Azure clears latestModelApplied everywhere,
    # but ud-0 already runs the exact target version, so only the others are upgraded.
    ss = with_instances(scale_set(NEW), {"0": {"image_version": NEW}, "5": {"image_version": NEW}})
    plan = step(spec(), started(), ss)
    assert plan.status.domains[0].state == DomainState.SKIPPED
    assert plan.action == UpgradeInstances("ud-1", ("1", "6"))


def test_updated_counts_instances_on_the_target_not_on_a_rolled_back_model() -> None:
    # The model names the old image again (rollback): instances 0 and 5 still run the target.
    status = started()
    ss = with_instances(scale_set(OLD), {"0": {"image_version": NEW}, "5": {"image_version": NEW}})
    s = evolve(status, phase=Phase.FAILED)
    plan = step(spec(), s, ss, now=later(1))
    assert plan.status.instances.updated == 2
    assert plan.status.instances.total == 10


def test_unhealthy_budget_counts_the_whole_scale_set_not_one_domain() -> None:
    # budget 2; ud-0 came back with 2 unhealthy (within budget), ud-1 adds one more: 3 > 2, stop.
    sp = spec(maxUnhealthyInstances=2)
    insts = instances(20, 5, 5)
    s = step(sp, started(sp), scale_set(NEW, insts)).status
    s = evolve(
        s,
        domains=(
            evolve(s.domains[0], state=DomainState.SUCCEEDED),
            evolve(s.domains[1], state=DomainState.VERIFYING, started_at=NOW),
            *s.domains[2:],
        ),
    )
    ss = with_instances(
        upgraded(scale_set(NEW, insts), ["0", "5", "10", "15", "1", "6", "11", "16"]),
        {"0": {"health": "unhealthy"}, "5": {"health": "unhealthy"}, "1": {"health": "unhealthy"}},
    )
    plan = step(sp, s, ss, now=later(5))
    assert plan.status.domains[1].state == DomainState.FAILED
    assert "3 instance(s) on the new image are unhealthy" in (plan.status.domains[1].message or "")


def test_a_domain_whose_instances_all_come_back_unhealthy_fails_whatever_the_budget() -> None:
    sp, s = _upgrading_ud0(maxUnhealthyInstances="50%")
    ss = with_instances(
        upgraded(scale_set(NEW), ["0", "5"]), {"0": {"health": "unhealthy"}, "5": {"health": "unhealthy"}}
    )
    plan = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert plan.status.domains[0].state == DomainState.FAILED
    assert plan.status.phase == Phase.FAILED
