"""Gates before a domain starts, pure: analysis of the last domain, maintenance window, approval, hooks.

The walk asks ``hold_after_domain`` before it resumes or finishes (the analysis of the domain that
succeeded last), and ``hold_before_domain`` right before a domain's first upgrade (a window must be open,
an approval given, the confirm hooks passed and the notifications tried). Each gate that holds says why
in a Reconciling reason and in status, and asks to be looked at again when it may pass. A domain in
flight is never stopped by a gate: gates only decide when the next one starts.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from controller.config import Timings
from controller.resource import (
    ApprovalMode,
    ApprovalStatus,
    ConditionType,
    DomainState,
    EventReason,
    MaintenanceWindowStatus,
    Reason,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout.analysis import hold_for_analysis, start_analysis
from controller.rollout.draft import Draft
from controller.rollout.hooks import after_domain, after_failure, hold_for_hooks
from controller.rollout.windows import window_state

__all__ = ["after_failure", "approve", "hold_after_domain", "hold_before_domain", "on_domain_succeeded"]


def _stamp(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else "never"


def on_domain_succeeded(spec: ScaleSetImageSpec, d: Draft, domain_id: str) -> None:
    """Domain ``domain_id`` is healthy: its analysis starts and the PostDomain hooks are told."""
    start_analysis(spec, d, domain_id)
    after_domain(spec, d, domain_id)


def hold_after_domain(spec: ScaleSetImageSpec, d: Draft, t: Timings) -> bool:
    """True when the walk must stop for the analysis of the domain that succeeded last."""
    return hold_for_analysis(spec, d, t)


def hold_before_domain(spec: ScaleSetImageSpec, d: Draft, t: Timings, domain_id: str) -> bool:
    """True when domain ``domain_id`` may not start yet (window, approval, hooks), with the reason in status."""
    first = not any(dom.started_at is not None for dom in d.status.domains if dom.state != DomainState.SKIPPED)
    return (
        _outside_window(spec, d, t, domain_id)
        or _waiting_for_approval(spec, d, t, domain_id, first)
        or hold_for_hooks(spec, d, t, domain_id, first)
    )


def _outside_window(spec: ScaleSetImageSpec, d: Draft, t: Timings, domain_id: str) -> bool:
    windows = spec.rollout.maintenance_windows
    if not windows:
        if d.status.maintenance_window is not None:
            d.update(maintenance_window=None)
        return False
    state = window_state(windows, d.now)
    if state.open:
        d.update(
            maintenance_window=MaintenanceWindowStatus(
                open=True, window_ends_at=state.ends_at, next_window_at=state.next_at, message=None
            )
        )
        return False
    message = (
        f"Domain {domain_id} waits for the next maintenance window, which opens at {_stamp(state.next_at)}; "
        "a domain starts only inside a window."
    )
    was_open = d.status.maintenance_window is None or d.status.maintenance_window.open
    d.update(
        maintenance_window=MaintenanceWindowStatus(
            open=False, window_ends_at=None, next_window_at=state.next_at, message=message
        )
    )
    if was_open:
        d.event(EventReason.WAITING_FOR_MAINTENANCE_WINDOW, message)
    d.condition(ConditionType.RECONCILING, True, Reason.OUTSIDE_MAINTENANCE_WINDOW, message)
    until = (state.next_at - d.now).total_seconds() if state.next_at is not None else t.resync_interval
    d.wait(max(0.0, min(until, t.resync_interval)))
    return True


def approval_token(status: ScaleSetImageStatus, domain_id: str) -> str:
    """A token for one domain of one rollout: an approval given for another domain or rollout never matches."""
    target = status.target.image.summary() if status.target is not None else ""
    seed = f"{_stamp(status.rollout_started_at)}/{target}/{domain_id}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def _waiting_for_approval(spec: ScaleSetImageSpec, d: Draft, t: Timings, domain_id: str, first: bool) -> bool:
    mode = spec.rollout.approval
    if mode == ApprovalMode.NEVER or (mode == ApprovalMode.BEFORE_FIRST_DOMAIN and not first):
        return False
    current = d.status.approval
    token = approval_token(d.status, domain_id)
    if current is not None and current.domain == domain_id and current.token == token:
        if current.approved_at is not None:
            return False
    else:
        current = ApprovalStatus(domain=domain_id, token=token, requested_at=d.now)
        d.update(approval=current)
        d.event(
            EventReason.APPROVAL_REQUESTED,
            f"Domain {domain_id} waits for approval: kubectl ssi approve <name>, or set the annotation "
            f"imagerollout.dev/approve={token}.",
        )
    d.condition(
        ConditionType.RECONCILING,
        True,
        Reason.WAITING_FOR_APPROVAL,
        f"Domain {domain_id} waits for approval: set the annotation imagerollout.dev/approve to {token} "
        "(kubectl ssi approve does).",
    )
    d.wait(t.poll_interval)
    return True


def approve(status: ScaleSetImageStatus, annotation: str | None, now: datetime) -> ScaleSetImageStatus | None:
    """The status with the waiting approval given, when ``annotation`` carries its token; else None."""
    current = status.approval
    if current is None or current.approved_at is not None or not annotation or annotation.strip() != current.token:
        return None
    return evolve(status, approval=evolve(current, approved_at=now))
