"""The rollout logic, pure: (spec, status, what Azure shows) -> the status to write and the one next step."""

from controller.rollout.planner import (
    Action,
    Event,
    ImageFacts,
    ImageProblem,
    Observation,
    Plan,
    Timings,
    UpdateModel,
    UpgradeInstances,
    layout_domains,
    model_matches,
    plan_next_step,
    record_operation,
    resolve_image,
    same_declaration,
)

__all__ = [
    "Action",
    "Event",
    "ImageFacts",
    "ImageProblem",
    "Observation",
    "Plan",
    "Timings",
    "UpdateModel",
    "UpgradeInstances",
    "layout_domains",
    "model_matches",
    "plan_next_step",
    "record_operation",
    "resolve_image",
    "same_declaration",
]
