"""Upgrade policy Rolling: Azure walks the batches; the operator changes the model and reports progress."""

from __future__ import annotations

from controller.config import Timings
from controller.observed import (
    Observation,
    ObservedScaleSet,
)
from controller.resource import (
    DomainState,
    OperationKind,
    Phase,
    Reason,
    RollingUpgradeProgress,
    ScaleSetImageSpec,
    evolve,
)
from controller.rollout.actions import UpdateModel
from controller.rollout.draft import Draft
from controller.rollout.failure import fail
from controller.rollout.health import Verdict, verdict
from controller.rollout.images import model_image, model_matches
from controller.rollout.walk import finish


def follow_rolling(spec: ScaleSetImageSpec, observed: ObservedScaleSet, obs: Observation, d: Draft, t: Timings) -> None:
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
        verdicts = [verdict(i, observed.has_health_extension, d.status.target.image) for i in members]
        if all(v == Verdict.HEALTHY for v in verdicts):
            state = DomainState.SUCCEEDED
        elif any(v in (Verdict.BUSY, Verdict.SETTLING) for v in verdicts):
            state = DomainState.UPGRADING
        elif any(v == Verdict.UNHEALTHY for v in verdicts):
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
                fail(
                    spec,
                    d,
                    Reason.ROLLOUT_FAILED,
                    f"Azure's rolling upgrade {progress.code.lower()}: {progress.error_message or ''}".strip(),
                )
            return
    if all(dom.state == DomainState.SUCCEEDED for dom in domains) and (
        progress is None or progress.code == "Completed"
    ):
        finish(d, rollback=False)
        return
    d.update(phase=Phase.PROGRESSING)
    d.wait(t.poll_interval)
