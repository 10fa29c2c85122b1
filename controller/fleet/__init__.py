"""The fleet logic, pure: (ScaleSetImageRollout spec, its status, member ScaleSetImages) -> the next step.

No I/O, no kopf, no Azure SDK: ``views`` (what the planner reads and returns), ``planner`` (one decision, and
what a member write that went through or failed changes in status).
"""

from controller.fleet.planner import (
    approval_token,
    fleet_conditions,
    newest_version,
    plan_fleet,
    record_applied,
    unrecord_started,
)
from controller.fleet.views import ApplyToMember, FleetEvent, FleetPlan, MemberView

__all__ = [
    "ApplyToMember",
    "FleetEvent",
    "FleetPlan",
    "MemberView",
    "approval_token",
    "fleet_conditions",
    "newest_version",
    "plan_fleet",
    "record_applied",
    "unrecord_started",
]
