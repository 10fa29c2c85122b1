"""Analysis conditions: a tiny language that compares a query's ``result`` with numbers.

``result > 0.1``, ``result >= 0.99 && result <= 1``, ``not (result == 0)``. Words ``and``/``or``/``not``
and symbols ``&&``/``||``/``!`` both work; numbers are decimal (``1e-3`` too). Nothing else is accepted:
no names but ``result``, no calls, so a condition is data, never code. Pure, for the resource model (which
refuses a condition that does not parse) and the planner (which evaluates it).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from .errors import ModelError

CONDITION_PATTERN: Final = "^[A-Za-z0-9_.()<>=!&| +-]+$"
"""Characters a condition may use (the CRD's pattern; ``parse_condition`` checks the grammar)."""

_TOKEN = re.compile(
    r"\s*(?:(?P<num>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)|(?P<op><=|>=|==|!=|<|>|&&|\|\||!|\(|\)|-)|(?P<word>[A-Za-z_]+))"
)
_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class _Compare:
    left: float | None  # None: result
    op: str
    right: float | None

    def __call__(self, result: float) -> bool:
        left = result if self.left is None else self.left
        right = result if self.right is None else self.right
        return _COMPARE[self.op](left, right)


@dataclass(frozen=True)
class _Not:
    inner: Condition

    def __call__(self, result: float) -> bool:
        return not self.inner(result)


@dataclass(frozen=True)
class _Both:
    left: Condition
    right: Condition
    any_: bool

    def __call__(self, result: float) -> bool:
        if self.any_:
            return self.left(result) or self.right(result)
        return self.left(result) and self.right(result)


Condition = _Compare | _Not | _Both


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ModelError(f"condition {text!r}: cannot read {text[pos:].strip()!r}")
        out.append(match.group(match.lastgroup or "num"))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ModelError(f"condition {self.text!r}: ends too early")
        self.pos += 1
        return token

    def parse(self) -> Condition:
        condition = self._or()
        if self._peek() is not None:
            raise ModelError(f"condition {self.text!r}: unexpected {self._peek()!r}")
        return condition

    def _or(self) -> Condition:
        left = self._and()
        while self._peek() in ("||", "or"):
            self._take()
            left = _Both(left, self._and(), any_=True)
        return left

    def _and(self) -> Condition:
        left = self._not()
        while self._peek() in ("&&", "and"):
            self._take()
            left = _Both(left, self._not(), any_=False)
        return left

    def _not(self) -> Condition:
        if self._peek() in ("!", "not"):
            self._take()
            return _Not(self._not())
        if self._peek() == "(":
            self._take()
            inner = self._or()
            if self._take() != ")":
                raise ModelError(f"condition {self.text!r}: missing ')'")
            return inner
        left = self._term()
        op = self._take()
        if op not in _COMPARE:
            raise ModelError(f"condition {self.text!r}: expected a comparison (<, <=, >, >=, ==, !=), got {op!r}")
        right = self._term()
        if left is not None and right is not None:
            raise ModelError(f"condition {self.text!r}: a comparison must involve result")
        return _Compare(left, op, right)

    def _term(self) -> float | None:
        token = self._take()
        sign = 1.0
        if token == "-":
            sign, token = -1.0, self._take()
        if token == "result" and sign > 0:
            return None
        try:
            value = float(token) * sign
        except ValueError:
            raise ModelError(f"condition {self.text!r}: expected result or a number, got {token!r}") from None
        if not math.isfinite(value):
            raise ModelError(f"condition {self.text!r}: {token!r} is not a finite number")
        return value


def parse_condition(text: str) -> Condition:
    """The condition ``text`` as a callable ``result -> bool``; raises ``ModelError`` saying what is wrong."""
    return _Parser(text).parse()


def valid_condition(text: str) -> bool:
    try:
        parse_condition(text)
    except ModelError:
        return False
    return True
