"""The product's safety invariant, checked over many random rollouts driven by the planner.

A fake Azure (instances that take a random number of passes to upgrade, may come back unhealthy, may be
slow to report health) is driven by ``plan_next_step`` in a loop. Some passes lose their status write
after the Azure call went out, as when the operator dies between the two. At every ``manualupgrade``
the fake checks: one domain in flight at most; domains in plan order; every earlier domain healthy on the
target; no instance asked twice for the same model. At the end a good image is everywhere and a bad one
stopped at the first domain. The same holds for Flexible scale sets: VMs known by name, with fault domains
or zones and no update domain, reporting no ``latestModelApplied`` (issue 12).
"""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from scaleset_testbed.worlds import VERSIONS

from controller.observed import ImageFacts, Observation, ObservedInstance, ObservedScaleSet, OperationState
from controller.resource import DomainState, Phase, ScaleSetImageStatus
from controller.rollout import UpdateModel, UpgradeInstances, plan_next_step, record_operation

from .builders import IMAGE_REFERENCE, NEW, NOW, OLD, scale_set, spec


@dataclasses.dataclass
class FakeInstance:
    id: str
    ud: int | None
    fd: int
    zone: str | None = None
    image: str = OLD
    generation: int = 0
    busy: int = 0
    health: str = "healthy"
    pending_health: int = 0


class FakeAzure:
    def __init__(self, rng: random.Random, count: int, uds: int, bad: bool, flex: str | None = None) -> None:
        self.rng = rng
        self.model = OLD
        self.generation = 0
        self.bad = bad
        self.flexible = flex is not None
        if flex is None:
            self.instances = [FakeInstance(str(i), i % uds, i % 3) for i in range(count)]
        else:  # "regional": fault domains 0..uds-1; "zonal": fault domain 0 in zones 1..3; "spread": all in fd 0
            self.instances = [
                FakeInstance(
                    f"vmss-web_{rng.getrandbits(32):08x}",
                    None,
                    i % uds if flex == "regional" else 0,
                    str(1 + i % 3) if flex == "zonal" else None,
                )
                for i in range(count)
            ]
        self.by_id = {i.id: i for i in self.instances}
        self.upgraded: set[tuple[int, str]] = set()
        self.domain_order: list[str] = []
        self.op_ids: set[str] = set()

    def observe(self) -> ObservedScaleSet:
        insts = tuple(
            ObservedInstance(
                instance_id=i.id, update_domain=i.ud, fault_domain=i.fd, zone=i.zone,
                latest_model=None if self.flexible else i.generation == self.generation, image_version=i.image,
                provisioning="updating" if i.busy else "succeeded", power="stopped" if i.busy else "running",
                health=None if i.busy else ("initializing" if i.pending_health else i.health),
                image_reference=dict(IMAGE_REFERENCE),
            )
            for i in self.instances
        )  # fmt: skip
        mode = "Flexible" if self.flexible else "Uniform"
        return dataclasses.replace(scale_set(self.model, insts), etag=f'"{self.generation}"', orchestration_mode=mode)

    def update_model(self, action: UpdateModel) -> None:
        version = (action.image_reference or {})["version"]
        if version != self.model:
            self.model = version
            self.generation += 1

    def manual_upgrade(self, action: UpgradeInstances, status: ScaleSetImageStatus) -> None:
        ids = set(action.instance_ids)
        domains = {d.id: set(d.instance_ids) for d in status.domains}
        assert action.domain in domains, "an unknown domain"
        assert ids <= domains[action.domain], "instances outside their domain"
        busy_elsewhere = {i.id for i in self.instances if i.busy} - domains[action.domain]
        assert not busy_elsewhere, f"a second domain in flight: {busy_elsewhere}"
        order = [d.id for d in status.domains]
        if action.domain not in self.domain_order:
            if self.domain_order and self.domain_order[-1] in order:
                assert order.index(action.domain) > order.index(self.domain_order[-1]), "domain out of order"
            self.domain_order.append(action.domain)
        for earlier in order[: order.index(action.domain)]:
            for iid in domains[earlier]:
                inst = self.by_id[iid]
                ready = inst.generation == self.generation and inst.health == "healthy" and not inst.busy
                assert ready, f"domain {action.domain} started before {earlier} was healthy"
        for iid in ids:
            inst = self.by_id[iid]
            assert not inst.busy, f"instance {iid} asked again while busy"
            key = (self.generation, iid)
            assert key not in self.upgraded, f"instance {iid} upgraded twice to the same model"
            self.upgraded.add(key)
            inst.busy = self.rng.randint(1, 3)
            inst.generation = self.generation
        self.op_ids = ids

    def tick(self) -> None:
        for inst in self.instances:
            if inst.busy:
                inst.busy -= 1
                if not inst.busy:
                    inst.image = self.model
                    inst.health = "unhealthy" if self.bad and self.model == VERSIONS[2] else "healthy"
                    inst.pending_health = self.rng.randint(0, 1)
            elif inst.pending_health:
                inst.pending_health -= 1

    def operation_state(self) -> OperationState:
        done = all(not self.by_id[i].busy for i in self.op_ids)
        return OperationState("Succeeded" if done else "InProgress")


def drive(
    seed: int, count: int, uds: int, lose: float, bad: bool, flex: str | None = None
) -> tuple[FakeAzure, ScaleSetImageStatus]:
    rng = random.Random(seed)
    azure = FakeAzure(rng, count, uds, bad, flex)
    sp = spec(VERSIONS[2] if bad else NEW, maxUnhealthyInstances=0)
    status = ScaleSetImageStatus()
    now = NOW
    for _ in range(400):
        op = azure.operation_state() if status.operation is not None else None
        obs = Observation(scale_set=azure.observe(), image=ImageFacts(marketplace_versions=VERSIONS), operation=op)
        plan = plan_next_step(sp, status, obs, now=now, generation=1)
        new_status = plan.status
        if isinstance(plan.action, UpdateModel):
            azure.update_model(plan.action)
            new_status = record_operation(new_status, plan.action, "dG9rZW4=", now)
        elif isinstance(plan.action, UpgradeInstances):
            azure.manual_upgrade(plan.action, plan.status)
            new_status = record_operation(new_status, plan.action, "dG9rZW4=", now)
        if plan.action is not None and rng.random() < lose:
            pass  # the operator died after the Azure call, before writing status: status stays as it was
        else:
            status = new_status
        azure.tick()
        now += timedelta(seconds=rng.choice([1, 5, 20]))
        if (
            status.phase in (Phase.SUCCEEDED, Phase.FAILED)
            and status.operation is None
            and not any(i.busy for i in azure.instances)
        ):
            break
    return azure, status


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    count=st.integers(1, 25),
    uds=st.integers(1, 5),
    lose=st.sampled_from([0.0, 0.2, 0.5]),
    flex=st.sampled_from([None, None, "regional", "zonal", "spread"]),
)
def test_good_image_reaches_every_instance_one_domain_at_a_time(
    seed: int, count: int, uds: int, lose: float, flex: str | None
) -> None:
    azure, status = drive(seed, count, uds, lose, bad=False, flex=flex)
    assert status.phase == Phase.SUCCEEDED, status.last_error
    assert all(i.image == NEW and i.generation == azure.generation for i in azure.instances)
    assert all(d.state in (DomainState.SUCCEEDED, DomainState.SKIPPED) for d in status.domains)
    assert len(azure.domain_order) == len(set(azure.domain_order)), "a domain was walked twice"


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    count=st.integers(2, 25),
    uds=st.integers(2, 5),
    lose=st.sampled_from([0.0, 0.3]),
    flex=st.sampled_from([None, "regional", "zonal", "spread"]),
)
def test_bad_image_stops_at_the_first_domain(seed: int, count: int, uds: int, lose: float, flex: str | None) -> None:
    azure, status = drive(seed, count, uds, lose, bad=True, flex=flex)
    assert status.phase == Phase.FAILED
    assert azure.domain_order == [status.domains[0].id]
    first = set(status.domains[0].instance_ids)
    assert all(i.image == OLD for i in azure.instances if i.id not in first), "a later domain was touched"


def test_a_flexible_walk_never_puts_every_instance_in_one_domain() -> None:
    """Zonal Flex VMs all report fault domain 0: by fault domain that would be one domain, every VM down."""
    for flex in ("regional", "zonal", "spread"):
        azure, status = drive(7, 9, 3, 0.0, bad=True, flex=flex)
        assert len(status.domains) > 1, flex
        assert azure.domain_order == [status.domains[0].id], flex
        touched = sum(1 for i in azure.instances if i.image != OLD or i.busy)
        assert 0 < touched < len(azure.instances), flex
