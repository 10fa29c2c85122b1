"""``scaleset-image run`` as a process, the way a Deployment runs it: kubeconfig, config file, metrics,
liveness, JSON logs, and a clean exit on SIGTERM.

Aspects: the operator process reconciles a resource to Succeeded against the emulators; /metrics shows
the phase; the liveness endpoint answers; log lines are JSON with the decision fields; a config naming an
unknown default cloud is refused at start with a clear message (exit 2).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml
from scaleset_testbed.kube import write_kubeconfig

from .harness import TOKEN_ENV, resource, running_system, scenario

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_run_command_reconciles_serves_metrics_and_liveness(tmp_path: Path) -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system:
        kubeconfig = write_kubeconfig(system.kube.url, tmp_path / "kubeconfig")
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "clouds": {
                        "azure-public": {
                            "armEndpoint": system.azure.url,
                            "allowHttp": True,
                            "credential": "static-token",
                            "staticTokenEnv": TOKEN_ENV,
                        }
                    },
                    "pollInterval": 0.3,
                    "resyncInterval": 5,
                }
            )
        )
        metrics_port, live_port = free_port(), free_port()
        env = {"KUBECONFIG": str(kubeconfig), TOKEN_ENV: "token", "PATH": "/usr/bin:/bin"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "controller",
            "run",
            "-A",
            "--config",
            str(config),
            "--metrics-port",
            str(metrics_port),
            "--metrics-host",
            "127.0.0.1",
            "--liveness",
            f"http://127.0.0.1:{live_port}/healthz",
            "--log-format",
            "json",
            "--tick",
            "0.1",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await system.create(resource())
            await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=90, what="Succeeded")
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
                    text = await response.text()
                async with http.get(f"http://127.0.0.1:{live_port}/healthz") as response:
                    assert response.status == 200
            assert 'scaleset_image_phase{name="web",namespace="default",phase="Succeeded"} 1.0' in text
            assert "scaleset_image_azure_requests_total" in text
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, output.decode()[-2000:]
        decisions = []
        for line in output.decode().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "decision" in record:
                decisions.append(record["decision"])
        reasons = {d["reason"] for d in decisions}
        assert {"RolloutStarted", "DomainStarted", "AzureOperationStarted", "RolloutSucceeded"} <= reasons
        assert any(d.get("azureOperationId") and d.get("domain") == "ud-0" for d in decisions)


async def test_run_refuses_a_bad_configuration(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("defaultCloud: nowhere\nclouds: {azure-public: {}}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller",
        "run",
        "-A",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert "defaultCloud: 'nowhere' is not one of the profiles ['azure-public']" in err.decode()
