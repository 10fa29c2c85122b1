"""``--selector``: Kubernetes label selectors turned into kopf's label filters (issue 14, sharding).

Aspects: each selector form matches what the API server's selector matches (checked through kopf's own
matching of a handler's labels against a body), a blank selector is no filter, and malformed selectors are
refused with the term at fault; each shard has its own finalizer (the same for every replica of a shard), and
fleets are handled by the shard whose selector matches their labels.
"""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from controller.config import OperatorConfig
from controller.operator import OperatorContext
from controller.operator.fleet import register_fleet
from controller.operator.selector import LEGACY_FINALIZER, SelectorError, finalizer_for, parse_selector


def matches(selector: str, labels: dict[str, str]) -> bool:
    """As kopf decides it for a handler with ``labels=parse_selector(selector)``."""
    from kopf._core.intents.registries import _matches_metadata

    pattern = parse_selector(selector)
    assert pattern is not None

    class Cause:
        kwargs: dict[str, Any] = {"body": {}}

    return _matches_metadata(pattern=pattern, content=labels, kwargs={"x": 1}, cause=Cause())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("shard=a", {"shard": "a"}, True),
        ("shard==a", {"shard": "b"}, False),
        ("shard=a", {}, False),
        ("shard!=a", {"shard": "b"}, True),
        ("shard!=a", {}, True),  # as in Kubernetes: a missing label is not equal
        ("shard!=a", {"shard": "a"}, False),
        ("shard", {"shard": "x"}, True),
        ("shard", {}, False),
        ("!shard", {}, True),
        ("!shard", {"shard": "x"}, False),
        ("tier in (web, api)", {"tier": "api"}, True),
        ("tier in (web,api)", {"tier": "db"}, False),
        ("tier notin (web,api)", {"tier": "db"}, True),
        ("tier notin (web,api)", {}, True),
        ("shard=a,tier in (web,api)", {"shard": "a", "tier": "web"}, True),
        ("shard=a,tier in (web,api)", {"shard": "b", "tier": "web"}, False),
        ("imagerollout.dev/shard=a", {"imagerollout.dev/shard": "a"}, True),
    ],
)
def test_selector_forms_match_as_kubernetes_does(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert matches(selector, labels) is expected


def test_a_blank_selector_is_no_filter() -> None:
    assert parse_selector(None) is None
    assert parse_selector("  ") is None


@pytest.mark.parametrize(
    ("selector", "words"),
    [
        ("shard=a,", "empty term"),
        ("tier in (a", "unbalanced"),
        ("tier in ()", "empty set"),
        ("shard=a,shard=b", "appears twice"),
        ("shard>1", "is not one of"),
    ],
)
def test_a_malformed_selector_is_refused(selector: str, words: str) -> None:
    with pytest.raises(SelectorError, match=words):
        parse_selector(selector)


def test_each_shard_has_its_own_finalizer_and_no_selector_keeps_the_old_one() -> None:
    assert finalizer_for(None) == finalizer_for("  ") == LEGACY_FINALIZER == "imagerollout.dev/finalizer"
    a = finalizer_for("shard=a")
    assert a.startswith("imagerollout.dev/finalizer-")
    assert len(a.split("/")[1]) <= 63  # a finalizer's name part is a qualified name
    assert a != finalizer_for("shard=b") != finalizer_for("shard!=a")
    # Every replica of a shard must agree: the terms' order and spacing do not matter.
    assert finalizer_for("tier in (web,api), shard=a") == finalizer_for("shard = a,tier in ( web, api )")


def test_fleets_follow_the_shard_selector() -> None:
    registry = kopf.OperatorRegistry()
    register_fleet(registry, OperatorContext(config=OperatorConfig()), parse_selector("shard=a"))
    fleet_handlers = [
        h
        for handlers in (registry._changing.get_all_handlers(), registry._spawning.get_all_handlers())
        for h in handlers
        if "scalesetimagerollouts" in str(h.selector)
    ]
    assert fleet_handlers
    assert all(h.labels == {"shard": "a"} for h in fleet_handlers)
