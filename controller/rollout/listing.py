"""When a pass needs the instances listed, pure: one instance listing per domain boundary, pause or not.

Listing a scale set's instances is the read that Azure throttles hardest (Compute's high-cost GET, a
page per 100 instances), so a pass lists them only when the walk will judge them. With
``pauseBetweenDomains``, a domain is judged once, on a listing taken when the pause is over (the kopf side
starts it ahead of the end by the last listing's duration, so that it ends then, and decides only once the
pause is over: ``operator.reconcile.ahead_of_pause``):

- when a domain's manualupgrade ends, the pause starts (``status.nextDomainAt``, the domain still
  ``Verifying``); that pass does not list the instances, since nothing is decided on them before the pause
  is over;
- when it is over, one listing shows whether the domain is healthy: if it is, the domain succeeds and the
  next one starts in the same pass (the pause has been served); if it is not yet, it is verified as usual
  and, once healthy, paused for again in full (so a domain that takes longer than the pause to become
  healthy still gets the whole pause after it is seen healthy);
- after the last domain there is no pause: the pass that sees the operation end lists and judges at once.

A domain with ``spec.rollout.analysis`` is judged when its upgrade ends, as before: its analysis starts
from health, and the pause runs alongside it. While the walk waits only for time (a pause, an analysis
round not yet measured), passes do not list either. The kopf side asks :func:`listing_needed` before it
reads Azure, and the planner asks it again on what it was given: instances from an earlier pass are never
judged (the plan then asks for a listing instead).
"""

from __future__ import annotations

from datetime import datetime

from controller.observed import OperationState
from controller.resource import (
    DOMAIN_DONE_STATES,
    AnalysisPhase,
    DomainState,
    DomainStatus,
    OperationKind,
    Phase,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    UpgradeMode,
)
from controller.rollout.draft import IN_FLIGHT


def judged_after_pause(spec: ScaleSetImageSpec, status: ScaleSetImageStatus, domain_id: str) -> bool:
    """Whether domain ``domain_id``, whose upgrade just ended, is judged on a listing after the pause."""
    if spec.rollout.pause_between_domains_seconds <= 0 or spec.rollout.analysis is not None:
        return False
    if status.rollback is not None and status.rollback.in_progress:
        return False
    ids = [dom.id for dom in status.domains]
    if domain_id not in ids:
        return False
    later = status.domains[ids.index(domain_id) + 1 :]
    return any(dom.state not in DOMAIN_DONE_STATES for dom in later)  # never a pause after the last domain


def deferred_until(spec: ScaleSetImageSpec, status: ScaleSetImageStatus, domain: DomainStatus) -> datetime | None:
    """The end of the pause that domain ``domain`` (Verifying, its upgrade over) is judged after, if any.

    Set when its upgrade ended (``nextDomainAt`` later than the domain's start: a pause left from the
    boundary before always ends before the domain starts). Dropped when the spec no longer has a pause.
    """
    until = status.next_domain_at
    if (
        until is None
        or domain.state != DomainState.VERIFYING
        or status.operation is not None
        or domain.started_at is None
        or until <= domain.started_at
        or spec.rollout.pause_between_domains_seconds <= 0
    ):
        return None
    return until


def listing_needed(
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    *,
    now: datetime,
    generation: int,
    operation: OperationState | None = None,
) -> bool:
    """Whether this pass must list the instances, given ``operation``, the outcome of ``status.operation``.

    False only where the walk waits for time alone on a spec it has already seen: a domain's upgrade has
    just ended and its pause starts; the pause after an upgrade is not over; the pause after a domain that
    succeeded is not over; the analysis of the domain that succeeded last is still measuring.
    """
    if (
        status.phase != Phase.PROGRESSING
        or status.target is None
        or status.observed_generation != generation
        or status.upgrade_policy_mode != UpgradeMode.MANUAL
        or spec.rollout.abort
        or spec.rollout.paused
        or (status.rollback is not None and status.rollback.in_progress)
    ):
        return True
    op = status.operation
    if op is not None:
        domain = status.domain(op.domain) if op.domain is not None else None
        return not (
            operation is not None
            and operation.status == "Succeeded"
            and op.kind == OperationKind.MANUAL_UPGRADE
            and domain is not None
            and domain.state == DomainState.UPGRADING
            and judged_after_pause(spec, status, domain.id)
        )
    in_flight = [dom for dom in status.domains if dom.state in IN_FLIGHT]
    if in_flight:
        until = deferred_until(spec, status, in_flight[0])
        return until is None or until <= now
    analysis = status.analysis
    if spec.rollout.analysis is not None and analysis is not None and analysis.phase == AnalysisPhase.RUNNING:
        analysed = status.domain(analysis.domain)
        if analysed is not None and analysed.state == DomainState.SUCCEEDED:
            return False
    return status.next_domain_at is None or status.next_domain_at <= now


def write_likely(
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    *,
    now: datetime,
    generation: int,
    operation: OperationState | None = None,
) -> bool:
    """Whether the listing of this pass is likely followed by the next domain's manualupgrade: its upgrade has
    just ended with no pause to serve, or the pause it was judged after is over. Only a hint for reading the
    model alongside the instances (``observe``); the planner decides on what was read, whatever this said."""
    if (
        status.phase != Phase.PROGRESSING
        or status.target is None
        or status.observed_generation != generation
        or status.upgrade_policy_mode != UpgradeMode.MANUAL
        or spec.rollout.abort
        or spec.rollout.paused
        or (status.rollback is not None and status.rollback.in_progress)
    ):
        return False
    op = status.operation
    if op is not None:
        domain = status.domain(op.domain) if op.domain is not None else None
        return (
            operation is not None
            and operation.status == "Succeeded"
            and op.kind == OperationKind.MANUAL_UPGRADE
            and domain is not None
            and domain.state == DomainState.UPGRADING
            and spec.rollout.analysis is None
            and not judged_after_pause(spec, status, domain.id)
            and _pending_after(status, domain.id)
        )
    in_flight = [dom for dom in status.domains if dom.state in IN_FLIGHT]
    if in_flight:
        until = deferred_until(spec, status, in_flight[0])
        return until is not None and until <= now and _pending_after(status, in_flight[0].id)
    return False


def _pending_after(status: ScaleSetImageStatus, domain_id: str) -> bool:
    ids = [dom.id for dom in status.domains]
    return domain_id in ids and any(
        dom.state not in DOMAIN_DONE_STATES for dom in status.domains[ids.index(domain_id) + 1 :]
    )
