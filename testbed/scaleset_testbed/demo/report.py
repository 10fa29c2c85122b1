"""The demo's JSON report (``--report``): each resource's final status, its domain upgrades in order (read
from the Azure emulator's audit) and its Azure requests by operation."""

from __future__ import annotations

from collections import Counter
from typing import Any

from controller.resource import ConditionStatus, ConditionType, Phase


def settled(status: dict[str, Any]) -> bool:
    """Done moving: Succeeded or Failed, or Stalled=True (blocked until someone acts)."""
    if status.get("phase") in (Phase.SUCCEEDED, Phase.FAILED) and not status.get("operation"):
        rollback = status.get("rollback") or {}
        return not rollback.get("inProgress")
    return any(
        c.get("type") == ConditionType.STALLED and c.get("status") == ConditionStatus.TRUE
        for c in status.get("conditions") or []
    )


def report(
    audit: list[dict[str, Any]], objects: dict[tuple[str, str], dict[str, Any]], elapsed: float
) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for (namespace, name), obj in sorted(objects.items()):
        status = obj.get("status") or {}
        ref = (obj.get("spec") or {}).get("scaleSet") or {}
        prefix = (
            f"/subscriptions/{ref.get('subscriptionId')}/resourceGroups/{ref.get('resourceGroup')}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{ref.get('name')}"
        ).lower()
        requests = [e for e in audit if e["type"] == "request" and str(e["path"]).lower().startswith(prefix)]
        by_operation = Counter(str(e.get("operation") or "unknown") for e in requests)
        domain_of = {i: d["id"] for d in status.get("domains") or [] for i in d.get("instanceIds") or []}
        upgrades = []
        for e in requests:
            if not (e["method"] == "POST" and str(e["path"]).endswith("/manualupgrade") and e["status"] == 202):
                continue
            ids = [str(i) for i in (e.get("body") or {}).get("instanceIds") or []]
            ends = [
                x["time"] for x in audit
                if x["type"] == "instance" and x["scaleSet"].lower() == str(ref.get("name", "")).lower()
                and x["instanceId"] in ids and x["time"] >= e["time"] and x["state"] in ("Running", "Failed")
            ]  # fmt: skip
            upgrades.append({
                "domain": domain_of.get(ids[0]) if ids else None, "instanceIds": ids, "start": e["time"],
                "end": max(ends) if len(ends) >= len(ids) else None,
            })  # fmt: skip
        out.append({
            "namespace": namespace, "name": name, "scaleSet": ref, "status": status,
            "settled": settled(status), "domainUpgrades": upgrades,
            "azureRequests": dict(sorted(by_operation.items())),
        })  # fmt: skip
    totals = Counter(str(e.get("operation") or "unknown") for e in audit if e["type"] == "request")
    return {
        "resources": out,
        "azureRequestsTotal": dict(sorted(totals.items())),
        "elapsedSeconds": round(elapsed, 3),
    }
