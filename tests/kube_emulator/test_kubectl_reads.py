"""The real kubectl reading from the emulator: discovery, printer columns, explain, watches, wait, events."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import yaml
from scaleset_testbed.kube import RunningKubeEmulator

from .kubectl import MANIFEST, Kubectl, merge_status

STATUS = {
    "phase": "Progressing",
    "imageSummary": "Canonical/ubuntu-24_04-lts/server@24.04.202405010",
    "domainProgress": "2/5",
    "instanceProgress": "4/10",
    "domainKind": "UpdateDomain",
}


async def rollout(kubectl: Kubectl) -> None:
    await kubectl("create", "namespace", "web")
    await kubectl("apply", "-f", str(MANIFEST))


async def test_api_resources_list_the_resource_once_with_short_name_and_category(kubectl: Kubectl) -> None:
    listed = (await kubectl("api-resources", "--api-group=imagerollout.dev")).ok()
    lines = listed.out.splitlines()
    assert lines[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert [line.split() for line in lines[1:]] == [
        ["scalesetimagerollouts", "ssir", "imagerollout.dev/v1alpha1", "true", "ScaleSetImageRollout"],
        ["scalesetimages", "ssi", "imagerollout.dev/v1alpha1", "true", "ScaleSetImage"],
    ]
    assert listed.err == ""
    by_category = (await kubectl("api-resources", "--categories=imagerollout", "-o", "name")).ok()
    assert by_category.out == "scalesetimagerollouts.imagerollout.dev\nscalesetimages.imagerollout.dev\n"


async def test_get_by_short_name_and_category_prints_the_printer_columns(
    kubectl: Kubectl, project_kube: RunningKubeEmulator
) -> None:
    await rollout(kubectl)
    await merge_status(project_kube, STATUS)
    by_short_name = (await kubectl("get", "ssi", "-A")).ok()
    by_category = (await kubectl("get", "imagerollout", "-A")).ok()
    assert by_short_name.err == by_category.err == ""  # no "could also match" warnings
    header, row = by_short_name.out.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "IMAGE", "PHASE", "DOMAIN", "UPDATED", "AGE"]
    assert row.split()[:6] == ["web", "web", STATUS["imageSummary"], "Progressing", "2/5", "4/10"]
    assert row.split()[6].endswith("s")  # AGE, from a date column
    assert by_category.out.splitlines()[0].split()[-1] == "AGE"
    wide = (await kubectl("get", "ssi", "web", "-n", "web", "-o", "wide")).ok().out.splitlines()
    assert wide[0].split()[-4:] == ["AGE", "SCALE", "SET", "DOMAIN"] or wide[0].endswith("SCALE SET   DOMAIN KIND")
    assert wide[1].split()[-2:] == ["vmss-web", "UpdateDomain"]


async def test_get_as_yaml_and_json_and_not_found(kubectl: Kubectl) -> None:
    await rollout(kubectl)
    as_yaml = yaml.safe_load((await kubectl("get", "ssi", "web", "-n", "web", "-o", "yaml")).ok().out)
    as_json = (await kubectl("get", "ssi", "web", "-n", "web", "-o", "json")).json()
    for obj in (as_yaml, as_json):
        assert (obj["apiVersion"], obj["kind"]) == ("imagerollout.dev/v1alpha1", "ScaleSetImage")
        assert obj["metadata"]["uid"]
        assert obj["metadata"]["resourceVersion"]
        assert obj["spec"]["rollout"]["paused"] is False  # defaulted by the CRD schema
    assert "managedFields" not in as_yaml["metadata"]  # kubectl hides them unless asked
    missing = await kubectl("get", "ssi", "nope", "-n", "web")
    assert missing.code == 1
    assert missing.err == 'Error from server (NotFound): scalesetimages.imagerollout.dev "nope" not found\n'


async def test_explain_reads_the_crd_schema_from_openapi_v3(kubectl: Kubectl) -> None:
    kind = (await kubectl("explain", "ssi")).ok().out
    assert "KIND:       ScaleSetImage" in kind
    assert "ScaleSetImage declares the OS image" in kind
    field = (await kubectl("explain", "ssi.spec.rollout.domainKind")).ok().out
    assert "FIELD: domainKind <string>" in field
    assert "ENUM:\n    UpdateDomain\n    FaultDomain\n    Zone\n    Batch\n" in field
    namespace = (await kubectl("explain", "namespace.spec")).ok().out
    assert "NamespaceSpec describes the attributes on a Namespace." in namespace


async def test_explain_describes_the_progressive_delivery_fields(kubectl: Kubectl) -> None:
    analysis = " ".join((await kubectl("explain", "ssi.spec.rollout.analysis")).ok().out.split())
    assert "Prometheus queries run after each domain is healthy" in analysis
    condition = " ".join(
        (await kubectl("explain", "ssi.spec.rollout.analysis.queries.failureCondition")).ok().out.split()
    )
    assert "When any sample of the result meets it, the measurement Failed" in condition
    zone = " ".join((await kubectl("explain", "ssi.spec.rollout.maintenanceWindows.timeZone")).ok().out.split())
    assert "IANA time zone of the schedule" in zone
    hook_type = " ".join((await kubectl("explain", "ssi.spec.rollout.hooks.type")).ok().out.split())
    assert "ConfirmDomain" in hook_type
    assert "hold the rollout until the hook answers 200" in hook_type  # kubectl wraps the text
    approval = (await kubectl("explain", "ssi.spec.rollout.approval")).ok().out
    assert "ENUM:\n    Never\n    BeforeFirstDomain\n    BeforeEachDomain\n" in approval
    token = " ".join((await kubectl("explain", "ssi.status.approval.token")).ok().out.split())
    assert "imagerollout.dev/approve" in token


async def test_get_watch_prints_a_change_as_it_arrives(kubectl: Kubectl, project_kube: RunningKubeEmulator) -> None:
    await rollout(kubectl)
    watch = await kubectl.start("get", "ssi", "-n", "web", "-w", "--output-watch-events")
    assert watch.stdout is not None
    try:
        header = await asyncio.wait_for(watch.stdout.readline(), 10)
        assert header.decode().split()[:3] == ["EVENT", "NAME", "IMAGE"]
        first = await asyncio.wait_for(watch.stdout.readline(), 10)
        assert first.decode().split()[:2] == ["ADDED", "web"]
        await merge_status(project_kube, {**STATUS, "phase": "Paused"})
        change = await asyncio.wait_for(watch.stdout.readline(), 10)
        assert change.decode().split()[:4] == ["MODIFIED", "web", STATUS["imageSummary"], "Paused"]
    finally:
        watch.terminate()
        await watch.wait()


async def test_wait_for_ready_returns_when_the_status_says_so(
    kubectl: Kubectl, project_kube: RunningKubeEmulator
) -> None:
    await rollout(kubectl)
    waiting = await kubectl.start("wait", "--for=condition=Ready", "ssi/web", "-n", "web", "--timeout=20s")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(waiting.wait(), 0.5)
    early: int | None = waiting.returncode
    assert early is None, "kubectl wait returned before the resource was Ready"
    ready = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "done"}
    await merge_status(project_kube, {"conditions": [{**ready, "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
    out, err = await asyncio.wait_for(waiting.communicate(), 15)
    assert waiting.returncode == 0, err.decode()
    assert out.decode() == "scalesetimage.imagerollout.dev/web condition met\n"


async def test_get_events_as_the_operator_posts_them(kubectl: Kubectl, project_kube: RunningKubeEmulator) -> None:
    await rollout(kubectl)
    event = {  # the shape kopf posts: no apiVersion/kind, a generated name
        "metadata": {"namespace": "web", "generateName": "kopf-event-"},
        "type": "Normal",
        "reason": "DomainDone",
        "message": "update domain 0 upgraded ",
        "source": {"component": "kopf"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
        "count": 1,
        "involvedObject": {"apiVersion": "imagerollout.dev/v1alpha1", "kind": "ScaleSetImage", "name": "web"},
    }
    url = f"{project_kube.url}/api/v1/namespaces/web/events"
    async with aiohttp.ClientSession() as session, session.post(url, json=event) as response:
        assert response.status == 201
    listed = (await kubectl("get", "events", "-n", "web")).ok()
    header, row = listed.out.splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert row.split()[1:] == ["Normal", "DomainDone", "scalesetimage/web", "update", "domain", "0", "upgraded"]
    assert listed.err == ""
    by_name = (await kubectl("get", "ev", "-n", "web", "--field-selector", "involvedObject.name=other")).ok()
    assert by_name.err == "No resources found in web namespace.\n"


async def test_version_and_health_endpoints(kubectl: Kubectl) -> None:
    version = (await kubectl("version", "-o", "json")).json()
    assert version["serverVersion"]["gitVersion"].startswith("v1.37.0")
    assert (await kubectl("version")).ok().err == ""  # no version-skew warning for the pinned kubectl
    for path in ("/healthz", "/livez", "/readyz"):
        assert (await kubectl("get", "--raw", path)).ok().out == "ok"
    verbose = (await kubectl("get", "--raw", "/readyz?verbose")).ok().out
    assert verbose.splitlines()[-1] == "readyz check passed"
    paths = json.loads((await kubectl("get", "--raw", "/")).ok().out)["paths"]
    assert {"/apis/imagerollout.dev/v1alpha1", "/openapi/v3", "/version"} <= set(paths)
