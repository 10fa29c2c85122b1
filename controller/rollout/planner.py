"""The pure planner: (spec, status, what Azure shows now) -> the status to write and the one next step.

No I/O, no kopf, no Azure SDK. The kopf glue gathers an :class:`Observation`, calls :func:`plan_next_step`,
writes the returned status, performs the returned action (at most one Azure write), and records the
operation it started in ``.status.operation``. Because everything the planner needs lives in ``.status``
or in Azure, a restart anywhere resumes exactly where the rollout stood.

Safety invariants this module keeps, and its tests check:
- at most one domain is in flight (Upgrading or Verifying) at any time;
- a domain starts only after the previous one is Succeeded (healthy) and the pause has passed;
- a domain that finished is never upgraded again; a domain is never skipped while it has instances
  not on the target;
- ``paused`` stops before the next domain, never in the middle of one;
- ``abort`` waits for the Azure operation in flight, then fails the rollout (``interventions``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from controller.config import DEFAULT_TIMINGS, Timings
from controller.observed import FLEXIBLE_LISTING_SINCE, Observation, ObservedScaleSet
from controller.resource import (
    ConditionType,
    DomainState,
    DomainStatus,
    ErrorStatus,
    EventReason,
    ImageSource,
    InstanceCounts,
    OperationKind,
    OrchestrationMode,
    Phase,
    Reason,
    ResolvedImage,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    UpgradeMode,
)
from controller.rollout.actions import Plan, UpdateModel
from controller.rollout.conditions import summarize
from controller.rollout.draft import IN_FLIGHT, Draft, status_changed
from controller.rollout.failure import fail
from controller.rollout.gates import after_failure
from controller.rollout.health import Verdict, healthy_on_old_model, is_on_target, verdict
from controller.rollout.images import (
    ImageProblem,
    image_from_instances,
    image_from_model,
    model_image,
    model_matches,
    resolve_image,
    same_declaration,
)
from controller.rollout.interventions import hold_aborted, retry_after_failure
from controller.rollout.layout import layout_domains
from controller.rollout.listing import judged_after_pause, listing_needed
from controller.rollout.rolling import follow_rolling
from controller.rollout.walk import walk


def plan_next_step(
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    observation: Observation,
    *,
    now: datetime,
    generation: int,
    timings: Timings = DEFAULT_TIMINGS,
) -> Plan:
    """Decide the next step of the rollout. Pure: same inputs, same plan."""
    draft = Draft(status=status, now=now, generation=generation, stale_instances=not observation.instances_current)
    _step(spec, observation, draft, timings)
    after_failure(spec, draft)
    summarize(draft)
    return Plan(draft.status, draft.action, draft.requeue, tuple(draft.events), relist=draft.relist)


def _step(spec: ScaleSetImageSpec, obs: Observation, d: Draft, t: Timings) -> None:
    if obs.azure_error is not None:
        d.update(last_error=obs.azure_error)
        d.wait(t.poll_interval)
        return
    observed = obs.scale_set
    if observed is None:
        d.condition(
            ConditionType.SCALE_SET_FOUND,
            False,
            Reason.SCALE_SET_NOT_FOUND,
            f"Scale set {spec.scale_set.name} not found in resource group {spec.scale_set.resource_group} "
            f"of subscription {spec.scale_set.subscription_id}.",
        )
        if d.status.condition(ConditionType.SCALE_SET_FOUND) and status_changed(d, ConditionType.SCALE_SET_FOUND):
            d.event(EventReason.SCALE_SET_NOT_FOUND, f"Scale set {spec.scale_set.name} not found.", warning=True)
        d.wait(t.resync_interval / 5)
        return
    d.condition(
        ConditionType.SCALE_SET_FOUND,
        True,
        Reason.SCALE_SET_EXISTS,
        f"Scale set {observed.ref.name} ({'Flexible orchestration, ' if observed.flexible else ''}"
        f"{observed.capacity} instances, {observed.location}).",
    )
    d.update(orchestration_mode=OrchestrationMode.FLEXIBLE if observed.flexible else OrchestrationMode.UNIFORM)
    if not d.stale_instances:  # else status.instances keeps the counts of the last listing
        _count_instances(d, observed)
    mode = observed.upgrade_mode
    known = mode in UpgradeMode.__members__.values()
    d.update(upgrade_policy_mode=UpgradeMode(mode) if known else None)
    if mode == UpgradeMode.AUTOMATIC:
        d.condition(
            ConditionType.UPGRADE_POLICY_COMPATIBLE,
            False,
            Reason.AUTOMATIC_UPGRADE_POLICY,
            "Upgrade policy Automatic would take every instance down at once when the model changes; set "
            "it to Manual (the operator walks domains) or Rolling.",
        )
        d.wait(t.resync_interval)
        return
    if observed.flexible and observed.api_cannot_list_flexible:
        d.condition(
            ConditionType.UPGRADE_POLICY_COMPATIBLE,
            False,
            Reason.ORCHESTRATION_MODE_UNSUPPORTED,
            _flexible_refusal(observed),
        )
        d.wait(t.resync_interval)
        return
    d.condition(
        ConditionType.UPGRADE_POLICY_COMPATIBLE,
        True,
        Reason.MANUAL_UPGRADE_POLICY if mode == UpgradeMode.MANUAL else Reason.ROLLING_UPGRADE_POLICY,
        f"Upgrade policy {mode}.",
    )

    # An operation in flight is followed to its end before anything else is decided.
    if d.status.operation is not None and not _follow_operation(spec, obs, d, t):
        return
    if d.stale_instances and listing_needed(spec, d.status, now=d.now, generation=d.generation):
        # Never judged on instances of an earlier pass: decide nothing, and have them listed at once.
        d.relist = True
        d.wait(0.0)
        return

    if d.status.rollback is not None and d.status.rollback.in_progress:
        walk(spec, observed, d, t, rollback=True)
        return
    if spec.rollout.abort:
        hold_aborted(spec, observed, d, t)
        return
    retry_after_failure(spec, d, lambda image: _start_rollout(spec, observed, d, image))

    # Which image: keep the pinned target unless the declaration changed (a new target waits for the
    # domain in flight to finish), or a settled 'latest' has a newer version now.
    resolved = resolve_image(spec.image, obs.image, observed.location)
    target = d.status.target
    in_flight = any(dom.state in IN_FLIGHT for dom in d.status.domains)
    declaration_changed = target is None or not same_declaration(spec.image, target.image)
    settled = d.status.phase in (Phase.SUCCEEDED, Phase.PENDING) or (
        d.status.phase == Phase.FAILED and d.status.observed_generation != d.generation
    )
    if isinstance(resolved, ImageProblem):
        if declaration_changed or target is None:
            d.condition(ConditionType.IMAGE_AVAILABLE, False, Reason.IMAGE_NOT_FOUND, resolved.message)
            if status_changed(d, ConditionType.IMAGE_AVAILABLE):
                d.event(EventReason.IMAGE_NOT_FOUND, resolved.message, warning=True)
            d.update(observed_generation=d.generation)
            d.wait(t.resync_interval / 5)
            return
    else:
        d.condition(
            ConditionType.IMAGE_AVAILABLE, True, Reason.IMAGE_FOUND, f"Image {resolved.summary()} is available."
        )
        newer = target is not None and resolved != target.image and settled
        if (declaration_changed or newer) and not in_flight:
            _start_rollout(spec, observed, d, resolved)
        elif declaration_changed and in_flight:
            d.event(EventReason.ROLLOUT_STARTED, "A new image was declared; the domain in flight finishes first.")
    d.update(observed_generation=d.generation)
    if d.status.target is None:
        return

    if mode == UpgradeMode.ROLLING:
        follow_rolling(spec, observed, obs, d, t)
        return
    if not model_matches(observed, d.status.target.image):
        if _model_was_ours(d):
            _report_model_conflict(observed, d)
        if d.status.phase == Phase.SUCCEEDED:
            _start_rollout(spec, observed, d, d.status.target.image)
        if d.status.phase == Phase.FAILED:
            return
        reference, vhd = model_image(d.status.target.image)
        d.action = UpdateModel(OperationKind.MODEL_UPDATE, reference, vhd, observed.etag)
        return
    if d.status.condition(ConditionType.MODEL_IN_SYNC) is not None:
        d.condition(
            ConditionType.MODEL_IN_SYNC,
            True,
            Reason.MODEL_NAMES_TARGET,
            f"The scale set model names {d.status.target.image.summary()}.",
        )
    if d.status.phase == Phase.FAILED:
        return
    walk(spec, observed, d, t, rollback=False)


def _flexible_refusal(observed: ObservedScaleSet) -> str:
    pinned = f"Compute api-version {observed.api_version}, which this cloud profile pins"
    if observed.api_hides_orchestration:
        return (
            f"Scale set {observed.ref.name} does not list its {observed.capacity} instances as scale-set VMs: it "
            f"uses Flexible orchestration, which {pinned} (as for Azure Stack Hub), predates (2020-12-01). "
            "Azure Stack Hub has no Flexible scale sets; for a set in Azure, use a cloud profile without "
            f"apiVersion, or with {FLEXIBLE_LISTING_SINCE} or later."
        )
    return (
        f"Scale set {observed.ref.name} uses Flexible orchestration; its VMs are read with the VM list's $filter "
        f"and $expand=instanceView, which {pinned}, does not have (they need {FLEXIBLE_LISTING_SINCE} or later). "
        "Use a cloud profile without apiVersion, or a newer one."
    )


def _count_instances(d: Draft, observed: ObservedScaleSet) -> None:
    target = d.status.target.image if d.status.target is not None else None
    verdicts = [verdict(i, observed.has_health_extension, target) for i in observed.instances]
    updated = 0 if target is None else sum(1 for i in observed.instances if is_on_target(i, observed, target))
    d.update(
        instances=InstanceCounts(
            total=len(observed.instances),
            updated=updated,
            healthy=verdicts.count(Verdict.HEALTHY)
            + sum(
                1
                for i, v in zip(observed.instances, verdicts, strict=True)
                if v == Verdict.PENDING and healthy_on_old_model(i, observed)
            ),
            unhealthy=verdicts.count(Verdict.UNHEALTHY),
        )
    )


def _start_rollout(spec: ScaleSetImageSpec, observed: ObservedScaleSet, d: Draft, image: ImageSource) -> None:
    kind, reason, layout = layout_domains(spec.rollout.domain_kind, spec.rollout.batch_size, observed.instances)
    previous = image_from_model(observed)
    if previous is None or previous == image:
        previous = d.status.previous_image or image_from_instances(observed, image)
    d.update(
        target=ResolvedImage(image=image, generation=d.generation, resolved_at=d.now),
        previous_image=previous,
        domain_kind=kind,
        domain_kind_reason=reason,
        domains=tuple(DomainStatus(id=key, instance_ids=ids, state=DomainState.PENDING) for key, ids in layout),
        current_domain=None,
        phase=Phase.PROGRESSING,
        rollout_started_at=d.now,
        next_domain_at=None,
        rollback=None,
        last_error=None,
        rolling=None,
        analysis=None,
        hooks=None,
        approval=None,
    )
    d.event(EventReason.IMAGE_RESOLVED, f"Target image {image.summary()}.")
    d.event(EventReason.ROLLOUT_STARTED, f"Rolling out {image.summary()} over {len(layout)} {kind} domains.")
    if reason:
        d.event(EventReason.DOMAIN_KIND_FALLBACK, reason[:1].upper() + reason[1:] + ".", warning=True)


def _follow_operation(spec: ScaleSetImageSpec, obs: Observation, d: Draft, t: Timings) -> bool:
    """React to the outcome of the operation in flight; False while it still runs."""
    op = d.status.operation
    assert op is not None
    state = obs.operation
    if state is None or state.status == "InProgress":
        d.condition(
            ConditionType.RECONCILING,
            True,
            Reason.WAITING_FOR_AZURE_OPERATION,
            f"Waiting for Azure operation {op.kind} on {op.domain or 'the model'}.",
        )
        # Azure says when to ask again (Retry-After on the status answer); else the operator's interval.
        d.wait(state.retry_after if state is not None and state.retry_after else t.poll_interval)
        return False
    d.update(operation=None)
    if state.status != "Succeeded":
        message = (
            f"Azure operation {op.kind} {state.status.lower()}: {state.error_code or ''} {state.error_message or ''}"
        )
        d.update(last_error=ErrorStatus(message=message.strip(), code=state.error_code, observed_at=d.now))
        d.event(EventReason.AZURE_OPERATION_FAILED, message.strip(), warning=True)
        if op.kind in (OperationKind.MODEL_UPDATE, OperationKind.ROLLBACK) and op.domain is None:
            # Judge a model write by the model Azure shows now: a preempted write may have been applied,
            # and one that was not is simply made again by the next step.
            intended = _intended_model_image(d, op.kind)
            applied = obs.scale_set is not None and intended is not None and model_matches(obs.scale_set, intended)
            if not applied and state.error_code != "OperationPreempted":
                fail(spec, d, Reason.AZURE_ERROR, message.strip())
                return False
        # A failed manualupgrade is judged by the instances themselves: the domain is verified next.
    if op.domain is not None:
        domain = d.status.domain(op.domain)
        if domain is not None and domain.state in (DomainState.UPGRADING,):
            d.set_domain(op.domain, state=DomainState.VERIFYING)
            if state.status == "Succeeded" and judged_after_pause(spec, d.status, op.domain):
                # The pause starts now; the domain is judged on one listing when it is over (listing.py).
                pause = timedelta(seconds=spec.rollout.pause_between_domains_seconds)
                d.update(next_domain_at=d.now + pause)
    return True


def _intended_model_image(d: Draft, kind: OperationKind) -> ImageSource | None:
    """The image a model write of ``kind`` meant to set."""
    if kind == OperationKind.ROLLBACK:
        return d.status.rollback.target if d.status.rollback is not None else None
    return d.status.target.image if d.status.target is not None else None


def _model_was_ours(d: Draft) -> bool:
    """Whether the model named the target before (a domain was walked, or the rollout had succeeded)."""
    return d.status.phase == Phase.SUCCEEDED or any(dom.state != DomainState.PENDING for dom in d.status.domains)


def _report_model_conflict(observed: ObservedScaleSet, d: Draft) -> None:
    """Another actor changed the image in the model: say so, then put the declared image back."""
    assert d.status.target is not None
    found = image_from_model(observed)
    message = (
        f"The scale set model was changed outside the operator to {found.summary() if found else 'another image'}; "
        f"the declared image {d.status.target.image.summary()} is put back before any other domain is upgraded. "
        "Change spec.image to adopt another image."
    )
    d.condition(ConditionType.MODEL_IN_SYNC, False, Reason.MODEL_CHANGED_OUTSIDE_OPERATOR, message)
    if status_changed(d, ConditionType.MODEL_IN_SYNC):
        d.event(EventReason.MODEL_CHANGED_OUTSIDE_OPERATOR, message, warning=True)
