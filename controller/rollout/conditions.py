"""Ready, Reconciling and Stalled, summarized in one place from the phase and the owned conditions (kstatus)."""

from __future__ import annotations

from controller.resource import (
    ConditionStatus,
    ConditionType,
    Phase,
    Reason,
)
from controller.rollout.draft import Draft


def summarize(d: Draft) -> None:
    """Ready / Reconciling / Stalled in one place, from the phase and the other conditions (kstatus)."""
    s = d.status
    blocking = [
        c
        for c in s.conditions
        if c.type
        in (ConditionType.SCALE_SET_FOUND, ConditionType.IMAGE_AVAILABLE, ConditionType.UPGRADE_POLICY_COMPATIBLE)
        and c.status == ConditionStatus.FALSE
    ]
    if blocking:
        first = blocking[0]
        d.condition(ConditionType.READY, False, Reason(first.reason), first.message)
        d.condition(ConditionType.STALLED, True, Reason(first.reason), first.message)
        d.condition(ConditionType.RECONCILING, False, Reason(first.reason), "Blocked; see Stalled.")
        return
    if d.held is not None:
        d.condition(ConditionType.READY, False, Reason.ABORTED, d.held)
        d.condition(ConditionType.RECONCILING, False, Reason.ABORTED, "Held; see Stalled.")
        d.condition(ConditionType.STALLED, True, Reason.ABORTED, d.held)
        return
    if s.phase == Phase.SUCCEEDED:
        summary = s.target.image.summary() if s.target else "the image"
        d.condition(ConditionType.READY, True, Reason.ROLLOUT_SUCCEEDED, f"Every domain runs {summary}.")
        d.condition(ConditionType.RECONCILING, False, Reason.ROLLOUT_SUCCEEDED, "Nothing to do.")
        d.condition(ConditionType.STALLED, False, Reason.ROLLOUT_SUCCEEDED, "Not stalled.")
        return
    if s.phase == Phase.FAILED:
        stalled = s.condition(ConditionType.STALLED)
        message = stalled.message if stalled and stalled.status == ConditionStatus.TRUE else "The rollout failed."
        reason = Reason(stalled.reason) if stalled and stalled.status == ConditionStatus.TRUE else Reason.ROLLOUT_FAILED
        d.condition(ConditionType.READY, False, reason, message)
        d.condition(ConditionType.RECONCILING, False, reason, "Stopped; see Stalled.")
        d.condition(ConditionType.STALLED, True, reason, message)
        return
    if s.phase == Phase.PAUSED:
        reason, why = d.paused or (Reason.PAUSED_BY_USER, "Paused by spec.rollout.paused.")
        d.condition(ConditionType.READY, False, reason, why)
        d.condition(ConditionType.RECONCILING, False, reason, why)
        d.condition(ConditionType.STALLED, False, reason, "Paused, not stalled.")
        return
    current = s.current_domain
    message = f"Domain {current} of {s.domain_progress}." if current else f"{s.domain_progress} domains done."
    reconciling = s.condition(ConditionType.RECONCILING)
    said_why = ConditionType.RECONCILING in d.touched and reconciling is not None
    if not said_why or reconciling is None or reconciling.status != ConditionStatus.TRUE:
        d.condition(ConditionType.RECONCILING, True, Reason.ROLLOUT_IN_PROGRESS, message)
    d.condition(ConditionType.READY, False, Reason.ROLLOUT_IN_PROGRESS, message)
    d.condition(ConditionType.STALLED, False, Reason.ROLLOUT_IN_PROGRESS, "Making progress.")
