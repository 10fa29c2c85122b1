"""What clients negotiate with the API server: discovery documents, OpenAPI, Tables, error bodies, history."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from scaleset_testbed.kube import KubeEmulator, RunningKubeEmulator, start_kube_emulator

from .support import CRD_FILE, GROUP, WIDGETS, Api, widget

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


async def raw_get(api: Api, path: str, accept: str) -> tuple[int, str, Any]:
    async with api.session.get(path, headers={"Accept": accept}) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.json(content_type=None)


async def test_aggregated_discovery_lists_subresources_under_their_resource(api: Api) -> None:
    code, content_type, body = await raw_get(api, "/apis", f"{AGGREGATED},application/json")
    assert (code, content_type) == (200, AGGREGATED)
    [group] = [item for item in body["items"] if item["metadata"]["name"] == GROUP]
    [widgets] = group["versions"][0]["resources"]
    assert (widgets["resource"], widgets["scope"], widgets["shortNames"]) == ("widgets", "Namespaced", ["wdg"])
    assert widgets["subresources"] == [
        {"subresource": "status", "responseKind": widgets["responseKind"], "verbs": ["get", "patch", "update"]}
    ]
    code, content_type, legacy = await raw_get(api, "/apis", "application/json")
    assert (code, legacy["kind"]) == (200, "APIGroupList")
    listing = (await api.get(f"/apis/{GROUP}/v1")).body["resources"]
    status_entry = next(r for r in listing if r["name"] == "widgets/status")
    assert "shortNames" not in status_entry
    assert "categories" not in status_entry
    assert status_entry["verbs"] == ["get", "patch", "update"]


async def test_openapi_v3_advertises_server_side_validation_and_the_patch_types(api: Api) -> None:
    index = (await api.get("/openapi/v3")).body["paths"]
    url = index[f"apis/{GROUP}/v1"]["serverRelativeURL"]
    assert url.startswith(f"/openapi/v3/apis/{GROUP}/v1?hash=")
    document = (await api.get(url)).body
    patch = document["paths"][f"/apis/{GROUP}/v1/namespaces/{{namespace}}/widgets/{{name}}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": GROUP, "kind": "Widget", "version": "v1"}
    assert {"dryRun", "fieldManager", "fieldValidation", "force"} <= {p["name"] for p in patch["parameters"]}
    assert sorted(patch["requestBody"]["content"]) == [
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ]
    schema = document["components"]["schemas"]["dev.imagerollout.test.v1.Widget"]
    assert schema["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in document["components"]["schemas"]
    core = (await api.get(index["api/v1"]["serverRelativeURL"])).body
    namespace_patch = core["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in namespace_patch["requestBody"]["content"]


async def test_openapi_v2_is_json_and_honours_accept(api: Api) -> None:
    code, content_type, document = await raw_get(api, "/openapi/v2", "application/json")
    assert (code, content_type.split(";")[0], document["swagger"]) == (200, "application/json", "2.0")
    widget_schema = document["definitions"]["dev.imagerollout.test.v1.Widget"]
    assert widget_schema["x-kubernetes-group-version-kind"] == [{"group": GROUP, "kind": "Widget", "version": "v1"}]
    assert "anyOf" not in json.dumps(widget_schema)  # OpenAPI v2 cannot say it
    protobuf_only = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    code, _, refused = await raw_get(api, "/openapi/v2", protobuf_only)
    assert (code, refused["reason"]) == (406, "NotAcceptable")


async def test_table_cells_follow_the_printer_column_types(api: Api) -> None:
    body = widget("w1", maxSurge="25%", tags=["a", "b"], ports=[{"name": "http", "port": 80}])
    body["spec"]["startAt"] = "2020-01-01T00:00:00Z"
    await api.create(body)
    await api.merge(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready"}})
    code, _, listing = await raw_get(api, f"{WIDGETS}?includeObject=Object", TABLE)
    assert (code, listing["kind"], listing["apiVersion"]) == (200, "Table", "meta.k8s.io/v1")
    names = [c["name"] for c in listing["columnDefinitions"]]
    assert names == ["Name", "Replicas", "Surge", "Channels", "Tags", "First Port", "Phase", "Started"]
    assert listing["columnDefinitions"][4]["priority"] == 1
    [row] = listing["rows"]
    name, replicas, surge, channels, tags, port, phase, started = row["cells"]
    assert (name, replicas, surge, channels, tags, port, phase) == ("w1", 1, "25%", False, "[a b]", "http", "Ready")
    assert started.endswith("y")  # years since 2020, as a date column prints
    assert row["object"]["spec"]["maxSurge"] == "25%"
    await api.create(widget("w2"))
    code, _, single = await raw_get(api, f"{WIDGETS}/w2", TABLE)
    [row] = single["rows"]
    assert row["cells"][5:7] == [None, None]  # missing fields print as <none>
    assert row["object"]["kind"] == "PartialObjectMetadata"


async def test_errors_are_status_bodies_without_tracebacks() -> None:
    emulator = KubeEmulator(crd_paths=[CRD_FILE])

    def broken(event: str, obj: dict[str, Any]) -> None:
        raise RuntimeError("listener exploded")

    emulator.listeners.append(broken)
    running = await start_kube_emulator(emulator=emulator)
    try:
        async with aiohttp.ClientSession(base_url=running.url) as session:
            reply = await Api(session).create(widget("w1"))
            unknown = await Api(session).get("/no/such/path")
    finally:
        await running.stop()
    assert (reply.status, reply.body["kind"], reply.body["reason"]) == (500, "Status", "InternalError")
    assert "Traceback" not in json.dumps(reply.body)
    assert reply.body["message"] == "Internal error occurred: RuntimeError: listener exploded"
    assert [str(e) for e in running.errors] == ["listener exploded"]  # recorded for the test that caused it
    assert (unknown.status, unknown.body["message"]) == (404, "the server could not find the requested resource")


async def test_request_history_is_bounded_and_reaction_slices_still_work() -> None:
    running = await start_kube_emulator(emulator=KubeEmulator(crd_paths=[CRD_FILE], request_history=10))
    try:
        async with aiohttp.ClientSession(base_url=running.url) as session:
            api = Api(session)
            await api.create(widget("w1"))
            running.emulator["patch"][:1] << 503
            assert (await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})).status == 503
            for _ in range(200):
                assert (await api.get(f"{WIDGETS}/w1")).status == 200
            assert (await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})).status == 200
            assert len(list(running.emulator)) <= 2 * 10 + 8
            assert max(len(p._requests) for p in running.emulator._payloads) <= 2 * 10 + 8
    finally:
        await running.stop()


async def test_delete_collection_honours_selectors_and_dry_run(api: Api, kube: RunningKubeEmulator) -> None:
    for name, team in (("w1", "a"), ("w2", "a"), ("w3", "b")):
        body = widget(name)
        body["metadata"]["labels"] = {"team": team}
        await api.create(body)
    dry = await api._call("DELETE", f"{WIDGETS}?labelSelector=team%3Da&dryRun=All")
    assert [item["metadata"]["name"] for item in dry.body["items"]] == ["w1", "w2"]
    assert len(kube.list_objects(f"{GROUP}/v1/widgets")) == 3
    deleted = await api._call("DELETE", f"{WIDGETS}?labelSelector=team%3Da")
    assert (deleted.status, deleted.body["kind"]) == (200, "WidgetList")
    assert [obj["metadata"]["name"] for obj in kube.list_objects(f"{GROUP}/v1/widgets")] == ["w3"]
