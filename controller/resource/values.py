"""Values the resource carries as text: durations, counts or percentages, timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fractions import Fraction
from typing import Final

from .errors import ModelError
from .patterns import DURATION_PATTERN, PERCENT_PATTERN

_NS_PER_UNIT: Final = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MAX_DURATION_NS: Final = 2**63 - 1
_DURATION_TERM = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a duration written as Kubernetes users write them: ``30s``, ``5m``, ``1h30m``, ``1.5h``.

    The accepted language is ``DURATION_PATTERN``: one or more ``<number><unit>`` terms, units ``h``,
    ``m``, ``s``, ``ms``, ``us``, ``ns``. It is a strict subset of Go's ``time.ParseDuration`` (no sign,
    no bare ``0``, no ``.5h``), so every value accepted here means the same thing to Go and CEL tooling;
    like Go, it refuses durations beyond int64 nanoseconds. Raises ``ModelError`` naming the text.
    """
    if not isinstance(text, str) or re.fullmatch(DURATION_PATTERN, text) is None:
        raise ModelError(
            f"invalid duration {text!r}: write a number followed by a unit (h, m, s, ms, us, ns), "
            "optionally repeated, such as 30s, 5m, 1h30m or 1.5h"
        )
    total_ns = sum(
        (Fraction(number) * _NS_PER_UNIT[unit] for number, unit in _DURATION_TERM.findall(text)), Fraction(0)
    )
    if total_ns > _MAX_DURATION_NS:
        raise ModelError(f"invalid duration {text!r}: longer than the longest Go duration (about 292 years)")
    return float(total_ns / 10**9)


def resolve_count(value: int | str, total: int, *, round_up: bool = False) -> int:
    """Resolve a count-or-percent (``3`` or ``"20%"``) against ``total`` instances.

    An integer is returned as it is. A percentage of ``total`` is rounded down by default (used for
    the unhealthy-instance budget: never allow more than the user asked for) or up with
    ``round_up=True`` (used for batch sizes: never a batch of zero). Raises ``ModelError`` for negative
    numbers, malformed strings and percentages above 100.
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ModelError(f"total must be a non-negative integer, got {total!r}")
    if isinstance(value, bool):
        raise ModelError(f"expected a count or a percentage, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ModelError(f"count must not be negative, got {value}")
        return value
    if isinstance(value, str) and re.fullmatch(PERCENT_PATTERN, value):
        percent = int(value[:-1])
        return -(-percent * total // 100) if round_up else percent * total // 100
    raise ModelError(f"expected a count or a percentage between 0% and 100%, got {value!r}")


def unhealthy_budget(value: int | str, total: int) -> int:
    """How many instances may be unhealthy at once: ``value`` resolved against ``total``, rounded down."""
    return resolve_count(value, total)


def batch_size(value: int | str, total: int) -> int:
    """Instances per batch: ``value`` resolved against ``total``, rounded up, at least 1, at most ``total``."""
    return max(1, min(resolve_count(value, total, round_up=True), total))


_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII)


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp (what Kubernetes writes) as an aware ``datetime``; sub-microseconds dropped."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ModelError(f"invalid timestamp {text!r}: expected RFC 3339, e.g. 2024-05-01T12:00:00Z")
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}{fraction}{zone}")
    except ValueError as err:
        raise ModelError(f"invalid timestamp {text!r}: {err}") from None


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds only when there are any (round-trips ``parse_timestamp``)."""
    if moment.tzinfo is None:
        raise ModelError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"
