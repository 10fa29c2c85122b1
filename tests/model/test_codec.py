"""from_dict/to_dict: round trips, error locations, derived fields, and agreement with the CRD on
arbitrary valid objects."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller import resource as model
from controller.resource import ModelError, ScaleSetImage, ScaleSetImageStatus

from . import samples
from .samples import edit
from .schema_check import admit
from .strategies import resources, strategy_for

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(resources())
def test_round_trip_through_the_wire_format(resource: ScaleSetImage) -> None:
    wire = resource.to_dict()
    assert json.loads(json.dumps(wire)) == wire  # plain JSON types only
    assert ScaleSetImage.from_dict(wire) == resource
    assert ScaleSetImage.from_dict(wire).to_dict() == wire


@SETTINGS
@given(resources())
def test_every_valid_model_object_is_admitted_by_the_crd(resource: ScaleSetImage) -> None:
    wire = resource.to_dict()
    defaulted, errors = admit(wire)
    assert errors == []
    assert defaulted == wire  # to_dict already carries every default the API server would add


@SETTINGS
@given(strategy_for(model.ScaleSetImageStatus))
def test_status_round_trip(status: ScaleSetImageStatus) -> None:
    assert ScaleSetImageStatus.from_dict(status.to_dict()) == status


def test_sample_mid_rollout_status_round_trips_exactly() -> None:
    status = ScaleSetImageStatus.from_dict(samples.MID_ROLLOUT_STATUS)
    wire = status.to_dict()
    derived = {"imageSummary", "domainsCompleted", "domainsTotal", "domainProgress", "instanceProgress"}
    assert {k: v for k, v in wire.items() if k not in derived} == samples.MID_ROLLOUT_STATUS
    assert wire["imageSummary"] == "Canonical:ubuntu-24_04-lts:server:24.04.202405010"
    assert (wire["domainsCompleted"], wire["domainsTotal"], wire["domainProgress"]) == (2, 5, "2/5")
    assert wire["instanceProgress"] == "27/50"


def test_derived_fields_are_recomputed_not_read() -> None:
    wire = dict(samples.MID_ROLLOUT_STATUS, domainProgress="9/9", domainsCompleted=9, imageSummary="evil")
    status = ScaleSetImageStatus.from_dict(wire)
    assert (status.domain_progress, status.domains_completed, status.image_summary) == (
        "2/5",
        2,
        "Canonical:ubuntu-24_04-lts:server:24.04.202405010",
    )


def test_fresh_status_from_an_empty_dict() -> None:
    status = ScaleSetImageStatus.from_dict({})
    assert status.phase is model.Phase.PENDING
    assert (status.domain_progress, status.instance_progress, status.image_summary) == ("0/0", "0/0", None)
    assert ScaleSetImage.from_dict(samples.minimal()).status == status


def test_spec_defaults_match_an_empty_rollout() -> None:
    spec = ScaleSetImage.from_dict(samples.minimal()).spec
    assert spec.rollout == model.RolloutSpec()
    assert spec.rollout.to_dict() == {
        "domainKind": "UpdateDomain",
        "pauseBetweenDomains": "0s",
        "domainTimeout": "30m",
        "maxUnhealthyInstances": "20%",
        "onFailure": "Pause",
        "paused": False,
        "abort": False,
        "approval": "Never",
    }
    assert spec.scale_set.cloud is None  # no default: the operator configuration's defaultCloud applies


def test_null_means_absent_and_unknown_keys_are_ignored() -> None:
    body = edit(edit(samples.minimal(), "spec.rollout", None), "spec.futureField", {"x": 1})
    assert ScaleSetImage.from_dict(body).spec.rollout == model.RolloutSpec()


@pytest.mark.parametrize(
    ("path", "value", "location"),
    [
        ("status.domains", [{"id": "0"}, {"id": "1", "state": "Exploded"}], "status.domains[1].state"),
        ("status.domains", [{"id": "0", "startedAt": "yesterday"}], "status.domains[0].startedAt"),
        ("status.domains", {"id": "0"}, "status.domains"),
        ("status.instances.total", "50", "status.instances.total"),
        ("status.instances.total", -1, "status.instances.total"),
        ("status.operation", {"kind": "ManualUpgrade"}, "status.operation.startedAt"),
        ("status.conditions", [{"type": "Ready"}], "status.conditions[0].status"),
        ("spec.image", "Canonical:ubuntu:server:latest", "spec.image"),
        ("metadata", [], "metadata"),
    ],
)
def test_errors_carry_the_wire_path(path: str, value: object, location: str) -> None:
    with pytest.raises(ModelError) as raised:
        ScaleSetImage.from_dict(edit(samples.mid_rollout(), path, value))
    assert raised.value.location == location
    assert str(raised.value).startswith(f"{location}: ")


def test_construction_validates() -> None:
    with pytest.raises(ModelError, match="exactly one of"):
        model.ImageSource()
    with pytest.raises(ModelError, match=r"^name: "):
        model.ScaleSetRef(subscription_id=samples.SUBSCRIPTION, resource_group="rg", name="bad/name")
    with pytest.raises(ModelError, match="timezone-aware"):
        model.DomainStatus(id="0", started_at=datetime(2024, 1, 1))  # a naive time, on purpose
    with pytest.raises(ModelError, match="must be of type integer"):
        model.InstanceCounts(total=True)
    with pytest.raises(ModelError, match="duplicate"):
        ScaleSetImageStatus(domains=(model.DomainStatus(id="0"), model.DomainStatus(id="0")))


def test_models_are_frozen() -> None:
    counts = model.InstanceCounts(total=3)
    with pytest.raises(AttributeError):
        counts.total = 4  # type: ignore[misc]


def test_enum_values_serialize_as_plain_strings() -> None:
    condition = model.Condition(
        type=model.ConditionType.READY,
        status=model.ConditionStatus.TRUE,
        reason=model.Reason.ROLLOUT_SUCCEEDED,
        message="",
        last_transition_time=datetime(2024, 5, 2, tzinfo=UTC),
    )
    wire = condition.to_dict()
    assert all(type(value) is str for value in wire.values())
    assert wire == {
        "type": "Ready",
        "status": "True",
        "reason": "RolloutSucceeded",
        "message": "",
        "lastTransitionTime": "2024-05-02T00:00:00Z",
    }
    assert model.Condition.from_dict(wire) == condition


def test_resource_accessors() -> None:
    resource = ScaleSetImage.from_dict(samples.minimal())
    assert (resource.name, resource.namespace, resource.generation) == ("web", "fleet", 3)


@given(st.sampled_from(list(model.Phase)))
def test_phase_round_trips(phase: model.Phase) -> None:
    status = ScaleSetImageStatus(phase=phase)
    assert ScaleSetImageStatus.from_dict(status.to_dict()).phase is phase


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386 JSON merge patch, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


@SETTINGS
@given(strategy_for(model.ScaleSetImageStatus), strategy_for(model.ScaleSetImageStatus))
def test_nulls_make_a_merge_patch_that_replaces_the_old_status(
    old: ScaleSetImageStatus, new: ScaleSetImageStatus
) -> None:
    assert merge_patch(old.to_dict(), new.to_dict(nulls=True)) == new.to_dict()


def test_a_finished_operation_is_cleared_by_the_patch() -> None:
    old = ScaleSetImageStatus.from_dict(samples.MID_ROLLOUT_STATUS)
    new = model.evolve(old, operation=None)
    patch = new.to_dict(nulls=True)
    assert patch["operation"] is None
    assert "operation" not in new.to_dict()
    assert "operation" not in merge_patch(old.to_dict(), patch)  # type: ignore[operator]


def test_enum_fields_want_enum_members() -> None:
    with pytest.raises(ModelError, match="must be a Phase member"):
        ScaleSetImageStatus(phase="Pending")  # type: ignore[arg-type]
