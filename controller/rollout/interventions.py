"""What a person asks of a rollout beyond ``paused``: abort it now, or retry it after a failure.

Both are spec fields (``spec.rollout.abort``, ``spec.rollout.retryToken``), so a person, a GitOps tool or
``kubectl ssi`` asks for them without ever writing ``.status``; the planner records what it acted on.

- **abort**: a rollout under way stops as soon as the Azure operation in flight (if any) has ended: the
  domain in progress counts as failed and ``onFailure`` decides what follows, exactly as for a domain that
  failed by itself (Pause: phase Failed, Stalled=True reason Aborted; Rollback: the previous image is put
  back and the upgraded domains are walked back). While abort stays true nothing starts: no domain, no new
  rollout for a changed image (Stalled=True says why), no retry.
- **retry**: a failed rollout goes again with the same pinned image. A rollout stopped with onFailure
  Pause resumes from its failed domain on any spec change (the planner always did so; clearing abort is
  one); after a rollback, or a failed rollback, only a new ``retryToken`` starts it again, from the start.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.config import Timings
from controller.observed import ObservedScaleSet
from controller.resource import (
    DomainState,
    EventReason,
    ImageSource,
    Phase,
    Reason,
    ScaleSetImageSpec,
    evolve,
)
from controller.rollout.draft import IN_FLIGHT, Draft
from controller.rollout.failure import fail
from controller.rollout.health import Verdict, verdict
from controller.rollout.images import same_declaration
from controller.rollout.listing import deferred_until

RETRY_HINT = "set spec.rollout.abort to false and change spec.rollout.retryToken (kubectl ssi retry does both)"


def under_way(d: Draft) -> bool:
    """A rollout has a target and has not ended (Progressing, Paused, or Pending behind a new declaration)."""
    return d.status.target is not None and d.status.phase not in (Phase.SUCCEEDED, Phase.FAILED)


def hold_aborted(spec: ScaleSetImageSpec, observed: ObservedScaleSet, d: Draft, t: Timings) -> None:
    """``spec.rollout.abort`` is true: stop a rollout under way (onFailure decides what follows); start nothing."""
    d.update(observed_generation=d.generation)
    s = d.status
    if under_way(d) and s.rollback is None:
        _judge_paused_domain(spec, observed, d)
        s = d.status
        in_flight = [dom.id for dom in s.domains if dom.state in IN_FLIGHT]
        message = "Aborted by spec.rollout.abort" + (f" during domain {in_flight[0]}" if in_flight else "") + "."
        for domain_id in in_flight:
            d.set_domain(domain_id, state=DomainState.FAILED, finished_at=d.now, message=message)
        d.event(EventReason.ROLLOUT_ABORTED, message, warning=True)
        fail(spec, d, Reason.ABORTED, message)
        return
    waiting = s.target is None or not same_declaration(spec.image, s.target.image)
    if waiting:
        d.held = f"A rollout of {spec.image.summary()} waits: spec.rollout.abort is true; to go on, {RETRY_HINT}."
    d.wait(t.resync_interval)


def _judge_paused_domain(spec: ScaleSetImageSpec, observed: ObservedScaleSet, d: Draft) -> None:
    """A domain whose upgrade has ended and that waits for the pause to be judged (``listing``) is judged now:
    an abort between domains does not fail a domain that is done and healthy (the instances were listed for
    this pass: the abort changed the spec)."""
    target = d.status.target
    by_id = {i.instance_id: i for i in observed.instances}
    for dom in d.status.domains:
        if target is None or deferred_until(spec, d.status, dom) is None:
            continue
        members = [by_id.get(i) for i in dom.instance_ids]
        if all(
            i is not None and verdict(i, observed.has_health_extension, target.image) == Verdict.HEALTHY
            for i in members
        ):
            d.set_domain(dom.id, state=DomainState.SUCCEEDED, finished_at=d.now)
            d.update(current_domain=None, next_domain_at=None)
            d.event(EventReason.DOMAIN_SUCCEEDED, f"Domain {dom.id} upgraded and healthy.")


def retry_after_failure(spec: ScaleSetImageSpec, d: Draft, restart: Callable[[ImageSource], None]) -> None:
    """Go again after a failure when asked: from the failed domain, or from the start after a rollback."""
    s = d.status
    token = spec.rollout.retry_token
    asked = token != s.retry_token
    if asked:
        d.update(retry_token=token)
    if s.phase != Phase.FAILED or s.target is None:
        return
    if s.rollback is not None:
        if asked:
            d.event(
                EventReason.ROLLOUT_RESUMED,
                f"spec.rollout.retryToken changed; rolling out {s.target.image.summary()} again from the start.",
            )
            restart(s.target.image)
        return
    if s.observed_generation == d.generation and not asked:
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
