"""``scaleset-image status`` reads resources through the Kubernetes API and draws the rollout grid.

Aspects: one resource by name and all of a namespace, the grid rows with instance marks following
their domain's state, the conditions, and a clear error (exit 1) for a resource that does not exist,
naming those that do.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest
from scaleset_testbed.kube import start_kube_emulator, write_kubeconfig

from controller.resource.crd import build_crd

from .harness import RESOURCES, resource

pytestmark = pytest.mark.slow

STATUS = {
    "phase": "Progressing",
    "observedGeneration": 1,
    "domainKind": "UpdateDomain",
    "currentDomain": "ud-1",
    "domains": [
        {"id": "ud-0", "instanceIds": ["0", "2"], "state": "Succeeded"},
        {"id": "ud-1", "instanceIds": ["1", "3"], "state": "Upgrading"},
        {"id": "ud-2", "instanceIds": ["4"], "state": "Pending"},
    ],
    "instances": {"total": 5, "updated": 2, "healthy": 5, "unhealthy": 0},
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "RolloutInProgress",
            "message": "Domain ud-1 of 1/3.",
            "lastTransitionTime": "2026-11-22T10:00:00Z",
        },
    ],
}


async def run_status(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller",
        "status",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_status_draws_the_grid_from_the_kubernetes_api(tmp_path: Path) -> None:
    async with await start_kube_emulator(crds=[build_crd()]) as kube:
        kubeconfig = write_kubeconfig(kube.url, tmp_path / "kubeconfig")
        async with aiohttp.ClientSession() as http:
            async with http.post(kube.url + RESOURCES, json=resource("web")) as response:
                assert response.status == 201, await response.text()
            async with http.patch(
                f"{kube.url}{RESOURCES}/web/status",
                json={"status": STATUS},
                headers={"Content-Type": "application/merge-patch+json"},
            ) as response:
                assert response.status == 200, await response.text()
        code, out, err = await run_status("web", "-n", "default", "--kubeconfig", str(kubeconfig))
        assert code == 0, err
        assert "default/web" in out
        assert "Progressing" in out
        assert "domains 1/3" in out
        assert "instances 2/5" in out
        assert "ud-0 Succeeded   # #" in out
        assert ">     ud-1 Upgrading   ~ ~" in out
        assert "ud-2 Pending     o" in out
        assert "Ready=False RolloutInProgress" in out

        code, out, _ = await run_status("-n", "default", "--kubeconfig", str(kubeconfig))
        assert code == 0
        assert "default/web" in out

        code, _, err = await run_status("nope", "-n", "default", "--kubeconfig", str(kubeconfig))
        assert code == 1
        assert err == "scaleset-image status: scalesetimage nope not found in namespace default (it has: web)\n"
