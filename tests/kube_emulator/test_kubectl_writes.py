"""The real kubectl writing through the emulator: what users and GitOps tools do to a ScaleSetImage.

Each test drives the pinned kubectl binary (see ``kubectl.py``) and checks both what kubectl prints and
what the emulator stored, so that a command that "succeeds" without the API server's semantics fails.
"""

from __future__ import annotations

from typing import Any

import yaml
from scaleset_testbed.kube import RunningKubeEmulator

from .kubectl import MANIFEST, Kubectl, manifest

RESOURCE = "imagerollout.dev/v1alpha1/scalesetimages"


def stored(kube: RunningKubeEmulator, name: str = "web") -> dict[str, Any]:
    obj = kube.get_object(RESOURCE, name, "web")
    assert obj is not None, f"web/{name} is not stored"
    return obj


async def test_namespaces_must_exist_and_kubectl_creates_them(kubectl: Kubectl) -> None:
    refused = await kubectl("apply", "-f", str(MANIFEST))
    assert refused.code == 1
    assert 'namespaces "web" not found' in refused.err
    assert (await kubectl("create", "namespace", "web")).ok().out == "namespace/web created\n"
    assert (await kubectl("get", "namespace", "web", "-o", "jsonpath={.status.phase}")).ok().out == "Active"
    invalid = await kubectl("create", "namespace", "Not_Valid")
    assert invalid.code == 1
    assert 'The Namespace "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid"' in invalid.err


async def test_client_side_apply_creates_then_configures(kubectl: Kubectl, project_kube: RunningKubeEmulator) -> None:
    await kubectl("create", "namespace", "web")
    assert (
        await kubectl("apply", "-f", "-", stdin=manifest())
    ).ok().out == "scalesetimage.imagerollout.dev/web created\n"
    assert (await kubectl("apply", "-f", "-", stdin=manifest())).ok().out.endswith("web unchanged\n")
    configured = await kubectl("apply", "-f", "-", stdin=manifest(maxUnhealthyInstances=3))
    assert configured.ok().out == "scalesetimage.imagerollout.dev/web configured\n"
    obj = stored(project_kube)
    assert obj["spec"]["rollout"]["maxUnhealthyInstances"] == 3
    assert obj["metadata"]["generation"] == 2
    managers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
    assert managers == {("kubectl-client-side-apply", "Update")}


async def test_server_side_apply_conflicts_and_force(kubectl: Kubectl, project_kube: RunningKubeEmulator) -> None:
    await kubectl("create", "namespace", "web")
    applied = await kubectl("apply", "--server-side", "-f", "-", stdin=manifest())
    assert applied.ok().out == "scalesetimage.imagerollout.dev/web serverside-applied\n"
    patch = '{"spec":{"rollout":{"maxUnhealthyInstances":3}}}'
    await kubectl("patch", "ssi", "web", "-n", "web", "--type", "merge", "-p", patch)
    conflict = await kubectl("apply", "--server-side", "-f", "-", stdin=manifest())
    assert conflict.code == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl-patch" using imagerollout.dev/v1alpha1' in conflict.err
    assert conflict.err.split("\n")[0].endswith(": .spec.rollout.maxUnhealthyInstances")
    assert stored(project_kube)["spec"]["rollout"]["maxUnhealthyInstances"] == 3  # refused: nothing changed
    forced = await kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=manifest())
    assert forced.ok().out == "scalesetimage.imagerollout.dev/web serverside-applied\n"
    obj = stored(project_kube)
    assert obj["spec"]["rollout"]["maxUnhealthyInstances"] == 1
    owners = {m["manager"]: m for m in obj["metadata"]["managedFields"]}
    assert owners["kubectl"]["operation"] == "Apply"
    assert "f:maxUnhealthyInstances" in owners["kubectl"]["fieldsV1"]["f:spec"]["f:rollout"]
    assert "kubectl-patch" not in owners  # it lost its only field to the forced apply


async def test_create_replace_and_a_stale_replace(kubectl: Kubectl, project_kube: RunningKubeEmulator) -> None:
    await kubectl("create", "namespace", "web")
    assert (await kubectl("create", "-f", str(MANIFEST))).ok().out == "scalesetimage.imagerollout.dev/web created\n"
    again = await kubectl("create", "-f", str(MANIFEST))
    assert again.code == 1
    assert 'scalesetimages.imagerollout.dev "web" already exists' in again.err
    live = yaml.safe_load((await kubectl("get", "ssi", "web", "-n", "web", "-o", "yaml")).ok().out)
    live["spec"]["rollout"]["maxUnhealthyInstances"] = 4
    replaced = await kubectl("replace", "-f", "-", stdin=yaml.safe_dump(live))
    assert replaced.ok().out == "scalesetimage.imagerollout.dev/web replaced\n"
    assert stored(project_kube)["spec"]["rollout"]["maxUnhealthyInstances"] == 4
    stale = await kubectl("replace", "-f", "-", stdin=yaml.safe_dump(live))  # the same resourceVersion again
    assert stale.code == 1
    assert "the object has been modified; please apply your changes to the latest version" in stale.err


async def test_edit_through_an_editor_script(kubectl: Kubectl, project_kube: RunningKubeEmulator) -> None:
    await kubectl("create", "namespace", "web")
    await kubectl("apply", "-f", str(MANIFEST))
    editor = kubectl.home / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/maxUnhealthyInstances: 1/maxUnhealthyInstances: 2/' \"$1\"\n")
    editor.chmod(0o755)
    edited = await kubectl("edit", "ssi", "web", "-n", "web", env={"EDITOR": str(editor)})
    assert edited.ok().out == "scalesetimage.imagerollout.dev/web edited\n"
    obj = stored(project_kube)
    assert obj["spec"]["rollout"]["maxUnhealthyInstances"] == 2
    assert "kubectl-edit" in {m["manager"] for m in obj["metadata"]["managedFields"]}


async def test_patch_types_as_the_api_server_answers_for_a_custom_resource(
    kubectl: Kubectl, project_kube: RunningKubeEmulator
) -> None:
    await kubectl("create", "namespace", "web")
    await kubectl("apply", "-f", str(MANIFEST))
    merge = await kubectl(
        "patch", "ssi", "web", "-n", "web", "--type", "merge", "-p", '{"spec":{"rollout":{"paused":true}}}'
    )
    assert merge.ok().out == "scalesetimage.imagerollout.dev/web patched\n"
    op = '[{"op":"replace","path":"/spec/rollout/maxUnhealthyInstances","value":5}]'
    assert (await kubectl("patch", "ssi", "web", "-n", "web", "--type", "json", "-p", op)).ok()
    strategic = await kubectl("patch", "ssi", "web", "-n", "web", "-p", '{"spec":{"rollout":{"paused":false}}}')
    assert strategic.code == 1
    assert "application/strategic-merge-patch+json is not supported" in strategic.err
    assert (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    ) in strategic.err
    failed_test = '[{"op":"test","path":"/spec/rollout/paused","value":false}]'
    refused = await kubectl("patch", "ssi", "web", "-n", "web", "--type", "json", "-p", failed_test)
    assert refused.code == 1
    assert (
        "testing value /spec/rollout/paused failed: test failed" in refused.err
    )  # 422, with the patch library's reason
    rollout = stored(project_kube)["spec"]["rollout"]
    assert (rollout["paused"], rollout["maxUnhealthyInstances"]) == (True, 5)


async def test_label_and_annotate_with_metadata_validation(kubectl: Kubectl, project_kube: RunningKubeEmulator) -> None:
    await kubectl("create", "namespace", "web")
    await kubectl("apply", "-f", str(MANIFEST))
    assert (await kubectl("label", "ssi", "web", "-n", "web", "team=rollouts")).ok().out.endswith("web labeled\n")
    bad = await kubectl("label", "ssi", "web", "-n", "web", "bad key!=x")
    assert bad.code == 1
    assert 'metadata.labels: Invalid value: "bad key!": name part must consist of alphanumeric characters' in bad.err
    too_long = await kubectl("label", "ssi", "web", "-n", "web", f"team={'x' * 64}")
    assert too_long.code == 1
    assert "must be no more than 63 bytes" in too_long.err
    assert (await kubectl("annotate", "ssi", "web", "-n", "web", "example.com/note=hello")).ok()
    meta = stored(project_kube)["metadata"]
    assert meta["labels"] == {"team": "rollouts"}
    assert meta["annotations"]["example.com/note"] == "hello"


async def test_field_validation_strict_by_default_warn_on_request(
    kubectl: Kubectl, project_kube: RunningKubeEmulator
) -> None:
    await kubectl("create", "namespace", "web")
    bogus = manifest(bogus=1)
    strict = await kubectl("apply", "-f", "-", stdin=bogus)
    assert strict.code == 1
    assert 'strict decoding error: unknown field "spec.rollout.bogus"' in strict.err
    assert project_kube.get_object(RESOURCE, "web", "web") is None
    warned = await kubectl("apply", "--validate=warn", "-f", "-", stdin=bogus)
    assert warned.ok().out == "scalesetimage.imagerollout.dev/web created\n"
    assert 'Warning: unknown field "spec.rollout.bogus"' in warned.err
    assert "bogus" not in stored(project_kube)["spec"]["rollout"]  # pruned, as the API server does


async def test_server_dry_runs_change_nothing(kubectl: Kubectl, project_kube: RunningKubeEmulator) -> None:
    await kubectl("create", "namespace", "web")
    created = await kubectl("create", "--dry-run=server", "-f", str(MANIFEST), "-o", "yaml")
    assert yaml.safe_load(created.ok().out)["metadata"]["uid"]  # answered as if created
    assert project_kube.get_object(RESOURCE, "web", "web") is None
    await kubectl("apply", "-f", str(MANIFEST))
    before = stored(project_kube)
    revision = project_kube.emulator.resource_version
    applied = await kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifest(maxUnhealthyInstances=9))
    assert applied.ok().out == "scalesetimage.imagerollout.dev/web configured (server dry run)\n"
    # kubectl takes over, without conflicts, the fields its client-side apply listed in last-applied-configuration
    ssa = await kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", stdin=manifest(maxUnhealthyInstances=8)
    )
    assert ssa.ok().out.endswith("(server dry run)\n")
    deleted = await kubectl("delete", "ssi", "web", "-n", "web", "--dry-run=server")
    assert deleted.ok().out == 'scalesetimage.imagerollout.dev "web" deleted from web namespace (server dry run)\n'
    assert stored(project_kube) == before
    assert project_kube.emulator.resource_version == revision  # no write happened, so no watch event either


async def test_diff_previews_without_changing_the_live_object(
    kubectl: Kubectl, project_kube: RunningKubeEmulator
) -> None:
    await kubectl("create", "namespace", "web")
    await kubectl("apply", "-f", str(MANIFEST))
    before = stored(project_kube)
    diff = await kubectl("diff", "-f", "-", stdin=manifest(maxUnhealthyInstances=7))
    assert diff.code == 1, diff.err  # 1: differences found
    assert "-    maxUnhealthyInstances: 1\n" in diff.out
    assert "+    maxUnhealthyInstances: 7\n" in diff.out
    assert stored(project_kube) == before
    assert (await kubectl("diff", "-f", str(MANIFEST))).code == 0


async def test_delete_returns_promptly_and_waits_for_finalizers(
    kubectl: Kubectl, project_kube: RunningKubeEmulator
) -> None:
    await kubectl("create", "namespace", "web")
    await kubectl("apply", "-f", str(MANIFEST))
    deleted = await kubectl("delete", "ssi", "web", "-n", "web", "--timeout=20s", seconds=10)
    assert deleted.ok().out == 'scalesetimage.imagerollout.dev "web" deleted from web namespace\n'
    assert project_kube.get_object(RESOURCE, "web", "web") is None
    await kubectl("apply", "-f", str(MANIFEST))
    await kubectl(
        "patch", "ssi", "web", "-n", "web", "--type", "merge", "-p", '{"metadata":{"finalizers":["example.com/hold"]}}'
    )
    held = await kubectl("delete", "ssi", "web", "-n", "web", "--timeout=1s", seconds=10)
    assert held.code == 1
    assert "timed out waiting for the condition" in held.err
    assert stored(project_kube)["metadata"]["deletionTimestamp"]
    waiting = await kubectl.start("wait", "--for=delete", "ssi/web", "-n", "web", "--timeout=20s")
    await kubectl(
        "patch", "ssi", "web", "-n", "web", "--type", "json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]'
    )
    _out, err = await waiting.communicate()
    assert waiting.returncode == 0, err.decode()
    assert project_kube.get_object(RESOURCE, "web", "web") is None


async def test_server_side_apply_takes_over_a_client_side_applied_namespace(
    kubectl: Kubectl, project_kube: RunningKubeEmulator
) -> None:
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: batch\n  labels: {team: b}\n"
    assert (await kubectl("apply", "-f", "-", stdin=namespace)).ok().out == "namespace/batch created\n"
    taken = await kubectl("apply", "--server-side", "-f", "-", stdin=namespace)
    assert taken.ok().out == "namespace/batch serverside-applied\n"
    stored_namespace = project_kube.get_object("v1/namespaces", "batch")
    assert stored_namespace is not None
    assert stored_namespace["metadata"]["labels"] == {"team": "b"}
    managers = {m["manager"]: m["operation"] for m in stored_namespace["metadata"]["managedFields"]}
    assert managers["kubectl"] == "Apply"
