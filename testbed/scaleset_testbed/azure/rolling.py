"""Rolling upgrades: batches, the health policy between them, cancellation, ``osRollingUpgrade``, and rollback.

A rolling upgrade (a model change under a ``Rolling`` policy, or ``osRollingUpgrade``) takes the model's
``rollingUpgradePolicy``: batches of ``maxBatchInstancePercent`` of the live instances, in update-domain order
(unhealthy first with ``prioritizeUnhealthyInstances``); before a batch, more than ``maxUnhealthyInstancePercent``
unhealthy instances fault it; after one (and the health grace period), more than
``maxUnhealthyUpgradedInstancePercent`` of the upgraded instances unhealthy fault it; then the pause, then the
next batch, until none is left.

**Rollback.** With ``rollbackFailedInstancesOnPolicyBreach`` (Azure: "Rollback failed instances to previous model
if the Rolling Upgrade policy is violated"), a breach does not stop at ``Faulted``: the upgrade reports
``RollingBack`` while each failed or unhealthy upgraded instance is put back on the image and model it had before
its batch, then ends ``Faulted`` with the breach's error. That final code, the order and the timing are the
emulator's: Azure does not publish them. ``RollingBack`` is a ``RollingUpgradeStatusCode`` only in the SDK's
2026-04-01 (azure-mgmt-compute 39); the spec data stored with the tests (up to 2024-07-01) has no such value, so an
older api-version sees the rollback as ``Faulted`` (``rolling_view``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import ArmError
from .scenario import RollingPolicy

if TYPE_CHECKING:
    from .world import Instance, Operation, RollingUpgrade, ScaleSet, World

ROLLING_BACK_SINCE = "2026-04-01"


def _policy(ss: ScaleSet) -> RollingPolicy:
    raw = ss.resource["properties"].get("upgradePolicy", {}).get("rollingUpgradePolicy") or {}
    return RollingPolicy(
        max_batch_instance_percent=int(raw.get("maxBatchInstancePercent", 20)),
        max_unhealthy_instance_percent=int(raw.get("maxUnhealthyInstancePercent", 20)),
        max_unhealthy_upgraded_instance_percent=int(raw.get("maxUnhealthyUpgradedInstancePercent", 20)),
        pause_time_between_batches=str(raw.get("pauseTimeBetweenBatches", "PT0S")),
        prioritize_unhealthy_instances=bool(raw.get("prioritizeUnhealthyInstances", False)),
        rollback_failed_instances_on_policy_breach=bool(raw.get("rollbackFailedInstancesOnPolicyBreach", False)),
    )


def start(
    world: World, ss: ScaleSet, now: float, op: Operation | None, extra_pending: set[str] | None = None
) -> RollingUpgrade:
    from .world import RollingUpgrade

    if ss.rolling is not None and ss.rolling.code in ("RollingForward", "RollingBack"):
        if op is not None:
            ss.rolling.operation = op
        ss.rolling.extra_pending |= extra_pending or set()
        return ss.rolling
    ru = RollingUpgrade(
        id=str(uuid.uuid4()),
        policy=_policy(ss),
        started=now,
        last_action_time=now,
        operation=op,
        extra_pending=set(extra_pending or ()),
    )
    ss.rolling = ru
    _next_batch(world, ss, ru, now)
    return ru


def _end(world: World, ru: RollingUpgrade, code: str, now: float, error: dict[str, Any] | None = None) -> None:
    ru.code, ru.ended, ru.error = code, now, error
    if ru.operation is None:
        return
    if code == "Completed":
        world.finish_operation(ru.operation, now)
    elif code == "Cancelled":
        cancelled = {"code": "RollingUpgradeCancelled", "message": "The rolling upgrade was cancelled."}
        world.finish_operation(ru.operation, now, cancelled)
    else:
        world.finish_operation(ru.operation, now, error)


def _breach(world: World, ss: ScaleSet, ru: RollingUpgrade, now: float, error: dict[str, Any]) -> None:
    """The policy is violated: fault, or roll the failed instances back first."""
    back = [
        ss.instances[iid]
        for iid in sorted(ru.failed)
        if iid in ru.previous and iid in ss.instances and ss.instances[iid].state != "Deleted"
    ]
    if not ru.policy.rollback_failed_instances_on_policy_breach or not back:
        _end(world, ru, "Faulted", now, error)
        return
    ru.code, ru.error = "RollingBack", error
    remaining = {"n": len(back)}

    def one_back(t: float, failure: dict[str, Any] | None) -> None:
        remaining["n"] -= 1
        if remaining["n"] == 0:
            _end(world, ru, "Faulted", t, error)

    for inst in back:
        image, generation = ru.previous[inst.instance_id]
        world.upgrade_instance(ss, inst, image, now, one_back, generation=generation)


def _next_batch(world: World, ss: ScaleSet, ru: RollingUpgrade, now: float) -> None:
    if ru.code != "RollingForward":
        return
    if ru.cancel_requested:
        _end(world, ru, "Cancelled", now)
        return
    live = ss.live_instances()
    pending = [
        i
        for i in live
        if (i.model_generation != ss.model_generation or i.instance_id in ru.extra_pending) and not i.busy
    ]
    if not pending:
        _end(world, ru, "Completed", now)
        return
    unhealthy = [i for i in live if i.state == "Failed" or i.health == "unhealthy"]
    if live and 100 * len(unhealthy) / len(live) > ru.policy.max_unhealthy_instance_percent:
        _breach(
            world,
            ss,
            ru,
            now,
            {
                "code": "MaxUnhealthyInstancePercentExceededInRollingUpgrade",
                "message": f"Rolling Upgrade failed because {len(unhealthy)} of {len(live)} instances are "
                f"unhealthy, more than maxUnhealthyInstancePercent {ru.policy.max_unhealthy_instance_percent}%.",
            },
        )
        return
    if ru.policy.prioritize_unhealthy_instances:
        pending.sort(key=lambda i: (i.health != "unhealthy" and i.state != "Failed", i.update_domain, i.seq))
    else:
        pending.sort(key=lambda i: (i.update_domain, i.seq))
    batch = pending[: max(1, (len(live) * ru.policy.max_batch_instance_percent) // 100)]
    ru.batches += 1
    ru.in_progress = {i.instance_id for i in batch}
    try:
        image = world.resolve_image(ss)
    except ArmError as exc:
        _end(world, ru, "Faulted", now, exc.as_operation_error())
        return
    remaining = {"n": len(batch)}

    def one_done(t: float, failure: dict[str, Any] | None, iid: str) -> None:
        ru.in_progress.discard(iid)
        (ru.failed if failure else ru.successful).add(iid)
        remaining["n"] -= 1
        if remaining["n"] == 0:
            grace = world.scenario.timing.health_grace_seconds
            world.at(t + grace, lambda t2: _after_batch(world, ss, ru, t2))

    for inst in batch:
        ru.extra_pending.discard(inst.instance_id)
        ru.previous[inst.instance_id] = (inst.image, inst.model_generation)
        world.upgrade_instance(ss, inst, image, now, _bind(one_done, inst.instance_id))


def _bind(
    done: Callable[[float, dict[str, Any] | None, str], None], instance_id: str
) -> Callable[[float, dict[str, Any] | None], None]:
    return lambda t, failure: done(t, failure, instance_id)


def _after_batch(world: World, ss: ScaleSet, ru: RollingUpgrade, now: float) -> None:
    if ru.code != "RollingForward":  # cancelled while the batch settled
        return
    upgraded: list[Instance] = [ss.instances[i] for i in ru.successful | ru.failed if i in ss.instances]
    bad = [i for i in upgraded if i.state == "Failed" or i.health == "unhealthy"]
    for inst in bad:
        ru.successful.discard(inst.instance_id)
        ru.failed.add(inst.instance_id)
    if upgraded and 100 * len(bad) / len(upgraded) > ru.policy.max_unhealthy_upgraded_instance_percent:
        _breach(
            world,
            ss,
            ru,
            now,
            {
                "code": "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade",
                "message": "Rolling Upgrade failed after exceeding the MaxUnhealthyUpgradedInstancePercent value "
                f"defined in the RollingUpgradePolicy: {len(bad)} of {len(upgraded)} upgraded instances "
                "are unhealthy.",
            },
        )
        return
    if ru.cancel_requested:  # the batch in flight has finished: stop now, not after the pause
        _end(world, ru, "Cancelled", now)
        return
    from .world import parse_iso_duration

    pause = parse_iso_duration(ru.policy.pause_time_between_batches)
    world.at(now + pause, lambda t: _next_batch(world, ss, ru, t))


def cancel(world: World, ss: ScaleSet, now: float) -> None:
    ru = ss.rolling
    if ru is None or ru.code != "RollingForward":
        raise ArmError(
            409,
            "RollingUpgradeNotInProgress" if ru is None else "OperationNotAllowed",
            "There is no rolling upgrade in progress for this scale set to cancel.",
        )
    ru.cancel_requested = True
    ru.last_action, ru.last_action_time = "Cancel", now
    if not ru.in_progress:
        _end(world, ru, "Cancelled", now)


def start_os_upgrade(world: World, ss: ScaleSet, now: float, op: Operation) -> None:
    """``osRollingUpgrade``: move instances to the newest catalog version of a ``latest`` model."""
    ref = ss.image_reference
    if str(ref.get("version", "")).lower() != "latest" or ref.get("id"):
        raise ArmError(
            409,
            "OperationNotAllowed",
            "OS rolling upgrade is supported only for platform images with version 'latest'.",
        )
    newest = world.resolve_image(ss).exact_version
    stale = {i.instance_id for i in ss.live_instances() if i.image.exact_version != newest}
    ru = start(world, ss, now, op, extra_pending=stale)
    if ru.code != "RollingForward":
        world.finish_operation(op, now, ru.error)
