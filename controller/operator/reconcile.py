"""The kopf glue: load the resource, observe Azure, plan one step, do it, write status. Nothing else.

Each ``ScaleSetImage`` gets a kopf timer that ticks often (``tick`` seconds) but reconciles only when the
planner's requested delay has passed or the resource changed; a spec change also nudges it at once. A
reconcile pass costs at most: one scale-set GET and one paged VM listing, one image look-up when the target
must be (re)resolved, one poll of the operation in flight, and one Azure write. Status is written as a
JSON merge patch computed from the old and new status, so fields the planner cleared are removed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.azure import AzureCallError, ComputeGateway
from controller.azure.budget import BudgetDeferred
from controller.azure.observe import SeenScaleSet, observe, reread_model
from controller.azure.pipeline import checked_writes
from controller.azure.trust import continuation_token_operation_id
from controller.config import CloudProfile, RequestClass
from controller.observed import OperationState
from controller.operator.anticipate import OperationClock
from controller.operator.context import OperatorContext
from controller.operator.gates import run_gates
from controller.operator.live import LiveReadError
from controller.operator.writes import owned_part, rollout_owned
from controller.resource import (
    Condition,
    ConditionStatus,
    ConditionType,
    ErrorStatus,
    EventReason,
    ModelError,
    Phase,
    Reason,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    ScaleSetRef,
    evolve,
)
from controller.rollout import (
    Plan,
    UpdateModel,
    UpgradeInstances,
    listing_needed,
    needs_image_facts,
    plan_next_step,
    record_operation,
    write_likely,
)
from controller.scope import ScopeTarget

logger = logging.getLogger("scaleset_image.operator")


def plain_body(body: Any) -> dict[str, Any]:
    """Metadata, spec and status of a kopf body as plain dicts and lists (kopf's views are live and read-only)."""
    return {
        "metadata": _deep(body.get("metadata") or {}),
        "spec": _deep(body.get("spec") or {}),
        "status": _deep(body.get("status") or {}),
    }


def _deep(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep(v) for v in value]
    return value


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (removed keys become null)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value) if isinstance(value, dict) else value
    return patch


def log_decision(
    namespace: str,
    name: str,
    reason: str,
    message: str,
    *,
    domain: str | None = None,
    operation_id: str | None = None,
    instance_ids: list[str] | None = None,
    warning: bool = False,
) -> None:
    """One log line per decision: readable as text, and with fields for JSON logs (--log-format json)."""
    fields: dict[str, Any] = {"resource": f"{namespace}/{name}", "reason": reason, "domain": domain}
    if operation_id:
        fields["azureOperationId"] = operation_id
    if instance_ids:
        fields["instanceIds"] = instance_ids
    logger.log(
        logging.WARNING if warning else logging.INFO,
        "%s %s: %s",
        fields["resource"],
        reason,
        message,
        extra={"decision": fields},
    )


def merge_apply(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch to a copy of ``target``."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_apply(result.get(key), value)
    return result


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


BUDGET_WAIT_SHOWN = 1.0
"""A budget wait longer than this (seconds) defers the pass and is shown in status, a metric and a log line."""


def _budget_hold(
    gateway: ComputeGateway, ref: ScaleSetRef, status: ScaleSetImageStatus, listing: bool
) -> tuple[float, str] | None:
    """(seconds, limit) when the reads this pass starts with would wait for the budget longer than shown."""
    # While an operation runs, a pass polls it (an ARM read); a listing that follows a finished operation
    # asks the budget itself and is deferred (BudgetDeferred) when it would wait long. A pass that waits for
    # time alone (listing False) reads nothing, or the model only: not held here either.
    classes: tuple[RequestClass, ...] = (
        ("read",) if status.operation is not None else ("read", "scale_set_get", "vm_list") if listing else ()
    )
    wait, limit = max((gateway.budget_wait(ref, c) for c in classes), key=lambda w: w[0], default=(0.0, ""))
    return (wait, limit) if wait > BUDGET_WAIT_SHOWN else None


def _reconciling(status: ScaleSetImageStatus, reason: Reason, message: str, generation: int) -> ScaleSetImageStatus:
    """Reconciling=True with this reason (what the rollout waits for); the other conditions as they were."""
    current = status.condition(ConditionType.RECONCILING)
    changed = current is None or current.status != ConditionStatus.TRUE or current.reason != reason
    return status.with_condition(
        Condition(
            type=ConditionType.RECONCILING,
            status=ConditionStatus.TRUE,
            reason=reason,
            message=message,
            last_transition_time=_now() if changed or current is None else current.last_transition_time,
            observed_generation=generation,
        )
    )


def _stalled(status: ScaleSetImageStatus, reason: Reason, message: str, generation: int) -> ScaleSetImageStatus:
    now = _now()
    for type_, value in (
        (ConditionType.STALLED, ConditionStatus.TRUE),
        (ConditionType.READY, ConditionStatus.FALSE),
        (ConditionType.RECONCILING, ConditionStatus.FALSE),
    ):
        status = status.with_condition(
            Condition(
                type=type_,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=generation,
            )
        )
    return evolve(status, observed_generation=generation)


async def reconcile(
    ctx: OperatorContext, body: dict[str, Any], *, post_event: Callable[[str, str, bool], None]
) -> tuple[dict[str, Any], float]:
    """One pass over one resource. Returns (status merge patch, seconds until the next pass)."""
    meta = body.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    old_status_dict = dict(body.get("status") or {})
    try:
        status = ScaleSetImageStatus.from_dict(old_status_dict)
    except ModelError as exc:
        # Never start over from an unreadable status: that could redo finished domains.
        logger.error("status of %s/%s is unreadable: %s", meta.get("namespace"), meta.get("name"), exc)
        return {}, ctx.config.resync_interval
    try:
        spec = ScaleSetImageSpec.from_dict(body.get("spec") or {})
    except ModelError as exc:
        new = _stalled(status, Reason.INVALID_SPEC, f"Invalid spec: {exc}", generation)
        return merge_patch(old_status_dict, new.to_dict()), ctx.config.resync_interval
    profile = ctx.config.cloud(spec.scale_set.cloud)
    if profile is None:
        new = _stalled(
            status,
            Reason.CLOUD_PROFILE_NOT_FOUND,
            f"Cloud profile {spec.scale_set.cloud!r} is not defined in the operator configuration "
            f"(defined: {', '.join(sorted(ctx.config.clouds))}).",
            generation,
        )
        return merge_patch(old_status_dict, new.to_dict()), ctx.config.resync_interval
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    ref = spec.scale_set
    denial = ctx.scope_denial(ScopeTarget(namespace, profile.name, ref.subscription_id, ref.resource_group, ref.name))
    if denial is not None:
        # Not even a read: the namespace may not point the operator's identity at this scale set. What is in
        # flight in Azure finishes there; nothing further starts, and the status keeps what resuming needs.
        stalled = status.condition(ConditionType.STALLED)
        if stalled is None or stalled.reason != Reason.SCOPE_FORBIDDEN or stalled.message != denial:
            post_event(str(EventReason.SCOPE_FORBIDDEN), denial, True)
            log_decision(namespace, name, Reason.SCOPE_FORBIDDEN, denial, warning=True)
        new = _stalled(status, Reason.SCOPE_FORBIDDEN, denial, generation)
        return merge_patch(old_status_dict, new.to_dict()), ctx.config.poll_interval
    gateway = ctx.gateway(profile)

    def held_by_budget(wait: float, limit: str) -> tuple[dict[str, Any], float]:
        """The operator's own request budget holds this pass for a while: say so and come back then,
        rather than sit in the SDK with nothing in status (other resources share the budget)."""
        until = _now() + timedelta(seconds=round(wait))
        message = (
            f"Waiting {wait:.1f} s (until {until.isoformat().replace('+00:00', 'Z')}) for the operator's Azure "
            f"request budget in subscription {ref.subscription_id}: {limit}."
        )
        log_decision(namespace, name, Reason.WAITING_FOR_AZURE_BUDGET, message)
        if ctx.budget_wait_hook is not None:
            ctx.budget_wait_hook(limit, wait)
        new = _reconciling(status, Reason.WAITING_FOR_AZURE_BUDGET, message, generation)
        return merge_patch(old_status_dict, new.to_dict()), wait

    # A pass moved ahead of the end of a pause by a listing's duration (``ahead_of_pause``) reads as of that end.
    key = (namespace, name)
    at = _ahead_at(ctx.ahead.pop(key, None))
    listing = listing_needed(spec, status, now=_now_at(at), generation=generation)
    held = _budget_hold(gateway, ref, status, listing)
    if held is not None:
        return held_by_budget(*held)
    try:
        return await _pass(ctx, body, status, spec, profile, gateway, post_event, generation, at)
    except BudgetDeferred as deferred:
        # Nothing was sent for the deferred request; this pass's decision is made again when it comes back.
        return held_by_budget(deferred.seconds, deferred.limit)


async def _pass(
    ctx: OperatorContext,
    body: dict[str, Any],
    status: ScaleSetImageStatus,
    spec: ScaleSetImageSpec,
    profile: CloudProfile,
    gateway: ComputeGateway,
    post_event: Callable[[str, str, bool], None],
    generation: int,
    at: float | None = None,
) -> tuple[dict[str, Any], float]:
    """Observe, plan, and carry out at most one write (the part of a pass that talks to Azure). ``at``: the
    end of a pause this pass runs just ahead of (``time.monotonic()``): it reads Azure as of then, and plans then.
    """
    meta = body.get("metadata") or {}
    old_status_dict = dict(body.get("status") or {})
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    ref = spec.scale_set
    timings = ctx.config.timings
    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
    pass_started = time.monotonic()
    # Approval, analysis measurements and webhook calls that are due: their outcomes are in status now.
    status = await run_gates(ctx, spec, status, meta, _now(), post_event)

    in_flight = status.operation
    clock = ctx.clocks.setdefault(key, OperationClock())

    def listing(outcome: OperationState | None) -> bool:
        return listing_needed(spec, status, now=_now_at(at), generation=generation, operation=outcome)

    observation, seen = await observe(
        gateway,
        spec,
        status,
        profile.arm_endpoint,
        ctx.seen.get(key),
        ctx.config.resync_interval,
        image_facts_needed=needs_image_facts(spec, status),
        listing_needed=listing,
        model_too_wanted=lambda outcome: write_likely(
            spec, status, now=_now_at(at), generation=generation, operation=outcome
        ),
    )
    if in_flight is not None and observation.operation is not None:
        clock.polled(in_flight.continuation_token, str(in_flight.kind), observation.operation, time.monotonic())
    if at is not None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))  # the pause is served in full before anything is decided
    plan = plan_next_step(spec, status, observation, now=_now(), generation=generation, timings=timings)
    planned = time.monotonic()
    blind = isinstance(plan.action, UpdateModel) and plan.action.etag is None
    if plan.action is not None and seen is not None and (seen.read_at < pass_started or blind):
        # The write was decided on a cached model: read it again and decide again (one GET per write).
        # A model write without an etag (Azure Stack Hub's 2020-06-01 has none, so no If-Match either) is
        # read again right before it even when this pass read the model: what guards it is that window kept
        # as short as it can be, a PATCH that names only the image (other fields are left as they are), and
        # the full read after the write that reports and undoes another actor's image before any upgrade.
        observation, seen = await reread_model(gateway, spec.scale_set, observation, seen)
        plan = plan_next_step(spec, status, observation, now=_now(), generation=generation, timings=timings)
    if seen is None or plan.relist:
        # relist: the planner needed the instances listed and had cached ones; the next pass reads everything.
        ctx.seen.pop(key, None)
    else:
        ctx.seen[key] = seen
    new_status = plan.status
    requeue = plan.requeue_after if plan.requeue_after is not None else timings.resync_interval

    def announce() -> None:
        """The plan's events, once its write went out or failed (a write withdrawn, or deferred for the budget,
        decided nothing: its "domain started" would be news of something that did not happen)."""
        for event in plan.events:
            post_event(str(event.reason), event.message, event.warning)
            log_decision(
                namespace,
                name,
                str(event.reason),
                event.message,
                domain=new_status.current_domain,
                warning=event.warning,
            )

    uid = meta.get("uid")

    def still_wanted() -> str | None:
        """Why a write decided in this pass must not go out any more, else None."""
        fenced = ctx.fenced()
        if fenced is not None:
            return fenced
        if not ctx.is_current(namespace, name, uid):
            return "ResourceGone"
        if ctx.spec_moved_on(uid, generation):
            return "SpecChanged"
        return None

    async def still_wanted_live() -> str | None:
        """The same question put to the API server: the watch stream may not have told this process yet."""
        if ctx.live is None:
            return None
        try:
            live = await ctx.live.meta(namespace, name)
        except LiveReadError as exc:
            logger.warning("%s/%s: %s; the Azure write decided in this pass is not sent", namespace, name, exc)
            return "KubernetesUnreadable"
        if live.uid is None or live.deleting or (uid and live.uid != uid):
            return "ResourceGone"
        if live.generation is not None and live.generation > generation:
            return "SpecChanged"
        if live.status is not None and owned_part(live.status, rollout_owned) != owned_part(
            old_status_dict, rollout_owned
        ):
            return "StatusMoved"  # written since this pass read it: another replica, or this one's stale copy
        return ctx.fenced()  # the read may have taken seconds: is this replica still the leader?

    withdrawn = still_wanted() if plan.action is not None else None
    if withdrawn is not None:
        return _withdrawn(namespace, name, withdrawn, requeue)
    if plan.action is None:
        announce()
    else:
        try:
            # Asked again right before the request leaves: the request budget may hold it back for a while.
            with checked_writes(still_wanted, still_wanted_live):
                if isinstance(plan.action, UpgradeInstances):
                    token = await gateway.manual_upgrade(ref, list(plan.action.instance_ids))
                else:
                    assert isinstance(plan.action, UpdateModel)
                    token = await gateway.update_model_image(
                        ref, plan.action.image_reference, plan.action.vhd_uri, plan.action.etag
                    )
            clock.started_operation(token, time.monotonic())
            new_status = record_operation(
                new_status, plan.action, token, _now(), operation_id=continuation_token_operation_id(token)
            )
            op = new_status.operation
            operation_id = op.id if op is not None else None
            announce()
            post_event(
                EventReason.AZURE_OPERATION_STARTED, f"{_describe(plan.action)}, Azure operation {operation_id}", False
            )
            log_decision(
                namespace,
                name,
                EventReason.AZURE_OPERATION_STARTED,
                _describe(plan.action),
                domain=new_status.current_domain,
                operation_id=operation_id,
                instance_ids=list(op.instance_ids) if op is not None else [],
            )
            requeue = min(requeue, timings.poll_interval)
        except AzureCallError as exc:
            if exc.kind == "Withdrawn":
                return _withdrawn(namespace, name, exc.message, requeue)
            # Whatever failed, the next pass reads the model again: after a 412 the cached etag is stale, and
            # resending it would fail the same way at every tick.
            ctx.seen.pop(key, None)
            new_status = _after_failed_call(new_status, plan, exc, generation)
            requeue = (
                exc.retry_after
                if exc.retry_after
                else (0.0 if exc.kind == "PreconditionFailed" else timings.poll_interval)
            )
            failure = f"{_describe(plan.action)} failed: {exc.code}: {exc.message}"
            announce()
            post_event(EventReason.AZURE_OPERATION_FAILED, failure, True)
            log_decision(
                namespace,
                name,
                EventReason.AZURE_OPERATION_FAILED,
                failure,
                domain=new_status.current_domain,
                warning=True,
            )
    op = new_status.operation
    if op is not None and not (observation.operation is not None and observation.operation.retry_after):
        # Near the end the last operation of this kind took, poll more often (anticipate.py).
        poll = timings.poll_interval
        requeue = clock.next_poll(
            op.continuation_token, str(op.kind), time.monotonic(), requeue, fast=poll / 8, first=poll / 4
        )
    elif op is None and plan.action is None and not plan.relist:
        requeue = ahead_of_pause(ctx, key, spec, new_status, generation, seen, planned, requeue)
    return merge_patch(old_status_dict, new_status.to_dict()), requeue


def ahead_of_pause(
    ctx: OperatorContext,
    key: tuple[str, str],
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    generation: int,
    seen: SeenScaleSet | None,
    planned: float,
    requeue: float,
) -> float:
    """``requeue``, or less by how long the last listing took when the next pass lists the instances only
    because a pause will be over (``listing_needed``): that listing then ends when the pause does, rather than
    start then. The pass is held until the end of the pause before it plans (``ctx.ahead``), so the pause is
    served in full; what it judges was listed within the lead of that end (at most ``MAX_LISTING_LEAD``)."""
    if seen is None or seen.listed_in is None or requeue <= 0:
        return requeue
    lead = min(seen.listed_in, MAX_LISTING_LEAD, requeue / 4)
    end = planned + requeue
    if lead <= 0 or listing_needed(spec, status, now=_now(), generation=generation):
        return requeue
    if not listing_needed(spec, status, now=_now_at(end), generation=generation):
        return requeue
    ctx.ahead[key] = end
    return requeue - lead


MAX_LISTING_LEAD = 0.5
"""At most this many seconds ahead of the end of a pause, a listing is started so as to end with it."""


def _ahead_at(end: float | None) -> float | None:
    """The end of a pause a pass is moved ahead of, if that pass runs within the lead of it (else None)."""
    if end is None:
        return None
    left = end - time.monotonic()
    return end if 0 < left <= MAX_LISTING_LEAD else None  # a pass nudged (say, by a spec change) is not held


def _now_at(moment: float | None) -> datetime:
    """``_now()``, or the UTC time (to the second, like ``_now``) at ``moment``, a later ``time.monotonic()``."""
    if moment is None:
        return _now()
    later = max(0.0, moment - time.monotonic())
    return (datetime.now(UTC) + timedelta(seconds=later)).replace(microsecond=0)


_UNREADABLE_RETRY_SECONDS = 5.0
"""When the API server cannot be read right before a write, the pass is tried again this much later."""
_STATUS_MOVED_RETRY_SECONDS = 0.5
"""When the status moved under a pass, the next one comes this much later (the watch brings the news meanwhile)."""
FENCE_REASONS = frozenset({"NotLeader", "LeaseNotRenewed"})
"""What ``LeaderElector.fence`` answers when this replica must not write."""


def _withdrawn(namespace: str, name: str, why: str, requeue: float) -> tuple[dict[str, Any], float]:
    """A write decided in this pass that must not go out: nothing is written, to Azure or to status."""
    if why == "ResourceGone":
        log_decision(namespace, name, why, "Deleted while this pass ran; nothing is written to Azure.")
        return {}, requeue
    if why == "KubernetesUnreadable":  # cannot tell whether the resource still wants it: not now, not at once
        return {}, max(requeue, _UNREADABLE_RETRY_SECONDS)
    if why in FENCE_REASONS:
        log_decision(namespace, name, why, "This replica does not hold the leader Lease now; nothing is written.")
        return {}, max(requeue, _UNREADABLE_RETRY_SECONDS)
    if why == "StatusMoved":
        log_decision(namespace, name, why, "The status changed since this pass read it; deciding again on it.")
        return {}, _STATUS_MOVED_RETRY_SECONDS
    # The spec changed while this pass waited on Azure (say, paused): decide again on the new one.
    log_decision(namespace, name, why, "The spec changed while this pass ran; deciding again.")
    return {}, 0.0


def _describe(action: UpdateModel | UpgradeInstances) -> str:
    if isinstance(action, UpgradeInstances):
        return f"manualupgrade of domain {action.domain} (instances {', '.join(action.instance_ids)})"
    return f"{action.kind} of the scale set model"


def _after_failed_call(
    status: ScaleSetImageStatus, plan: Plan, exc: AzureCallError, generation: int
) -> ScaleSetImageStatus:
    """An Azure write that failed: keep the plan's status minus the step that did not happen."""
    status = evolve(status, last_error=ErrorStatus(message=exc.message[:2000], code=exc.code, observed_at=_now()))
    # A manualupgrade that did not start leaves its domain in flight with no operation: the next pass
    # finds the domain's instances still on the old model and asks again. Throttling, conflicts and 5xx
    # are retried that way; a refusal stops the rollout, since asking again would be refused again.
    if exc.kind == "Rejected":
        message = f"Azure refused {_describe(plan.action) if plan.action else 'the change'}: {exc.code}: {exc.message}"
        status = evolve(status, phase=Phase.FAILED, current_domain=None)
        return _stalled(status, Reason.AZURE_ERROR, message, generation)
    return status
