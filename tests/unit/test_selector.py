"""``--selector``: Kubernetes label selectors turned into kopf's label filters (issue 14, sharding).

Aspects: each selector form matches what the API server's selector matches (checked through kopf's own
matching of a handler's labels against a body), a blank selector is no filter, and malformed selectors are
refused with the term at fault.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.operator.selector import SelectorError, parse_selector


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
