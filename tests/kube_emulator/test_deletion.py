"""Deletion: immediate without finalizers, held by them otherwise, completed when the last one goes."""

from __future__ import annotations

from .support import WIDGETS, Api, widget


async def test_deleting_without_finalizers_removes_at_once(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    reply = await api.delete(f"{WIDGETS}/w1")
    assert reply.status == 200
    assert reply.body["metadata"]["uid"] == created["metadata"]["uid"]
    assert (await api.get(f"{WIDGETS}/w1")).status == 404
    assert (await api.get(WIDGETS)).body["items"] == []
    again = await api.delete(f"{WIDGETS}/w1")
    assert (again.status, again.body["reason"]) == (404, "NotFound")


async def test_finalizers_hold_the_object_until_the_last_one_is_removed(api: Api) -> None:
    body = widget("w1")
    body["metadata"]["finalizers"] = ["example.com/a", "example.com/b"]
    created = (await api.create(body)).body

    marked = await api.delete(f"{WIDGETS}/w1")
    assert marked.status == 200
    meta = marked.body["metadata"]
    assert meta["deletionTimestamp"]
    assert meta["deletionGracePeriodSeconds"] == 0
    assert meta["generation"] == 2  # the API server bumps it when it marks the object for deletion
    assert int(meta["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert (await api.get(f"{WIDGETS}/w1")).body["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]

    repeated = await api.delete(f"{WIDGETS}/w1")
    assert repeated.body["metadata"]["resourceVersion"] == meta["resourceVersion"]  # nothing new happens

    one_left = await api.merge(f"{WIDGETS}/w1", {"metadata": {"finalizers": ["example.com/b"]}})
    assert one_left.status == 200
    assert (await api.get(f"{WIDGETS}/w1")).status == 200

    released = await api.json_patch(f"{WIDGETS}/w1", [{"op": "remove", "path": "/metadata/finalizers"}])
    assert released.status == 200
    assert (await api.get(f"{WIDGETS}/w1")).status == 404


async def test_no_new_finalizers_on_an_object_being_deleted(api: Api) -> None:
    body = widget("w1")
    body["metadata"]["finalizers"] = ["example.com/a"]
    await api.create(body)
    await api.delete(f"{WIDGETS}/w1")
    reply = await api.merge(f"{WIDGETS}/w1", {"metadata": {"finalizers": ["example.com/a", "example.com/new"]}})
    assert reply.status == 422
    assert reply.causes == [
        {
            "reason": "FieldValueForbidden",
            "field": "metadata.finalizers",
            "message": "Forbidden: no new finalizers can be added if the object is being deleted, "
            'found new finalizers []string{"example.com/new"}',
        }
    ]


async def test_delete_preconditions_are_checked(api: Api) -> None:
    await api.create(widget("w1"))
    reply = await api.delete(
        f"{WIDGETS}/w1", {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}}
    )
    assert reply.status == 409
    assert "Precondition failed" in reply.body["message"]
    assert (await api.get(f"{WIDGETS}/w1")).status == 200


async def test_a_recreated_object_is_a_new_object(api: Api) -> None:
    first = (await api.create(widget("w1"))).body
    await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 3}})
    await api.delete(f"{WIDGETS}/w1")
    second = (await api.create(widget("w1"))).body
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    assert second["metadata"]["generation"] == 1
    assert second["spec"]["replicas"] == 1
