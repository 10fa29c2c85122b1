"""Health verdicts: what one instance's observed state means for the domain walk."""

from __future__ import annotations

import enum

from controller.observed import ObservedInstance, ObservedScaleSet
from controller.resource import ImageSource
from controller.rollout.images import model_matches, runs_image

_BUSY_PROVISIONING = frozenset({"updating", "creating", "deleting"})


class Verdict(enum.StrEnum):
    """One instance judged against the scale set model and the target image."""

    PENDING = "pending"
    """Not on the current model yet (failed instances on an older model included: the upgrade repairs them)."""
    BUSY = "busy"
    """Azure is working on it (updating, creating, deleting)."""
    SETTLING = "settling"
    """On the model, not yet reporting healthy or unhealthy."""
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


WAITING: frozenset[Verdict] = frozenset({Verdict.BUSY, Verdict.SETTLING, Verdict.PENDING})
"""Verdicts that a domain waits on before it is judged."""


def is_busy(inst: ObservedInstance) -> bool:
    return inst.provisioning in _BUSY_PROVISIONING


def verdict(inst: ObservedInstance, health_extension: bool, target: ImageSource | None = None) -> Verdict:
    """One instance against the image it should run.

    Whether it runs ``target`` is read from the image the instance reports (see ``runs_image``), so a
    later model write by anyone neither hides an upgraded instance nor passes off a wrong one; only when
    Azure says nothing about the instance's image does ``latestModelApplied`` stand in for it.
    With the application health extension, its report decides health; without it, the power state does.
    """
    if is_busy(inst):
        return Verdict.BUSY
    on_target = runs_image(inst, target) if target is not None else None
    if not (inst.latest_model if on_target is None else on_target):
        return Verdict.PENDING
    if inst.provisioning == "failed":
        return Verdict.UNHEALTHY
    if health_extension:
        if inst.health == "healthy":
            return Verdict.HEALTHY
        if inst.health == "unhealthy":
            return Verdict.UNHEALTHY
        return Verdict.SETTLING
    if inst.power == "running" and inst.provisioning == "succeeded":
        return Verdict.HEALTHY
    return Verdict.SETTLING if inst.power in ("starting", None) else Verdict.UNHEALTHY


def is_on_target(inst: ObservedInstance, observed: ObservedScaleSet, target: ImageSource) -> bool:
    """Whether an instance runs the target image and Azure is done with it (for status.instances.updated)."""
    if is_busy(inst):
        return False
    known = runs_image(inst, target)
    return known if known is not None else bool(inst.latest_model) and model_matches(observed, target)


def healthy_on_old_model(inst: ObservedInstance, observed: ObservedScaleSet) -> bool:
    """Whether an instance not yet upgraded serves (it counts as healthy in status.instances)."""
    if observed.has_health_extension:
        return inst.health == "healthy"
    return inst.power == "running" and inst.provisioning == "succeeded"
