"""Flexible scale sets in the planner (issue 12): VMs known by name, no update domains, no latestModelApplied.

Aspects: the default domain kind (UpdateDomain) walks a regional Flex set by fault domain and a zonal one by
zone, and says so; FaultDomain on a set whose VMs all report one fault domain walks zones or batches rather
than one domain holding every VM; manualupgrade names the VMs; "on target" comes from the image each VM
reports, so a VM that reports no ``latestModelApplied`` is judged by its image alone.
"""

from __future__ import annotations

import dataclasses

import pytest
from scaleset_testbed.worlds import VERSIONS

from controller.observed import ImageFacts, Observation, ObservedInstance, ObservedScaleSet
from controller.resource import ConditionType, DomainKind, DomainState, Phase, ScaleSetImageStatus, evolve
from controller.rollout import UpdateModel, UpgradeInstances, layout_domains, plan_next_step, record_operation
from controller.rollout.health import Verdict, verdict

from .builders import IMAGE_REFERENCE, NEW, NOW, OLD, scale_set, spec


def vm(name: str, fd: int = 0, zone: str | None = None, version: str = OLD, **kw: object) -> ObservedInstance:
    fields: dict[str, object] = {
        "instance_id": f"vmss-web_{name}",
        "update_domain": None,
        "fault_domain": fd,
        "zone": zone,
        "latest_model": None,
        "image_version": version,
        "provisioning": "succeeded",
        "power": "running",
        "health": "healthy",
        "image_reference": dict(IMAGE_REFERENCE),
    }
    fields.update(kw)
    return ObservedInstance(**fields)  # type: ignore[arg-type]


def flex(insts: tuple[ObservedInstance, ...], version: str = OLD) -> ObservedScaleSet:
    return dataclasses.replace(scale_set(version, insts), orchestration_mode="Flexible")


REGIONAL = tuple(vm(f"{n:08x}", fd=n % 3) for n in range(6))
ZONAL = tuple(vm(f"{n:08x}", zone=str(1 + n % 3)) for n in range(6))
SPREAD = tuple(vm(f"{n:08x}") for n in range(6))


@pytest.mark.parametrize(
    ("insts", "asked", "kind", "ids", "why"),
    [
        (REGIONAL, DomainKind.UPDATE_DOMAIN, DomainKind.FAULT_DOMAIN, ["fd-0", "fd-1", "fd-2"], "no update domains"),
        (ZONAL, DomainKind.UPDATE_DOMAIN, DomainKind.ZONE, ["zone-1", "zone-2", "zone-3"], "no update domains"),
        (ZONAL, DomainKind.FAULT_DOMAIN, DomainKind.ZONE, ["zone-1", "zone-2", "zone-3"], "same fault domain"),
        (SPREAD, DomainKind.UPDATE_DOMAIN, DomainKind.BATCH, ["batch-0", "batch-1", "batch-2"], "same fault domain"),
        (REGIONAL, DomainKind.ZONE, DomainKind.FAULT_DOMAIN, ["fd-0", "fd-1", "fd-2"], "no availability zones"),
        (REGIONAL, DomainKind.FAULT_DOMAIN, DomainKind.FAULT_DOMAIN, ["fd-0", "fd-1", "fd-2"], None),
    ],
)
def test_flexible_layouts(
    insts: tuple[ObservedInstance, ...], asked: DomainKind, kind: DomainKind, ids: list[str], why: str | None
) -> None:
    used, reason, domains = layout_domains(asked, "34%" if asked == DomainKind.BATCH else None, insts)
    assert used == kind
    assert [d for d, _ in domains] == ids
    assert sorted(i for _, members in domains for i in members) == sorted(i.instance_id for i in insts)
    assert (reason is None) if why is None else (why in (reason or ""))


def test_a_uniform_set_with_one_fault_domain_is_not_walked_as_one_domain() -> None:
    insts = tuple(dataclasses.replace(i, update_domain=i.fault_domain, fault_domain=0) for i in REGIONAL)
    used, reason, domains = layout_domains(DomainKind.FAULT_DOMAIN, None, insts)
    assert used == DomainKind.BATCH
    assert len(domains) > 1
    assert "same fault domain" in (reason or "")


def test_a_vm_without_latest_model_applied_is_judged_by_its_image() -> None:
    target = spec().image
    assert verdict(vm("a", version=NEW), True, target) == Verdict.HEALTHY
    assert verdict(vm("a", version=OLD), True, target) == Verdict.PENDING
    other = {**IMAGE_REFERENCE, "sku": "18.04-LTS"}
    assert verdict(vm("a", version=NEW, image_reference=other), True, target) == Verdict.PENDING


def test_a_flexible_rollout_upgrades_vms_by_name_domain_by_domain() -> None:
    status = ScaleSetImageStatus()
    insts = {i.instance_id: i for i in REGIONAL}
    model, upgraded = OLD, []
    for _ in range(40):
        obs = Observation(scale_set=flex(tuple(insts.values()), model), image=ImageFacts(marketplace_versions=VERSIONS))
        plan = plan_next_step(spec(), status, obs, now=NOW, generation=1)
        status = plan.status
        if isinstance(plan.action, UpdateModel):
            model = (plan.action.image_reference or {})["version"]
            status = evolve(record_operation(status, plan.action, "dG9rZW4=", NOW), operation=None)
        elif isinstance(plan.action, UpgradeInstances):
            upgraded.append(plan.action.instance_ids)
            for name in plan.action.instance_ids:
                insts[name] = dataclasses.replace(insts[name], image_version=model)
            status = evolve(record_operation(status, plan.action, "dG9rZW4=", NOW), operation=None)
        if status.phase == Phase.SUCCEEDED:
            break
    assert status.phase == Phase.SUCCEEDED
    assert status.domain_kind == DomainKind.FAULT_DOMAIN
    assert [d.state for d in status.domains] == [DomainState.SUCCEEDED] * 3
    assert upgraded == [tuple(sorted(i.instance_id for i in REGIONAL if i.fault_domain == fd)) for fd in range(3)]
    assert all(i.image_version == NEW for i in insts.values())


def test_a_flexible_set_seen_through_an_api_version_that_predates_flexible_is_refused() -> None:
    """Azure Stack Hub's Compute 2020-06-01 has no orchestrationMode: the gateway infers Flexible from a
    capacity with no scale-set VMs; the planner refuses with a reason and writes nothing."""
    observed = dataclasses.replace(flex(()), capacity=6, api_version="2020-06-01")
    obs = Observation(scale_set=observed, image=ImageFacts(marketplace_versions=VERSIONS))
    plan = plan_next_step(spec(), ScaleSetImageStatus(), obs, now=NOW, generation=1)
    assert plan.action is None
    stalled = plan.status.condition(ConditionType.STALLED)
    assert stalled is not None
    assert stalled.reason == "OrchestrationModeUnsupported"
    assert "2020-12-01" in stalled.message
    newer = dataclasses.replace(observed, api_version="2024-11-01", instances=REGIONAL)
    plan = plan_next_step(
        spec(), ScaleSetImageStatus(), Observation(scale_set=newer, image=obs.image), now=NOW, generation=1
    )
    assert isinstance(plan.action, UpdateModel), "the same set through a newer api-version is rolled"


def test_a_flexible_set_behind_an_api_version_without_the_filtered_vm_listing_is_refused() -> None:
    observed = dataclasses.replace(flex(REGIONAL), api_version="2022-08-01")
    obs = Observation(scale_set=observed, image=ImageFacts(marketplace_versions=VERSIONS))
    plan = plan_next_step(spec(), ScaleSetImageStatus(), obs, now=NOW, generation=1)
    assert plan.action is None
    stalled = plan.status.condition(ConditionType.STALLED)
    assert stalled is not None
    assert stalled.reason == "OrchestrationModeUnsupported"
    assert "2023-03-01" in stalled.message
