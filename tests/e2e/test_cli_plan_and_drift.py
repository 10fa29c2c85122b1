"""``scaleset-image plan`` (a dry run that changes nothing) and model drift after a finished rollout.

Aspects: the plan prints the resolved image and each domain's instances, marking those already on the
target, and makes no Azure write; an image change made behind the operator's back is reported and
undone (the declared image wins).
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
import yaml

from controller.azure.gateway import AzureComputeGateway
from controller.commands.plan import plan_manifest
from controller.config import CloudProfile

from .harness import NEW, OLD, resource, running_system, scenario

pytestmark = pytest.mark.slow


async def test_plan_shows_domains_and_changes_nothing() -> None:
    async with running_system(scenario(capacity=10, uds=5)) as system:
        config = system.config()
        gateways: list[AzureComputeGateway] = []

        def gateway_for(profile: CloudProfile) -> AzureComputeGateway:
            gateways.append(AzureComputeGateway(profile))
            return gateways[-1]

        out = io.StringIO()
        doc: dict[str, Any] = yaml.safe_load(yaml.safe_dump(resource(version="latest")))
        try:
            ok = await plan_manifest(doc, config, gateway_for, out)
        finally:
            for gateway in gateways:
                await gateway.close()
        text = out.getvalue()
        assert ok, text
        assert "image: Canonical:UbuntuServer:16.04-LTS:16.04.201811010 (model changes" in text
        assert "domains: 5 by UpdateDomain" in text
        assert "1. ud-0: upgrade 0, 5" in text
        assert "5. ud-4: upgrade 4, 9" in text
        assert [e for e in system.audit() if e["type"] == "request" and e["method"] != "GET"] == []


async def test_model_drift_is_reported_and_the_declared_image_wins() -> None:
    async with running_system(scenario()) as system:
        await system.start_operator()
        await system.create(resource())
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", what="Succeeded")
        upgrades_before = len(system.upgrades())
        # Someone changes the model behind the operator's back.
        world = system.azure.world
        ss = next(iter(world.scale_sets.values()))
        new_model = yaml.safe_load(yaml.safe_dump(ss.resource))
        new_model["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]["version"] = OLD
        op = world.new_operation("PutVirtualMachineScaleSet", ss, world.clock.now())
        world.apply_model(ss, new_model, world.clock.now(), op)
        await system.wait_for(lambda: ss.image_reference["version"] == NEW, within=30, what="model restored")
        await system.wait_for(
            lambda: any("outside the operator" in (e.get("message") or "") for e in system.kube.events()),
            within=10,
            what="drift event",
        )
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=60)
        await asyncio.sleep(0.2)
        final = {e["instanceId"]: e["imageVersion"] for e in system.audit() if e["type"] == "instance"}
        assert set(final.values()) == {NEW}
        assert len(system.upgrades()) == upgrades_before, "instances already on the target are not re-imaged"
