"""Two operator processes sharing a fleet by label selector (issue 14, part 5).

Each runs ``scaleset-image run -A --selector shard=<x>``; four scale sets, four ScaleSetImages labelled
two by two. Every rollout completes, and no resource is handled by both: each process's log names only its
own shard's resources, and the other shard's resources never get its finalizer or its Azure calls. Each shard
has a finalizer of its own, so the two do not take turns removing and adding one shared finalizer (a write
storm: hundreds of writes a second); a resource that still carries the finalizer of the time before shards had
their own loses it to its shard's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from scaleset_testbed import worlds
from scaleset_testbed.system import Env, OperatorSettings, emulators, operator, wait_until
from scaleset_testbed.worlds import CR, RG, V1, V2

from controller.operator.selector import LEGACY_FINALIZER, finalizer_for

pytestmark = pytest.mark.slow

SETS = {"vmss-a1": "a", "vmss-a2": "a", "vmss-b1": "b", "vmss-b2": "b"}


def resource_version(env: Env, name: str) -> int:
    obj = env.kube.get_object(CR, name, "default")
    assert obj is not None
    return int(obj["metadata"]["resourceVersion"])


def world() -> dict[str, object]:
    return worlds.scenario(
        {RG: {name: worlds.scale_set(4, 2, 2, version=V1) for name in SETS}},
        timing={"instanceUpgradeSeconds": 2.0, "jitterSeconds": 0.0, "modelUpdateSeconds": 0.5},
    )


async def test_two_shards_roll_disjoint_halves_of_a_fleet(tmp_path: Path) -> None:
    async with emulators(world(), 20.0, tmp_path) as env:
        settings = {
            s: OperatorSettings(poll_interval=0.2, tick=0.1, resync_interval=2.0, selector=f"shard={s}") for s in "ab"
        }
        async with (
            operator(env, settings["a"], "operator-a") as op_a,
            operator(env, settings["b"], "operator-b") as op_b,
        ):
            for vmss, shard in SETS.items():
                body = worlds.manifest(vmss, vmss=vmss, version=V2)
                body["metadata"]["labels"] = {"shard": shard}
                if vmss == "vmss-b2":
                    body["metadata"]["finalizers"] = [LEGACY_FINALIZER]  # from before shards had their own
                await env.create(body)
            await wait_until(
                lambda: all(env.status(vmss).get("phase") == "Succeeded" for vmss in SETS),
                within=120,
                interval=0.1,
                what="every rollout to succeed",
            )
            await asyncio.sleep(0.5)
            versions = {vmss: resource_version(env, vmss) for vmss in SETS}
            await asyncio.sleep(1.5)
            quiet = {vmss: resource_version(env, vmss) for vmss in SETS}
            finalizers = {
                vmss: (env.kube.get_object(CR, vmss, "default") or {})["metadata"].get("finalizers") for vmss in SETS
            }
            logs = {"a": op_a.log_path.read_text(), "b": op_b.log_path.read_text()}
        for vmss, shard in SETS.items():
            other = "b" if shard == "a" else "a"
            assert f"default/{vmss} " in logs[shard], f"{vmss} was rolled by its shard's operator"
            assert f"default/{vmss} " not in logs[other], f"{vmss} was also handled by operator-{other}"
        # Settled rollouts are written to only by the resync of their status, if at all: no storm.
        assert max(quiet.values()) - max(versions.values()) < 20, (versions, quiet)
        for vmss, shard in SETS.items():
            assert finalizers[vmss] == [finalizer_for(f"shard={shard}")], (vmss, finalizers[vmss])
        upgrades = [e for e in env.audit() if e["type"] == "request" and e["path"].endswith("/manualupgrade")]
        assert len(upgrades) == 2 * len(SETS), "each scale set's two domains, once each"
