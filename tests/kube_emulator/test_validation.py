"""Custom resources are pruned, defaulted and validated by their CRD schema, CEL rules included."""

from __future__ import annotations

from typing import Any

import pytest

from .support import GROUP, WIDGETS, Api, widget

VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+$"
# After a type or enum error the API server does not run the CEL rules, and says so in one more cause.
RULES_NOT_CHECKED = {
    "reason": "FieldValueInvalid",
    "field": "<nil>",
    "message": 'Invalid value: "null": some validation rules were not checked because the object was invalid; '
    "correct the existing errors to complete validation",
}
BLOCKING = {"FieldValueTypeInvalid", "FieldValueNotSupported"}


def _marketplace(**fields: Any) -> dict[str, Any]:
    return {"marketplace": {"publisher": "canonical", "version": "1.2.3", **fields}}


@pytest.mark.parametrize(
    ("spec", "field", "reason", "message"),
    [
        pytest.param(
            {"image": _marketplace(version="abc")},
            "spec.image.marketplace.version",
            "FieldValueInvalid",
            f"Invalid value: \"abc\": spec.image.marketplace.version in body should match '{VERSION_PATTERN}'",
            id="pattern",
        ),
        pytest.param(
            {"mode": "Sideways"},
            "spec.mode",
            "FieldValueNotSupported",
            'Unsupported value: "Sideways": supported values: "Rolling", "Recreate"',
            id="enum",
        ),
        pytest.param(
            {"image": {"marketplace": {"version": "1.2.3"}}},
            "spec.image.marketplace.publisher",
            "FieldValueRequired",
            "Required value",
            id="required",
        ),
        pytest.param(
            {"replicas": "three"},
            "spec.replicas",
            "FieldValueTypeInvalid",
            'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
            id="type",
        ),
        pytest.param(
            {"replicas": 101},
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: 101: spec.replicas in body should be less than or equal to 100",
            id="maximum",
        ),
        pytest.param(
            {"minReady": -1},
            "spec.minReady",
            "FieldValueInvalid",
            "Invalid value: -1: spec.minReady in body should be greater than or equal to 0",
            id="minimum",
        ),
        pytest.param(
            {"image": _marketplace(publisher="x")},
            "spec.image.marketplace.publisher",
            "FieldValueInvalid",
            'Invalid value: "x": spec.image.marketplace.publisher in body should be at least 2 chars long',
            id="minLength",
        ),
        pytest.param(
            {"image": _marketplace(publisher="p" * 21)},
            "spec.image.marketplace.publisher",
            "FieldValueTooLong",
            "Too long: may not be more than 20 bytes",
            id="maxLength",
        ),
        pytest.param(
            {"tags": ["a", "b", "c", "d"]},
            "spec.tags",
            "FieldValueTooMany",
            "Too many: 4: must have at most 3 items",
            id="maxItems",
        ),
        pytest.param(
            {"startAt": "yesterday"},
            "spec.startAt",
            "FieldValueInvalid",
            'Invalid value: "yesterday": spec.startAt in body must be of type date-time: "yesterday"',
            id="format",
        ),
        pytest.param(
            {"maxSurge": True},
            "spec.maxSurge",
            "FieldValueTypeInvalid",
            'Invalid value: "boolean": spec.maxSurge in body must be of type integer-or-string: "boolean"',
            id="int-or-string",
        ),
        pytest.param(
            {"tags": ["a", None]},
            "spec.tags[1]",
            "FieldValueTypeInvalid",
            'Invalid value: "null": spec.tags[1] in body must be of type string: "null"',
            id="null-item",
        ),
    ],
)
async def test_each_kind_of_invalid_field_is_refused_with_its_cause(
    api: Api,
    spec: dict[str, Any],
    field: str,
    reason: str,
    message: str,
) -> None:
    reply = await api.create(widget("w1", **spec))
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"
    assert reply.body["details"]["kind"] == "Widget"
    assert reply.body["details"]["name"] == "w1"
    if reason in BLOCKING:
        assert reply.causes == [{"reason": reason, "field": field, "message": message}, RULES_NOT_CHECKED]
        assert reply.body["message"] == (
            f'Widget.{GROUP} "w1" is invalid: [{field}: {message}, <nil>: {RULES_NOT_CHECKED["message"]}]'
        )
    else:
        assert reply.causes == [{"reason": reason, "field": field, "message": message}]
        assert reply.body["message"] == f'Widget.{GROUP} "w1" is invalid: {field}: {message}'
    assert (await api.get(f"{WIDGETS}/w1")).status == 404


async def test_every_failure_is_listed_at_once(api: Api) -> None:
    body = widget("w1", mode="Sideways", replicas=500)
    del body["spec"]["image"]
    reply = await api.create(body)
    assert reply.status == 422
    assert {cause["field"] for cause in reply.causes} == {"spec.mode", "spec.replicas", "spec.image", "<nil>"}
    assert reply.body["message"].startswith(f'Widget.{GROUP} "w1" is invalid: [')


async def test_a_missing_required_top_level_field(api: Api) -> None:
    reply = await api.create({"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w1"}})
    assert reply.status == 422
    assert reply.causes == [{"reason": "FieldValueRequired", "field": "spec", "message": "Required value"}]


async def test_unknown_fields_are_pruned_except_where_preserved(api: Api) -> None:
    body = widget("w1", bogus=1, extra={"anything": {"deep": [1, 2]}, "goes": True})
    body["spec"]["image"]["bogus"] = "x"
    body["topLevelBogus"] = {"a": 1}
    reply = await api.create(body)
    assert reply.status == 201
    assert "bogus" not in reply.body["spec"]
    assert "bogus" not in reply.body["spec"]["image"]
    assert "topLevelBogus" not in reply.body
    assert reply.body["spec"]["extra"] == {"anything": {"deep": [1, 2]}, "goes": True}


async def test_defaults_are_applied_where_the_parent_exists(api: Api) -> None:
    reply = await api.create(widget("w1", strategy={}))
    assert reply.status == 201
    spec = reply.body["spec"]
    assert (spec["replicas"], spec["minReady"], spec["mode"], spec["maxSurge"]) == (1, 0, "Rolling", 1)
    assert spec["allowChannelChange"] is False
    assert spec["image"]["channel"] == "stable"  # nested: the image object exists
    assert spec["strategy"] == {"pauseSeconds": 30}  # nested: the strategy object was given empty
    assert "extra" not in spec  # no default, no object


async def test_defaults_are_applied_on_update_too(api: Api) -> None:
    await api.create(widget("w1", replicas=4))
    reply = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": None, "strategy": {}}})
    assert reply.status == 200
    assert reply.body["spec"]["replicas"] == 1
    assert reply.body["spec"]["strategy"] == {"pauseSeconds": 30}


async def test_nulls_are_kept_if_nullable_defaulted_or_dropped_otherwise(api: Api) -> None:
    reply = await api.create(widget("w1", note=None, mode=None, tags=None))
    assert reply.status == 201
    assert reply.body["spec"]["note"] is None  # nullable: kept
    assert reply.body["spec"]["mode"] == "Rolling"  # not nullable, has a default: defaulted
    assert "tags" not in reply.body["spec"]  # not nullable, no default: dropped


async def test_int_or_string_accepts_both(api: Api) -> None:
    as_int = await api.create(widget("w1", maxSurge=2))
    as_str = await api.create(widget("w2", maxSurge="25%"))
    assert (as_int.status, as_str.status) == (201, 201)
    assert (as_int.body["spec"]["maxSurge"], as_str.body["spec"]["maxSurge"]) == (2, "25%")


async def test_updates_are_validated_and_leave_the_object_alone_when_refused(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    reply = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": -5}})
    assert reply.status == 422
    current = (await api.get(f"{WIDGETS}/w1")).body
    assert current["spec"]["replicas"] == 1
    assert current["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_cel_rule_failure_answers_with_its_message(api: Api) -> None:
    reply = await api.create(widget("w1", replicas=2, minReady=5))
    assert reply.status == 422
    assert reply.causes == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec",
            "message": 'Invalid value: "object": minReady must not exceed replicas',
        }
    ]
    assert reply.body["message"] == (
        f'Widget.{GROUP} "w1" is invalid: spec: Invalid value: "object": minReady must not exceed replicas'
    )


async def test_cel_transition_rule_uses_old_self_and_message_expression(api: Api) -> None:
    created = await api.create(widget("w1", image={**_marketplace(), "channel": "beta"}))
    assert created.status == 201  # no old object, no transition rule
    refused = await api.merge(f"{WIDGETS}/w1", {"spec": {"image": {"channel": "stable"}}})
    assert refused.status == 422
    assert refused.causes == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.image.channel",
            "message": 'Invalid value: "object": channel may not change from beta',
        }
    ]
    allowed = await api.merge(f"{WIDGETS}/w1", {"spec": {"allowChannelChange": True, "image": {"channel": "stable"}}})
    assert allowed.status == 200
    assert allowed.body["spec"]["image"]["channel"] == "stable"


async def test_cel_rules_are_skipped_when_the_object_is_structurally_broken(api: Api) -> None:
    reply = await api.create(widget("w1", replicas="two", minReady=5))
    assert reply.status == 422
    assert RULES_NOT_CHECKED in reply.causes
    assert not any("minReady must not exceed replicas" in cause["message"] for cause in reply.causes)


async def test_invalid_object_names_are_refused(api: Api) -> None:
    reply = await api.create(widget("Not_A_Name"))
    assert reply.status == 422
    assert reply.causes[0]["field"] == "metadata.name"
    assert reply.causes[0]["message"].startswith('Invalid value: "Not_A_Name": a lowercase RFC 1123 subdomain')
