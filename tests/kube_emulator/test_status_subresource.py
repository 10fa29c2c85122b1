"""With a status subresource, spec and status writes cannot touch each other's part."""

from __future__ import annotations

from .support import WIDGETS, Api, widget


async def test_status_given_on_create_is_dropped(api: Api) -> None:
    reply = await api.create({**widget("w1"), "status": {"phase": "Ready"}})
    assert reply.status == 201
    assert "status" not in reply.body


async def test_main_endpoint_ignores_status_changes(api: Api) -> None:
    await api.create(widget("w1"))
    await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Pending"}})
    reply = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}, "status": {"phase": "Ready"}})
    assert reply.status == 200
    assert reply.body["spec"]["replicas"] == 2
    assert reply.body["status"] == {"phase": "Pending"}
    removal = await api.merge(f"{WIDGETS}/w1", {"status": None})
    assert removal.body["status"] == {"phase": "Pending"}


async def test_status_endpoint_changes_only_status(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    reply = await api.merge(
        f"{WIDGETS}/w1/status",
        {
            "status": {"phase": "Ready", "observedGeneration": 1},
            "spec": {"replicas": 9},
            "metadata": {"labels": {"sneaky": "yes"}},
        },
    )
    assert reply.status == 200
    assert reply.body["status"] == {"phase": "Ready", "observedGeneration": 1}
    assert reply.body["spec"] == created["spec"]
    assert "labels" not in reply.body["metadata"]
    assert reply.body["metadata"]["generation"] == 1
    assert int(reply.body["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


async def test_status_put_and_json_patch_touch_only_status(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    replacement = {**created, "spec": {"replicas": 50}, "status": {"phase": "Failed", "message": "boom"}}
    put = await api.put(f"{WIDGETS}/w1/status", replacement)
    assert put.status == 200
    assert put.body["status"] == {"phase": "Failed", "message": "boom"}
    assert put.body["spec"]["replicas"] == 1
    patched = await api.json_patch(
        f"{WIDGETS}/w1/status",
        [
            {"op": "replace", "path": "/status/phase", "value": "Ready"},
            {"op": "replace", "path": "/spec/replicas", "value": 70},
        ],
    )
    assert patched.status == 200
    assert patched.body["status"]["phase"] == "Ready"
    assert patched.body["spec"]["replicas"] == 1


async def test_status_writes_are_validated_and_pruned_against_the_status_schema(api: Api) -> None:
    await api.create(widget("w1"))
    bad = await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Bogus", "ticks": -1}})
    assert bad.status == 422
    assert {(c["field"], c["reason"]) for c in bad.causes} == {
        ("status.phase", "FieldValueNotSupported"),
        ("status.ticks", "FieldValueInvalid"),
    }
    pruned = await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready", "undeclared": 1}})
    assert pruned.status == 200
    assert pruned.body["status"] == {"phase": "Ready"}


async def test_reading_the_status_subresource_returns_the_whole_object(api: Api) -> None:
    await api.create(widget("w1"))
    await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready"}})
    reply = await api.get(f"{WIDGETS}/w1/status")
    assert reply.status == 200
    assert reply.body["spec"]["replicas"] == 1
    assert reply.body["status"] == {"phase": "Ready"}


async def test_a_subresource_the_crd_does_not_declare_is_not_found(api: Api) -> None:
    await api.create(widget("w1"))
    reply = await api.merge(f"{WIDGETS}/w1/scale", {"spec": {"replicas": 3}})
    assert reply.status == 404
    assert reply.body["reason"] == "NotFound"
