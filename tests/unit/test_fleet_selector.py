"""A fleet's label selector (matchLabels and matchExpressions), as Kubernetes' LabelSelector defines it.

Aspects covered: each operator (In, NotIn, Exists, DoesNotExist) and their AND with matchLabels; the query the
fleet sends to the API server selects exactly what the selector matches locally (checked against the Kubernetes
emulator's own parser of the labelSelector syntax); the generated CRD (schema and CEL, read independently with
celpy) and the Python model accept and refuse the same selectors; a stage's selector takes expressions too.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from scaleset_testbed.kube._paths import label_selector

from controller.resource import ModelError
from controller.resource.crd import build_crd
from controller.resource.fleet import FLEET_KIND, LabelSelector, ScaleSetImageRolloutSpec
from tests.model.schema_check import apply_defaults, validate

LABELS: list[dict[str, str]] = [
    {},
    {"region": "westeurope"},
    {"region": "eastus", "tier": "canary"},
    {"region": "eastus", "tier": ""},
    {"region": "northeurope", "fleet": "web", "skip": "yes"},
    {"fleet": "web", "tier": "prod"},
]


def selector(*expressions: dict[str, Any], **labels: str) -> LabelSelector:
    return LabelSelector.from_dict({"matchLabels": labels, "matchExpressions": list(expressions)})


CASES: list[tuple[LabelSelector, list[int]]] = [
    (selector(), [0, 1, 2, 3, 4, 5]),
    (selector({"key": "region", "operator": "In", "values": ["eastus", "westeurope"]}), [1, 2, 3]),
    (selector({"key": "region", "operator": "NotIn", "values": ["eastus"]}), [0, 1, 4, 5]),
    (selector({"key": "tier", "operator": "Exists"}), [2, 3, 5]),
    (selector({"key": "tier", "operator": "DoesNotExist"}), [0, 1, 4]),
    (selector({"key": "tier", "operator": "In", "values": [""]}), [3]),
    (
        selector(
            {"key": "region", "operator": "Exists"},
            {"key": "skip", "operator": "DoesNotExist"},
            {"key": "tier", "operator": "NotIn", "values": ["canary"]},
        ),
        [1, 3],
    ),
    (selector({"key": "region", "operator": "NotIn", "values": ["eastus"]}, fleet="web"), [4, 5]),
]


@pytest.mark.parametrize(("sel", "expected"), CASES, ids=[c[0].as_query() or "<all>" for c in CASES])
def test_each_operator_selects_as_kubernetes_defines(sel: LabelSelector, expected: list[int]) -> None:
    assert [i for i, labels in enumerate(LABELS) if sel.matches(labels)] == expected


@pytest.mark.parametrize(("sel", "expected"), CASES, ids=[c[0].as_query() or "<all>" for c in CASES])
def test_the_query_sent_to_the_api_server_selects_the_same(sel: LabelSelector, expected: list[int]) -> None:
    server_side = label_selector(sel.as_query())
    assert [i for i, labels in enumerate(LABELS) if server_side(labels)] == expected


def test_the_query_syntax() -> None:
    sel = selector(
        {"key": "example.com/region", "operator": "In", "values": ["westeurope", "eastus"]},
        {"key": "tier", "operator": "NotIn", "values": ["canary"]},
        {"key": "owner", "operator": "Exists"},
        {"key": "skip", "operator": "DoesNotExist"},
        fleet="web",
    )
    assert sel.as_query() == "fleet=web,example.com/region in (eastus,westeurope),tier notin (canary),owner,!skip"


def fleet_body(sel: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "imagerollout.dev/v1alpha1",
        "kind": FLEET_KIND,
        "metadata": {"name": "f", "namespace": "ns"},
        "spec": {
            "selector": sel,
            "image": {"marketplace": {"publisher": "P", "offer": "O", "sku": "S", "version": "1.0.0"}},
            "stages": [{"name": "one", "selector": sel}, {"name": "rest"}],
        },
    }


def crd_errors(body: dict[str, Any]) -> list[str]:
    schema: dict[str, Any] = build_crd(FLEET_KIND)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return validate(schema, apply_defaults(schema, body))


def model_error(body: dict[str, Any]) -> str | None:
    try:
        ScaleSetImageRolloutSpec.from_dict(body["spec"])
    except ModelError as exc:
        return str(exc)
    return None


GOOD = [
    {"matchExpressions": [{"key": "region", "operator": "In", "values": ["a", "b"]}]},
    {"matchExpressions": [{"key": "example.com/tier", "operator": "NotIn", "values": ["canary"]}]},
    {"matchExpressions": [{"key": "tier", "operator": "Exists"}, {"key": "x", "operator": "DoesNotExist"}]},
    {"matchExpressions": [{"key": "tier", "operator": "Exists", "values": []}]},
    {"matchLabels": {"fleet": "web"}, "matchExpressions": []},
]
BAD: dict[str, tuple[dict[str, Any], str]] = {
    "In without values": (
        {"matchExpressions": [{"key": "region", "operator": "In"}]},
        "In and NotIn need at least one value",
    ),
    "NotIn with an empty list": (
        {"matchExpressions": [{"key": "region", "operator": "NotIn", "values": []}]},
        "In and NotIn need at least one value",
    ),
    "Exists with values": (
        {"matchExpressions": [{"key": "region", "operator": "Exists", "values": ["a"]}]},
        "Exists and DoesNotExist take none",
    ),
    "an unknown operator": ({"matchExpressions": [{"key": "region", "operator": "Gt", "values": ["1"]}]}, "operator"),
    "a bad key": ({"matchExpressions": [{"key": "-bad-", "operator": "Exists"}]}, "key"),
    "a bad value": ({"matchExpressions": [{"key": "r", "operator": "In", "values": ["no spaces"]}]}, "values"),
    "a missing operator": ({"matchExpressions": [{"key": "r"}]}, "operator"),
}


@pytest.mark.parametrize("sel", GOOD)
def test_good_selectors_pass_the_crd_and_the_model(sel: dict[str, Any]) -> None:
    body = fleet_body(sel)
    assert crd_errors(body) == []
    assert model_error(body) is None


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_selectors_fail_the_crd_and_the_model(case: str) -> None:
    sel, fragment = BAD[case]
    body = fleet_body(sel)
    errors = crd_errors(body)
    # Refused in both places the selector is (the fleet's and the stage's), by the CRD and by the model.
    assert any(e.startswith("spec.selector.matchExpressions[0]") and fragment in e for e in errors), errors
    assert any(e.startswith("spec.stages[0].selector.matchExpressions[0]") and fragment in e for e in errors), errors
    error = model_error(body)
    assert error is not None
    assert fragment in error, error


def test_a_stage_selector_takes_expressions_and_the_first_match_wins() -> None:
    spec = ScaleSetImageRolloutSpec.from_dict(
        {
            "selector": {"matchExpressions": [{"key": "fleet", "operator": "Exists"}]},
            "image": {"marketplace": {"publisher": "P", "offer": "O", "sku": "S", "version": "1.0.0"}},
            "stages": [
                {
                    "name": "canary",
                    "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["canary"]}]},
                },
                {
                    "name": "europe",
                    "selector": {
                        "matchExpressions": [
                            {"key": "region", "operator": "In", "values": ["westeurope", "northeurope"]}
                        ]
                    },
                },
                {"name": "rest"},
            ],
        }
    )
    placed = {
        name: next(s.name for s in spec.stages if s.selector.matches(labels))
        for name, labels in {
            "a": {"fleet": "w", "tier": "canary", "region": "westeurope"},
            "b": {"fleet": "w", "region": "northeurope"},
            "c": {"fleet": "w", "region": "eastus"},
        }.items()
    }
    assert placed == {"a": "canary", "b": "europe", "c": "rest"}
    assert spec.selector.as_query() == "fleet"


def test_every_combination_of_two_requirements_agrees_with_the_server_side_parser() -> None:
    requirements: list[dict[str, Any]] = [
        {"key": "region", "operator": "In", "values": ["eastus"]},
        {"key": "region", "operator": "NotIn", "values": ["eastus", "westeurope"]},
        {"key": "tier", "operator": "Exists"},
        {"key": "skip", "operator": "DoesNotExist"},
    ]
    for a, b in itertools.product(requirements, repeat=2):
        sel = selector(a, b)
        server_side = label_selector(sel.as_query())
        assert [sel.matches(labels) for labels in LABELS] == [server_side(labels) for labels in LABELS], sel
