"""Health verdicts: what one instance's observed state means for the domain walk."""

from __future__ import annotations

import enum

from controller.observed import ObservedInstance, ObservedScaleSet

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


def verdict(inst: ObservedInstance, health_extension: bool, target_version: str | None = None) -> Verdict:
    """One instance against the current model.

    An instance that already runs the exact target version (Azure reports ``exactVersion`` for
    Marketplace images) is on the target even when a later model write cleared ``latestModelApplied``.
    With the application health extension, its report decides; without it, the power state does.
    """
    if is_busy(inst):
        return Verdict.BUSY
    if not inst.latest_model and not (target_version and inst.image_version == target_version):
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


def healthy_on_old_model(inst: ObservedInstance, observed: ObservedScaleSet) -> bool:
    """Whether an instance not yet upgraded serves (it counts as healthy in status.instances)."""
    if observed.has_health_extension:
        return inst.health == "healthy"
    return inst.power == "running" and inst.provisioning == "succeeded"
