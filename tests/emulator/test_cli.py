"""The `scaleset-image-testbed emulator` command, run as a subprocess: the issue's acceptance walk-through with the
real SDK against the issue's example scenario, and the command's refusals."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scaleset_testbed.worlds import RG, SUB, V1, V2, VMSS

from .conftest import Control, ForceApiVersion

EXAMPLE = Path(__file__).with_name("issue_example.yaml")
REPO = Path(__file__).resolve().parents[2]


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "scaleset_testbed", "emulator", "--port", "0", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise AssertionError(f"the emulator printed no URL: {err}")
    return process, url


def _stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


@pytest.fixture
def cli_emulator() -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        process, url = _start(*args)
        started.append(process)
        return url

    yield start
    for process in started:
        _stop(process)


def test_issue_acceptance_walkthrough(sync_client: Any) -> None:
    process, url = _start("--scenario", str(EXAMPLE), "--time-scale", "20")
    try:
        assert url.startswith("http://127.0.0.1:")
        control = Control(url)
        client = sync_client(url)

        vms = list(client.virtual_machine_scale_set_vms.list(RG, VMSS, expand="instanceView"))
        assert len(vms) == 20
        domains = {v.instance_id: v.properties.instance_view.platform_update_domain for v in vms}
        assert collections.Counter(domains.values()) == {0: 4, 1: 4, 2: 4, 3: 4, 4: 4}
        assert {v.properties.storage_profile.image_reference.exact_version for v in vms} == {V1}

        ss = client.virtual_machine_scale_sets.get(RG, VMSS)
        ss.properties.virtual_machine_profile.storage_profile.image_reference.version = V2
        client.virtual_machine_scale_sets.begin_create_or_update(RG, VMSS, ss).result()

        domain_two = sorted((i for i, ud in domains.items() if ud == 2), key=int)
        assert domain_two == ["2", "7", "12", "17"]
        client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": domain_two}).result()

        events = control.instance_events()
        assert {e["instanceId"] for e in events} == set(domain_two)  # those instances, and only those
        moved = {e["instanceId"]: e["imageVersion"] for e in events if e["state"] == "Running"}
        assert moved == dict.fromkeys(domain_two, V2)
        assert {e["updateDomain"] for e in events} == {2}
        assert all(e["healthy"] is True for e in events if e["state"] == "Running")
        stale = client.virtual_machine_scale_set_vms.list(RG, VMSS, filter="properties/latestModelApplied eq false")
        assert len(list(stale)) == 16
    finally:
        assert _stop(process) == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


def test_profile_flag_and_default_time_scale(cli_emulator: Any, sync_client: Any) -> None:
    url = cli_emulator("--scenario", str(EXAMPLE), "--profile", "azurestack")
    client = sync_client(url, policies=[ForceApiVersion("2020-06-01")])
    assert client.virtual_machine_scale_sets.get(RG, VMSS).sku.capacity == 20
    assert Control(url).call("GET", "time-scale")["scale"] == 1.0
    assert Control(url).state()["scaleSets"][0]["subscriptionId"] == SUB


def test_empty_world_without_a_scenario(cli_emulator: Any) -> None:
    url = cli_emulator()
    assert Control(url).state()["scaleSets"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "/nonexistent/scenario.yaml"], "cannot read scenario file"),
        (["--time-scale", "0"], "--time-scale must be > 0"),
    ],
)
def test_refusals(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scaleset_testbed", "emulator", "--port", "0", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert message in done.stderr
