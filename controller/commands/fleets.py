"""The fleet part of ``scaleset-image status``: each ScaleSetImageRollout with its members grouped by stage.

Read only, from ``.status`` (one list of scalesetimagerollouts); a cluster without the fleet CRD shows nothing.
"""

from __future__ import annotations

from typing import Any

from controller.commands.cluster import Connection, KubeError
from controller.commands.grid import follow_line
from controller.resource import GROUP, VERSION
from controller.resource.fleet import FLEET_PLURAL

_MARK = {"Succeeded": "#", "Failed": "x", "Progressing": "~", "Pending": "o"}


def fetch_fleets(conn: Connection, namespace: str | None) -> list[dict[str, Any]]:
    """The fleets of ``namespace`` (None: all); none when the API does not serve the kind."""
    try:
        return conn.list_objects(GROUP, VERSION, FLEET_PLURAL, namespace)
    except KubeError:
        return []


def render_fleets(fleets: list[dict[str, Any]]) -> list[str]:
    """Lines for each fleet: its run, then each stage with its members (o pending, ~ rolling, # done, x failed)."""
    lines: list[str] = []
    for fleet in fleets:
        meta = fleet.get("metadata") or {}
        status = fleet.get("status") or {}
        run = status.get("run") or {}
        head = f"fleet {meta.get('namespace', '')}/{meta.get('name', '')}  {status.get('phase', 'Pending')}"
        if run:
            head += f"  run {run.get('number')} image {run.get('imageSummary')}"
        head += f"  stages {status.get('stageProgress', '0/0')}  members {status.get('memberProgress', '0/0')}"
        lines.append(head)
        follow = status.get("follow") or {}
        if follow:
            lines.append("  " + follow_line(follow))
        if status.get("pendingApproval"):
            lines.append(f"  waiting for approval: add {status['pendingApproval']} to spec.approvals")
        members = status.get("members") or []
        for stage in status.get("stages") or []:
            name = stage.get("name")
            mine = [m for m in members if m.get("stage") == name]
            marker = ">" if name == status.get("currentStage") else " "
            marks = " ".join(_MARK.get(str(m.get("state")), "?") for m in mine)
            lines.append(
                f"  {marker} {name:<12} {stage.get('state', 'Pending'):<18} "
                f"{stage.get('succeeded', 0)}/{stage.get('members', 0)}  {marks}"
            )
            for m in mine:
                detail = f"{m.get('phase') or '-'} {m.get('domains') or ''}".strip()
                message = f"  {m['message']}" if m.get("message") else ""
                lines.append(f"        {m.get('namespace')}/{m.get('name')}: {m.get('state')} ({detail}){message}")
        for reason in status.get("excluded") or []:
            lines.append(f"    left out: {reason}")
        lines.append("")
    return lines
