"""What a planning step returns: the status to write, at most one Azure write, events, a requeue delay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controller.resource import (
    EventReason,
    Operation,
    OperationKind,
    ScaleSetImageStatus,
    evolve,
)


@dataclass(frozen=True)
class UpdateModel:
    """Set the scale set model's image (guarded by the etag the model was read with)."""

    kind: OperationKind
    image_reference: dict[str, str] | None
    vhd_uri: str | None
    etag: str | None


@dataclass(frozen=True)
class UpgradeInstances:
    """One ``manualupgrade`` call for these instances of one domain."""

    domain: str
    instance_ids: tuple[str, ...]


Action = UpdateModel | UpgradeInstances


@dataclass(frozen=True)
class Event:
    reason: EventReason
    message: str
    warning: bool = False


@dataclass(frozen=True)
class Plan:
    status: ScaleSetImageStatus
    action: Action | None = None
    requeue_after: float | None = None
    events: tuple[Event, ...] = ()
    relist: bool = False
    """The pass was given instances from an earlier pass where the walk needed them listed: list them next."""


def record_operation(
    status: ScaleSetImageStatus, action: Action, token: str, now: datetime, *, operation_id: str | None = None
) -> ScaleSetImageStatus:
    """The status after ``action`` was started in Azure: the operation is in flight under ``token``.

    ``operation_id`` is Azure's id of the operation, read from the token by the Azure side.
    """
    if isinstance(action, UpgradeInstances):
        op = Operation(
            kind=OperationKind.MANUAL_UPGRADE,
            id=operation_id,
            domain=action.domain,
            instance_ids=action.instance_ids,
            started_at=now,
            continuation_token=token,
        )
    else:
        op = Operation(kind=action.kind, id=operation_id, started_at=now, continuation_token=token)
    return evolve(status, operation=op)
