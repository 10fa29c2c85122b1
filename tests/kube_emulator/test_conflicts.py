"""Optimistic concurrency and patch failures answer with the API server's codes and Status objects.

A stale ``metadata.resourceVersion`` carried by the written object (merge patch, PUT, a JSON patch that
replaces it) is a 409 Conflict. A JSON patch whose ``test`` operation fails is 422 even when it tests
the resourceVersion: that is what kube-apiserver answers (the patch cannot be applied, before any
concurrency check), and kopf relies on it, catching 422 around its finalizer JSON patches.
"""

from __future__ import annotations

from .support import GROUP, WIDGETS, Api, widget


def _rv(body: dict[str, object]) -> str:
    meta = body["metadata"]
    assert isinstance(meta, dict)
    return str(meta["resourceVersion"])


async def test_merge_patch_with_a_stale_resource_version_is_a_conflict(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
    reply = await api.merge(f"{WIDGETS}/w1", {"metadata": {"resourceVersion": _rv(created)}, "spec": {"replicas": 3}})
    assert reply.status == 409
    assert reply.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "code": 409,
        "reason": "Conflict",
        "message": f'Operation cannot be fulfilled on widgets.{GROUP} "w1": the object has been modified; '
        "please apply your changes to the latest version and try again",
        "details": {"name": "w1", "group": GROUP, "kind": "widgets"},
    }
    assert (await api.get(f"{WIDGETS}/w1")).body["spec"]["replicas"] == 2


async def test_merge_patch_with_the_current_resource_version_succeeds(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    reply = await api.merge(f"{WIDGETS}/w1", {"metadata": {"resourceVersion": _rv(created)}, "spec": {"replicas": 3}})
    assert reply.status == 200
    assert reply.body["spec"]["replicas"] == 3


async def test_status_patch_with_a_stale_resource_version_is_a_conflict(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
    reply = await api.merge(
        f"{WIDGETS}/w1/status", {"metadata": {"resourceVersion": _rv(created)}, "status": {"phase": "Ready"}}
    )
    assert reply.status == 409
    assert "status" not in (await api.get(f"{WIDGETS}/w1")).body


async def test_put_with_a_stale_resource_version_is_a_conflict(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
    reply = await api.put(f"{WIDGETS}/w1", {**created, "spec": {**created["spec"], "replicas": 5}})
    assert reply.status == 409
    assert reply.body["reason"] == "Conflict"


async def test_json_patch_replacing_the_resource_version_with_a_stale_one_is_a_conflict(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
    reply = await api.json_patch(
        f"{WIDGETS}/w1",
        [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": _rv(created)},
            {"op": "replace", "path": "/spec/replicas", "value": 7},
        ],
    )
    assert reply.status == 409
    assert reply.body["reason"] == "Conflict"


async def test_json_patch_test_on_a_stale_resource_version_is_unprocessable(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
    reply = await api.json_patch(
        f"{WIDGETS}/w1",
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": _rv(created)},
            {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]},
        ],
    )
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"
    assert reply.body["message"] == "the server rejected our request due to an error in our request"
    assert reply.causes[0]["message"] == "testing value /metadata/resourceVersion failed: test failed"
    assert "finalizers" not in (await api.get(f"{WIDGETS}/w1")).body["metadata"]


async def test_json_patch_with_a_passing_test_applies(api: Api) -> None:
    created = (await api.create(widget("w1"))).body
    reply = await api.json_patch(
        f"{WIDGETS}/w1",
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": _rv(created)},
            {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/hold"]},
        ],
    )
    assert reply.status == 200
    assert reply.body["metadata"]["finalizers"] == ["example.com/hold"]


async def test_json_patch_that_does_not_apply_or_is_malformed(api: Api) -> None:
    await api.create(widget("w1"))
    missing = await api.json_patch(f"{WIDGETS}/w1", [{"op": "remove", "path": "/spec/nothing"}])
    assert missing.status == 422
    failed = await api.json_patch(f"{WIDGETS}/w1", [{"op": "test", "path": "/spec/replicas", "value": 99}])
    assert failed.status == 422
    malformed = await api.json_patch(f"{WIDGETS}/w1", [{"op": "explode", "path": "/spec"}])
    assert malformed.status == 400
    assert malformed.body["reason"] == "BadRequest"


async def test_creating_an_existing_name_is_already_exists(api: Api) -> None:
    await api.create(widget("w1"))
    reply = await api.create(widget("w1"))
    assert reply.status == 409
    assert reply.body["reason"] == "AlreadyExists"
    assert reply.body["message"] == f'widgets.{GROUP} "w1" already exists'


async def test_missing_objects_and_unsupported_patch_types(api: Api) -> None:
    missing = await api.merge(f"{WIDGETS}/nope", {"spec": {"replicas": 2}})
    assert (missing.status, missing.body["reason"]) == (404, "NotFound")
    assert missing.body["message"] == f'widgets.{GROUP} "nope" not found'
    await api.create(widget("w1"))
    async with api.session.patch(f"{WIDGETS}/w1", json={"spec": {"replicas": 2}}) as response:
        assert response.status == 415  # application/json is not a patch format
        assert (await response.json())["reason"] == "UnsupportedMediaType"
