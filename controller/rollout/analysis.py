"""Analysis between domains, pure: start it, judge a round of measurements, hold the walk on its verdict.

After a domain is healthy, ``spec.rollout.analysis`` measures its queries ``count`` times, ``interval``
apart. The kopf side asks Prometheus when a round is due (``measurement_due``), hands the results to
``record_round``, and writes the status; the walk asks ``hold_for_analysis`` before the next domain (or
the end of the rollout) and gets: go on, wait, pause (inconclusive) or fail (``onFailure``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.config import Timings
from controller.resource import (
    MAX_MEASUREMENTS,
    AnalysisPhase,
    AnalysisQuery,
    AnalysisSpec,
    AnalysisStatus,
    ConditionType,
    DomainState,
    EventReason,
    Measurement,
    MeasurementPhase,
    OrchestrationMode,
    Phase,
    Reason,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    evolve,
    parse_condition,
)
from controller.rollout.actions import Event
from controller.rollout.draft import Draft
from controller.rollout.failure import fail

_SAMPLES_SHOWN = 4


@dataclass(frozen=True)
class QueryResult:
    """What Prometheus answered for one query: the sample values, or why there are none."""

    query: str
    values: tuple[float, ...] = ()
    error: str | None = None


def start_analysis(spec: ScaleSetImageSpec, d: Draft, domain_id: str) -> None:
    """Domain ``domain_id`` is healthy: its analysis begins (the first round after ``initialDelay``)."""
    analysis = spec.rollout.analysis
    if analysis is None:
        return
    d.update(
        analysis=AnalysisStatus(
            domain=domain_id,
            phase=AnalysisPhase.RUNNING,
            started_at=d.now,
            next_measurement_at=d.now + timedelta(seconds=analysis.initial_delay_seconds),
            retry_token=spec.rollout.retry_token,
        )
    )
    d.event(
        EventReason.ANALYSIS_STARTED,
        f"Analysing domain {domain_id}: {analysis.count} round(s) of {len(analysis.queries)} query(ies), "
        f"{analysis.interval} apart.",
    )
    d.wait(analysis.initial_delay_seconds)


def measurement_due(spec: ScaleSetImageSpec, status: ScaleSetImageStatus, now: datetime) -> bool:
    """Whether a round of measurements should be taken now."""
    a = status.analysis
    if spec.rollout.analysis is None or a is None or a.phase != AnalysisPhase.RUNNING:
        return False
    domain = status.domain(a.domain)
    if domain is None or domain.state != DomainState.SUCCEEDED or status.phase != Phase.PROGRESSING:
        return False
    return a.next_measurement_at is None or a.next_measurement_at <= now


def template_values(spec: ScaleSetImageSpec, status: ScaleSetImageStatus, namespace: str, name: str) -> dict[str, str]:
    """The template variables of the domain under analysis."""
    a = status.analysis
    domain = status.domain(a.domain) if a is not None else None
    ids = domain.instance_ids if domain is not None else ()
    flexible = status.orchestration_mode == OrchestrationMode.FLEXIBLE
    names = ids if flexible else tuple(f"{spec.scale_set.name}_{i}" for i in ids)
    return {
        "domain": domain.id if domain is not None else "",
        "instanceIds": "|".join(_regex_literal(i) for i in ids),
        "instanceNames": "|".join(_regex_literal(n) for n in names),
        "scaleSet": spec.scale_set.name,
        "resourceGroup": spec.scale_set.resource_group,
        "namespace": namespace,
        "name": name,
    }


def _regex_literal(text: str) -> str:
    # Ids and names are letters, digits, '_', '-' and '.'; in a PromQL string a regex escape needs '\\'.
    return text.replace(".", "\\\\.")


_VARIABLE = re.compile(r"\{\{\s*([A-Za-z]+)\s*\}\}")


def render(query: AnalysisQuery, values: dict[str, str]) -> str:
    """The query with its template variables replaced (an unknown variable is left as it is)."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), query.query)


def judge(query: AnalysisQuery, result: QueryResult) -> tuple[MeasurementPhase, str | None]:
    """One query's verdict: Failed if any sample meets failureCondition; Successful if every sample meets
    successCondition (or, without one, none failed); else Inconclusive; Error when Prometheus failed."""
    if result.error is not None:
        return MeasurementPhase.ERROR, result.error
    if not result.values:
        return MeasurementPhase.INCONCLUSIVE, "the query returned no samples"
    if any(math.isnan(v) for v in result.values):
        return MeasurementPhase.INCONCLUSIVE, "the query returned NaN"
    if query.failure_condition is not None:
        failed = parse_condition(query.failure_condition)
        if any(failed(v) for v in result.values):
            return MeasurementPhase.FAILED, f"{query.failure_condition} holds"
    if query.success_condition is not None:
        succeeded = parse_condition(query.success_condition)
        if all(succeeded(v) for v in result.values):
            return MeasurementPhase.SUCCESSFUL, None
        return MeasurementPhase.INCONCLUSIVE, f"{query.success_condition} does not hold for every sample"
    return MeasurementPhase.SUCCESSFUL, None


def _shown(values: Sequence[float]) -> str:
    text = ",".join(f"{v:.6g}" for v in values[:_SAMPLES_SHOWN])
    return text + (",..." if len(values) > _SAMPLES_SHOWN else "")


def record_round(
    analysis: AnalysisSpec, status: AnalysisStatus, results: Sequence[QueryResult], now: datetime
) -> tuple[AnalysisStatus, list[Event]]:
    """The analysis after one round of ``results`` (one per query), and the events that say so."""
    by_name = {r.query: r for r in results}
    round_ = status.rounds + 1
    measurements = []
    for query in analysis.queries:
        result = by_name.get(query.name) or QueryResult(query.name, error="not measured")
        outcome, why = judge(query, result)
        measurements.append(
            Measurement(
                round=round_,
                query=query.name,
                phase=outcome,
                value=_shown(result.values) if result.values else None,
                measured_at=now,
                message=why[:1024] if why else None,
            )
        )
    phases = {m.phase for m in measurements}
    if MeasurementPhase.FAILED in phases:
        verdict = MeasurementPhase.FAILED
    elif phases & {MeasurementPhase.INCONCLUSIVE, MeasurementPhase.ERROR}:
        verdict = MeasurementPhase.INCONCLUSIVE
    else:
        verdict = MeasurementPhase.SUCCESSFUL
    failed = status.failed + (verdict == MeasurementPhase.FAILED)
    inconclusive = status.inconclusive + (verdict == MeasurementPhase.INCONCLUSIVE)
    successful = status.successful + (verdict == MeasurementPhase.SUCCESSFUL)
    words = "; ".join(
        f"{m.query}={m.value if m.value is not None else '-'} {m.phase}" + (f" ({m.message})" if m.message else "")
        for m in measurements
    )
    events = [
        Event(
            EventReason.ANALYSIS_MEASURED,
            f"Domain {status.domain}, round {round_}/{analysis.count}: {words}.",
            warning=verdict != MeasurementPhase.SUCCESSFUL,
        )
    ]
    phase = AnalysisPhase.RUNNING
    message = f"Round {round_} of {analysis.count}: {verdict}."
    if failed > analysis.failure_limit:
        phase = AnalysisPhase.FAILED
        message = (
            f"Analysis of domain {status.domain} failed: {failed} failed round(s), more than failureLimit "
            f"{analysis.failure_limit} ({words})."
        )
        events.append(Event(EventReason.ANALYSIS_FAILED, message, warning=True))
    elif inconclusive > analysis.inconclusive_limit:
        phase = AnalysisPhase.INCONCLUSIVE
        message = (
            f"Analysis of domain {status.domain} is inconclusive: {inconclusive} inconclusive round(s), more "
            f"than inconclusiveLimit {analysis.inconclusive_limit} ({words}). Change spec.rollout.retryToken "
            "(kubectl ssi retry) to analyse again."
        )
        events.append(Event(EventReason.ANALYSIS_INCONCLUSIVE, message, warning=True))
    elif round_ >= analysis.count:
        phase = AnalysisPhase.SUCCESSFUL
        message = f"Analysis of domain {status.domain} succeeded: {successful} of {round_} round(s) successful."
        events.append(Event(EventReason.ANALYSIS_SUCCEEDED, message))
    kept = (*status.measurements, *measurements)[-MAX_MEASUREMENTS:]
    return (
        evolve(
            status,
            phase=phase,
            rounds=round_,
            successful=successful,
            failed=failed,
            inconclusive=inconclusive,
            measurements=kept,
            message=message[:2048],
            next_measurement_at=now + timedelta(seconds=analysis.interval_seconds)
            if phase == AnalysisPhase.RUNNING
            else None,
        ),
        events,
    )


def hold_for_analysis(spec: ScaleSetImageSpec, d: Draft, t: Timings) -> bool:
    """Whether the walk must stop here for the analysis of the domain that succeeded last (True: stop)."""
    analysis = spec.rollout.analysis
    a = d.status.analysis
    if analysis is None or a is None:
        return False
    domain = d.status.domain(a.domain)
    if domain is None or domain.state != DomainState.SUCCEEDED:
        return False  # retried or replaced since: nothing of it holds the walk
    if a.phase == AnalysisPhase.SUCCESSFUL:
        return False
    if a.phase == AnalysisPhase.RUNNING:
        due = a.next_measurement_at or d.now
        d.condition(
            ConditionType.RECONCILING,
            True,
            Reason.ANALYSIS_RUNNING,
            f"Analysing domain {a.domain}: {a.rounds} of {analysis.count} round(s) measured; next at "
            f"{due.isoformat().replace('+00:00', 'Z')}.",
        )
        d.wait(max(0.0, min((due - d.now).total_seconds(), t.poll_interval)))
        return True
    if a.phase == AnalysisPhase.INCONCLUSIVE:
        if spec.rollout.retry_token != a.retry_token:
            d.update(
                analysis=evolve(
                    a,
                    phase=AnalysisPhase.RUNNING,
                    rounds=0,
                    successful=0,
                    failed=0,
                    inconclusive=0,
                    next_measurement_at=d.now,
                    retry_token=spec.rollout.retry_token,
                    message="Analysed again: spec.rollout.retryToken changed.",
                ),
                phase=Phase.PROGRESSING,
            )
            d.event(EventReason.ANALYSIS_STARTED, f"Analysing domain {a.domain} again (retryToken changed).")
            d.wait(0.0)
            return True
        d.update(phase=Phase.PAUSED, current_domain=None)
        d.paused = (Reason.ANALYSIS_INCONCLUSIVE, a.message or "The analysis is inconclusive.")
        d.wait(t.resync_interval)
        return True
    # Failed: the domain is judged failed, and onFailure (the analysis's own, else the rollout's) follows.
    message = a.message or f"Analysis of domain {a.domain} failed."
    d.set_domain(a.domain, state=DomainState.FAILED, message=message[:1024])
    on_failure = analysis.on_failure or spec.rollout.on_failure
    fail(evolve(spec, rollout=evolve(spec.rollout, on_failure=on_failure)), d, Reason.ANALYSIS_FAILED, message)
    return True
