"""resourceVersion, generation, uid and creationTimestamp move the way a real API server moves them."""

from __future__ import annotations

import re
import uuid

from .support import WIDGETS, Api, widget

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


async def test_create_assigns_the_server_managed_metadata(api: Api) -> None:
    reply = await api.create(
        {**widget("w1"), "metadata": {"name": "w1", "uid": "mine", "generation": 7, "resourceVersion": "999"}}
    )
    assert reply.status == 201
    meta = reply.body["metadata"]
    assert uuid.UUID(meta["uid"]).version == 4
    assert RFC3339_UTC.match(meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert meta["resourceVersion"].isdigit()
    assert meta["resourceVersion"] != "999"
    assert meta["namespace"] == "default"


async def test_resource_version_is_one_counter_bumped_by_every_write(api: Api) -> None:
    first = (await api.create(widget("w1"))).body["metadata"]["resourceVersion"]
    second = (await api.create(widget("w2"))).body["metadata"]["resourceVersion"]
    spec = (await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})).body["metadata"]["resourceVersion"]
    stat = (await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready"}})).body["metadata"]
    meta = (await api.merge(f"{WIDGETS}/w1", {"metadata": {"labels": {"a": "b"}}})).body["metadata"]
    versions = [int(v) for v in (first, second, spec, stat["resourceVersion"], meta["resourceVersion"])]
    assert versions == sorted(versions)
    assert len(set(versions)) == 5
    assert versions[1:] == [versions[0] + n for n in range(1, 5)]  # one global counter, +1 per write
    listing = await api.get(WIDGETS)
    assert listing.body["metadata"]["resourceVersion"] == str(versions[-1])
    assert (await api.get(f"{WIDGETS}/w1")).body["metadata"]["resourceVersion"] == str(versions[-1])


async def test_generation_moves_only_with_the_spec(api: Api) -> None:
    await api.create(widget("w1"))
    labels = await api.merge(f"{WIDGETS}/w1", {"metadata": {"labels": {"team": "a"}, "annotations": {"x": "y"}}})
    assert labels.body["metadata"]["generation"] == 1
    status = await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Pending", "ticks": 1}})
    assert status.body["metadata"]["generation"] == 1
    spec = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 5}})
    assert spec.body["metadata"]["generation"] == 2
    again = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 6}})
    assert again.body["metadata"]["generation"] == 3


async def test_a_write_that_changes_nothing_is_not_a_write(api: Api) -> None:
    created = (await api.create(widget("w1", replicas=3))).body
    same = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 3}})
    assert same.status == 200
    assert same.body["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert same.body["metadata"]["generation"] == 1


async def test_put_replaces_the_whole_object(api: Api) -> None:
    created = (await api.create(widget("w1", tags=["a", "b"], replicas=3))).body
    replacement = widget("w1", replicas=4)
    replacement["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    replacement["metadata"]["labels"] = {"replaced": "yes"}
    reply = await api.put(f"{WIDGETS}/w1", replacement)
    assert reply.status == 200
    assert "tags" not in reply.body["spec"]
    assert reply.body["spec"]["replicas"] == 4
    assert reply.body["metadata"]["labels"] == {"replaced": "yes"}
    assert reply.body["metadata"]["generation"] == 2
    assert reply.body["metadata"]["uid"] == created["metadata"]["uid"]
    assert reply.body["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]


async def test_put_of_a_custom_resource_needs_a_resource_version(api: Api) -> None:
    await api.create(widget("w1"))
    reply = await api.put(f"{WIDGETS}/w1", widget("w1", replicas=4))
    assert reply.status == 422
    assert reply.causes == [
        {
            "reason": "FieldValueInvalid",
            "field": "metadata.resourceVersion",
            "message": "Invalid value: 0: must be specified for an update",
        }
    ]


async def test_generate_name_gets_a_random_suffix(api: Api) -> None:
    body = widget()
    body["metadata"] = {"generateName": "gen-"}
    first, second = (await api.create(body)).body, (await api.create(body)).body
    assert re.fullmatch(r"gen-[a-z0-9]{5}", first["metadata"]["name"])
    assert first["metadata"]["name"] != second["metadata"]["name"]
    assert (await api.get(f"{WIDGETS}/{first['metadata']['name']}")).status == 200
