"""A rollout that fails: onFailure decides between stopping (Pause) and putting the previous image back."""

from __future__ import annotations

from controller.resource import (
    ConditionType,
    ErrorStatus,
    EventReason,
    OnFailure,
    OperationKind,
    Phase,
    Reason,
    RollbackStatus,
    ScaleSetImageSpec,
)
from controller.rollout.actions import UpdateModel
from controller.rollout.draft import Draft
from controller.rollout.images import model_image


def fail(spec: ScaleSetImageSpec, d: Draft, reason: Reason, message: str) -> None:
    d.update(last_error=ErrorStatus(message=message, observed_at=d.now), current_domain=None)
    previous = d.status.previous_image
    if spec.rollout.on_failure == OnFailure.ROLLBACK and previous is not None and d.status.rollback is None:
        d.update(
            rollback=RollbackStatus(
                in_progress=True, target=previous, reason=str(reason), started_at=d.now, message=message
            ),
            phase=Phase.PROGRESSING,
        )
        d.event(EventReason.ROLLBACK_STARTED, f"Rolling back to {previous.summary()}: {message}", warning=True)
        reference, vhd = model_image(previous)
        d.action = UpdateModel(OperationKind.ROLLBACK, reference, vhd, None)
        return
    d.update(phase=Phase.FAILED)
    d.condition(ConditionType.STALLED, True, reason, message)
    d.event(EventReason.ROLLOUT_FAILED, message, warning=True)
