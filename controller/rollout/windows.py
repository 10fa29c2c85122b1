"""Maintenance windows: is one open at ``now``, and when does the next one open. Pure (a clock is passed in).

A window is a recurring start (a weekly schedule or a five-field cron expression) in an IANA time zone,
open for ``duration`` from each start. Schedules are evaluated in the window's own zone, so a window at
02:00 Europe/Berlin stays at 02:00 local time across daylight saving changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from controller.resource import MaintenanceWindow, Weekday

_CRON_DAY = {
    Weekday.SUN: 0,
    Weekday.MON: 1,
    Weekday.TUE: 2,
    Weekday.WED: 3,
    Weekday.THU: 4,
    Weekday.FRI: 5,
    Weekday.SAT: 6,
}


@dataclass(frozen=True)
class WindowState:
    open: bool
    ends_at: datetime | None  # the open window's end (the latest, when several are open)
    next_at: datetime | None  # the next start after now


def cron_of(window: MaintenanceWindow) -> str:
    """The window's schedule as a cron expression (a weekly schedule is one, too)."""
    if window.cron is not None:
        return window.cron
    assert window.weekly is not None
    hour, minute = window.weekly.start.split(":")
    days = ",".join(str(_CRON_DAY[day]) for day in sorted(window.weekly.days, key=lambda day: _CRON_DAY[day]))
    return f"{int(minute)} {int(hour)} * * {days}"


def _state(window: MaintenanceWindow, now: datetime) -> WindowState:
    local = now.astimezone(ZoneInfo(window.time_zone))
    expr = cron_of(window)
    length = timedelta(seconds=window.duration_seconds)
    # The latest start at or before now (croniter's get_prev is strictly before: look from a second on).
    previous = croniter(expr, local + timedelta(seconds=1)).get_prev(datetime).astimezone(UTC)
    following = croniter(expr, local).get_next(datetime).astimezone(UTC)
    if previous <= now < previous + length:
        return WindowState(True, previous + length, following)
    return WindowState(False, None, following)


def window_state(windows: Sequence[MaintenanceWindow], now: datetime) -> WindowState:
    """Whether any window is open at ``now``, until when, and when the next one starts."""
    states = [_state(window, now) for window in windows]
    open_ends = [s.ends_at for s in states if s.open and s.ends_at is not None]
    nexts = [s.next_at for s in states if s.next_at is not None]
    return WindowState(bool(open_ends), max(open_ends, default=None), min(nexts, default=None))
