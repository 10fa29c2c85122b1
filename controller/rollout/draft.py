"""The status being built during one planning step, with the helpers every part of the step uses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from controller.resource import (
    Condition,
    ConditionStatus,
    ConditionType,
    DomainState,
    EventReason,
    Reason,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout.actions import Action, Event

IN_FLIGHT = frozenset({DomainState.UPGRADING, DomainState.VERIFYING, DomainState.ROLLING_BACK})


@dataclass
class Draft:
    """The status being built for this step, plus what the step decided."""

    status: ScaleSetImageStatus
    now: datetime
    generation: int
    events: list[Event] = dataclasses.field(default_factory=list)
    action: Action | None = None
    requeue: float | None = None
    touched: set[ConditionType] = dataclasses.field(default_factory=set)
    """Condition types set during this step (the summary leaves a step's own Reconciling reason alone)."""
    held: str | None = None
    """Why nothing may start (spec.rollout.abort): the summary reports it as Stalled=True, reason Aborted."""
    paused: tuple[Reason, str] | None = None
    """Why the rollout is Paused when a gate paused it (an inconclusive analysis), not spec.rollout.paused."""
    stale_instances: bool = False
    """The observation's instances are from an earlier pass (not listed for this one)."""
    relist: bool = False
    """This step needed the instances listed and was given stale ones: it decided nothing on them."""

    def update(self, **changes: object) -> None:
        self.status = evolve(self.status, **changes)

    def event(self, reason: EventReason, message: str, *, warning: bool = False) -> None:
        self.events.append(Event(reason, message, warning))

    def condition(self, type_: ConditionType, status: bool | None, reason: Reason, message: str) -> None:
        value = ConditionStatus.UNKNOWN if status is None else ConditionStatus.TRUE if status else ConditionStatus.FALSE
        self.touched.add(type_)
        self.status = self.status.with_condition(
            Condition(
                type=type_,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=self.now,
                observed_generation=self.generation,
            )
        )

    def wait(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def set_domain(self, domain_id: str, **changes: object) -> None:
        self.update(domains=tuple(evolve(d, **changes) if d.id == domain_id else d for d in self.status.domains))


def status_changed(d: Draft, type_: ConditionType) -> bool:
    cond = d.status.condition(type_)
    return cond is not None and cond.last_transition_time == d.now
