"""Builders for planner inputs: specs, observed scale sets and instances, in a few readable lines."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from scaleset_testbed.worlds import SUB, V1, V2

from controller.observed import ObservedInstance, ObservedScaleSet
from controller.resource import ScaleSetImageSpec, ScaleSetRef

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
OLD, NEW = V1, V2
IMAGE_REFERENCE = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS"}
"""The Marketplace image of every scale set here, without its version (instances report exactVersion)."""


def spec(version: str = NEW, **rollout: Any) -> ScaleSetImageSpec:
    return ScaleSetImageSpec.from_dict(
        {
            "scaleSet": {"subscriptionId": SUB, "resourceGroup": "rg-web", "name": "vmss-web"},
            "image": {"marketplace": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS",
                                      "version": version}},
            "rollout": rollout,
        }
    )  # fmt: skip


def instances(
    count: int = 10, uds: int = 5, fds: int = 5, *, latest: bool = False, health: str | None = "healthy",
    ud_zero: bool = False, fd_zero: bool = False,
) -> tuple[ObservedInstance, ...]:  # fmt: skip
    return tuple(
        ObservedInstance(
            instance_id=str(i),
            update_domain=0 if ud_zero else i % uds,
            fault_domain=0 if fd_zero else i % fds,
            zone=None,
            latest_model=latest,
            image_version=NEW if latest else OLD,
            provisioning="succeeded",
            power="running",
            health=health,
            image_reference=dict(IMAGE_REFERENCE),
        )
        for i in range(count)
    )


def scale_set(
    version: str = OLD, insts: tuple[ObservedInstance, ...] | None = None, mode: str = "Manual", health: bool = True
) -> ObservedScaleSet:
    insts = instances() if insts is None else insts
    return ObservedScaleSet(
        ref=ScaleSetRef(subscription_id=SUB, resource_group="rg-web", name="vmss-web"),
        location="westeurope",
        etag='"3"',
        upgrade_mode=mode,
        image_reference={**IMAGE_REFERENCE, "version": version},
        vhd_uri=None,
        has_health_extension=health,
        capacity=len(insts),
        provisioning_state="Succeeded",
        instances=insts,
    )


def with_instances(ss: ObservedScaleSet, changes: dict[str, dict[str, Any]]) -> ObservedScaleSet:
    """A copy of ``ss`` with some instances' fields changed, by instance id."""
    new = tuple(
        dataclasses.replace(i, **changes[i.instance_id]) if i.instance_id in changes else i for i in ss.instances
    )
    return dataclasses.replace(ss, instances=new)


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)
