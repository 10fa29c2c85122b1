"""The rollout logic, pure: (spec, status, what Azure shows) -> the status to write and the one next step.

No I/O, no kopf, no Azure SDK. Split by concern: ``images`` (pin and compare images), ``health`` (instance
verdicts), ``layout`` (domain strategies), ``walk`` (the domain state machine), ``rolling`` (Azure's own
rolling upgrade), ``interventions`` (abort and retry), ``conditions`` (the kstatus summary), ``planner``
(one step), ``actions`` (its output).
"""

from controller.rollout.actions import Action, Event, Plan, UpdateModel, UpgradeInstances, record_operation
from controller.rollout.health import Verdict, is_on_target, verdict
from controller.rollout.images import ImageProblem, model_matches, needs_image_facts, resolve_image, same_declaration
from controller.rollout.layout import choose_layout, layout_domains
from controller.rollout.listing import listing_needed, write_likely
from controller.rollout.planner import plan_next_step

__all__ = [
    "Action",
    "Event",
    "ImageProblem",
    "Plan",
    "UpdateModel",
    "UpgradeInstances",
    "Verdict",
    "choose_layout",
    "is_on_target",
    "layout_domains",
    "listing_needed",
    "model_matches",
    "needs_image_facts",
    "plan_next_step",
    "record_operation",
    "resolve_image",
    "same_declaration",
    "verdict",
    "write_likely",
]
