"""The pure planner: (spec, status, what Azure shows now) -> the status to write and the one next step.

No I/O, no kopf, no Azure SDK. The kopf glue gathers an :class:`Observation`, calls :func:`plan_next_step`,
writes the returned status, performs the returned action (at most one Azure write), and records the
operation it started in ``.status.operation``. Because everything the planner needs lives in ``.status``
or in Azure, a restart anywhere resumes exactly where the rollout stood.

Safety invariants this module keeps, and its tests check:
- at most one domain is in flight (Upgrading or Verifying) at any time;
- a domain starts only after the previous one is Succeeded (healthy) and the pause has passed;
- a domain that finished is never upgraded again; a domain is never skipped while it has instances
  not on the target;
- ``paused`` stops before the next domain, never in the middle of one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.observed import GalleryVersion, ObservedInstance, ObservedScaleSet, OperationState, RollingProgress
from controller.resource import (
    DOMAIN_DONE_STATES,
    Condition,
    ConditionStatus,
    ConditionType,
    DomainKind,
    DomainState,
    DomainStatus,
    ErrorStatus,
    EventReason,
    ImageSource,
    InstanceCounts,
    MarketplaceImage,
    OnFailure,
    Operation,
    OperationKind,
    Phase,
    Reason,
    ResolvedImage,
    RollbackStatus,
    RollingUpgradeProgress,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    UpgradeMode,
    batch_size,
    evolve,
)

IN_FLIGHT = frozenset({DomainState.UPGRADING, DomainState.VERIFYING, DomainState.ROLLING_BACK})


# ----------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class ImageFacts:
    """What Azure says about the declared image, gathered before planning."""

    marketplace_versions: tuple[str, ...] | None = None  # None: the offer/SKU is unknown in the location
    gallery_versions: tuple[GalleryVersion, ...] | None = None  # None: the gallery image does not exist
    managed_image_exists: bool | None = None


@dataclass(frozen=True)
class Observation:
    scale_set: ObservedScaleSet | None
    image: ImageFacts = ImageFacts()
    operation: OperationState | None = None  # the outcome so far of status.operation, if there is one
    rolling: RollingProgress | None = None
    azure_error: ErrorStatus | None = None  # observing failed (throttled, 5xx, denied)


# ---------------------------------------------------------------------------------------- outputs
@dataclass(frozen=True)
class UpdateModel:
    """Set the scale set model's image (guarded by the etag the model was read with)."""

    kind: OperationKind
    image_reference: dict[str, str] | None
    vhd_uri: str | None
    etag: str | None


@dataclass(frozen=True)
class UpgradeInstances:
    """One ``manualupgrade`` call for these instances of one domain."""

    domain: str
    instance_ids: tuple[str, ...]


Action = UpdateModel | UpgradeInstances


@dataclass(frozen=True)
class Event:
    reason: EventReason
    message: str
    warning: bool = False


@dataclass(frozen=True)
class Plan:
    status: ScaleSetImageStatus
    action: Action | None = None
    requeue_after: float | None = None
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class Timings:
    poll_interval: float = 10.0
    resync_interval: float = 300.0


# --------------------------------------------------------------------------------- image helpers
def version_key(version: str) -> tuple[int, ...]:
    """Numeric Major.Minor.Build order ("1.10.0" after "1.9.0")."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def resolve_image(image: ImageSource, facts: ImageFacts, location: str) -> ResolvedImageOrProblem:
    """Pin ``image`` to one exact version, or say in words an operator can act on why it cannot be."""
    if image.marketplace is not None:
        m = image.marketplace
        urn = f"{m.publisher}:{m.offer}:{m.sku}"
        versions = sorted(set(facts.marketplace_versions or ()), key=version_key)
        if not versions:
            return ImageProblem(
                f"Marketplace image {urn} has no versions in {location}. On Azure Stack Hub, download it in "
                "Marketplace management first."
            )
        if m.version == "latest":
            exact = versions[-1]
        elif m.version in versions:
            exact = m.version
        else:
            return ImageProblem(
                f"Marketplace image {urn} version {m.version} is not available in {location} (available: "
                f"{', '.join(versions[-5:])}). On Azure Stack Hub, download version {m.version} in Marketplace "
                "management."
            )
        pinned = MarketplaceImage(publisher=m.publisher, offer=m.offer, sku=m.sku, version=exact)
        return ImageSource(marketplace=pinned)
    if image.gallery_image_version_id is not None:
        image_id = image.gallery_image_version_id
        versions_in_region = [
            v for v in facts.gallery_versions or () if not v.regions or location.lower() in _regions(v)
        ]
        if facts.gallery_versions is None:
            return ImageProblem(f"Gallery image {image_id} does not exist or is not readable.")
        if image.is_pinned:
            wanted = image_id.rsplit("/", 1)[-1]
            if not any(v.name == wanted for v in facts.gallery_versions):
                return ImageProblem(f"Gallery image version {image_id} does not exist.")
            if not any(v.name == wanted for v in versions_in_region):
                return ImageProblem(f"Gallery image version {image_id} is not replicated to {location}.")
            return image
        candidates = [v.name for v in versions_in_region if not v.exclude_from_latest]
        if not candidates:
            return ImageProblem(f"Gallery image {image_id} has no version replicated to {location}.")
        return ImageSource(
            gallery_image_version_id=f"{image_id.rstrip('/')}/versions/{max(candidates, key=version_key)}"
        )
    if image.managed_image_id is not None:
        if not facts.managed_image_exists:
            return ImageProblem(f"Managed image {image.managed_image_id} does not exist.")
        return image
    return image  # a VHD URI is data for Azure; it is checked when the model is updated


def _regions(version: GalleryVersion) -> set[str]:
    return {r.lower().replace(" ", "") for r in version.regions}


@dataclass(frozen=True)
class ImageProblem:
    message: str


ResolvedImageOrProblem = ImageSource | ImageProblem


def model_image(image: ImageSource) -> tuple[dict[str, str] | None, str | None]:
    """The (imageReference, osDisk.image.uri) a scale set model carries for a resolved image."""
    if image.marketplace is not None:
        m = image.marketplace
        return {"publisher": m.publisher, "offer": m.offer, "sku": m.sku, "version": m.version}, None
    if image.gallery_image_version_id is not None:
        return {"id": image.gallery_image_version_id}, None
    if image.managed_image_id is not None:
        return {"id": image.managed_image_id}, None
    return None, image.vhd_uri


def image_from_model(observed: ObservedScaleSet) -> ImageSource | None:
    """The image the scale set model names now, as an :class:`ImageSource` (None if unrecognized)."""
    ref = observed.image_reference
    try:
        if observed.vhd_uri:
            return ImageSource(vhd_uri=observed.vhd_uri)
        if ref.get("publisher"):
            return ImageSource(
                marketplace=MarketplaceImage(
                    publisher=ref["publisher"],
                    offer=ref.get("offer", ""),
                    sku=ref.get("sku", ""),
                    version=ref.get("version", "latest"),
                )
            )
        image_id = ref.get("id", "")
        if "/galleries/" in image_id.lower():
            return ImageSource(gallery_image_version_id=image_id)
        if image_id:
            return ImageSource(managed_image_id=image_id)
    except ValueError:
        return None
    return None


def model_matches(observed: ObservedScaleSet, image: ImageSource) -> bool:
    reference, vhd = model_image(image)
    if vhd is not None:
        return (observed.vhd_uri or "") == vhd
    have = {k: v.lower() for k, v in observed.image_reference.items() if v}
    want = {k: v.lower() for k, v in (reference or {}).items()}
    return have == want


def same_declaration(declared: ImageSource, resolved: ImageSource) -> bool:
    """True when ``resolved`` is what ``declared`` meant (a 'latest' matches any exact version)."""
    if declared.marketplace is not None and resolved.marketplace is not None:
        d, r = declared.marketplace, resolved.marketplace
        same_sku = (d.publisher.lower(), d.offer.lower(), d.sku.lower()) == (
            r.publisher.lower(),
            r.offer.lower(),
            r.sku.lower(),
        )
        return same_sku and (d.version == "latest" or d.version == r.version)
    if declared.gallery_image_version_id is not None and resolved.gallery_image_version_id is not None:
        d_id, r_id = declared.gallery_image_version_id.lower(), resolved.gallery_image_version_id.lower()
        return d_id == r_id or (not declared.is_pinned and r_id.startswith(d_id.rstrip("/") + "/versions/"))
    return declared == resolved


# ------------------------------------------------------------------------------- instance verdicts
def _busy(inst: ObservedInstance) -> bool:
    return inst.provisioning in ("updating", "creating", "deleting")


def _verdict(inst: ObservedInstance, health_extension: bool, target_version: str | None = None) -> str:
    """pending | busy | healthy | unhealthy | settling for one instance against the current model.

    An instance that already runs the exact target version (Azure reports ``exactVersion`` for
    Marketplace images) is on the target even when a later model write cleared ``latestModelApplied``.
    """
    if _busy(inst):
        return "busy"
    if not inst.latest_model and not (target_version and inst.image_version == target_version):
        return "pending"  # failed instances on an older model included: the upgrade is their repair
    if inst.provisioning == "failed":
        return "unhealthy"
    if health_extension:
        if inst.health == "healthy":
            return "healthy"
        if inst.health == "unhealthy":
            return "unhealthy"
        return "settling"
    if inst.power == "running" and inst.provisioning == "succeeded":
        return "healthy"
    return "settling" if inst.power in ("starting", None) else "unhealthy"


# ---------------------------------------------------------------------------------- domain layout
def layout_domains(
    kind: DomainKind, batch: int | str | None, instances: Sequence[ObservedInstance]
) -> tuple[DomainKind, str | None, list[tuple[str, tuple[str, ...]]]]:
    """Group instances into ordered domains; fall back when update domains say nothing (all 0)."""
    reason = None
    if kind == DomainKind.UPDATE_DOMAIN and len(instances) > 1 and {i.update_domain for i in instances} == {0}:
        if len({i.fault_domain for i in instances}) > 1:
            kind = DomainKind.FAULT_DOMAIN
            reason = "every instance reports update domain 0 (Azure Stack Hub); walking fault domains instead"
        else:
            kind, batch = DomainKind.BATCH, batch or "20%"
            reason = "every instance reports update domain 0 and fault domain 0; walking batches instead"
    if kind == DomainKind.ZONE and not any(i.zone for i in instances):
        kind = DomainKind.UPDATE_DOMAIN
        reason = "the scale set has no availability zones; walking update domains instead"
    groups: dict[str, list[ObservedInstance]] = {}
    order: dict[str, tuple[int, str]] = {}
    if kind == DomainKind.BATCH:
        size = batch_size(batch if batch is not None else "20%", len(instances))
        ordered = sorted(instances, key=lambda i: (i.update_domain, i.fault_domain, _id_key(i.instance_id)))
        for index in range(0, len(ordered), max(1, size)):
            key = f"batch-{index // max(1, size)}"
            groups[key] = ordered[index : index + size]
            order[key] = (index, key)
    else:
        for inst in instances:
            if kind == DomainKind.FAULT_DOMAIN:
                key, rank = f"fd-{inst.fault_domain}", (inst.fault_domain, "")
            elif kind == DomainKind.ZONE:
                key, rank = f"zone-{inst.zone or 'none'}", (0, inst.zone or "")
            else:
                key, rank = f"ud-{inst.update_domain}", (inst.update_domain, "")
            groups.setdefault(key, []).append(inst)
            order[key] = rank
    domains = [
        (key, tuple(sorted((i.instance_id for i in groups[key]), key=_id_key)))
        for key in sorted(groups, key=lambda k: order[k])
    ]
    return kind, reason, domains


def _id_key(instance_id: str) -> tuple[int, str]:
    return (int(instance_id), "") if instance_id.isdigit() else (1 << 30, instance_id)


# -------------------------------------------------------------------------------------- the planner
@dataclass
class _Draft:
    """The status being built for this step, plus what the step decided."""

    status: ScaleSetImageStatus
    now: datetime
    generation: int
    events: list[Event] = dataclasses.field(default_factory=list)
    action: Action | None = None
    requeue: float | None = None

    def update(self, **changes: object) -> None:
        self.status = evolve(self.status, **changes)

    def event(self, reason: EventReason, message: str, *, warning: bool = False) -> None:
        self.events.append(Event(reason, message, warning))

    def condition(self, type_: ConditionType, status: bool | None, reason: Reason, message: str) -> None:
        value = ConditionStatus.UNKNOWN if status is None else ConditionStatus.TRUE if status else ConditionStatus.FALSE
        self.status = self.status.with_condition(
            Condition(
                type=type_,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=self.now,
                observed_generation=self.generation,
            )
        )

    def wait(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def set_domain(self, domain_id: str, **changes: object) -> None:
        self.update(
            domains=tuple(
                evolve(d, **changes) if d.id == domain_id else d
                for d in self.status.domains
            )
        )


def plan_next_step(
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    observation: Observation,
    *,
    now: datetime,
    generation: int,
    timings: Timings = Timings(),
) -> Plan:
    """Decide the next step of the rollout. Pure: same inputs, same plan."""
    draft = _Draft(status=status, now=now, generation=generation)
    _step(spec, observation, draft, timings)
    _summarize(draft)
    return Plan(draft.status, draft.action, draft.requeue, tuple(draft.events))


def _step(spec: ScaleSetImageSpec, obs: Observation, d: _Draft, t: Timings) -> None:
    if obs.azure_error is not None:
        d.update(last_error=obs.azure_error)
        d.wait(t.poll_interval)
        return
    observed = obs.scale_set
    if observed is None:
        d.condition(
            ConditionType.SCALE_SET_FOUND,
            False,
            Reason.SCALE_SET_NOT_FOUND,
            f"Scale set {spec.scale_set.name} not found in resource group {spec.scale_set.resource_group} "
            f"of subscription {spec.scale_set.subscription_id}.",
        )
        if d.status.condition(ConditionType.SCALE_SET_FOUND) and status_changed(d, ConditionType.SCALE_SET_FOUND):
            d.event(EventReason.SCALE_SET_NOT_FOUND, f"Scale set {spec.scale_set.name} not found.", warning=True)
        d.wait(t.resync_interval / 5)
        return
    d.condition(
        ConditionType.SCALE_SET_FOUND,
        True,
        Reason.SCALE_SET_EXISTS,
        f"Scale set {observed.ref.name} ({observed.capacity} instances, {observed.location}).",
    )
    _count_instances(d, observed)
    mode = observed.upgrade_mode
    d.update(upgrade_policy_mode=UpgradeMode(mode) if mode in ("Manual", "Automatic", "Rolling") else None)
    if mode == "Automatic":
        d.condition(
            ConditionType.UPGRADE_POLICY_COMPATIBLE,
            False,
            Reason.AUTOMATIC_UPGRADE_POLICY,
            "Upgrade policy Automatic would take every instance down at once when the model changes; set "
            "it to Manual (the operator walks domains) or Rolling.",
        )
        d.wait(t.resync_interval)
        return
    d.condition(
        ConditionType.UPGRADE_POLICY_COMPATIBLE,
        True,
        Reason.MANUAL_UPGRADE_POLICY if mode == "Manual" else Reason.ROLLING_UPGRADE_POLICY,
        f"Upgrade policy {mode}.",
    )

    # An operation in flight is followed to its end before anything else is decided.
    if d.status.operation is not None and not _follow_operation(spec, obs, d, t):
        return

    if d.status.rollback is not None and d.status.rollback.in_progress:
        _walk(spec, observed, d, t, rollback=True)
        return
    _retry_after_failure(d)

    # Which image: keep the pinned target unless the declaration changed (a new target waits for the
    # domain in flight to finish), or a settled 'latest' has a newer version now.
    resolved = resolve_image(spec.image, obs.image, observed.location)
    target = d.status.target
    in_flight = any(dom.state in IN_FLIGHT for dom in d.status.domains)
    declaration_changed = target is None or not same_declaration(spec.image, target.image)
    settled = d.status.phase in (Phase.SUCCEEDED, Phase.PENDING) or (
        d.status.phase == Phase.FAILED and d.status.observed_generation != d.generation
    )
    if isinstance(resolved, ImageProblem):
        if declaration_changed or target is None:
            d.condition(ConditionType.IMAGE_AVAILABLE, False, Reason.IMAGE_NOT_FOUND, resolved.message)
            if status_changed(d, ConditionType.IMAGE_AVAILABLE):
                d.event(EventReason.IMAGE_NOT_FOUND, resolved.message, warning=True)
            d.update(observed_generation=d.generation)
            d.wait(t.resync_interval / 5)
            return
    else:
        d.condition(
            ConditionType.IMAGE_AVAILABLE, True, Reason.IMAGE_FOUND, f"Image {resolved.summary()} is available."
        )
        newer = target is not None and resolved != target.image and settled
        if (declaration_changed or newer) and not in_flight:
            _start_rollout(spec, observed, d, resolved)
        elif declaration_changed and in_flight:
            d.event(EventReason.ROLLOUT_STARTED, "A new image was declared; the domain in flight finishes first.")
    d.update(observed_generation=d.generation)
    if d.status.target is None:
        return

    if mode == "Rolling":
        _follow_rolling(spec, observed, obs, d, t)
        return
    if not model_matches(observed, d.status.target.image):
        if d.status.phase == Phase.SUCCEEDED:
            d.event(
                EventReason.ROLLOUT_STARTED,
                "The scale set model was changed outside the operator; the declared image is put back.",
                warning=True,
            )
            _start_rollout(spec, observed, d, d.status.target.image)
        if d.status.phase == Phase.FAILED:
            return
        reference, vhd = model_image(d.status.target.image)
        d.action = UpdateModel(OperationKind.MODEL_UPDATE, reference, vhd, observed.etag)
        return
    if d.status.phase == Phase.FAILED:
        return
    _walk(spec, observed, d, t, rollback=False)


def _retry_after_failure(d: _Draft) -> None:
    """A failed rollout (not rolled back) is retried from its failed domain when the spec changes."""
    s = d.status
    if s.phase != Phase.FAILED or s.observed_generation == d.generation or s.rollback is not None:
        return
    if s.target is None:
        return
    d.update(
        phase=Phase.PROGRESSING,
        domains=tuple(
            evolve(dom, state=DomainState.PENDING, started_at=None, finished_at=None, message=None)
            if dom.state == DomainState.FAILED
            else dom
            for dom in s.domains
        ),
    )
    d.event(EventReason.ROLLOUT_RESUMED, "The spec changed; retrying the failed rollout from its failed domain.")


def status_changed(d: _Draft, type_: ConditionType) -> bool:
    cond = d.status.condition(type_)
    return cond is not None and cond.last_transition_time == d.now


def _count_instances(d: _Draft, observed: ObservedScaleSet) -> None:
    verdicts = [_verdict(i, observed.has_health_extension) for i in observed.instances]
    target = d.status.target
    if target is None:
        updated = 0
    elif target.image.marketplace is not None and not model_matches(observed, target.image):
        # The model names another image (a rollback, or drift): count what really runs the target.
        updated = sum(1 for i in observed.instances if i.image_version == target.image.marketplace.version)
    elif not model_matches(observed, target.image):
        updated = 0
    else:
        updated = sum(1 for i in observed.instances if i.latest_model and not _busy(i))
    d.update(
        instances=InstanceCounts(
            total=len(observed.instances),
            updated=updated,
            healthy=verdicts.count("healthy")
            + sum(
                1
                for i, v in zip(observed.instances, verdicts, strict=True)
                if v == "pending" and _healthy_old(i, observed)
            ),
            unhealthy=verdicts.count("unhealthy"),
        )
    )


def _healthy_old(inst: ObservedInstance, observed: ObservedScaleSet) -> bool:
    if observed.has_health_extension:
        return inst.health == "healthy"
    return inst.power == "running" and inst.provisioning == "succeeded"


def _start_rollout(spec: ScaleSetImageSpec, observed: ObservedScaleSet, d: _Draft, image: ImageSource) -> None:
    kind, reason, layout = layout_domains(spec.rollout.domain_kind, spec.rollout.batch_size, observed.instances)
    previous = image_from_model(observed)
    if previous is not None and previous == image:
        previous = d.status.previous_image
    d.update(
        target=ResolvedImage(image=image, generation=d.generation, resolved_at=d.now),
        previous_image=previous,
        domain_kind=kind,
        domain_kind_reason=reason,
        domains=tuple(DomainStatus(id=key, instance_ids=ids, state=DomainState.PENDING) for key, ids in layout),
        current_domain=None,
        phase=Phase.PROGRESSING,
        rollout_started_at=d.now,
        next_domain_at=None,
        rollback=None,
        last_error=None,
        rolling=None,
    )
    d.event(EventReason.IMAGE_RESOLVED, f"Target image {image.summary()}.")
    d.event(EventReason.ROLLOUT_STARTED, f"Rolling out {image.summary()} over {len(layout)} {kind} domains.")
    if reason:
        d.event(EventReason.DOMAIN_KIND_FALLBACK, reason.capitalize() + ".", warning=True)


def _follow_operation(spec: ScaleSetImageSpec, obs: Observation, d: _Draft, t: Timings) -> bool:
    """React to the outcome of the operation in flight; False while it still runs."""
    op = d.status.operation
    assert op is not None
    state = obs.operation
    if state is None or state.status == "InProgress":
        d.condition(
            ConditionType.RECONCILING,
            True,
            Reason.WAITING_FOR_AZURE_OPERATION,
            f"Waiting for Azure operation {op.kind} on {op.domain or 'the model'}.",
        )
        d.wait(t.poll_interval)
        return False
    d.update(operation=None)
    if state.status != "Succeeded":
        message = (
            f"Azure operation {op.kind} {state.status.lower()}: {state.error_code or ''} {state.error_message or ''}"
        )
        d.update(last_error=ErrorStatus(message=message.strip(), code=state.error_code, observed_at=d.now))
        d.event(EventReason.AZURE_OPERATION_FAILED, message.strip(), warning=True)
        if op.kind in (OperationKind.MODEL_UPDATE, OperationKind.ROLLBACK) and op.domain is None:
            _fail(spec, d, Reason.AZURE_ERROR, message.strip())
            return False
        # A failed manualupgrade is judged by the instances themselves: the domain is verified next.
    if op.domain is not None:
        domain = d.status.domain(op.domain)
        if domain is not None and domain.state in (DomainState.UPGRADING,):
            d.set_domain(op.domain, state=DomainState.VERIFYING)
    return True


def _next_domain(d: _Draft, rollback: bool) -> DomainStatus | None:
    if rollback:
        for dom in reversed(d.status.domains):
            if dom.state in (DomainState.ROLLING_BACK,):
                return dom
        for dom in reversed(d.status.domains):
            if dom.state in (DomainState.SUCCEEDED, DomainState.FAILED, DomainState.VERIFYING, DomainState.UPGRADING):
                return dom
        return None
    for dom in d.status.domains:
        if dom.state in IN_FLIGHT:
            return dom
    for dom in d.status.domains:
        if dom.state not in DOMAIN_DONE_STATES:
            return dom
    return None


def _walk(spec: ScaleSetImageSpec, observed: ObservedScaleSet, d: _Draft, t: Timings, *, rollback: bool) -> None:
    by_id = {i.instance_id: i for i in observed.instances}
    domain = _next_domain(d, rollback)
    if domain is None:
        _finish(d, rollback)
        return
    members = [by_id[i] for i in domain.instance_ids if i in by_id]
    image = (
        d.status.rollback.target
        if rollback and d.status.rollback
        else d.status.target.image
        if d.status.target
        else None
    )
    version = image.marketplace.version if image is not None and image.marketplace is not None else None
    verdicts = {i.instance_id: _verdict(i, observed.has_health_extension, version) for i in members}
    pending = tuple(i for i, v in verdicts.items() if v == "pending")
    starting = domain.state not in IN_FLIGHT

    if starting:
        if spec.rollout.paused and not rollback:
            if d.status.phase != Phase.PAUSED:
                d.event(EventReason.ROLLOUT_PAUSED, f"Paused before domain {domain.id}.")
            d.update(phase=Phase.PAUSED, current_domain=None)
            d.wait(t.resync_interval)
            return
        if d.status.phase == Phase.PAUSED:
            d.event(EventReason.ROLLOUT_RESUMED, f"Resumed at domain {domain.id}.")
            d.update(phase=Phase.PROGRESSING)
        if d.status.next_domain_at is not None and d.now < d.status.next_domain_at and not rollback:
            d.condition(
                ConditionType.RECONCILING, True, Reason.PAUSING_BETWEEN_DOMAINS, f"Pausing before domain {domain.id}."
            )
            d.wait(max(0.0, (d.status.next_domain_at - d.now).total_seconds()))
            return
        healthy_already = all(v == "healthy" for v in verdicts.values())
        if not pending and healthy_already and not rollback:
            d.set_domain(
                domain.id,
                state=DomainState.SKIPPED,
                started_at=d.now,
                finished_at=d.now,
                message="every instance already runs the target image and is healthy",
            )
            _walk(spec, observed, d, t, rollback=rollback)
            return
        state = DomainState.ROLLING_BACK if rollback else DomainState.UPGRADING
        d.set_domain(domain.id, state=state, started_at=d.now, finished_at=None, message=None)
        d.update(current_domain=domain.id, phase=Phase.PROGRESSING)
        if not pending:
            # On the target already but not (yet) healthy, or still busy: verify it like any other domain.
            _walk(spec, observed, d, t, rollback=rollback)
            return
        d.action = UpgradeInstances(domain.id, pending)
        verb = "Rolling back" if rollback else "Upgrading"
        d.event(EventReason.DOMAIN_STARTED, f"{verb} domain {domain.id}: instances {', '.join(pending)}.")
        return

    # In flight: upgrading with no operation recorded (a restart between the call and the status write),
    # or verifying. Instances still on the old model and idle get one more manualupgrade.
    d.update(current_domain=domain.id)
    if pending and not any(v == "busy" for v in verdicts.values()) and d.status.operation is None:
        d.action = UpgradeInstances(domain.id, pending)
        return
    unhealthy = [i for i, v in verdicts.items() if v == "unhealthy"]
    waiting = [i for i, v in verdicts.items() if v in ("busy", "settling", "pending")]
    budget = spec.rollout.unhealthy_budget(len(observed.instances))
    # The budget is for the whole scale set: every instance already on the target that is unhealthy
    # counts, whichever domain it is in (a per-domain count let a bad image through domain after domain).
    on_target = [
        i.instance_id
        for i in observed.instances
        if (i.latest_model or (version is not None and i.image_version == version))
        and _verdict(i, observed.has_health_extension, version) == "unhealthy"
    ]
    all_bad = bool(members) and len(unhealthy) == len(members)
    if len(on_target) > budget or all_bad:
        why = (
            f"every instance of domain {domain.id} is unhealthy after the upgrade ({', '.join(unhealthy)})"
            if all_bad
            else f"{len(on_target)} instance(s) on the new image are unhealthy ({', '.join(on_target)}); "
            f"at most {budget} allowed"
        )
        _domain_failed(spec, d, domain, Reason.TOO_MANY_UNHEALTHY_INSTANCES, why + ".", rollback)
        return
    started = domain.started_at or d.now
    if waiting:
        elapsed = (d.now - started).total_seconds()
        if elapsed > spec.rollout.domain_timeout_seconds:
            _domain_failed(
                spec,
                d,
                domain,
                Reason.DOMAIN_TIMED_OUT,
                f"Domain {domain.id} did not become healthy within {spec.rollout.domain_timeout} "
                f"(waiting on {', '.join(waiting)}).",
                rollback,
            )
            return
        d.set_domain(domain.id, state=DomainState.ROLLING_BACK if rollback else DomainState.VERIFYING)
        d.condition(
            ConditionType.RECONCILING,
            True,
            Reason.VERIFYING_DOMAIN,
            f"Waiting for domain {domain.id} to be healthy ({len(waiting)} instance(s) not yet).",
        )
        d.wait(t.poll_interval)
        return
    done_state = DomainState.ROLLED_BACK if rollback else DomainState.SUCCEEDED
    d.set_domain(
        domain.id,
        state=done_state,
        finished_at=d.now,
        message=f"{len(unhealthy)} unhealthy within budget" if unhealthy else None,
    )
    d.event(
        EventReason.DOMAIN_SUCCEEDED, f"Domain {domain.id} {'rolled back' if rollback else 'upgraded'} and healthy."
    )
    pause = spec.rollout.pause_between_domains_seconds
    d.update(current_domain=None, next_domain_at=d.now + timedelta(seconds=pause) if pause and not rollback else None)
    # A new declaration waits for the domain in flight; it is taken up on the next pass.
    target = d.status.target
    if not rollback and target is not None and not same_declaration(spec.image, target.image):
        d.update(phase=Phase.PENDING)
        d.wait(0.0)
        return
    if pause and not rollback:
        d.wait(pause)
    else:
        d.wait(0.0)


def _domain_failed(
    spec: ScaleSetImageSpec, d: _Draft, domain: DomainStatus, reason: Reason, message: str, rollback: bool
) -> None:
    d.set_domain(domain.id, state=DomainState.FAILED, finished_at=d.now, message=message)
    d.event(
        EventReason.DOMAIN_TIMED_OUT if reason == Reason.DOMAIN_TIMED_OUT else EventReason.DOMAIN_FAILED,
        message,
        warning=True,
    )
    if rollback:
        rb = d.status.rollback
        d.update(
            rollback=evolve(rb, in_progress=False, finished_at=d.now, message=message) if rb else None,
            phase=Phase.FAILED,
            current_domain=None,
        )
        d.event(EventReason.ROLLBACK_FAILED, message, warning=True)
        d.condition(ConditionType.STALLED, True, Reason.ROLLBACK_FAILED, message)
        return
    _fail(spec, d, reason, message)


def _fail(spec: ScaleSetImageSpec, d: _Draft, reason: Reason, message: str) -> None:
    d.update(last_error=ErrorStatus(message=message, observed_at=d.now), current_domain=None)
    previous = d.status.previous_image
    if spec.rollout.on_failure == OnFailure.ROLLBACK and previous is not None and d.status.rollback is None:
        d.update(
            rollback=RollbackStatus(
                in_progress=True, target=previous, reason=str(reason), started_at=d.now, message=message
            ),
            phase=Phase.PROGRESSING,
        )
        d.event(EventReason.ROLLBACK_STARTED, f"Rolling back to {previous.summary()}: {message}", warning=True)
        reference, vhd = model_image(previous)
        d.action = UpdateModel(OperationKind.ROLLBACK, reference, vhd, None)
        return
    d.update(phase=Phase.FAILED)
    d.condition(ConditionType.STALLED, True, reason, message)
    d.event(EventReason.ROLLOUT_FAILED, message, warning=True)


def _finish(d: _Draft, rollback: bool) -> None:
    if rollback:
        rb = d.status.rollback
        d.update(
            rollback=evolve(rb, in_progress=False, finished_at=d.now) if rb else None,
            phase=Phase.FAILED,
            current_domain=None,
        )
        d.event(EventReason.ROLLBACK_SUCCEEDED, "Rolled back to the previous image.")
        d.condition(ConditionType.STALLED, True, Reason.ROLLED_BACK, "The rollout failed and was rolled back.")
        return
    if d.status.phase != Phase.SUCCEEDED:
        target = d.status.target
        d.event(
            EventReason.ROLLOUT_SUCCEEDED, f"Every domain runs {target.image.summary() if target else 'the image'}."
        )
        d.update(last_succeeded_at=d.now)
    d.update(phase=Phase.SUCCEEDED, current_domain=None, next_domain_at=None)


def _follow_rolling(
    spec: ScaleSetImageSpec, observed: ObservedScaleSet, obs: Observation, d: _Draft, t: Timings
) -> None:
    """Upgrade policy Rolling: change the model; Azure walks the batches; report its progress."""
    assert d.status.target is not None
    if not model_matches(observed, d.status.target.image):
        if d.status.phase != Phase.FAILED:
            reference, vhd = model_image(d.status.target.image)
            d.action = UpdateModel(OperationKind.MODEL_UPDATE, reference, vhd, observed.etag)
        return
    progress = obs.rolling
    by_id = {i.instance_id: i for i in observed.instances}
    domains = []
    for dom in d.status.domains:
        members = [by_id[i] for i in dom.instance_ids if i in by_id]
        verdicts = [_verdict(i, observed.has_health_extension) for i in members]
        if all(v == "healthy" for v in verdicts):
            state = DomainState.SUCCEEDED
        elif any(v in ("busy", "settling") for v in verdicts):
            state = DomainState.UPGRADING
        elif any(v == "unhealthy" for v in verdicts):
            state = DomainState.FAILED
        else:
            state = DomainState.PENDING
        domains.append(evolve(dom, state=state))
    d.update(domains=tuple(domains))
    if progress is not None:
        d.update(
            rolling=RollingUpgradeProgress(
                code=progress.code,
                successful_instances=progress.successful,
                failed_instances=progress.failed,
                in_progress_instances=progress.in_progress,
                pending_instances=progress.pending,
                message=progress.error_message,
            )
        )
        if progress.code in ("Faulted", "Cancelled"):
            if d.status.phase != Phase.FAILED:
                _fail(
                    spec,
                    d,
                    Reason.ROLLOUT_FAILED,
                    f"Azure's rolling upgrade {progress.code.lower()}: {progress.error_message or ''}".strip(),
                )
            return
    if all(dom.state == DomainState.SUCCEEDED for dom in domains) and (
        progress is None or progress.code == "Completed"
    ):
        _finish(d, rollback=False)
        return
    d.update(phase=Phase.PROGRESSING)
    d.wait(t.poll_interval)


def _summarize(d: _Draft) -> None:
    """Ready / Reconciling / Stalled in one place, from the phase and the other conditions (kstatus)."""
    s = d.status
    blocking = [
        c
        for c in s.conditions
        if c.type
        in (ConditionType.SCALE_SET_FOUND, ConditionType.IMAGE_AVAILABLE, ConditionType.UPGRADE_POLICY_COMPATIBLE)
        and c.status == ConditionStatus.FALSE
    ]
    if blocking:
        first = blocking[0]
        d.condition(ConditionType.READY, False, Reason(first.reason), first.message)
        d.condition(ConditionType.STALLED, True, Reason(first.reason), first.message)
        d.condition(ConditionType.RECONCILING, False, Reason(first.reason), "Blocked; see Stalled.")
        return
    if s.phase == Phase.SUCCEEDED:
        summary = s.target.image.summary() if s.target else "the image"
        d.condition(ConditionType.READY, True, Reason.ROLLOUT_SUCCEEDED, f"Every domain runs {summary}.")
        d.condition(ConditionType.RECONCILING, False, Reason.ROLLOUT_SUCCEEDED, "Nothing to do.")
        d.condition(ConditionType.STALLED, False, Reason.ROLLOUT_SUCCEEDED, "Not stalled.")
        return
    if s.phase == Phase.FAILED:
        stalled = s.condition(ConditionType.STALLED)
        message = stalled.message if stalled and stalled.status == ConditionStatus.TRUE else "The rollout failed."
        reason = Reason(stalled.reason) if stalled and stalled.status == ConditionStatus.TRUE else Reason.ROLLOUT_FAILED
        d.condition(ConditionType.READY, False, reason, message)
        d.condition(ConditionType.RECONCILING, False, reason, "Stopped; see Stalled.")
        d.condition(ConditionType.STALLED, True, reason, message)
        return
    if s.phase == Phase.PAUSED:
        d.condition(ConditionType.READY, False, Reason.PAUSED_BY_USER, "Paused by spec.rollout.paused.")
        d.condition(ConditionType.RECONCILING, False, Reason.PAUSED_BY_USER, "Paused by spec.rollout.paused.")
        d.condition(ConditionType.STALLED, False, Reason.PAUSED_BY_USER, "Paused, not stalled.")
        return
    current = s.current_domain
    message = f"Domain {current} of {s.domain_progress}." if current else f"{s.domain_progress} domains done."
    reconciling = s.condition(ConditionType.RECONCILING)
    if reconciling is None or reconciling.last_transition_time != d.now or reconciling.status != ConditionStatus.TRUE:
        d.condition(ConditionType.RECONCILING, True, Reason.ROLLOUT_IN_PROGRESS, message)
    d.condition(ConditionType.READY, False, Reason.ROLLOUT_IN_PROGRESS, message)
    d.condition(ConditionType.STALLED, False, Reason.ROLLOUT_IN_PROGRESS, "Making progress.")


def record_operation(
    status: ScaleSetImageStatus, action: Action, token: str, now: datetime, *, operation_id: str | None = None
) -> ScaleSetImageStatus:
    """The status after ``action`` was started in Azure: the operation is in flight under ``token``.

    ``operation_id`` is Azure's id of the operation, read from the token by the Azure side.
    """
    if isinstance(action, UpgradeInstances):
        op = Operation(
            kind=OperationKind.MANUAL_UPGRADE,
            id=operation_id,
            domain=action.domain,
            instance_ids=action.instance_ids,
            started_at=now,
            continuation_token=token,
        )
    else:
        op = Operation(kind=action.kind, id=operation_id, started_at=now, continuation_token=token)
    return evolve(status, operation=op)
