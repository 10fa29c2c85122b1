"""Domain layout: group a scale set's instances into the ordered domains a rollout walks one at a time.

One small strategy per domain kind (update domain, fault domain, zone, batch), chosen from the spec, with
the fallbacks a real scale set needs, so that one domain never holds every instance:
- Zone on a scale set without zones: update domains (fault domains on a Flexible set).
- UpdateDomain where instances report no update domain (Flexible orchestration): zones when the set is
  zonal (one fault domain per zone), else fault domains, else batches.
- UpdateDomain where every instance reports update domain 0 (Azure Stack Hub): fault domains, else batches.
- FaultDomain where every instance reports the same fault domain (a zonal Flexible set, or
  ``platformFaultDomainCount: 1``): zones when there are, else batches.
Instance ids inside a domain, and domains of one kind, are in numeric order (Flexible VM names by name).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from controller.observed import ObservedInstance, instance_order
from controller.resource import DomainKind, batch_size

Domain = tuple[str, tuple[str, ...]]
"""A domain of the plan: its id and the instance ids in it."""

DEFAULT_FALLBACK_BATCH = "20%"
"""Batch size used when the layout falls back to batches and the spec names none."""


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
        return _grouped(instances, lambda i: f"ud-{i.update_domain}", lambda i: (i.update_domain or 0, ""))


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
        ordered = sorted(
            instances, key=lambda i: (i.update_domain or 0, i.zone or "", i.fault_domain, instance_order(i.instance_id))
        )
        return [
            (f"batch-{index // size}", _sorted_ids(ordered[index : index + size]))
            for index in range(0, len(ordered), size)
        ]


def choose_layout(
    kind: DomainKind, batch: int | str | None, instances: Sequence[ObservedInstance]
) -> tuple[Layout, str | None]:
    """The layout for the requested kind, or the fallback the instances call for, and why it fell back."""
    reasons: list[str] = []
    flexible = bool(instances) and all(i.update_domain is None for i in instances)
    zonal = any(i.zone for i in instances)
    several = len(instances) > 1
    if kind == DomainKind.ZONE and not zonal:
        kind = DomainKind.FAULT_DOMAIN if flexible else DomainKind.UPDATE_DOMAIN
        reasons.append(f"the scale set has no availability zones; walking {_WORDS[kind]} instead")
    if kind == DomainKind.UPDATE_DOMAIN and flexible:
        kind = DomainKind.ZONE if zonal else DomainKind.FAULT_DOMAIN
        reasons.append(f"a Flexible scale set has no update domains; walking {_WORDS[kind]} instead")
    if kind == DomainKind.FAULT_DOMAIN and several and len({i.fault_domain for i in instances}) == 1:
        if zonal and len({i.zone for i in instances}) > 1:
            kind = DomainKind.ZONE
            reasons.append("every instance is in the same fault domain of its zone; walking zones instead")
        else:
            reasons.append("every instance reports the same fault domain; walking batches instead")
            return InBatches(batch or DEFAULT_FALLBACK_BATCH), "; ".join(reasons)
    layout: Layout
    if kind == DomainKind.BATCH:
        layout = InBatches(batch if batch is not None else DEFAULT_FALLBACK_BATCH)
    elif kind == DomainKind.FAULT_DOMAIN:
        layout = ByFaultDomain()
    elif kind == DomainKind.ZONE:
        layout = ByZone()
    elif several and {i.update_domain for i in instances} == {0}:
        if len({i.fault_domain for i in instances}) > 1:
            layout = ByFaultDomain()
            reasons.append("every instance reports update domain 0 (Azure Stack Hub); walking fault domains instead")
        else:
            layout = InBatches(batch or DEFAULT_FALLBACK_BATCH)
            reasons.append("every instance reports update domain 0 and fault domain 0; walking batches instead")
    else:
        layout = ByUpdateDomain()
    return layout, "; ".join(reasons) or None


_WORDS = {
    DomainKind.UPDATE_DOMAIN: "update domains",
    DomainKind.FAULT_DOMAIN: "fault domains",
    DomainKind.ZONE: "zones",
    DomainKind.BATCH: "batches",
}


def layout_domains(
    kind: DomainKind, batch: int | str | None, instances: Sequence[ObservedInstance]
) -> tuple[DomainKind, str | None, list[Domain]]:
    """Group instances into ordered domains: (the kind used, why it differs from ``kind``, the domains)."""
    layout, reason = choose_layout(kind, batch, instances)
    return layout.kind, reason, layout.domains(instances)
