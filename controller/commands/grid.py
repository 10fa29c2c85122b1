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


_SHORT_LEGEND_TEXT = {
    InstanceState.OLD: "old",
    InstanceState.UPDATING: "updating",
    InstanceState.SETTLING: "health pending",
    InstanceState.NEW: "new, healthy",
    InstanceState.UNHEALTHY: "unhealthy",
}


def legend(colour: bool, *, short: bool = False) -> str:
    """What each mark means (``short``: in under 80 columns)."""
    text = _SHORT_LEGEND_TEXT if short else _LEGEND_TEXT
    return "  ".join(_paint(_GLYPH[s], _ANSI[s], colour) + " " + text[s] for s in LEGEND_STATES)


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
    bar_width: int = 20,
) -> list[str]:
    """The lines for one resource: header, progress, one grid row per domain, and what blocks it."""
    states = dict(states if states is not None else states_from_status(status))
    counts = status.get("instances") or {}
    domains: Sequence[Mapping[str, Any]] = status.get("domains") or []
    done = sum(1 for d in domains if d.get("state") in DOMAIN_DONE_STATES)
    lines = [head_line(namespace, name, status, colour=colour, scale_set=scale_set)]
    kind = status.get("domainKind") or "-"
    current = status.get("currentDomain") or "-"
    lines.append(
        f"  domains {done}/{len(domains)} {progress_bar(done, len(domains), bar_width)}  "
        f"instances {counts.get('updated', 0)}/{counts.get('total', 0)} "
        f"{progress_bar(int(counts.get('updated', 0)), int(counts.get('total', 0)), bar_width)}"
        f"  by {kind}, now {current}"
    )
    if status.get("domainKindReason"):
        lines.append(f"  note: {status['domainKindReason']}")
    if status.get("follow"):
        lines.append("  " + follow_line(status["follow"]))
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
    lines.extend(_blocker(status, colour))
    return lines


def follow_line(follow: Mapping[str, Any]) -> str:
    """``follow: latest 1.0.2 (seen ...), approved 1.0.1 (Spec, ...)``: what following found (spec.follow)."""
    line = (
        f"follow: latest {follow.get('latestVersion') or '-'} (seen {follow.get('seenAt') or '-'}),"
        f" approved {follow.get('approvedVersion') or '-'} ({follow.get('approvedBy') or '-'},"
        f" {follow.get('approvedAt') or '-'})"
    )
    waiting = follow.get("latestVersion")
    if waiting and waiting != follow.get("approvedVersion"):
        line += f"; {waiting} waits for approval"
    return line


def _blocker(status: Mapping[str, Any], colour: bool) -> list[str]:
    stalled = condition(status, ConditionType.STALLED)
    if stalled.get("status") == ConditionStatus.TRUE:
        text = f"stalled: {stalled.get('reason')}: {stalled.get('message')}"
        return ["  " + _paint(text, _ANSI[InstanceState.UNHEALTHY], colour)]
    if status.get("lastError"):
        return [f"  last error: {status['lastError'].get('message')}"]
    return []


def head_line(
    namespace: str, name: str, status: Mapping[str, Any], *, colour: bool = False, scale_set: str = ""
) -> str:
    """``ns/name  (scale set)  Phase  image ...``: the first line of a resource in every form."""
    phase = str(status.get("phase") or Phase.PENDING)
    head = f"{namespace}/{name}"
    if scale_set:
        flexible = ", Flexible" if status.get("orchestrationMode") == "Flexible" else ""
        head += f"  ({scale_set}{flexible})"
    return (
        _paint(head, _BOLD, colour)
        + "  "
        + _paint(phase, _PHASE_COLOUR.get(phase, ""), colour)
        + f"  image {status.get('imageSummary') or '-'}"
    )


def domain_strip(status: Mapping[str, Any], states: Mapping[str, InstanceState] | None = None, *, colour: bool) -> str:
    """Every domain's marks in one line, domains apart by ``|``: ``##|~~|oo`` (the grid, condensed)."""
    states = dict(states if states is not None else states_from_status(status))
    return "|".join(
        "".join(
            _paint(_GLYPH[states.get(str(i), InstanceState.OLD)], _ANSI[states.get(str(i), InstanceState.OLD)], colour)
            for i in domain.get("instanceIds") or []
        )
        for domain in status.get("domains") or []
    )


def render_compact(
    namespace: str,
    name: str,
    status: Mapping[str, Any],
    states: Mapping[str, InstanceState] | None = None,
    *,
    colour: bool = False,
    scale_set: str = "",
) -> list[str]:
    """Two lines (three when blocked) for one resource: its head, then progress and the grid in one line."""
    domains: Sequence[Mapping[str, Any]] = status.get("domains") or []
    done = sum(1 for d in domains if d.get("state") in DOMAIN_DONE_STATES)
    counts = status.get("instances") or {}
    progress = (
        f"  {done}/{len(domains)} domains, {counts.get('updated', 0)}/{counts.get('total', 0)} instances"
        f" by {status.get('domainKind') or '-'}, now {status.get('currentDomain') or '-'}  "
    )
    lines = [head_line(namespace, name, status, colour=colour, scale_set=scale_set)]
    lines.append(progress + domain_strip(status, states, colour=colour))
    return lines + _blocker(status, colour)


def render_line(
    namespace: str, name: str, status: Mapping[str, Any], states: Mapping[str, InstanceState] | None = None,
    *, colour: bool = False,
) -> str:  # fmt: skip
    """One line for one resource: ``ns/name Phase 2/5 ##|~~|oo``."""
    phase = str(status.get("phase") or Phase.PENDING)
    domains: Sequence[Mapping[str, Any]] = status.get("domains") or []
    done = sum(1 for d in domains if d.get("state") in DOMAIN_DONE_STATES)
    return (
        _paint(f"{namespace}/{name}", _BOLD, colour) + " " + _paint(phase, _PHASE_COLOUR.get(phase, ""), colour)
        + f" {done}/{len(domains)} " + domain_strip(status, states, colour=colour)
    )  # fmt: skip
