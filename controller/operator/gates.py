"""The I/O of the progressive-delivery gates, once per pass before planning: take an approval from the
annotation, measure a due analysis round in Prometheus, and make the webhook calls that are due.

What is due, and what an answer means, is decided by the pure planner modules (``controller.rollout.gates``,
``analysis``, ``hooks``); this module only fetches and records. Everything it learns goes into ``.status``
(and events), so a restart neither loses a measurement nor forgets an approval; a call whose outcome was
not written (the pass withdrawn) is made again, so hooks see each step at least once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from controller.operator.context import OperatorContext
from controller.operator.live import LiveReadError
from controller.progressive import PrometheusError, call_webhook, query_prometheus
from controller.progressive.prometheus import read_credential
from controller.resource import (
    APPROVE_ANNOTATION,
    CONFIRM_HOOKS,
    AnalysisQuery,
    EventReason,
    HookPhase,
    HookRun,
    HookSpec,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout.analysis import QueryResult, measurement_due, record_round, render, template_values
from controller.rollout.gates import approve
from controller.rollout.hooks import due_runs, record_call, replace_run

logger = logging.getLogger("scaleset_image.operator")
PostEvent = Callable[[str, str, bool], None]


async def run_gates(
    ctx: OperatorContext,
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    meta: dict[str, Any],
    now: datetime,
    post_event: PostEvent,
) -> ScaleSetImageStatus:
    """The status after this pass's approval, measurement and webhook calls (unchanged when none is due)."""
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    annotations = meta.get("annotations") or {}
    approved = approve(status, annotations.get(APPROVE_ANNOTATION), now)
    if approved is not None and approved.approval is not None:
        status = approved
        post_event(
            EventReason.APPROVED,
            f"Domain {approved.approval.domain} approved (annotation {APPROVE_ANNOTATION}).",
            False,
        )
    if measurement_due(spec, status, now):
        status = await _measure(ctx, spec, status, namespace, name, now, post_event)
    # Calls due at once go out together (each bounded by its hook's timeout), so one slow hook delays no other.
    due = due_runs(status, now)
    done = await asyncio.gather(*(_call(ctx, spec, status, run, namespace, name, now, post_event) for run in due))
    for run in done:
        status = replace_run(status, run)
    return status


async def _measure(
    ctx: OperatorContext,
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    namespace: str,
    name: str,
    now: datetime,
    post_event: PostEvent,
) -> ScaleSetImageStatus:
    analysis = spec.rollout.analysis
    assert analysis is not None
    assert status.analysis is not None
    server = ctx.config.delivery.prometheus_for(analysis.prometheus, namespace)
    results: list[QueryResult] = []
    if isinstance(server, str):
        results = [QueryResult(q.name, error=server) for q in analysis.queries]
    else:
        values = template_values(spec, status, namespace, name)

        async def measure(query: AnalysisQuery) -> QueryResult:
            try:
                samples = await query_prometheus(ctx.delivery_http(), server, render(query, values))
            except PrometheusError as exc:
                return QueryResult(query.name, error=str(exc)[:1024])
            return QueryResult(query.name, values=samples)

        # The round's queries are asked together: a round takes as long as its slowest query, not their sum.
        results = list(await asyncio.gather(*(measure(q) for q in analysis.queries)))
    new, events = record_round(analysis, status.analysis, results, now)
    for event in events:
        post_event(str(event.reason), event.message, event.warning)
        logger.log(
            logging.WARNING if event.warning else logging.INFO,
            "%s/%s %s: %s",
            namespace,
            name,
            event.reason,
            event.message,
        )
    return evolve(status, analysis=new)


async def _resolve(ctx: OperatorContext, hook: HookSpec, namespace: str) -> tuple[str | None, str | None, str]:
    """(url, bearer token, why there is no url)."""
    if hook.webhook is not None:
        configured = ctx.config.delivery.webhooks.get(hook.webhook)
        if configured is None:
            return None, None, f"webhook {hook.webhook!r} is not defined in the operator configuration"
        if not configured.allows(namespace):
            return None, None, f"webhook {hook.webhook!r} may not be used from namespace {namespace!r}"
        token = None
        if configured.bearer_token_file:
            try:
                token = read_credential(configured.bearer_token_file)
            except PrometheusError as exc:
                return None, None, str(exc)
        return configured.url, token, ""
    ref = hook.url_secret_ref
    assert ref is not None
    if ctx.live is None:
        return None, None, "the Kubernetes API is not connected yet"
    try:
        url = await ctx.live.secret_value(namespace, ref.name, ref.key)
    except LiveReadError as exc:
        return None, None, str(exc)
    if not url.startswith(("http://", "https://")):
        return None, None, f"Secret {ref.name} key {ref.key} does not hold an http(s) URL"
    return url, None, ""


def payload(
    spec: ScaleSetImageSpec, status: ScaleSetImageStatus, run: HookRun, namespace: str, name: str
) -> dict[str, Any]:
    """What a hook is told: which resource, which step, and where the rollout stands."""
    return {
        "apiVersion": "imagerollout.dev/v1alpha1",
        "kind": "ScaleSetImageHook",
        "namespace": namespace,
        "name": name,
        "hook": run.hook,
        "type": str(run.type),
        "subject": run.subject,
        "phase": str(status.phase),
        "image": status.target.image.summary() if status.target is not None else None,
        "previousImage": status.previous_image.summary() if status.previous_image is not None else None,
        "scaleSet": spec.scale_set.name,
        "resourceGroup": spec.scale_set.resource_group,
        "domains": [{"id": d.id, "state": str(d.state), "instanceIds": list(d.instance_ids)} for d in status.domains],
        "message": status.last_error.message if status.last_error is not None else None,
    }


async def _call(
    ctx: OperatorContext,
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    run: HookRun,
    namespace: str,
    name: str,
    now: datetime,
    post_event: PostEvent,
) -> HookRun:
    """``run`` after one call of its hook (or the reason it could not be called)."""
    hook = next((h for h in spec.rollout.hooks or () if h.name == run.hook), None)
    code: int | None = None
    if hook is None:
        message = "the hook is no longer in the spec"
    else:
        url, token, why = await _resolve(ctx, hook, namespace)
        if url is None:
            message = why
        else:
            answer = await call_webhook(
                ctx.delivery_http(), url, payload(spec, status, run, namespace, name), hook.timeout_seconds, token
            )
            code, message = answer.status, answer.message
    new = record_call(hook, run, code, message, now, ctx.config.poll_interval)
    if new.phase == HookPhase.SUCCEEDED:
        post_event(EventReason.HOOK_SUCCEEDED, f"Hook {run.hook} ({run.type}) for {run.subject}: {message}.", False)
    elif new.phase == HookPhase.FAILED:
        post_event(EventReason.HOOK_FAILED, f"Hook {run.hook} ({run.type}) for {run.subject} gave up: {message}.", True)
    elif hook is not None and hook.type in CONFIRM_HOOKS and run.phase != HookPhase.WAITING:
        post_event(
            EventReason.HOOK_REFUSED,
            f"Hook {run.hook} ({run.type}) for {run.subject} did not confirm ({message}); asked again every "
            f"{ctx.config.poll_interval:g}s.",
            True,
        )
    return new
