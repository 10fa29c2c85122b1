"""``kubectl ssi abort`` and ``retry`` driving the real operator against the Azure emulator.

Aspects: abort mid-rollout with onFailure Rollback stops starting domains, puts the old image back on the
model and on every upgraded domain (rollback reason Aborted), and holds; retry rolls the same image out again
from the start until every instance runs it. With onFailure Pause, abort leaves the rollout Failed (Stalled
reason Aborted) with no more upgrades, and retry goes on from where it stopped.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from scaleset_testbed.kube import write_kubeconfig

from .commands import run
from .harness import NEW, OLD, System, resource, running_system, scenario

pytestmark = pytest.mark.slow


def _running_images(system: System) -> dict[str, str]:
    return {e["instanceId"]: e["imageVersion"] for e in system.audit() if e["type"] == "instance"}


async def _ssi(system: System, tmp_path: Path, *argv: str) -> str:
    kubeconfig = write_kubeconfig(system.kube.url, tmp_path / "kubeconfig")
    code, out, err = await run("kubectl-ssi", *argv, "--kubeconfig", str(kubeconfig))
    assert (code, err) == (0, ""), out
    return out


async def test_abort_rolls_back_and_retry_rolls_out_again(tmp_path: Path) -> None:
    async with running_system(scenario()) as system:
        await system.start_operator()
        await system.create(resource(pauseBetweenDomains="1s", onFailure="Rollback"))
        await system.wait_for(lambda: len(system.upgrades()) >= 2, what="two domains started")
        out = await _ssi(system, tmp_path, "abort", "web")
        assert "previous image is put back" in out
        await system.wait_for(
            lambda: (system.status().get("rollback") or {}).get("finishedAt"), within=60, what="rollback finished"
        )
        status = system.status()
        assert status["phase"] == "Failed"
        assert status["rollback"]["reason"] == "Aborted"
        model = system.azure.world.scale_sets[next(iter(system.azure.world.scale_sets))]
        assert model.image_reference["version"] == OLD
        assert set(_running_images(system).values()) <= {OLD}, "every upgraded instance runs the old image again"
        upgrades = len(system.upgrades())
        await asyncio.sleep(1.5)
        assert len(system.upgrades()) == upgrades, "aborted: nothing starts"

        out = await _ssi(system, tmp_path, "retry", "web")
        assert "rolling the same image out again from the start" in out
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=90, what="Succeeded")
        assert model.image_reference["version"] == NEW
        running = _running_images(system)
        assert len(running) == 10
        assert set(running.values()) == {NEW}


async def test_abort_with_pause_stays_failed_and_retry_goes_on(tmp_path: Path) -> None:
    async with running_system(scenario()) as system:
        await system.start_operator()
        await system.create(resource(pauseBetweenDomains="2s"))
        await system.wait_for(lambda: len(system.upgrades()) >= 1, what="first domain started")
        await _ssi(system, tmp_path, "abort", "web")
        await system.wait_for(lambda: system.status().get("phase") == "Failed", what="Failed")
        assert system.condition("Stalled")["reason"] == "Aborted"
        upgrades = len(system.upgrades())
        assert upgrades in (1, 2)
        await asyncio.sleep(2.5)
        assert len(system.upgrades()) == upgrades, "aborted: no domain starts"
        await _ssi(system, tmp_path, "retry", "web")
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=90, what="Succeeded")
        ids = [i for batch in system.upgrades() for i in batch]
        assert sorted(ids, key=int) == [str(i) for i in range(10)], "each instance upgraded once: none repeated"
