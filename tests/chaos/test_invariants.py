"""The campaign's invariant checker on hand-made observations: each invariant passes a clean rollout and fails
the one broken the way it forbids (so that a campaign reporting nothing means something).

Aspects: domain overlap and order, same-image upgrades, installed image vs status target (and the intent
lookup that reads the status written right after a call), Succeeded vs the Azure state, writes after
deletion, pauses, hot retry loops, tracebacks, operator exits.
"""

from __future__ import annotations

from typing import Any

import pytest
from scaleset_testbed.chaos import invariants
from scaleset_testbed.chaos.invariants import Observation, check
from scaleset_testbed.worlds import V1, V2, V3, vmss_path

PREFIX = vmss_path().lower()
SS = vmss_path()
SCALE = 20.0


def instance(t: float, iid: str, state: str, version: str, healthy: bool | None = True) -> dict[str, Any]:
    return {
        "type": "instance",
        "time": t,
        "resourceGroup": "rg-web",
        "scaleSet": "vmss-web",
        "instanceId": iid,
        "updateDomain": int(iid) % 2,
        "state": state,
        "imageVersion": version,
        "healthy": healthy,
    }


def request(
    t: float, method: str, suffix: str = "", status: int = 200, body: Any = None, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "request",
        "time": t,
        "method": method,
        "path": SS + suffix,
        "status": status,
        "body": body,
        **extra,
    }


def upgrade(t: float, *ids: str, status: int = 202) -> dict[str, Any]:
    return request(t, "POST", "/manualupgrade", status, {"instanceIds": list(ids)})


def resource(
    t: float,
    *,
    event: str = "MODIFIED",
    phase: str = "Progressing",
    target: str = V2,
    states: tuple[str, str] = ("Pending", "Pending"),
    paused: bool = False,
    operation: list[str] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "target": {"image": {"marketplace": {"version": target}}, "generation": 1},
        "domains": [
            {"id": "ud-0", "instanceIds": ["0", "2"], "state": states[0]},
            {"id": "ud-1", "instanceIds": ["1", "3"], "state": states[1]},
        ],
    }
    if operation is not None:
        status["operation"] = {"kind": "ManualUpgrade", "instanceIds": operation}
    spec = {"image": {"marketplace": {"version": target}}, "rollout": {"paused": paused}}
    return {"time": t, "event": event, "object": {"metadata": {"name": "chaos"}, "spec": spec, "status": status}}


def walk() -> list[dict[str, Any]]:
    """A clean two-domain rollout from V1 to V2: ud-0 (0, 2), then ud-1 (1, 3)."""
    return [
        upgrade(10.0, "0", "2"),
        instance(10.0, "0", "Updating", V1, None),
        instance(10.0, "2", "Updating", V1, None),
        instance(12.0, "0", "Running", V2),
        instance(12.1, "2", "Running", V2),
        upgrade(14.0, "1", "3"),
        instance(14.0, "1", "Updating", V1, None),
        instance(14.0, "3", "Updating", V1, None),
        instance(16.0, "1", "Running", V2),
        instance(16.2, "3", "Running", V2),
    ]


def snapshots() -> list[dict[str, Any]]:
    return [
        resource(1.0, event="ADDED"),
        resource(10.5, states=("Upgrading", "Pending"), operation=["0", "2"]),
        resource(13.0, states=("Succeeded", "Pending")),
        resource(14.5, states=("Succeeded", "Upgrading"), operation=["1", "3"]),
        resource(17.0, phase="Succeeded", states=("Succeeded", "Succeeded")),
    ]


def on(version: str, *ids: str) -> list[dict[str, Any]]:
    return [{"instanceId": i, "state": "Running", "imageVersion": version, "healthy": True} for i in ids]


def observation(**changes: Any) -> Observation:
    base: dict[str, Any] = {
        "scale": SCALE,
        "prefix": PREFIX,
        "audit": walk(),
        "snapshots": snapshots(),
        "initial_instances": on(V1, "0", "1", "2", "3"),
        "succeeded": [
            {"time": 17.0, "status": snapshots()[-1]["object"]["status"], "instances": on(V2, "0", "1", "2", "3")}
        ],
        "log": "[2026-01-01 00:00:00,000] kopf: Handler succeeded.\n",
    }
    base.update(changes)
    return Observation(**base)


def names(obs: Observation) -> set[str]:
    return {v.invariant for v in check(obs)}


def test_a_clean_rollout_violates_nothing() -> None:
    assert check(observation()) == []


def test_two_domains_updating_at_once() -> None:
    audit = walk()
    audit.insert(3, upgrade(11.0, "1"))
    audit.insert(4, instance(11.0, "1", "Updating", V1, None))
    found = check(observation(audit=audit))
    assert invariants.ONE_DOMAIN in {v.invariant for v in found}
    assert "ud-0" in next(v.evidence for v in found if v.invariant == invariants.ONE_DOMAIN)


def test_unplanned_instances_fall_back_to_the_emulators_update_domain() -> None:
    """Instances that no plan names yet (a new resource's first call) still count by their update domain."""
    audit = [upgrade(1.5, "0", "1"), instance(1.5, "0", "Updating", V1, None), instance(1.5, "1", "Updating", V1, None)]
    plain = [resource(1.0, event="ADDED")]
    plain[0]["object"]["status"] = {}
    assert invariants.ONE_DOMAIN in names(observation(audit=audit, snapshots=plain, succeeded=[]))


def test_next_domain_before_the_previous_is_healthy() -> None:
    audit = walk()
    audit[4] = instance(12.1, "2", "Running", V2, healthy=False)
    assert invariants.DOMAIN_ORDER in names(observation(audit=audit, succeeded=[]))


def test_next_domain_before_the_previous_runs_the_target() -> None:
    audit = walk()
    audit[5:5] = [upgrade(13.5, "1", "3")]
    del audit[3:5]  # ud-0 never came back
    assert invariants.DOMAIN_ORDER in names(observation(audit=audit, succeeded=[]))


def model_patch(t: float, version: str) -> dict[str, Any]:
    image = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS", "version": version}
    return request(
        t, "PATCH", body={"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": image}}}}
    )


def test_writing_another_image_than_the_target_into_the_model() -> None:
    """E.g. a handler of a deleted and re-created resource still writing the old resource's target."""
    audit = [model_patch(5.0, V2), *walk(), model_patch(18.0, V1)]
    found = check(observation(audit=audit))
    assert [v.invariant for v in found] == [invariants.MODEL_WRITE_TARGET]
    assert "to 16.04.201801010" in found[0].evidence


def test_a_retarget_may_reach_the_model_before_the_status() -> None:
    history = [*snapshots(), resource(17.5, phase="Succeeded", states=("Succeeded", "Succeeded"))]
    history[-1]["object"]["spec"]["image"]["marketplace"]["version"] = V3
    assert check(observation(audit=[*walk(), model_patch(18.0, V3)], snapshots=history)) == []


def test_a_spec_naming_latest_may_write_any_resolved_version() -> None:
    history = [*snapshots(), resource(17.5, phase="Succeeded", states=("Succeeded", "Succeeded"))]
    history[-1]["object"]["spec"]["image"]["marketplace"]["version"] = "latest"
    assert check(observation(audit=[*walk(), model_patch(18.0, V3)], snapshots=history)) == []


def test_a_model_write_is_judged_by_the_status_written_with_it() -> None:
    history = [*snapshots(), resource(18.5, target=V3, states=("Pending", "Pending"))]
    history[-1]["object"]["status"]["operation"] = {"kind": "ModelUpdate", "instanceIds": []}
    assert check(observation(audit=[*walk(), model_patch(18.0, V3)], snapshots=history)) == []


def test_a_model_write_whose_status_was_lost_is_judged_by_the_status_it_read() -> None:
    """Campaign of 2026-12-06, seed 913: the model was put back to the target of the domain in flight (V2), the
    status recording that write was lost, and 0.25 s later the next pass wrote the new target (V3) with its own
    operation. The first write is judged by the status at its time, not by the second write's."""
    retargeted = resource(16.0, states=("Succeeded", "Upgrading"), operation=["1", "3"])  # status: V2
    retargeted["object"]["spec"]["image"]["marketplace"]["version"] = V3  # the spec already names V3
    history = [*snapshots()[:-1], retargeted, resource(18.5, target=V3, states=("Pending", "Pending"))]
    history[-1]["object"]["status"]["operation"] = {"kind": "ModelUpdate", "id": "op-2", "instanceIds": []}
    put_back = {**model_patch(16.5, V2), "operationId": "op-1"}
    new_target = {**model_patch(18.0, V3), "operationId": "op-2"}
    assert check(observation(audit=[*walk(), put_back, new_target], snapshots=history)) == []
    wrong = {**model_patch(16.5, V1), "operationId": "op-1"}  # neither the target then, nor the spec
    found = check(observation(audit=[*walk(), wrong, new_target], snapshots=history))
    assert [v.invariant for v in found] == [invariants.MODEL_WRITE_TARGET]


def test_a_model_write_is_never_judged_by_the_status_of_the_object_re_created_under_its_name() -> None:
    """Campaign C, seed 686: the first object's model write (its target, not yet in its status) went out as it
    was being deleted; the re-created object's status, written later within the look-ahead, named another
    target. The write was for the first object and is judged by it alone."""

    def of(snap: dict[str, Any], uid: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
        snap["object"]["metadata"]["uid"] = uid
        if status is not None:
            snap["object"]["status"] = status
        return snap

    first = of(resource(1.0, event="ADDED", target=V2), "a", {})
    retargeted = of(resource(1.4, target=V3), "a", {})  # while Terminating, just before the write arrived
    gone = of(resource(2.0, event="DELETED", target=V3), "a", {})
    again = of(resource(2.5, event="ADDED", target=V3), "b")
    again["object"]["status"]["operation"] = {"kind": "ModelUpdate", "instanceIds": []}
    audit = [model_patch(1.5, V2)]
    history = [first, retargeted, gone, again]
    assert check(observation(audit=audit, snapshots=history)) == []
    # the same history with one uid throughout: the later status is this object's own, and V2 is not it
    for snap in history:
        snap["object"]["metadata"]["uid"] = "a"
    found = check(observation(audit=audit, snapshots=history))
    assert invariants.MODEL_WRITE_TARGET in [v.invariant for v in found]


def test_upgrading_an_instance_to_the_image_it_runs() -> None:
    audit = [*walk(), upgrade(18.0, "0")]
    assert invariants.NO_SAME_IMAGE in names(observation(audit=audit))


def test_a_failed_instance_may_be_upgraded_again() -> None:
    audit = [*walk(), instance(17.5, "0", "Failed", V2, False), upgrade(18.0, "0")]
    assert invariants.NO_SAME_IMAGE not in names(observation(audit=audit))


def test_installing_another_image_than_the_status_target() -> None:
    audit = walk()
    audit[8] = instance(16.0, "1", "Running", V3)  # another actor put V3 on the model in between
    found = names(observation(audit=audit, succeeded=[]))
    assert invariants.INSTALLS_TARGET in found


def actor_model_patch(t: float, version: str) -> dict[str, Any]:
    return {**model_patch(t, version), "clientRequestId": f"{invariants.ACTOR}-1"}


def model_read(t: float) -> dict[str, Any]:
    return request(t, "GET")


def test_an_actors_write_between_the_operators_read_and_its_manualupgrade_is_not_the_operators_doing() -> None:
    """Azure's manualupgrade takes no If-Match: a model change landing after the operator's last read
    (here while the call was held, before Azure began the update) is installed by it, and the operator
    cannot know. The actor's image is allowed; the operator's read-then-write discipline is what counts."""
    audit = walk()
    audit[5:5] = [model_read(13.8), actor_model_patch(13.95, V3)]
    audit[10] = instance(16.0, "1", "Running", V3)
    assert invariants.INSTALLS_TARGET not in names(observation(audit=audit, succeeded=[]))


def test_an_actors_write_before_the_operators_read_still_counts() -> None:
    """The operator read the model after the actor changed it, and upgraded anyway: its own fault."""
    audit = walk()
    audit[5:5] = [actor_model_patch(13.5, V3), model_read(13.8)]
    audit[10] = instance(16.0, "1", "Running", V3)
    assert invariants.INSTALLS_TARGET in names(observation(audit=audit, succeeded=[]))


def test_intent_is_read_from_the_status_written_right_after_the_call() -> None:
    """A retarget recorded with the call (status written after it) is the call's intent, not the old target."""
    history = snapshots()
    history[3] = resource(14.5, target=V3, states=("Succeeded", "Upgrading"), operation=["1", "3"])
    audit = walk()
    audit[8] = instance(16.0, "1", "Running", V3)
    audit[9] = instance(16.2, "3", "Running", V3)
    found = {v.invariant: v.evidence for v in check(observation(audit=audit, snapshots=history, succeeded=[]))}
    assert invariants.INSTALLS_TARGET not in found
    assert invariants.DOMAIN_ORDER in found  # ud-0 runs V2, not V3: the new target's walk skipped it


def test_succeeded_while_an_instance_runs_another_image() -> None:
    seen = observation().succeeded
    seen[0]["instances"] = [*on(V2, "0", "1", "2"), *on(V1, "3")]
    assert names(observation(succeeded=seen)) == {invariants.SUCCEEDED_TRUE}


def test_a_deleted_instance_does_not_count_against_succeeded() -> None:
    seen = observation().succeeded
    seen[0]["instances"] = [*on(V2, "0", "1", "2"), {"instanceId": "3", "state": "Deleting", "imageVersion": V1}]
    assert check(observation(succeeded=seen)) == []


def test_a_write_after_the_resource_was_deleted() -> None:
    history = [*snapshots(), resource(20.0, event="DELETED", phase="Succeeded")]
    audit = [*walk(), request(21.0, "PATCH", body={"tags": {}})]
    assert names(observation(audit=audit, snapshots=history)) == {invariants.NO_WRITE_DELETED}


def test_other_actors_and_writes_after_re_creation_are_allowed() -> None:
    history = [*snapshots(), resource(20.0, event="DELETED"), resource(22.0, event="ADDED")]
    audit = [
        *walk(),
        request(21.0, "PATCH", clientRequestId=f"{invariants.ACTOR}-1"),
        request(23.0, "PATCH"),
    ]
    assert check(observation(audit=audit, snapshots=history)) == []


def test_a_new_domain_while_paused() -> None:
    history = snapshots()
    history.insert(3, resource(13.2, states=("Succeeded", "Pending"), paused=True))
    # At x2 the grace (PAUSE_GRACE real seconds) is shorter than the 0.8 s between the pause and the call.
    assert invariants.PAUSE_HOLDS in names(observation(snapshots=history, scale=2.0))


def test_the_domain_in_progress_may_finish_while_paused() -> None:
    history = snapshots()
    history.insert(2, resource(10.6, states=("Upgrading", "Pending"), paused=True, operation=["0", "2"]))
    history[3:] = [resource(13.0, states=("Succeeded", "Pending"), paused=True)]
    audit = [*walk()[:5], upgrade(12.5, "0")]  # a retry within ud-0 while paused
    audit.insert(5, instance(12.4, "0", "Failed", V2, False))
    assert invariants.PAUSE_HOLDS not in names(observation(audit=audit, snapshots=history, succeeded=[]))


def test_a_pause_just_before_a_call_in_flight_is_within_grace() -> None:
    history = snapshots()
    history.insert(3, resource(13.9, states=("Succeeded", "Pending"), paused=True))
    assert invariants.PAUSE_HOLDS not in names(observation(snapshots=history, scale=2.0))


def test_a_hot_retry_loop() -> None:
    failing = [
        request(20.0 + i * 2.0, "PATCH", status=412, body={"x": 1}, errorCode="PreconditionFailed") for i in range(8)
    ]
    assert names(observation(audit=[*walk(), *failing])) == {invariants.NO_HOT_LOOP}


def test_spaced_out_retries_are_not_a_loop() -> None:
    spaced = [request(20.0 + i * 30.0, "PATCH", status=412, body={"x": 1}) for i in range(8)]
    different = [request(20.0 + i, "PATCH", status=500, body={"x": i}) for i in range(8)]
    assert check(observation(audit=[*walk(), *spaced, *different])) == []


def test_a_traceback_in_the_log() -> None:
    log = (
        '[x] kopf: ok\nTraceback (most recent call last):\n  File "a.py", line 1\n'
        "azure.core.exceptions.HttpResponseError: (429) throttled\n"
    )
    found = check(observation(log=log))
    assert [v.invariant for v in found] == [invariants.NO_TRACEBACK]
    assert "HttpResponseError" in found[0].evidence


def test_an_operator_that_exited_by_itself() -> None:
    assert names(observation(unexpected_exits=["exited with 1"])) == {invariants.OPERATOR_ALIVE}


@pytest.mark.parametrize("name", invariants.INVARIANTS)
def test_every_invariant_has_a_failing_case_here(name: str) -> None:
    tested = {
        invariants.ONE_DOMAIN: test_two_domains_updating_at_once,
        invariants.MODEL_WRITE_TARGET: test_writing_another_image_than_the_target_into_the_model,
        invariants.DOMAIN_ORDER: test_next_domain_before_the_previous_is_healthy,
        invariants.NO_SAME_IMAGE: test_upgrading_an_instance_to_the_image_it_runs,
        invariants.INSTALLS_TARGET: test_installing_another_image_than_the_status_target,
        invariants.SUCCEEDED_TRUE: test_succeeded_while_an_instance_runs_another_image,
        invariants.NO_WRITE_DELETED: test_a_write_after_the_resource_was_deleted,
        invariants.PAUSE_HOLDS: test_a_new_domain_while_paused,
        invariants.NO_HOT_LOOP: test_a_hot_retry_loop,
        invariants.NO_TRACEBACK: test_a_traceback_in_the_log,
        invariants.OPERATOR_ALIVE: test_an_operator_that_exited_by_itself,
        invariants.LEASE_HOLDER_WRITES: test_a_write_by_a_deposed_leader_after_the_takeover,
    }
    assert name in tested  # each test above runs on its own; this only proves none is missing


def with_replicas(audit: list[dict[str, Any]], *holders: tuple[float, str]) -> Observation:
    """The clean walk with each write sent by the replica named in its ``userAgent``, and Lease history."""
    return observation(audit=audit, leases=[{"time": t, "holder": h} for t, h in holders])


def sent_by(event: dict[str, Any], replica: str) -> dict[str, Any]:
    return {**event, "userAgent": f"scaleset-image-operator/0.1.0 replica/{replica} azsdk-python-mgmt-compute"}


def test_writes_by_the_lease_holder_violate_nothing() -> None:
    audit = walk()
    audit[0], audit[5] = sent_by(audit[0], "a"), sent_by(audit[5], "b")
    assert check(with_replicas(audit, (0.0, "a"), (13.0, "b"))) == []


def test_a_write_by_a_deposed_leader_after_the_takeover() -> None:
    audit = walk()
    audit[0], audit[5] = sent_by(audit[0], "a"), sent_by(audit[5], "a")  # a still writes at 14.0
    violations = check(with_replicas(audit, (0.0, "a"), (13.0, "b")))
    assert [(v.invariant, v.time) for v in violations] == [(invariants.LEASE_HOLDER_WRITES, 14.0)]
    assert "replica a sent POST manualupgrade while the Lease was held by b" in violations[0].evidence


def test_a_write_while_the_lease_is_released_or_before_anyone_held_it() -> None:
    audit = walk()
    audit[0], audit[5] = sent_by(audit[0], "a"), sent_by(audit[5], "a")
    found = check(with_replicas(audit, (11.0, "a"), (13.0, "")))
    assert [v.time for v in found if v.invariant == invariants.LEASE_HOLDER_WRITES] == [10.0, 14.0]
