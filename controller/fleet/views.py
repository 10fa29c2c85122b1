"""What the fleet planner reads and returns: member views in, actions and events out. Plain data, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.resource import ImageSource, ModelError
from controller.resource.fleet import FleetEventReason, ScaleSetImageRolloutStatus


@dataclass(frozen=True)
class MemberView:
    """One selected ScaleSetImage as the API server shows it now (the parts a fleet decides on)."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    generation: int
    image: ImageSource | None  # spec.image (None: unreadable)
    paused: bool = False
    phase: str | None = None
    observed_generation: int | None = None
    target_generation: int | None = None  # status.target.generation: the spec generation its image came from
    domains: str | None = None  # status.domainProgress
    stalled: str | None = None  # Stalled=True's reason and message, when it is True
    denied: str | None = None  # why the fleet may not touch it (scope policy), if so
    follows: bool = False  # spec.follow: it sets its own image, so no fleet may set it

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any], *, denied: str | None = None) -> MemberView:
        """A view of a ScaleSetImage as listed from the API (its wire form)."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        try:
            image: ImageSource | None = ImageSource.from_dict(spec.get("image") or {})
        except ModelError:
            image = None
        stalled = next(
            (
                f"{c.get('reason')}: {c.get('message')}"
                for c in status.get("conditions") or ()
                if c.get("type") == "Stalled" and c.get("status") == "True"
            ),
            None,
        )
        target = status.get("target") or {}
        return cls(
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            labels=dict(meta.get("labels") or {}),
            generation=int(meta.get("generation") or 0),
            image=image,
            paused=bool((spec.get("rollout") or {}).get("paused", False)),
            phase=status.get("phase"),
            observed_generation=_int(status.get("observedGeneration")),
            target_generation=_int(target.get("generation")),
            domains=status.get("domainProgress"),
            stalled=stalled,
            denied=denied,
            follows=bool(spec.get("follow")),
        )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ApplyToMember:
    """Set ``spec.image`` and ``spec.rollout.paused`` of one member (under the fleet's field manager), together."""

    namespace: str
    name: str
    image: ImageSource
    paused: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True)
class FleetEvent:
    reason: FleetEventReason
    message: str
    warning: bool = False


@dataclass(frozen=True)
class FleetPlan:
    """The status to write, the member writes to make first, the events to post, and when to look again."""

    status: ScaleSetImageRolloutStatus
    actions: tuple[ApplyToMember, ...] = ()
    events: tuple[FleetEvent, ...] = ()
    requeue_after: float | None = None  # None: the operator's poll interval while a run is in flight
    settled: bool = False  # nothing in flight: look again at the resync interval
    notes: tuple[str, ...] = field(default=())
