"""The terminal view of a rollout: per resource, a grid of domains x instances coloured by state.

Used by ``scaleset-image-testbed demo`` (with per-instance states from the emulator) and ``scaleset-image status``
(from ``.status`` alone, where an instance's colour follows its domain's state). Pure: it renders text.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from controller.resource import DOMAIN_DONE_STATES, ConditionStatus, ConditionType, DomainState, Phase


class InstanceState(enum.StrEnum):
    """What one cell of the grid shows."""

    OLD = "old"
    UPDATING = "updating"
    SETTLING = "settling"
    NEW = "new"
    UNHEALTHY = "unhealthy"


_FROM_DOMAIN_STATE: Mapping[str, InstanceState] = {
    DomainState.SUCCEEDED: InstanceState.NEW,
    DomainState.SKIPPED: InstanceState.NEW,
    DomainState.UPGRADING: InstanceState.UPDATING,
    DomainState.VERIFYING: InstanceState.SETTLING,
    DomainState.ROLLING_BACK: InstanceState.UPDATING,
    DomainState.FAILED: InstanceState.UNHEALTHY,
}

_ANSI = {
    InstanceState.OLD: "\x1b[90m",  # grey
    InstanceState.UPDATING: "\x1b[33m",  # yellow
    InstanceState.SETTLING: "\x1b[36m",  # cyan
    InstanceState.NEW: "\x1b[32m",  # green
    InstanceState.UNHEALTHY: "\x1b[31m",  # red
}
_GLYPH = {
    InstanceState.OLD: "o",
    InstanceState.UPDATING: "~",
    InstanceState.SETTLING: "?",
    InstanceState.NEW: "#",
    InstanceState.UNHEALTHY: "x",
}
_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_PHASE_COLOUR: Mapping[str, str] = {
    Phase.SUCCEEDED: "\x1b[32m",
    Phase.FAILED: "\x1b[31m",
    Phase.PAUSED: "\x1b[35m",
    Phase.PROGRESSING: "\x1b[33m",
}

LEGEND_STATES: tuple[InstanceState, ...] = tuple(InstanceState)
_LEGEND_TEXT = {
    InstanceState.OLD: "old image",
    InstanceState.UPDATING: "updating",
    InstanceState.SETTLING: "health pending",
    InstanceState.NEW: "new image, healthy",
    InstanceState.UNHEALTHY: "unhealthy / failed",
}


def states_from_status(status: Mapping[str, Any]) -> dict[str, InstanceState]:
    """Instance states as far as ``.status`` tells them (a domain's state stands for its instances)."""
    out: dict[str, InstanceState] = {}
    for domain in status.get("domains") or []:
        state = domain.get("state")
        mapped = _FROM_DOMAIN_STATE.get(str(state), InstanceState.OLD)
        for iid in domain.get("instanceIds") or []:
            out[str(iid)] = mapped
    return out


def instance_state(instance: Mapping[str, Any], target_label: str | None) -> InstanceState:
    """An emulator instance (``/_emulator/state`` shape) classified for the grid."""
    state = instance.get("state")
    if state in ("Creating", "Updating", "Deleting"):
        return InstanceState.UPDATING
    if state == "Failed" or instance.get("healthy") is False:
        return InstanceState.UNHEALTHY
    if target_label is not None and instance.get("imageVersion") == target_label:
        return InstanceState.NEW if instance.get("healthy") is not False else InstanceState.UNHEALTHY
    if instance.get("latestModelApplied") and instance.get("healthy") is None and target_label is None:
        return InstanceState.SETTLING
    return InstanceState.OLD


def target_label(status: Mapping[str, Any]) -> str | None:
    """What the emulator calls the target image: the exact version, or the image's last path segment."""
    image = (status.get("target") or {}).get("image") or {}
    if "marketplace" in image:
        return str(image["marketplace"].get("version"))
    for key in ("galleryImageVersionId", "managedImageId", "vhdUri"):
        if image.get(key):
            return str(image[key]).rstrip("/").rsplit("/", 1)[-1]
    return None


def _paint(text: str, code: str, colour: bool) -> str:
    return f"{code}{text}{_RESET}" if colour else text


def progress_bar(done: int, total: int, width: int = 20) -> str:
    filled = 0 if total <= 0 else round(width * done / total)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def legend(colour: bool) -> str:
    return "  ".join(_paint(_GLYPH[s], _ANSI[s], colour) + " " + _LEGEND_TEXT[s] for s in LEGEND_STATES)


def condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def render_resource(
    namespace: str,
    name: str,
    status: Mapping[str, Any],
    states: Mapping[str, InstanceState] | None = None,
    *,
    colour: bool = False,
    scale_set: str = "",
) -> list[str]:
    """The lines for one resource: header, progress, one grid row per domain, and what blocks it."""
    states = dict(states if states is not None else states_from_status(status))
    phase = str(status.get("phase") or Phase.PENDING)
    counts = status.get("instances") or {}
    domains: Sequence[Mapping[str, Any]] = status.get("domains") or []
    done = sum(1 for d in domains if d.get("state") in DOMAIN_DONE_STATES)
    head = f"{namespace}/{name}"
    if scale_set:
        flexible = ", Flexible" if status.get("orchestrationMode") == "Flexible" else ""
        head += f"  ({scale_set}{flexible})"
    lines = [
        _paint(head, _BOLD, colour)
        + "  "
        + _paint(phase, _PHASE_COLOUR.get(phase, ""), colour)
        + f"  image {status.get('imageSummary') or '-'}"
    ]
    kind = status.get("domainKind") or "-"
    current = status.get("currentDomain") or "-"
    lines.append(
        f"  domains {done}/{len(domains)} {progress_bar(done, len(domains))}  "
        f"instances {counts.get('updated', 0)}/{counts.get('total', 0)} "
        f"{progress_bar(int(counts.get('updated', 0)), int(counts.get('total', 0)))}  by {kind}, now {current}"
    )
    if status.get("domainKindReason"):
        lines.append(f"  note: {status['domainKindReason']}")
    for domain in domains:
        cells = " ".join(
            _paint(_GLYPH[states.get(str(i), InstanceState.OLD)], _ANSI[states.get(str(i), InstanceState.OLD)], colour)
            for i in domain.get("instanceIds") or []
        )
        marker = ">" if domain.get("id") == status.get("currentDomain") else " "
        lines.append(f"  {marker}{domain.get('id')!s:>9} {domain.get('state')!s:<11} {cells}")
    rolling = status.get("rolling")
    if rolling:
        lines.append(
            f"  Azure rolling upgrade: {rolling.get('code')}  ok {rolling.get('successfulInstances', 0)}"
            f"  failed {rolling.get('failedInstances', 0)}  in progress {rolling.get('inProgressInstances', 0)}"
            f"  pending {rolling.get('pendingInstances', 0)}"
        )
    stalled = condition(status, ConditionType.STALLED)
    if stalled.get("status") == ConditionStatus.TRUE:
        text = f"stalled: {stalled.get('reason')}: {stalled.get('message')}"
        lines.append("  " + _paint(text, _ANSI[InstanceState.UNHEALTHY], colour))
    elif status.get("lastError"):
        lines.append(f"  last error: {status['lastError'].get('message')}")
    return lines
