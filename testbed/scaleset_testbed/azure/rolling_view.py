"""``rollingUpgrades/latest``: a scale set's last rolling upgrade as RollingUpgradeStatusInfo.

The progress adds up: every instance the upgrade set out to move is counted once, as successful, failed, in
progress or pending. Pending means still to do: on the old model (an upgrade started by a model change), or, for
``osRollingUpgrade``, which does not change the model, not yet on the newest image. Those left when the upgrade
stopped (cancelled or faulted) stay pending. The answer leaves out what the request's api-version does not define
(``rollingUpgradeStatus`` in ``api_fields``), and shows a rollback (``RollingBack``) as ``Faulted`` to an api-version
older than 2026-04-01, whose status codes have no ``RollingBack`` (``rolling``).
"""

from __future__ import annotations

from typing import Any

from . import api_fields
from .errors import ArmError
from .rolling import ROLLING_BACK_SINCE
from .world import ScaleSet, World


def rolling_status(world: World, ss: ScaleSet, api_version: str) -> dict[str, Any]:
    ru = ss.rolling
    if ru is None:
        raise ArmError(
            404,
            "RollingUpgradeNotFound",
            f"No rolling upgrade has been run on the virtual machine scale set '{ss.spec.name}'.",
        )
    done = ru.successful | ru.failed | ru.in_progress
    pending = [
        i
        for i in ss.live_instances()
        if (i.model_generation != ss.model_generation or i.instance_id in ru.extra_pending)
        and i.instance_id not in done
    ]
    code = ru.code
    if code == "RollingBack" and api_version[:10] < ROLLING_BACK_SINCE:
        code = "Faulted"  # the version's RollingUpgradeStatusCode has no RollingBack; the breach has faulted it
    body: dict[str, Any] = {
        "name": ss.spec.name,
        "location": ss.spec.location,
        "type": "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades",
        "properties": {
            "policy": ru.policy.to_arm(),
            "runningStatus": {
                "code": code,
                "startTime": world.iso(ru.started),
                "lastAction": ru.last_action,
                "lastActionTime": world.iso(ru.last_action_time),
            },
            "progress": {
                "successfulInstanceCount": len(ru.successful),
                "failedInstanceCount": len(ru.failed),
                "inProgressInstanceCount": len(ru.in_progress),
                "pendingInstanceCount": len(pending),
            },
        },
    }
    if ru.error:
        body["properties"]["error"] = ru.error
    return dict(api_fields.strip("rollingUpgradeStatus", body, api_version))
