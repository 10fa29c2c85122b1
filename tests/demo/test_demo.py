"""``scaleset-image-testbed demo`` headless, through the real command line, as CI or a newcomer would run it.

Aspects: the default run (no --until-settled) settles with the expected phases and exits 0; the report's
domain upgrades are complete and strictly sequential per scale set; the kubeconfig the demo writes works with
the Kubernetes client library while the demo runs; the audit file is the emulator's audit; a timeout ends the
demo with exit code 3. Stay, signals and the files of a run are in test_stay.py; the live view in test_live.py.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

EXPECTED_PHASES = {
    ("web", "web"): "Succeeded",  # update domains, Manual
    ("web", "frontend"): "Succeeded",  # Rolling policy, followed
    ("batch", "batch-workers"): "Failed",  # zones; the bad 'latest' image, rolled back
    ("api", "api"): "Succeeded",  # gallery image, batches of 25%
    ("edge", "edge-web"): "Succeeded",  # Azure Stack Hub: all update domains 0, fault domains walked
    ("app", "app"): "Succeeded",  # Flexible orchestration: VMs by name, fault domains walked
}


def _kubeconfig_lists_resources(path: Path) -> list[str]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]
    try:
        objects: Any = client.CustomObjectsApi(api_client).list_cluster_custom_object(
            "imagerollout.dev", "v1alpha1", "scalesetimages"
        )
    finally:
        api_client.close()
    return sorted(f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in objects["items"])


def test_headless_demo_settles_and_reports(tmp_path: Path) -> None:
    report, audit, kubeconfig = tmp_path / "r.json", tmp_path / "a.json", tmp_path / "kubeconfig"
    command = [
        sys.executable, "-m", "scaleset_testbed", "demo", "--no-ui", "--report", str(report),
        "--audit", str(audit), "--time-scale", "40", "--timeout", "240", "--kubeconfig", str(kubeconfig),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    listed: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("kubeconfig:") and not listed:
                deadline = time.monotonic() + 20
                while len(listed) < len(EXPECTED_PHASES) and time.monotonic() < deadline:
                    listed = _kubeconfig_lists_resources(kubeconfig)
                    time.sleep(0.2)
        code = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)
    assert code == 0, output[-3000:]
    assert listed == sorted(f"{ns}/{name}" for ns, name in EXPECTED_PHASES)

    data: dict[str, Any] = json.loads(report.read_text())
    phases = {(r["namespace"], r["name"]): r["status"]["phase"] for r in data["resources"]}
    assert phases == EXPECTED_PHASES
    assert all(r["settled"] for r in data["resources"])

    by_name = {r["name"]: r for r in data["resources"]}
    web = by_name["web"]
    domains = [d["id"] for d in web["status"]["domains"]]
    upgrades = web["domainUpgrades"]
    assert [u["domain"] for u in upgrades] == domains, "every domain upgraded once, in plan order"
    plan = {d["id"]: sorted(d["instanceIds"], key=int) for d in web["status"]["domains"]}
    assert all(sorted(u["instanceIds"], key=int) == plan[u["domain"]] for u in upgrades)
    for earlier, later in itertools.pairwise(upgrades):
        assert earlier["end"] is not None
        assert earlier["end"] <= later["start"], "strictly sequential: a domain starts after the last ended"
    assert web["azureRequests"]["VirtualMachineScaleSets_UpdateInstances"] == 5
    assert web["azureRequests"]["VirtualMachineScaleSets_Update"] == 1

    edge = by_name["edge-web"]
    assert edge["status"]["domainKind"] == "FaultDomain"
    assert [u["domain"] for u in edge["domainUpgrades"]] == ["fd-0", "fd-1", "fd-2"]
    batch = by_name["batch-workers"]
    assert batch["status"]["domainKind"] == "Zone"
    assert [u["domain"] for u in batch["domainUpgrades"]] == ["zone-1", "zone-1"], "upgrade, then roll back"
    assert batch["status"]["rollback"]["inProgress"] is False
    api = by_name["api"]
    assert [u["domain"] for u in api["domainUpgrades"]] == ["batch-0", "batch-1", "batch-2", "batch-3"]
    assert by_name["frontend"]["status"]["rolling"]["code"] == "Completed"
    app = by_name["app"]
    assert app["status"]["orchestrationMode"] == "Flexible"
    assert [u["domain"] for u in app["domainUpgrades"]] == ["fd-0", "fd-1", "fd-2"]
    assert all(i.startswith("vmss-app-flex_") for u in app["domainUpgrades"] for i in u["instanceIds"])

    events = json.loads(audit.read_text())["events"]
    requests = [e for e in events if e["type"] == "request"]
    assert sum(1 for e in requests if e["path"].endswith("/manualupgrade")) == sum(
        len(r["domainUpgrades"]) for r in data["resources"]
    )
    assert "phase Succeeded" in output


def test_demo_times_out_with_a_non_zero_code(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "scaleset_testbed", "demo", "--no-ui", "--timeout", "2"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stdout[-2000:]
    assert "timed out after 2s" in proc.stdout


def test_unreadable_manifests_exit_2_before_anything_starts(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "scaleset_testbed", "demo", "--no-ui", "--manifests", str(tmp_path / "nope.yaml")]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp_path)}
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("scaleset-image-testbed demo: [Errno 2] No such file or directory")
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == [], "no run directory"
