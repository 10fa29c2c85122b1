"""The domain walk: start the next domain, verify it, judge it, fail or finish; also the rollback walk."""

from __future__ import annotations

import re
from datetime import timedelta

from controller.config import Timings
from controller.observed import ObservedScaleSet, instance_order
from controller.resource import (
    DOMAIN_DONE_STATES,
    ConditionType,
    DomainState,
    DomainStatus,
    EventReason,
    ImageSource,
    Phase,
    Reason,
    ScaleSetImageSpec,
    evolve,
)
from controller.rollout.actions import UpgradeInstances
from controller.rollout.draft import IN_FLIGHT, Draft
from controller.rollout.failure import fail
from controller.rollout.gates import hold_after_domain, hold_before_domain, on_domain_succeeded
from controller.rollout.health import WAITING, Verdict, is_busy, verdict
from controller.rollout.images import same_declaration
from controller.rollout.layout import layout_domains
from controller.rollout.listing import deferred_until


def next_domain(d: Draft, rollback: bool) -> DomainStatus | None:
    if rollback:
        for dom in reversed(d.status.domains):
            if dom.state in (DomainState.ROLLING_BACK,):
                return dom
        for dom in reversed(d.status.domains):
            if dom.state in (DomainState.SUCCEEDED, DomainState.FAILED, DomainState.VERIFYING, DomainState.UPGRADING):
                return dom
        return None
    for dom in d.status.domains:
        if dom.state in IN_FLIGHT:
            return dom
    for dom in d.status.domains:
        if dom.state not in DOMAIN_DONE_STATES:
            return dom
    return None


_EXTRA_DOMAIN = re.compile(r"x([0-9]+)-.+")
"""Ids of domains added after the first plan: ``x<round>-<id>``, e.g. ``x1-ud-2``."""


def _every_instance_on(
    image: ImageSource, spec: ScaleSetImageSpec, observed: ObservedScaleSet, d: Draft, t: Timings
) -> bool:
    """Re-verify the whole scale set before calling the rollout done; plan more domains for what is not on it.

    Instances created during the rollout (a scale-out) or put back on another image by someone else are
    not in any domain, or only in one that already finished; they get new domains, laid out like the
    first ones and walked after them, so a finished domain is never walked twice. Instances Azure is
    still creating or updating are waited for.
    """
    verdicts = {i.instance_id: verdict(i, observed.has_health_extension, image) for i in observed.instances}
    busy = sorted((i for i, v in verdicts.items() if v == Verdict.BUSY), key=instance_order)
    if busy:
        d.condition(
            ConditionType.RECONCILING,
            True,
            Reason.VERIFYING_DOMAIN,
            f"Waiting for instance(s) {', '.join(busy)}, which Azure is creating or updating, before the rollout ends.",
        )
        d.wait(t.poll_interval)
        return False
    stragglers = [i for i in observed.instances if verdicts[i.instance_id] == Verdict.PENDING]
    if not stragglers:
        return True
    rounds = [int(m.group(1)) for dom in d.status.domains if (m := _EXTRA_DOMAIN.fullmatch(dom.id))]
    round_ = 1 + max(rounds, default=0)
    kind, _reason, extra = layout_domains(spec.rollout.domain_kind, spec.rollout.batch_size, stragglers)
    d.update(
        domains=(
            *d.status.domains,
            *(DomainStatus(id=f"x{round_}-{key}", instance_ids=ids) for key, ids in extra),
        ),
        phase=Phase.PROGRESSING,
    )
    names = ", ".join(i.instance_id for i in stragglers)
    d.event(
        EventReason.DOMAIN_STARTED,
        f"Instance(s) {names} do not run {image.summary()} (created or changed during the rollout); "
        f"{len(extra)} more {kind} domain(s) planned for them.",
        warning=True,
    )
    return False


def walk(spec: ScaleSetImageSpec, observed: ObservedScaleSet, d: Draft, t: Timings, *, rollback: bool) -> None:
    by_id = {i.instance_id: i for i in observed.instances}
    image = (
        d.status.rollback.target
        if rollback and d.status.rollback
        else d.status.target.image
        if d.status.target
        else None
    )
    domain = next_domain(d, rollback)
    if domain is None:
        if not rollback and hold_after_domain(spec, d, t):
            return
        if not rollback and image is not None and not _every_instance_on(image, spec, observed, d, t):
            if next_domain(d, rollback) is not None:
                walk(spec, observed, d, t, rollback=rollback)
            return
        finish(d, rollback)
        return
    members = [by_id[i] for i in domain.instance_ids if i in by_id]
    verdicts = {i.instance_id: verdict(i, observed.has_health_extension, image) for i in members}
    pending = tuple(i for i, v in verdicts.items() if v == Verdict.PENDING)
    starting = domain.state not in IN_FLIGHT

    if starting:
        if spec.rollout.paused and not rollback:
            if d.status.phase != Phase.PAUSED:
                d.event(EventReason.ROLLOUT_PAUSED, f"Paused before domain {domain.id}.")
            d.update(phase=Phase.PAUSED, current_domain=None)
            d.wait(t.resync_interval)
            return
        if not rollback and hold_after_domain(spec, d, t):
            return
        if d.status.phase == Phase.PAUSED:
            d.event(EventReason.ROLLOUT_RESUMED, f"Resumed at domain {domain.id}.")
            d.update(phase=Phase.PROGRESSING)
        if d.status.next_domain_at is not None and d.now < d.status.next_domain_at and not rollback:
            d.condition(
                ConditionType.RECONCILING, True, Reason.PAUSING_BETWEEN_DOMAINS, f"Pausing before domain {domain.id}."
            )
            d.wait(max(0.0, (d.status.next_domain_at - d.now).total_seconds()))
            return
        healthy_already = all(v == Verdict.HEALTHY for v in verdicts.values())
        if not pending and healthy_already and not rollback:
            d.set_domain(
                domain.id,
                state=DomainState.SKIPPED,
                started_at=d.now,
                finished_at=d.now,
                message="every instance already runs the target image and is healthy",
            )
            walk(spec, observed, d, t, rollback=rollback)
            return
        elsewhere = [
            i.instance_id for i in observed.instances if is_busy(i) and i.instance_id not in domain.instance_ids
        ]
        if pending and elsewhere:
            # Someone else (another actor, a deleted resource's operation, a scale-out) has instances in
            # flight: starting this domain now would take two groups down at once.
            d.condition(
                ConditionType.RECONCILING,
                True,
                Reason.WAITING_FOR_OTHER_UPDATES,
                f"Waiting for instance(s) {', '.join(elsewhere)}, which Azure is updating outside this rollout, "
                f"before starting domain {domain.id}.",
            )
            d.wait(t.poll_interval)
            return
        if not rollback and hold_before_domain(spec, d, t, domain.id):
            return
        state = DomainState.ROLLING_BACK if rollback else DomainState.UPGRADING
        d.set_domain(domain.id, state=state, started_at=d.now, finished_at=None, message=None)
        d.update(current_domain=domain.id, phase=Phase.PROGRESSING)
        if not pending:
            # On the target already but not (yet) healthy, or still busy: verify it like any other domain.
            walk(spec, observed, d, t, rollback=rollback)
            return
        d.action = UpgradeInstances(domain.id, pending)
        verb = "Rolling back" if rollback else "Upgrading"
        d.event(EventReason.DOMAIN_STARTED, f"{verb} domain {domain.id}: instances {', '.join(pending)}.")
        return

    # In flight: upgrading with no operation recorded (a restart between the call and the status write),
    # or verifying. Instances still on the old model and idle get one more manualupgrade.
    d.update(current_domain=domain.id)
    deferred = None if rollback else deferred_until(spec, d.status, domain)
    if deferred is not None and d.now < deferred:
        following = next(
            (dom.id for dom in d.status.domains if dom.state not in DOMAIN_DONE_STATES and dom.id != domain.id), "next"
        )
        d.condition(
            ConditionType.RECONCILING,
            True,
            Reason.PAUSING_BETWEEN_DOMAINS,
            f"The upgrade of domain {domain.id} has ended; pausing until "
            f"{deferred.isoformat().replace('+00:00', 'Z')}, then checking that it is healthy before domain "
            f"{following} starts.",
        )
        d.wait(max(0.0, (deferred - d.now).total_seconds()))
        return
    if pending and not any(v == Verdict.BUSY for v in verdicts.values()) and d.status.operation is None:
        d.action = UpgradeInstances(domain.id, pending)
        return
    unhealthy = [i for i, v in verdicts.items() if v == Verdict.UNHEALTHY]
    waiting = [i for i, v in verdicts.items() if v in WAITING]
    budget = spec.rollout.unhealthy_budget(len(observed.instances))
    # The budget is for the whole scale set: every instance already on the target that is unhealthy
    # counts, whichever domain it is in (a per-domain count let a bad image through domain after domain).
    on_target = [
        i.instance_id
        for i in observed.instances
        if verdict(i, observed.has_health_extension, image) == Verdict.UNHEALTHY
    ]
    all_bad = bool(members) and len(unhealthy) == len(members)
    if len(on_target) > budget or all_bad:
        why = (
            f"every instance of domain {domain.id} is unhealthy after the upgrade ({', '.join(unhealthy)})"
            if all_bad
            else f"{len(on_target)} instance(s) on the new image are unhealthy ({', '.join(on_target)}); "
            f"at most {budget} allowed"
        )
        domain_failed(spec, d, domain, Reason.TOO_MANY_UNHEALTHY_INSTANCES, why + ".", rollback)
        return
    started = domain.started_at or d.now
    if waiting:
        elapsed = (d.now - started).total_seconds()
        if deferred is not None:
            # Not healthy yet when the pause is over: verified as usual, and paused for again once healthy.
            d.update(next_domain_at=None)
        if elapsed > spec.rollout.domain_timeout_seconds:
            domain_failed(
                spec,
                d,
                domain,
                Reason.DOMAIN_TIMED_OUT,
                f"Domain {domain.id} did not become healthy within {spec.rollout.domain_timeout} "
                f"(waiting on {', '.join(waiting)}).",
                rollback,
            )
            return
        d.set_domain(domain.id, state=DomainState.ROLLING_BACK if rollback else DomainState.VERIFYING)
        d.condition(
            ConditionType.RECONCILING,
            True,
            Reason.VERIFYING_DOMAIN,
            f"Waiting for domain {domain.id} to be healthy ({len(waiting)} instance(s) not yet).",
        )
        d.wait(t.poll_interval)
        return
    done_state = DomainState.ROLLED_BACK if rollback else DomainState.SUCCEEDED
    d.set_domain(
        domain.id,
        state=done_state,
        finished_at=d.now,
        message=f"{len(unhealthy)} unhealthy within budget" if unhealthy else None,
    )
    d.event(
        EventReason.DOMAIN_SUCCEEDED, f"Domain {domain.id} {'rolled back' if rollback else 'upgraded'} and healthy."
    )
    if not rollback:
        on_domain_succeeded(spec, d, domain.id)
    # A pause that ran from the end of the upgrade to this listing has been served (listing.py).
    pause = 0.0 if deferred is not None else spec.rollout.pause_between_domains_seconds
    d.update(current_domain=None, next_domain_at=d.now + timedelta(seconds=pause) if pause and not rollback else None)
    # A new declaration waits for the domain in flight; it is taken up on the next pass.
    target = d.status.target
    if not rollback and target is not None and not same_declaration(spec.image, target.image):
        d.update(phase=Phase.PENDING)
        d.wait(0.0)
        return
    if pause and not rollback and next_domain(d, rollback) is not None:
        d.wait(pause)
        return
    # No pause (or none left: never after the last domain): go on from this same observation, which has just
    # shown the domain healthy, instead of listing the instances again on the next pass.
    walk(spec, observed, d, t, rollback=rollback)


def domain_failed(
    spec: ScaleSetImageSpec, d: Draft, domain: DomainStatus, reason: Reason, message: str, rollback: bool
) -> None:
    d.set_domain(domain.id, state=DomainState.FAILED, finished_at=d.now, message=message)
    d.event(
        EventReason.DOMAIN_TIMED_OUT if reason == Reason.DOMAIN_TIMED_OUT else EventReason.DOMAIN_FAILED,
        message,
        warning=True,
    )
    if rollback:
        rb = d.status.rollback
        d.update(
            rollback=evolve(rb, in_progress=False, finished_at=d.now, message=message) if rb else None,
            phase=Phase.FAILED,
            current_domain=None,
        )
        d.event(EventReason.ROLLBACK_FAILED, message, warning=True)
        d.condition(ConditionType.STALLED, True, Reason.ROLLBACK_FAILED, message)
        return
    fail(spec, d, reason, message)


def finish(d: Draft, rollback: bool) -> None:
    if rollback:
        rb = d.status.rollback
        d.update(
            rollback=evolve(rb, in_progress=False, finished_at=d.now) if rb else None,
            phase=Phase.FAILED,
            current_domain=None,
        )
        d.event(EventReason.ROLLBACK_SUCCEEDED, "Rolled back to the previous image.")
        d.condition(ConditionType.STALLED, True, Reason.ROLLED_BACK, "The rollout failed and was rolled back.")
        return
    if d.status.phase != Phase.SUCCEEDED:
        target = d.status.target
        d.event(
            EventReason.ROLLOUT_SUCCEEDED, f"Every domain runs {target.image.summary() if target else 'the image'}."
        )
        d.update(last_succeeded_at=d.now)
    d.update(phase=Phase.SUCCEEDED, current_domain=None, next_domain_at=None)
