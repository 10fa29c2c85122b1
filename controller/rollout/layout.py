"""Domain layout: group a scale set's instances into the ordered domains a rollout walks one at a time.

One small strategy per domain kind (update domain, fault domain, zone, batch), chosen from the spec, with
the fallbacks a real scale set needs: a scale set without zones is walked by update domain, and one whose
instances all report update domain 0 (Azure Stack Hub) by fault domain, or in batches when fault domains
say nothing either. Instance ids inside a domain, and domains of one kind, are in numeric order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from controller.observed import ObservedInstance
from controller.resource import DomainKind, batch_size

Domain = tuple[str, tuple[str, ...]]
"""A domain of the plan: its id and the instance ids in it."""

DEFAULT_FALLBACK_BATCH = "20%"
"""Batch size used when the layout falls back to batches and the spec names none."""


def instance_order(instance_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order ("2" before "10"); names (Flexible VMs) after them, by name."""
    return (int(instance_id), "") if instance_id.isdigit() else (1 << 30, instance_id)


def _sorted_ids(members: Sequence[ObservedInstance]) -> tuple[str, ...]:
    return tuple(sorted((i.instance_id for i in members), key=instance_order))


def _grouped(
    instances: Sequence[ObservedInstance],
    key: Callable[[ObservedInstance], str],
    rank: Callable[[ObservedInstance], tuple[int, str]],
) -> list[Domain]:
    groups: dict[str, list[ObservedInstance]] = {}
    order: dict[str, tuple[int, str]] = {}
    for inst in instances:
        domain_id = key(inst)
        groups.setdefault(domain_id, []).append(inst)
        order[domain_id] = rank(inst)
    return [(domain_id, _sorted_ids(groups[domain_id])) for domain_id in sorted(groups, key=lambda k: order[k])]


class Layout(Protocol):
    """A way of grouping instances into domains."""

    @property
    def kind(self) -> DomainKind: ...

    def domains(self, instances: Sequence[ObservedInstance]) -> list[Domain]: ...


@dataclass(frozen=True)
class ByUpdateDomain:
    kind: ClassVar[DomainKind] = DomainKind.UPDATE_DOMAIN

    def domains(self, instances: Sequence[ObservedInstance]) -> list[Domain]:
        return _grouped(instances, lambda i: f"ud-{i.update_domain}", lambda i: (i.update_domain, ""))


@dataclass(frozen=True)
class ByFaultDomain:
    kind: ClassVar[DomainKind] = DomainKind.FAULT_DOMAIN

    def domains(self, instances: Sequence[ObservedInstance]) -> list[Domain]:
        return _grouped(instances, lambda i: f"fd-{i.fault_domain}", lambda i: (i.fault_domain, ""))


@dataclass(frozen=True)
class ByZone:
    kind: ClassVar[DomainKind] = DomainKind.ZONE

    def domains(self, instances: Sequence[ObservedInstance]) -> list[Domain]:
        return _grouped(instances, lambda i: f"zone-{i.zone or 'none'}", lambda i: (0, i.zone or ""))


@dataclass(frozen=True)
class InBatches:
    """Fixed-size groups, in update-domain, fault-domain, instance order; the last may be smaller."""

    size: int | str
    kind: ClassVar[DomainKind] = DomainKind.BATCH

    def domains(self, instances: Sequence[ObservedInstance]) -> list[Domain]:
        size = batch_size(self.size, len(instances))
        ordered = sorted(instances, key=lambda i: (i.update_domain, i.fault_domain, instance_order(i.instance_id)))
        return [
            (f"batch-{index // size}", _sorted_ids(ordered[index : index + size]))
            for index in range(0, len(ordered), size)
        ]


def choose_layout(
    kind: DomainKind, batch: int | str | None, instances: Sequence[ObservedInstance]
) -> tuple[Layout, str | None]:
    """The layout for the requested kind, or the fallback the instances call for, and why it fell back."""
    reasons: list[str] = []
    if kind == DomainKind.ZONE and not any(i.zone for i in instances):
        kind = DomainKind.UPDATE_DOMAIN
        reasons.append("the scale set has no availability zones; walking update domains instead")
    layout: Layout
    if kind == DomainKind.BATCH:
        layout = InBatches(batch if batch is not None else DEFAULT_FALLBACK_BATCH)
    elif kind == DomainKind.FAULT_DOMAIN:
        layout = ByFaultDomain()
    elif kind == DomainKind.ZONE:
        layout = ByZone()
    elif len(instances) > 1 and {i.update_domain for i in instances} == {0}:
        if len({i.fault_domain for i in instances}) > 1:
            layout = ByFaultDomain()
            reasons.append("every instance reports update domain 0 (Azure Stack Hub); walking fault domains instead")
        else:
            layout = InBatches(batch or DEFAULT_FALLBACK_BATCH)
            reasons.append("every instance reports update domain 0 and fault domain 0; walking batches instead")
    else:
        layout = ByUpdateDomain()
    return layout, "; ".join(reasons) or None


def layout_domains(
    kind: DomainKind, batch: int | str | None, instances: Sequence[ObservedInstance]
) -> tuple[DomainKind, str | None, list[Domain]]:
    """Group instances into ordered domains: (the kind used, why it differs from ``kind``, the domains)."""
    layout, reason = choose_layout(kind, batch, instances)
    return layout.kind, reason, layout.domains(instances)
