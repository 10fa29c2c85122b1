"""The plain manifests in deploy/: every file valid, the kustomize base and overlays built and checked.

Covers: each file in deploy/ (except deploy/monitoring/, owned and tested with the monitoring work)
classified and validated for Kubernetes 1.32; no file left unreferenced by a kustomization or a test; every
CRD copy (crds/, deploy/base/, the chart's crds/: the Makefile's CRD_COPIES) byte-identical to the
generator's output; each kustomization built (resources and JSON 6902 patches) and checked for
least-privilege RBAC matching the namespaces the operator is told to watch (and the Lease it elects its
leader with), the restricted pod policy, replicas and update strategy agreeing with leader election, and
arguments / ports / probe / configuration that the operator's own CLI and config parser accept; two replicas
electing a leader in the base and every overlay; the workload identity and Azure Stack Hub variants; the
ScaleSetImage examples.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from scaleset_testbed.worlds import SUB

from controller.config import PUBLIC_ARM_ENDPOINT

from .support import (
    CLUSTER_SCOPED,
    CRD_FILE,
    DEPLOY,
    FLEET_CRD_FILE,
    OWNED_ELSEWHERE,
    ROOT,
    container_of,
    election_violations,
    group_of,
    kustomizations,
    kustomize_build,
    lease_of,
    load_file,
    mounted_config,
    only,
    pod_violations,
    rbac_violations,
    run_args,
    scalesetimage_errors,
    validate_object,
    wiring_violations,
)

ARGO_CHECK = DEPLOY / "gitops" / "argocd" / "imagerollout.dev" / "ScaleSetImage"


def deploy_files() -> list[Path]:
    files = (p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sorted(p for p in files if not p.is_relative_to(OWNED_ELSEWHERE))


def referenced_by_kustomizations() -> set[Path]:
    referenced: set[Path] = set()
    for directory in kustomizations():
        kustomization = load_file(directory / "kustomization.yaml")[0]
        referenced.add(directory / "kustomization.yaml")
        referenced.update((directory / r).resolve() for r in kustomization.get("resources", []))
        referenced.update((directory / p["path"]).resolve() for p in kustomization.get("patches", []))
    return referenced


def test_deploy_has_the_expected_layout() -> None:
    relative = {str(p.relative_to(DEPLOY)) for p in deploy_files()}
    for required in (
        "base/kustomization.yaml",
        "base/scalesetimages.imagerollout.dev.yaml",
        "base/scalesetimagerollouts.imagerollout.dev.yaml",
        "overlays/namespaced/kustomization.yaml",
        "overlays/azure-stack-hub/kustomization.yaml",
        "gitops/argocd/argocd-cm.yaml",
        "gitops/argocd/imagerollout.dev/ScaleSetImage/health.lua",
        "gitops/flux/operator.yaml",
        "gitops/flux/scalesetimages.yaml",
    ):
        assert required in relative


@pytest.mark.parametrize("path", deploy_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_deploy_file_is_valid(path: Path) -> None:
    """Each file is a valid object set for Kubernetes 1.32, or a file some check below exercises."""
    if path.suffix == ".lua":
        assert path.parent == ARGO_CHECK, "Lua belongs to the Argo CD health check (tests/deploy/test_gitops.py)"
        return
    assert path.suffix == ".yaml", f"{path}: unexpected file type"
    docs = load_file(path)
    assert docs, f"{path} is empty"
    if path.name == "kustomization.yaml":
        kustomize_build(path.parent)  # every resource and patch exists, applies and yields unique objects
        return
    if path == ARGO_CHECK / "health_test.yaml":
        assert [set(t) for t in docs[0]["tests"]] == [{"healthStatus", "inputPath"}] * len(docs[0]["tests"])
        return
    if isinstance(docs[0], list):
        # A JSON 6902 patch; applied (and the result validated) when its kustomization is built.
        assert (path.resolve()) in referenced_by_kustomizations(), f"{path}: a patch no kustomization uses"
        assert all(op["op"] in ("add", "replace", "remove") for op in docs[0])
        return
    for doc in docs:
        validate_object(doc)


def test_every_file_in_a_kustomization_directory_is_used() -> None:
    referenced = referenced_by_kustomizations()
    for directory in kustomizations():
        for path in directory.glob("*.yaml"):
            assert path.resolve() in referenced or path.name == "kustomization.yaml", f"{path} is not referenced"


def crd_copy_directories() -> list[str]:
    """The directories ``make crds`` copies the generated CRD into (the Makefile's CRD_COPIES)."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^CRD_COPIES\s*:?=(.*)$", makefile, re.MULTILINE)
    assert match, "the Makefile has no CRD_COPIES list"
    return match.group(1).split()


@pytest.mark.parametrize(("kind", "crd_file"), [("ScaleSetImage", CRD_FILE), ("ScaleSetImageRollout", FLEET_CRD_FILE)])
def test_crd_copies_are_byte_identical_to_the_generator_output(kind: str, crd_file: Path) -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "controller.resource.crd", "--kind", kind], capture_output=True, check=True, timeout=120
    ).stdout
    assert b"\nkind: CustomResourceDefinition\n" in generated
    copies = [crd_file, *(ROOT / directory / crd_file.name for directory in crd_copy_directories())]
    assert len(copies) == 3
    for path in copies:
        assert path.read_bytes() == generated, f"{path.relative_to(ROOT)} is stale: run make crds"


@pytest.mark.parametrize("crd_file", [CRD_FILE, FLEET_CRD_FILE], ids=lambda p: p.name)
def test_make_crds_refreshes_every_copy_in_the_repository(crd_file: Path) -> None:
    skip = {".git", ".venv", "build", "dist"}
    found = {
        path.parent.relative_to(ROOT).as_posix()
        for path in ROOT.rglob(crd_file.name)
        if not skip & set(path.relative_to(ROOT).parts)
    }
    assert found == {"crds", *crd_copy_directories()}


def test_kustomizations_are_the_base_and_its_overlays() -> None:
    assert [str(d.relative_to(DEPLOY)) for d in kustomizations()] == [
        "base",
        "overlays/azure-stack-hub",
        "overlays/namespaced",
    ]


@pytest.mark.parametrize("directory", kustomizations(), ids=lambda d: str(d.relative_to(DEPLOY)))
class TestKustomizeBuild:
    def test_objects_are_valid(self, directory: Path) -> None:
        objects = kustomize_build(directory)
        assert {"CustomResourceDefinition", "Namespace", "Deployment", "Service"} <= {o["kind"] for o in objects}
        for obj in objects:
            validate_object(obj)

    def test_rbac_is_least_privilege_for_what_the_operator_watches(self, directory: Path) -> None:
        objects = kustomize_build(directory)
        args = run_args(only(objects, "Deployment"))
        watched = None if args.all_namespaces else list(args.namespace)
        lease = lease_of(only(objects, "Deployment"))
        assert rbac_violations(objects, only(objects, "ServiceAccount"), watched, lease) == []

    def test_replicas_strategy_and_leader_election_agree(self, directory: Path) -> None:
        assert election_violations(kustomize_build(directory)) == []

    def test_two_replicas_elect_a_leader(self, directory: Path) -> None:
        objects = kustomize_build(directory)
        deployment = only(objects, "Deployment")
        assert deployment["spec"]["replicas"] == 2
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
        args = run_args(deployment)
        assert args.leader_election
        assert (args.lease_duration, args.renew_deadline, args.retry_period) == (15, 10, 2)
        assert lease_of(deployment) == ("scaleset-image-system", "scaleset-image-operator")
        env = [e["name"] for e in container_of(deployment)["env"]]
        assert env[:2] == ["POD_NAME", "POD_NAMESPACE"]
        assert {
            (o["kind"], o["metadata"]["namespace"]) for o in objects if "leader-election" in o["metadata"]["name"]
        } == {
            ("Role", "scaleset-image-system"),
            ("RoleBinding", "scaleset-image-system"),
        }
        assert only(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1

    def test_pod_meets_the_restricted_policy(self, directory: Path) -> None:
        assert pod_violations(only(kustomize_build(directory), "Deployment")) == []

    def test_arguments_ports_probe_and_config_agree(self, directory: Path) -> None:
        assert wiring_violations(kustomize_build(directory)) == []

    def test_namespaced_objects_name_their_namespace(self, directory: Path) -> None:
        for obj in kustomize_build(directory):
            cluster_scoped = obj["kind"] in CLUSTER_SCOPED
            assert bool(obj["metadata"].get("namespace")) != cluster_scoped, obj["metadata"]


def test_base_watches_all_namespaces_with_workload_identity() -> None:
    objects = kustomize_build(DEPLOY / "base")
    deployment = only(objects, "Deployment")
    assert run_args(deployment).all_namespaces
    assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert "azure.workload.identity/client-id" in only(objects, "ServiceAccount")["metadata"]["annotations"]
    namespace = only(objects, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {o["metadata"].get("namespace") for o in objects} - {None} == {namespace["metadata"]["name"]}
    assert mounted_config(objects).default_cloud == "azure-public"


def test_namespaced_overlay_watches_only_its_namespaces() -> None:
    objects = kustomize_build(DEPLOY / "overlays" / "namespaced")
    assert run_args(only(objects, "Deployment")).namespace == ["team-a"]
    roles = {
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] in ("Role", "RoleBinding")
    }
    # The watched namespace's permissions, and the Lease's in the operator's own namespace.
    assert roles == {
        ("team-a", "scaleset-image-operator"),
        ("scaleset-image-system", "scaleset-image-operator-leader-election"),
    }


def test_azure_stack_hub_overlay_uses_a_service_principal_and_its_cloud_profile() -> None:
    objects = kustomize_build(DEPLOY / "overlays" / "azure-stack-hub")
    deployment = only(objects, "Deployment")
    env = {e["name"]: e for e in container_of(deployment).get("env", [])}
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
    assert env["AZURE_AUTHORITY_HOST"]["value"].startswith("https://")
    assert "azure.workload.identity/use" not in deployment["spec"]["template"]["metadata"]["labels"]
    assert not only(objects, "ServiceAccount")["metadata"].get("annotations")
    config = mounted_config(objects)
    stack = config.cloud(None)
    assert stack is not None
    assert stack.api_version == "2020-06-01"
    assert stack.arm_endpoint != PUBLIC_ARM_ENDPOINT
    assert stack.credential_scope != "https://management.azure.com/.default"


EXAMPLES = sorted((DEPLOY / "examples").glob("*.yaml"))


def _image(doc: dict[str, Any]) -> dict[str, Any]:
    image: dict[str, Any] = doc["spec"]["image"]
    return image


def test_examples_cover_the_documented_cases() -> None:
    docs = {p.stem: load_file(p)[0] for p in EXAMPLES}
    assert {"marketplace-pinned", "marketplace-latest", "gallery-image", "azure-stack-hub"} <= set(docs)
    assert _image(docs["marketplace-pinned"])["marketplace"]["version"] != "latest"
    assert _image(docs["marketplace-latest"])["marketplace"]["version"] == "latest"
    assert "galleryImageVersionId" in _image(docs["gallery-image"])
    stack_cloud = docs["azure-stack-hub"]["spec"]["scaleSet"]["cloud"]
    stack_config = mounted_config(kustomize_build(DEPLOY / "overlays" / "azure-stack-hub"))
    assert stack_config.cloud(stack_cloud) is not None, "the example names a profile the overlay does not define"
    for name, doc in docs.items():
        if name != "azure-stack-hub":
            assert mounted_config(kustomize_build(DEPLOY / "base")).cloud(doc["spec"]["scaleSet"].get("cloud"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_an_accepted_and_commented_scalesetimage(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#"), "examples open with a comment saying what they show"
    assert text.count("#") >= 3
    (doc,) = load_file(path)
    assert group_of(doc) == "imagerollout.dev"
    assert scalesetimage_errors(doc) == []
    assert "status" not in doc


def test_crd_schema_check_refuses_what_the_api_server_would() -> None:
    """The ScaleSetImage check used on deploy/ files refuses unknown fields, bad values and broken rules."""
    (doc,) = load_file(DEPLOY / "examples" / "marketplace-pinned.yaml")
    typo = yaml.safe_load(yaml.safe_dump(doc))
    typo["spec"]["rollout"]["pauseBetweenDomain"] = "5m"
    bad_duration = yaml.safe_load(yaml.safe_dump(doc))
    bad_duration["spec"]["rollout"]["domainTimeout"] = "thirty minutes"
    two_images = yaml.safe_load(yaml.safe_dump(doc))
    two_images["spec"]["image"]["managedImageId"] = (
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/images/x"
    )
    for broken in (typo, bad_duration, two_images):
        assert scalesetimage_errors(broken)
