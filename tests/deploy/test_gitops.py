"""GitOps health: the Argo CD health check run in Lua over sample statuses, and the Flux examples.

Covers: health.lua executed with Lua 5.1 (the language of Argo CD's gopher-lua) in a sandbox holding only
what Argo CD offers, over every case of health_test.yaml (progressing, paused, failed, rolled back,
blocked, succeeded, not yet observed, spec changed); the samples being valid ScaleSetImages; the script in
argocd-cm.yaml being health.lua itself under the key Argo CD looks up; Argo CD's verdict agreeing with
kstatus (what Flux computes from the same status); the Flux objects pointing at paths, sources and kinds
that exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_python import Chart
from lupa import lua51

from .support import (
    CRD_FILE,
    DEPLOY,
    ROOT,
    apply_json6902,
    container_of,
    kustomize_build,
    load_file,
    only,
    scalesetimage_errors,
    validate_object,
)

ARGO = DEPLOY / "gitops" / "argocd"
CHECK = ARGO / "imagerollout.dev" / "ScaleSetImage"
FLUX = DEPLOY / "gitops" / "flux"
HEALTH_KEY = "resource.customizations.health.imagerollout.dev_ScaleSetImage"
CASES: list[dict[str, Any]] = load_file(CHECK / "health_test.yaml")[0]["tests"]

# Argo CD runs health scripts with the base library, string, table and math, and no os, io or require.
_SANDBOX = """
return function(script, obj)
  local env = {obj = obj, ipairs = ipairs, pairs = pairs, next = next, tostring = tostring,
               tonumber = tonumber, type = type, error = error, pcall = pcall, select = select,
               string = string, table = table, math = math}
  local chunk, err = loadstring(script, "health.lua")
  if chunk == nil then error(err) end
  setfenv(chunk, env)
  return chunk()
end
"""


def run_health(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    runner: Any = lua.execute(_SANDBOX)  # a Lua function (the stubs say object)
    result = runner(script, lua.table_from(obj, recursive=True))
    assert result is not None, "the script returned nothing"
    return {key: result[key] for key in result}


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus' generic rules (sigs.k8s.io/cli-utils), which Flux health checks apply to this kind."""
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    if status.get("observedGeneration") is not None and status["observedGeneration"] != generation:
        return "InProgress"
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    if conditions.get("Reconciling", {}).get("status") == "True":
        return "InProgress"
    if conditions.get("Stalled", {}).get("status") == "True":
        return "Failed"
    if conditions.get("Ready", {}).get("status") == "False" or not status:
        return "InProgress"
    return "Current"


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_argocd_health_check(case: dict[str, Any]) -> None:
    obj = load_file(CHECK / case["inputPath"])[0]
    assert scalesetimage_errors(obj) == [], "samples must be statuses the operator can write"
    script = (CHECK / "health.lua").read_text(encoding="utf-8")
    assert run_health(script, obj) == case["healthStatus"]


def test_cases_cover_every_health_status_and_every_sample() -> None:
    assert {c["healthStatus"]["status"] for c in CASES} == {"Progressing", "Suspended", "Degraded", "Healthy"}
    used = {(CHECK / c["inputPath"]).resolve() for c in CASES}
    assert used == {p.resolve() for p in (CHECK / "testdata").glob("*.yaml")}
    phases = {(load_file(p)[0].get("status") or {}).get("phase") for p in used}
    assert {"Progressing", "Paused", "Failed", "Succeeded"} <= phases


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_argocd_and_kstatus_agree(case: dict[str, Any]) -> None:
    obj = load_file(CHECK / case["inputPath"])[0]
    expected = {"Healthy": "Current", "Degraded": "Failed", "Progressing": "InProgress", "Suspended": "InProgress"}
    assert kstatus(obj) == expected[case["healthStatus"]["status"]]


def test_health_check_is_sandbox_safe() -> None:
    script = (CHECK / "health.lua").read_text(encoding="utf-8")
    for forbidden in ("os.", "io.", "require", "dofile", "loadfile", "goto"):
        assert forbidden not in script
    broken = script.replace("ipairs(status.conditions)", "os.time(status.conditions)")
    obj = load_file(CHECK / "testdata" / "succeeded.yaml")[0]
    with pytest.raises(lua51.LuaError):
        run_health(broken, obj)


def test_argocd_configmap_registers_health_lua() -> None:
    (configmap,) = load_file(ARGO / "argocd-cm.yaml")
    validate_object(configmap)
    assert (configmap["metadata"]["name"], configmap["metadata"]["namespace"]) == ("argocd-cm", "argocd")
    crd = load_file(CRD_FILE)[0]
    expected_key = f"resource.customizations.health.{crd['spec']['group']}_{crd['spec']['names']['kind']}"
    assert expected_key == HEALTH_KEY
    assert configmap["data"] == {HEALTH_KEY: (CHECK / "health.lua").read_text(encoding="utf-8")}


def _flux_objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects = [doc for path in sorted(FLUX.glob("*.yaml")) for doc in load_file(path)]
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_flux_operator_kustomization_waits_for_the_base() -> None:
    flux = _flux_objects()
    operator = flux[("Kustomization", "scaleset-image-operator")]["spec"]
    assert operator["wait"] is True
    assert (ROOT / operator["path"] / "kustomization.yaml").is_file()
    assert ("GitRepository", operator["sourceRef"]["name"]) in flux
    # Its image override and patches apply to what the base contains.
    objects = kustomize_build(ROOT / operator["path"])
    image = container_of(only(objects, "Deployment"))["image"].rsplit(":", 1)[0]
    assert [i["name"] for i in operator["images"]] == [image]
    for patch in operator["patches"]:
        (target,) = [
            o
            for o in objects
            if all(o[k] == v if k == "kind" else o["metadata"][k] == v for k, v in patch["target"].items())
        ]
        patched = apply_json6902(target, yaml.safe_load(patch["patch"]))
        validate_object(patched)
        assert patched != target


def test_flux_scalesetimages_depend_on_the_operator_and_check_their_health() -> None:
    flux = _flux_objects()
    rollouts = flux[("Kustomization", "scalesetimages")]["spec"]
    assert [d["name"] for d in rollouts["dependsOn"]] == ["scaleset-image-operator"]
    assert ("Kustomization", "scaleset-image-operator") in flux
    assert ("GitRepository", rollouts["sourceRef"]["name"]) in flux
    crd = load_file(CRD_FILE)[0]["spec"]
    api_version = f"{crd['group']}/{crd['versions'][0]['name']}"
    assert rollouts["healthChecks"]
    assert all((h["apiVersion"], h["kind"]) == (api_version, crd["names"]["kind"]) for h in rollouts["healthChecks"])


def test_flux_helmrelease_installs_the_chart_with_its_crd() -> None:
    flux = _flux_objects()
    release = flux[("HelmRelease", "scaleset-image-operator")]["spec"]
    chart = release["chart"]["spec"]
    assert (ROOT / chart["chart"] / "Chart.yaml").is_file()
    assert ("GitRepository", chart["sourceRef"]["name"]) in flux
    assert release["install"]["crds"] in ("Create", "CreateReplace")
    assert release["upgrade"]["crds"] == "CreateReplace"
    with Chart.load(ROOT / chart["chart"]) as helm_chart:
        helm_chart.validate_schema(release["values"])
