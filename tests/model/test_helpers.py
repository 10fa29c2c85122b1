"""Durations, counts, timestamps, conditions, image summaries and the named constants."""

import enum
import re
from datetime import UTC, datetime, timedelta, timezone

import celpy
import pytest
from celpy.adapter import json_to_cel
from hypothesis import given
from hypothesis import strategies as st

from controller import resource as model
from controller.config import PUBLIC_CLOUD
from controller.resource import ModelError, parse_duration, resolve_count

from . import samples
from .schema_check import root_schema

# One table for the schema pattern, the Python parser and CEL's duration(): what users write.
GOOD_DURATIONS = [
    ("30s", 30.0),
    ("5m", 300.0),
    ("1h30m", 5400.0),
    ("1.5h", 5400.0),
    ("500ms", 0.5),
    ("0s", 0.0),
    ("2h45m", 9900.0),
    ("1m30.5s", 90.5),
    ("1h1h", 7200.0),
    ("30m1h", 5400.0),
    ("10us", 0.00001),
    ("250ns", 0.00000025),
    ("2562047h", 2562047 * 3600.0),
]
BAD_DURATIONS = [
    "5 minutes",
    "",
    "5",
    "0",
    "-5m",
    "+5m",
    "1d",
    "1w",
    "1h 30m",
    " 5m",
    "5m ",
    "5m\n",
    "5M",
    "30S",
    "1.5",
    "h",
    ".5h",
    "5.h",
    "1h-30m",
    "P1D",
    "PT5M",
    "1µs",
]


@pytest.mark.parametrize(("text", "seconds"), GOOD_DURATIONS)
def test_good_durations(text: str, seconds: float) -> None:
    assert re.search(model.DURATION_PATTERN, text)
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(("text", "seconds"), [(t, s) for t, s in GOOD_DURATIONS if s >= 1e-3])
def test_cel_reads_durations_as_python_does(text: str, seconds: float) -> None:
    env = celpy.Environment()
    value = env.program(env.compile("duration(self)")).evaluate({"self": json_to_cel(text)})
    assert value == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", BAD_DURATIONS)
def test_bad_durations(text: str) -> None:
    # fullmatch, because Go's `$` (what the API server runs) never matches before a final newline.
    assert re.fullmatch(model.DURATION_PATTERN, text) is None
    with pytest.raises(ModelError, match="invalid duration"):
        parse_duration(text)


def test_durations_beyond_go_range_are_refused() -> None:
    with pytest.raises(ModelError, match="292 years"):
        parse_duration("2562048h")


def test_the_crd_uses_the_duration_pattern() -> None:
    rollout = root_schema()["properties"]["spec"]["properties"]["rollout"]["properties"]
    assert rollout["pauseBetweenDomains"]["pattern"] == model.DURATION_PATTERN
    assert rollout["domainTimeout"]["pattern"] == model.DURATION_PATTERN


RESOLVE = [
    # value, total, round_up, expected
    (0, 10, False, 0),
    (3, 10, False, 3),
    (3, 2, False, 3),  # counts are not capped
    ("0%", 10, False, 0),
    ("20%", 10, False, 2),
    ("25%", 10, False, 2),
    ("25%", 10, True, 3),
    ("20%", 3, False, 0),  # a small scale set: 20% of 3 allows no unhealthy instance
    ("20%", 3, True, 1),
    ("33%", 10, False, 3),
    ("33%", 10, True, 4),
    ("100%", 7, False, 7),
    ("100%", 7, True, 7),
    ("50%", 0, False, 0),
    ("50%", 0, True, 0),
    ("1%", 1000, False, 10),
    ("1%", 1001, True, 11),
]


@pytest.mark.parametrize(("value", "total", "round_up", "expected"), RESOLVE)
def test_resolve_count(value: int | str, total: int, round_up: bool, expected: int) -> None:
    assert resolve_count(value, total, round_up=round_up) == expected


@pytest.mark.parametrize(
    ("value", "total"),
    [("120%", 10), ("101%", 10), (-1, 10), ("abc", 10), ("20", 10), (True, 10), ("12.5%", 10), ("-5%", 10), (3, -1)],
)
def test_resolve_count_rejects(value: int | str, total: int) -> None:
    with pytest.raises(ModelError):
        resolve_count(value, total)


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [("1%", 3, 1), (10, 3, 3), ("50%", 0, 1), ("50%", 5, 3), (2, 5, 2), ("100%", 5, 5)],
)
def test_batch_size_rounds_up_at_least_one_at_most_total(value: int | str, total: int, expected: int) -> None:
    assert model.batch_size(value, total) == expected


def test_rollout_helpers() -> None:
    rollout = model.RolloutSpec(
        domain_kind=model.DomainKind.BATCH, batch_size="10%", pause_between_domains="1m30s", domain_timeout="1h"
    )
    assert (rollout.pause_between_domains_seconds, rollout.domain_timeout_seconds) == (90.0, 3600.0)
    assert rollout.unhealthy_budget(12) == 2  # default 20%, rounded down


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=10_000))
def test_percent_resolution_brackets_the_exact_share(percent: int, total: int) -> None:
    down = resolve_count(f"{percent}%", total)
    up = resolve_count(f"{percent}%", total, round_up=True)
    assert down <= percent * total / 100 <= up
    assert up - down in (0, 1)
    assert re.fullmatch(model.PERCENT_PATTERN, f"{percent}%")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00.5Z", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T12:00:00.123456789Z", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    assert model.parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text", ["2024-05-01", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00", "yesterday", "2024-13-01T00:00:00Z"]
)
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ModelError):
        model.parse_timestamp(text)


def test_format_timestamp() -> None:
    assert (
        model.format_timestamp(datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))) == "2024-05-01T12:00:00Z"
    )
    assert model.format_timestamp(datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC)) == "2024-05-01T12:00:00.000001Z"
    with pytest.raises(ModelError):
        model.format_timestamp(datetime(2024, 5, 1))  # a naive time, on purpose


T0 = datetime(2024, 5, 2, 9, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def cond(type_: str, status: model.ConditionStatus, reason: str, at: datetime) -> model.Condition:
    return model.Condition(type=type_, status=status, reason=reason, message="", last_transition_time=at)


def test_set_condition_keeps_transition_time_when_status_is_unchanged() -> None:
    ready = cond("Ready", model.ConditionStatus.FALSE, "RolloutInProgress", T0)
    stalled = cond("Stalled", model.ConditionStatus.FALSE, "RolloutInProgress", T0)
    updated = model.set_condition([ready, stalled], cond("Ready", model.ConditionStatus.FALSE, "VerifyingDomain", T1))
    assert [c.type for c in updated] == ["Ready", "Stalled"]
    assert updated[0].reason == "VerifyingDomain"
    assert updated[0].last_transition_time == T0


def test_set_condition_moves_transition_time_when_status_changes_and_appends_new_types() -> None:
    ready = cond("Ready", model.ConditionStatus.FALSE, "RolloutInProgress", T0)
    updated = model.set_condition([ready], cond("Ready", model.ConditionStatus.TRUE, "RolloutSucceeded", T1))
    assert updated[0].last_transition_time == T1
    more = model.set_condition(updated, cond("Stalled", model.ConditionStatus.FALSE, "RolloutSucceeded", T1))
    assert [c.type for c in more] == ["Ready", "Stalled"]


def test_status_condition_and_domain_lookups() -> None:
    status = model.ScaleSetImageStatus.from_dict(samples.MID_ROLLOUT_STATUS)
    ready = status.condition(model.ConditionType.READY)
    assert ready is not None
    assert ready.status is model.ConditionStatus.FALSE
    assert status.condition("Nope") is None
    domain = status.domain("2")
    assert domain is not None
    assert domain.state is model.DomainState.UPGRADING
    later = status.with_condition(cond("Ready", model.ConditionStatus.TRUE, "RolloutSucceeded", T1))
    assert later.condition("Ready") == cond("Ready", model.ConditionStatus.TRUE, "RolloutSucceeded", T1)
    assert later.domain_progress == status.domain_progress


@pytest.mark.parametrize(
    ("image", "summary", "pinned"),
    [
        ({"marketplace": {"publisher": "P", "offer": "O", "sku": "S", "version": "1.2.3"}}, "P:O:S:1.2.3", True),
        ({"marketplace": {"publisher": "P", "offer": "O", "sku": "S", "version": "latest"}}, "P:O:S:latest", False),
        ({"galleryImageVersionId": samples.GALLERY_IMAGE}, "corp_gallery/ubuntu-hardened:latest", False),
        (
            {"galleryImageVersionId": samples.GALLERY_IMAGE.replace("/images/", "/Images/") + "/Versions/2.0.1"},
            "corp_gallery/ubuntu-hardened:2.0.1",
            True,
        ),
        ({"managedImageId": samples.MANAGED_IMAGE}, "web-2024", True),
        ({"vhdUri": samples.VHD}, "web-2024-05.vhd", True),
    ],
)
def test_image_summary_and_pinning(image: dict[str, object], summary: str, pinned: bool) -> None:
    source = model.ImageSource.from_dict(image)
    assert source.summary() == summary
    assert source.is_pinned is pinned


def test_image_kind() -> None:
    assert model.ImageSource.from_dict({"vhdUri": samples.VHD}).kind is model.ImageSourceKind.VHD
    assert (
        model.ImageSource.from_dict({"managedImageId": samples.MANAGED_IMAGE}).kind
        is model.ImageSourceKind.MANAGED_IMAGE
    )


def test_phases_are_the_five_of_the_issue() -> None:
    assert [p.value for p in model.Phase] == ["Pending", "Progressing", "Paused", "Succeeded", "Failed"]


def test_condition_types() -> None:
    assert {c.value for c in model.ConditionType} == {
        "Ready",
        "Reconciling",
        "Stalled",
        "ImageAvailable",
        "ScaleSetFound",
        "UpgradePolicyCompatible",
        "ModelInSync",
    }
    for value in model.ConditionType:
        assert re.fullmatch(model.CONDITION_TYPE_PATTERN, value)


@pytest.mark.parametrize("names", [model.Reason, model.EventReason], ids=["Reason", "EventReason"])
def test_reasons_are_camel_case_and_unique(names: type[enum.StrEnum]) -> None:
    values = [member.value for member in names]
    assert len(values) == len(set(values))
    for value in values:
        assert re.fullmatch(model.CONDITION_REASON_PATTERN, value)
        assert re.fullmatch("[A-Z][A-Za-z]+", value), value


def test_identity_constants() -> None:
    assert (model.GROUP, model.VERSION, model.KIND, model.PLURAL, model.SINGULAR) == (
        "imagerollout.dev",
        "v1alpha1",
        "ScaleSetImage",
        "scalesetimages",
        "scalesetimage",
    )
    assert model.API_VERSION == "imagerollout.dev/v1alpha1"
    assert model.SHORT_NAMES == ("ssi",)
    assert "all" not in model.CATEGORIES
    assert re.fullmatch(model.CLOUD_NAME_PATTERN, PUBLIC_CLOUD)  # the configuration's default profile


def test_continuation_tokens_must_be_base64() -> None:
    with pytest.raises(ModelError, match="continuationToken"):
        model.Operation.from_dict(
            {"kind": "ModelUpdate", "startedAt": "2024-05-02T09:00:00Z", "continuationToken": "not base64!"}
        )
