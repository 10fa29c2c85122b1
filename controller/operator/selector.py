"""``--selector``: which ScaleSetImages this operator process handles, as a Kubernetes label selector.

A fleet can be sharded across operator processes (one Helm release per shard), each handling the resources
whose labels match its selector and ignoring the others entirely (no Azure call, no status write, no
finalizer). The syntax is Kubernetes' own: equality-based ``key=value``, ``key==value``, ``key!=value``,
existence ``key`` and ``!key``, and set-based ``key in (a,b)`` and ``key notin (a,b)``, comma-separated
(all must hold). The result is the ``labels=`` filter kopf handlers take.

Each shard has a finalizer of its own (:func:`finalizer_for`). kopf removes *its* finalizer from a resource
none of its handlers match; with one shared name, shard A removed what shard B had just added and B added it
back, a write storm of about 45 writes a second per resource. A ScaleSetImageRollout (fleet) is handled by
the shard whose selector matches the fleet's own labels.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import kopf

from controller.resource import GROUP

LabelFilter = dict[str, Any]
"""kopf's ``labels=``: a value to equal, ``kopf.PRESENT``/``kopf.ABSENT``, or a callable on the value."""

_KEY = r"(?:[a-z0-9A-Z.\-]+/)?[a-zA-Z0-9]([a-zA-Z0-9_.\-]*[a-zA-Z0-9])?"
_VALUE = r"([a-zA-Z0-9]([a-zA-Z0-9_.\-]*[a-zA-Z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)\s*$")
_EQUALITY = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


LEGACY_FINALIZER = f"{GROUP}/finalizer"
"""The finalizer of an operator without ``--selector`` (and of every shard before shards had their own)."""


class SelectorError(ValueError):
    pass


def finalizer_for(text: str | None) -> str:
    """The finalizer of the shard with this selector: the legacy name without one, else one derived from its
    terms (in any order, spaces ignored), so that every replica of a shard uses the same name."""
    if text is None or not text.strip():
        return LEGACY_FINALIZER
    terms = sorted(re.sub(r"\s*([(),=!])\s*", r"\1", re.sub(r"\s+", " ", term.strip())) for term in _terms(text))
    digest = hashlib.sha256(",".join(terms).encode()).hexdigest()[:10]
    return f"{LEGACY_FINALIZER}-{digest}"


def parse_selector(text: str | None) -> LabelFilter | None:
    """The kopf label filter for a Kubernetes label selector (None or blank: every resource)."""
    if text is None or not text.strip():
        return None
    out: LabelFilter = {}
    for term in _terms(text):
        key, condition = _term(term)
        if key in out:
            raise SelectorError(f"selector {text!r}: label {key!r} appears twice; give one condition per label")
        out[key] = condition
    return out


def _terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise SelectorError(f"selector {text!r}: unbalanced parentheses")
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if depth != 0:
        raise SelectorError(f"selector {text!r}: unbalanced parentheses")
    terms.append(current)
    if any(not t.strip() for t in terms):
        raise SelectorError(f"selector {text!r}: empty term")
    return terms


def _term(term: str) -> tuple[str, Any]:
    if match := _SET.match(term):
        values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
        if not values:
            raise SelectorError(f"selector term {term.strip()!r}: an empty set")
        inside = match["op"] == "in"
        return match["key"], _in_set(values) if inside else _not_in_set(values)
    if match := _EQUALITY.match(term):
        value = match["value"]
        return match["key"], value if match["op"] in ("=", "==") else _not_equal(value)
    if match := _EXISTS.match(term):
        return match["key"], kopf.ABSENT if match["neg"] else kopf.PRESENT
    raise SelectorError(
        f"selector term {term.strip()!r} is not one of key=value, key!=value, key, !key, key in (a,b), key notin (a,b)"
    )


def _not_equal(value: str) -> Callable[..., bool]:
    # Kubernetes: "!=" also matches resources without the label.
    def check(label_value: str | None, **_: Any) -> bool:
        return label_value != value

    return check


def _in_set(values: frozenset[str]) -> Callable[..., bool]:
    def check(label_value: str | None, **_: Any) -> bool:
        return label_value in values

    return check


def _not_in_set(values: frozenset[str]) -> Callable[..., bool]:
    def check(label_value: str | None, **_: Any) -> bool:
        return label_value not in values

    return check
