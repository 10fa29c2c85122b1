"""Prometheus series of fleets (ScaleSetImageRollout), in the operator's registry, fed from each status written.

Per fleet (labels ``namespace``, ``name``): ``fleet_phase{phase}`` (1 for the current one), ``fleet_run`` (the
run number), ``fleet_stages{state}`` and ``fleet_members{state}`` (counts by state), ``fleet_waiting_for_approval``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from controller.metrics import PREFIX
from controller.resource.fleet import FleetPhase, MemberState, StageState


class FleetMetrics:
    """The fleet series; ``attach`` hooks them to an OperatorContext."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["namespace", "name"]
        self.phase = Gauge(
            PREFIX + "fleet_phase", "1 for the fleet's current phase.", [*labels, "phase"], registry=registry
        )
        self.run = Gauge(PREFIX + "fleet_run", "Number of the fleet's current run.", labels, registry=registry)
        self.stages = Gauge(
            PREFIX + "fleet_stages", "Stages of the run by state.", [*labels, "state"], registry=registry
        )
        self.members = Gauge(
            PREFIX + "fleet_members",
            "Members of the run by state (done: Succeeded).",
            [*labels, "state"],
            registry=registry,
        )
        self.approval = Gauge(
            PREFIX + "fleet_waiting_for_approval",
            "1 while a stage or a version waits for approval.",
            labels,
            registry=registry,
        )

    def attach(self, ctx: Any) -> None:
        ctx.fleet_status_hook = self.observe

    def observe(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        current = str(status.get("phase") or FleetPhase.PENDING)
        for phase in FleetPhase:
            self.phase.labels(namespace, name, str(phase)).set(1 if phase == current else 0)
        self.run.labels(namespace, name).set(int((status.get("run") or {}).get("number") or 0))
        stages = [str(s.get("state")) for s in status.get("stages") or ()]
        for state in StageState:
            self.stages.labels(namespace, name, str(state)).set(stages.count(str(state)))
        members = [str(m.get("state")) for m in status.get("members") or ()]
        for member_state in MemberState:
            self.members.labels(namespace, name, str(member_state)).set(members.count(str(member_state)))
        self.approval.labels(namespace, name).set(1 if current == FleetPhase.WAITING_FOR_APPROVAL else 0)
