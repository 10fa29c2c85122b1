"""Faults injected through the control API: the next N matching requests fail the way Azure fails."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass
class FaultRule:
    """Answer the next ``count`` requests matching ``method`` and ``path`` (a regex) with a fault.

    ``status`` with ``code``/``message`` answers an ARM error; ``delay`` (seconds) holds the request first;
    ``drop`` closes the connection without an answer; ``drop_after`` first executes the request (Azure did
    the work) and then closes the connection without an answer (the client never learns it);
    ``retry_after`` adds a ``Retry-After`` header.
    """

    method: str
    path: re.Pattern[str]
    count: int
    status: int | None = None
    code: str = "InternalServerError"
    message: str = "An internal error occurred (injected by the emulator)."
    delay: float = 0.0
    drop: bool = False
    drop_after: bool = False
    retry_after: int | None = None
    hits: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        try:
            pattern = re.compile(str(data.get("path", ".*")), re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"path is not a valid regular expression: {exc}") from exc
        count = int(data.get("count", 1))
        status = data.get("status")
        if status is None and not data.get("drop") and not data.get("delay") and not data.get("dropAfter"):
            raise ValueError("a fault needs a status, a delay, drop: true or dropAfter: true")
        if data.get("dropAfter") and (status is not None or data.get("drop")):
            raise ValueError("dropAfter executes the request: it cannot be combined with status or drop")
        retry_after = data.get("retryAfter")
        return cls(
            method=str(data.get("method", "*")).upper(),
            path=pattern,
            count=count,
            status=int(status) if status is not None else None,
            code=str(data.get("code", "InternalServerError" if (status or 500) >= 500 else "BadRequest")),
            message=str(data.get("message", "An error was injected by the emulator.")),
            delay=float(data.get("delay", 0.0)),
            drop=bool(data.get("drop", False)),
            drop_after=bool(data.get("dropAfter", False)),
            retry_after=int(retry_after) if retry_after is not None else None,
        )

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.count and self.method in ("*", method) and bool(self.path.search(path))

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path.pattern,
            "count": self.count,
            "hits": self.hits,
            "status": self.status,
            "code": self.code,
            "delay": self.delay,
            "drop": self.drop,
            "dropAfter": self.drop_after,
            "retryAfter": self.retry_after,
        }


class FaultBook:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule matching this request, counted as used; spent rules are dropped."""
        for rule in self.rules:
            if rule.matches(method, path):
                rule.hits += 1
                self.rules = [r for r in self.rules if r.hits < r.count]
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()
