"""What clients find around the objects: discovery, namespaces, CRDs, Events, listing, kubeconfig."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from scaleset_testbed.kube import KubeApiError, RunningKubeEmulator, start_kube_emulator, write_kubeconfig

from .support import CRD_FILE, GROUP, RESOURCE, WIDGETS, Api, widget

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def test_discovery_lists_the_crd_resources_and_the_builtins(api: Api) -> None:
    groups = {group["name"] for group in (await api.get("/apis")).body["groups"]}
    assert {GROUP, "apiextensions.k8s.io", "events.k8s.io"} <= groups
    resources = {r["name"]: r for r in (await api.get(f"/apis/{GROUP}/v1")).body["resources"]}
    assert set(resources) == {"widgets", "widgets/status"}
    assert (resources["widgets"]["kind"], resources["widgets"]["namespaced"]) == ("Widget", True)
    assert resources["widgets"]["shortNames"] == ["wdg"]
    core = (await api.get("/api/v1")).body
    assert core["groupVersion"] == "v1"
    assert {"namespaces", "events"} <= {r["name"] for r in core["resources"]}


async def test_namespaces_must_exist_and_can_be_created(api: Api) -> None:
    names = [ns["metadata"]["name"] for ns in (await api.get("/api/v1/namespaces")).body["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    missing = await api.create(widget("w1"), path=f"/apis/{GROUP}/v1/namespaces/ops/widgets")
    assert (missing.status, missing.body["reason"], missing.body["message"]) == (
        404,
        "NotFound",
        'namespaces "ops" not found',
    )
    assert missing.body["details"] == {"name": "ops", "kind": "namespaces"}
    made = await api.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}}, path="/api/v1/namespaces"
    )
    assert made.status == 201
    assert (made.body["status"], made.body["spec"]) == ({"phase": "Active"}, {"finalizers": ["kubernetes"]})
    assert (await api.create(widget("w1"), path=f"/apis/{GROUP}/v1/namespaces/ops/widgets")).status == 201
    invalid = await api.create({"metadata": {"name": "Team.A"}}, path="/api/v1/namespaces")
    assert invalid.status == 422


async def test_namespaces_appear_on_first_use_with_auto_provision() -> None:
    async with await start_kube_emulator(crd_paths=[CRD_FILE], namespace_auto_provision=True) as running:
        created = running.create_object({**widget("w1"), "metadata": {"name": "w1", "namespace": "ops"}})
        assert created["metadata"]["namespace"] == "ops"
        assert running.get_object("v1/namespaces", "ops") is not None


async def test_a_deleted_namespace_takes_its_objects_along(api: Api) -> None:
    await api.create({"metadata": {"name": "ops"}}, path="/api/v1/namespaces")
    await api.create(widget("w1"), path=f"/apis/{GROUP}/v1/namespaces/ops/widgets")
    held = widget("w2")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await api.create(held, path=f"/apis/{GROUP}/v1/namespaces/ops/widgets")
    deleted = await api.delete("/api/v1/namespaces/ops")
    assert (deleted.status, deleted.body["status"]) == (200, {"phase": "Terminating"})
    assert (await api.get(f"/apis/{GROUP}/v1/namespaces/ops/widgets/w1")).status == 404
    refused = await api.create(widget("w3"), path=f"/apis/{GROUP}/v1/namespaces/ops/widgets")
    assert (refused.status, refused.body["reason"]) == (403, "Forbidden")
    assert "because it is being terminated" in refused.body["message"]
    await api.merge(f"/apis/{GROUP}/v1/namespaces/ops/widgets/w2", {"metadata": {"finalizers": None}})
    assert (await api.get("/api/v1/namespaces/ops")).status == 404


async def test_crds_are_served_as_objects(api: Api) -> None:
    listing = (await api.get(CRDS)).body
    [crd] = listing["items"]
    assert crd["metadata"]["name"] == f"widgets.{GROUP}"
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {
        "NamesAccepted": "True",
        "Established": "True",
    }


async def test_a_crd_created_through_the_api_is_served_at_once(api: Api) -> None:
    crd = copy.deepcopy(yaml.safe_load(CRD_FILE.read_text()))
    crd["metadata"]["name"] = f"gadgets.{GROUP}"
    crd["spec"]["names"] = {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"}
    crd["spec"]["scope"] = "Cluster"
    assert (await api.create(crd, path=CRDS)).status == 201
    gadget = {**widget("g1"), "kind": "Gadget"}
    created = await api.create(gadget, path=f"/apis/{GROUP}/v1/gadgets")
    assert created.status == 201
    assert "namespace" not in created.body["metadata"]
    assert created.body["spec"]["mode"] == "Rolling"  # the new schema applies
    broken = copy.deepcopy(crd)
    broken["metadata"]["name"] = f"gizmos.{GROUP}"
    broken["spec"]["names"] = {"plural": "gizmos", "kind": "Gizmo"}
    broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"] = [{"rule": "self.("}]
    refused = await api.create(broken, path=CRDS)
    assert refused.status == 422


async def test_events_of_both_apis_are_recorded(kube: RunningKubeEmulator, api: Api) -> None:
    await api.create(widget("w1"))
    core_event: dict[str, Any] = {  # what kopf posts: no apiVersion/kind, a generated name
        "metadata": {"namespace": "default", "generateName": "kopf-event-"},
        "type": "Normal",
        "reason": "Rolled",
        "message": "domain 1 done",
        "involvedObject": {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "name": "w1", "namespace": "default"},
    }
    assert (await api.create(core_event, path="/api/v1/namespaces/default/events")).status == 201
    new_event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "w1.other"},
        "type": "Warning",
        "reason": "Paused",
        "note": "waiting",
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "regarding": {"kind": "Widget", "name": "w1", "namespace": "default"},
    }
    assert (await api.create(new_event, path="/apis/events.k8s.io/v1/namespaces/default/events")).status == 201
    unrelated = {**core_event, "involvedObject": {**core_event["involvedObject"], "name": "w2"}}
    assert (await api.create(unrelated, path="/api/v1/namespaces/default/events")).status == 201

    events = kube.events(involved_name="w1")
    assert [event["reason"] for event in events] == ["Rolled", "Paused"]
    assert events[0]["metadata"]["name"].startswith("kopf-event-")
    assert len(kube.events()) == 3


async def test_listing_pages_and_selectors(api: Api) -> None:
    for index in range(5):
        body = widget(f"w{index}")
        body["metadata"]["labels"] = {"parity": "even" if index % 2 == 0 else "odd"}
        await api.create(body)
    first = (await api.get(f"{WIDGETS}?limit=2")).body
    assert [item["metadata"]["name"] for item in first["items"]] == ["w0", "w1"]
    rest = (await api.get(f"{WIDGETS}?limit=10&continue={first['metadata']['continue']}")).body
    assert [item["metadata"]["name"] for item in rest["items"]] == ["w2", "w3", "w4"]
    assert "continue" not in rest["metadata"]
    even = (await api.get(f"{WIDGETS}?labelSelector=parity%3Deven")).body
    assert [item["metadata"]["name"] for item in even["items"]] == ["w0", "w2", "w4"]
    named = (await api.get(f"{WIDGETS}?fieldSelector=metadata.name%3Dw3")).body
    assert [item["metadata"]["name"] for item in named["items"]] == ["w3"]
    everywhere = (await api.get(f"/apis/{GROUP}/v1/widgets")).body
    assert len(everywhere["items"]) == 5
    assert everywhere["kind"] == "WidgetList"


async def test_unknown_resources_are_not_found(api: Api) -> None:
    reply = await api.get(f"/apis/{GROUP}/v1/namespaces/default/doohickeys")
    assert (reply.status, reply.body["reason"]) == (404, "NotFound")


async def test_a_kmock_reaction_in_front_injects_a_failure_without_writing(kube: RunningKubeEmulator, api: Api) -> None:
    await api.create(widget("w1"))
    kube.emulator["patch", kube.emulator.resource(GROUP, "v1", "widgets")][:1] << 503
    failed = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
    assert failed.status == 503
    assert kube.get_object(RESOURCE, "w1", "default")["spec"]["replicas"] == 1  # type: ignore[index]
    retried = await api.merge(f"{WIDGETS}/w1", {"spec": {"replicas": 2}})
    assert retried.status == 200
    assert retried.body["spec"]["replicas"] == 2


async def test_direct_helpers_go_through_the_same_rules(kube: RunningKubeEmulator) -> None:
    created = kube.create_object(widget("w1"))
    assert created["metadata"]["generation"] == 1
    assert created["spec"]["replicas"] == 1
    with pytest.raises(KubeApiError) as refused:
        kube.create_object(widget("w2", replicas=-1))
    assert refused.value.code == 422
    assert [obj["metadata"]["name"] for obj in kube.list_objects(RESOURCE)] == ["w1"]


async def test_kubeconfig_points_at_the_emulator(kube: RunningKubeEmulator, tmp_path: Path) -> None:
    path = write_kubeconfig(kube.url, tmp_path / "sub" / "kubeconfig")
    config = yaml.safe_load(path.read_text())
    context = config["current-context"]
    [cluster] = config["clusters"]
    assert cluster["cluster"] == {"server": kube.url, "insecure-skip-tls-verify": True}
    assert config["users"][0]["user"]["token"]
    assert next(c for c in config["contexts"] if c["name"] == context)["context"]["cluster"] == cluster["name"]


async def test_the_emulator_only_binds_to_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        await start_kube_emulator(host="0.0.0.0")
    async with await start_kube_emulator(host="localhost") as running:
        assert running.url.startswith("http://127.0.0.1:") or running.url.startswith("http://[::1]:")
