"""Field ownership and server-side apply over HTTP, as Flux and the operator exercise them."""

from __future__ import annotations

import json
from typing import Any

import yaml
from scaleset_testbed.kube import RunningKubeEmulator

from .support import GROUP, RESOURCE, WIDGETS, Api, Reply, widget

APPLY = "application/apply-patch+yaml"


async def apply(api: Api, body: dict[str, Any], manager: str, *, force: bool = False, extra: str = "") -> Reply:
    query = f"?fieldManager={manager}" + ("&force=true" if force else "") + extra
    url = f"{WIDGETS}/{body['metadata']['name']}{query}"
    async with api.session.patch(url, data=yaml.safe_dump(body), headers={"Content-Type": APPLY}) as response:
        return Reply(response.status, await response.json(content_type=None))


def owners(obj: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (m["manager"], m["operation"], m.get("subresource", "")): m["fieldsV1"]
        for m in obj["metadata"]["managedFields"]
    }


async def test_apply_creates_then_merges_map_lists_by_key(api: Api) -> None:
    first = widget("w1", ports=[{"name": "http", "port": 80}])
    created = await apply(api, first, "flux")
    assert created.status == 201
    assert owners(created.body)[("flux", "Apply", "")]["f:spec"]["f:ports"] == {
        'k:{"name":"http"}': {".": {}, "f:name": {}, "f:port": {}}
    }
    other = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"ports": [{"name": "metrics", "port": 9090}]},
    }
    merged = await apply(api, other, "sidecar")
    assert [p["name"] for p in merged.body["spec"]["ports"]] == ["http", "metrics"]  # items merged by key, not replaced
    assert merged.body["spec"]["image"]["marketplace"]["publisher"] == "canonical"  # flux's fields untouched


async def test_apply_removes_what_its_manager_no_longer_applies(api: Api) -> None:
    body = widget("w1", tags=["a"], minReady=0)
    await apply(api, body, "flux")
    del body["spec"]["tags"]
    pruned = await apply(api, body, "flux")
    assert "tags" not in pruned.body["spec"]


async def test_updates_take_fields_from_appliers_and_conflict_on_the_next_apply(api: Api) -> None:
    await apply(api, widget("w1", replicas=2), "flux")
    await api.merge(f"{WIDGETS}/w1?fieldManager=person", {"spec": {"replicas": 3}})
    conflict = await apply(api, widget("w1", replicas=2), "flux")
    assert (conflict.status, conflict.body["reason"]) == (409, "Conflict")
    assert conflict.body["message"].startswith(
        'Apply failed with 1 conflict: conflict with "person" using test.imagerollout.dev/v1'
    )
    assert conflict.causes == [
        {
            "reason": "FieldManagerConflict",
            "message": conflict.causes[0]["message"],
            "field": ".spec.replicas",
        }
    ]
    same_value = await apply(api, widget("w1", replicas=3), "flux")  # co-owning: no conflict
    assert same_value.status == 200
    forced = await apply(api, widget("w1", replicas=2), "flux", force=True)
    assert forced.body["spec"]["replicas"] == 2
    assert "f:replicas" not in owners(forced.body).get(("person", "Update", ""), {}).get("f:spec", {})


async def test_status_writes_are_owned_through_the_subresource(api: Api, kube: RunningKubeEmulator) -> None:
    await api.create(widget("w1"))
    async with api.session.patch(
        f"{WIDGETS}/w1/status",
        json={"status": {"phase": "Ready"}},
        headers={"Content-Type": "application/merge-patch+json", "User-Agent": "kopf/1.45.2"},
    ) as response:
        assert response.status == 200
    obj = kube.get_object(RESOURCE, "w1", "default")
    assert obj is not None
    entries = owners(obj)
    assert entries[("kopf", "Update", "status")] == {"f:status": {".": {}, "f:phase": {}}}
    assert "f:status" not in entries[("Python", "Update", "")]  # the creator (aiohttp's User-Agent) owns spec only


async def test_dry_run_apply_answers_without_storing(api: Api, kube: RunningKubeEmulator) -> None:
    created = await apply(api, widget("w1"), "flux", extra="&dryRun=All")
    assert created.status == 201
    assert created.body["metadata"]["uid"]
    assert "resourceVersion" not in created.body["metadata"]
    assert kube.get_object(RESOURCE, "w1", "default") is None


async def test_unknown_fields_warn_with_the_api_servers_header(api: Api) -> None:
    body = widget("w1")
    body["spec"]["colour"] = "blue"
    async with api.session.post(WIDGETS, json=body) as response:
        assert response.status == 201
        assert response.headers.getall("Warning") == ['299 - "unknown field \\"spec.colour\\""']
    strict = await api._call("POST", f"{WIDGETS}?fieldValidation=Strict", {**body, "metadata": {"name": "w2"}})
    assert (strict.status, strict.body["message"]) == (
        400,
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.colour"',
    )
    ignored = await api._call("POST", f"{WIDGETS}?fieldValidation=Ignore", {**body, "metadata": {"name": "w3"}})
    assert ignored.status == 201
    wrong = await api._call("POST", f"{WIDGETS}?fieldValidation=Loud", widget("w4"))
    assert (wrong.status, wrong.body["reason"]) == (422, "Invalid")
    assert wrong.body["message"].startswith(
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value'
    )


async def test_metadata_limits_and_finalizer_names(api: Api) -> None:
    big = widget("w1")
    big["metadata"]["annotations"] = {"example.com/blob": "x" * (256 * 1024)}
    refused = await api.create(big)
    assert refused.status == 422
    assert refused.causes == [
        {
            "reason": "FieldValueTooLong",
            "field": "metadata.annotations",
            "message": "Too long: must have at most 262144 bytes",
        }
    ]
    held = widget("w2")
    held["metadata"]["finalizers"] = ["hold"]
    async with api.session.post(WIDGETS, json=held) as response:
        assert response.status == 201
        [warning] = response.headers.getall("Warning")
        assert "prefer a domain-qualified finalizer name" in warning


async def test_duplicate_fields_are_reported_like_unknown_ones(api: Api) -> None:
    text = json.dumps(widget("w1"))
    doubled = text.replace('"spec": {', '"spec": {"replicas": 2, "replicas": 3, ', 1)
    async with api.session.post(WIDGETS, data=doubled, headers={"Content-Type": "application/json"}) as response:
        assert response.status == 201
        assert response.headers.getall("Warning") == ['299 - "duplicate field \\"spec.replicas\\""']
        assert (await response.json())["spec"]["replicas"] == 3  # the last one wins
    strict = doubled.replace('"w1"', '"w2"')
    async with api.session.post(
        f"{WIDGETS}?fieldValidation=Strict", data=strict, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert (await response.json())["message"].endswith('strict decoding error: duplicate field "spec.replicas"')
