"""Webhooks, pure: which calls a step needs, whether they hold the walk, and how a call's outcome is recorded.

A call is a ``HookRun`` in ``status.hooks`` keyed by (hook, subject): the subject is ``rollout`` (before the
first domain), a domain id (before and after that domain) or ``failure-<unix time>`` (a failure or rollback).
The walk asks for calls by adding Pending runs; the kopf side makes the calls that are due
(``due_runs``) and records each outcome (``record_call``). Confirm hooks hold the walk until one answers
200; the others are made 1 + ``retries`` times, and the walk only waits until they have been tried.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from controller.config import Timings
from controller.resource import (
    CONFIRM_HOOKS,
    MAX_HOOK_RUNS,
    ConditionType,
    HookPhase,
    HookRun,
    HookSpec,
    HookType,
    Phase,
    Reason,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout.draft import Draft

ROLLOUT_SUBJECT = "rollout"
_BEFORE_ROLLOUT = (HookType.CONFIRM_ROLLOUT, HookType.PRE_ROLLOUT)
_BEFORE_DOMAIN = (HookType.CONFIRM_DOMAIN, HookType.PRE_DOMAIN)


def _hooks(spec: ScaleSetImageSpec, types: Iterable[HookType]) -> list[HookSpec]:
    wanted = set(types)
    return [hook for hook in spec.rollout.hooks or () if hook.type in wanted]


def _run(status: ScaleSetImageStatus, hook: str, subject: str) -> HookRun | None:
    return next((r for r in status.hooks or () if r.hook == hook and r.subject == subject), None)


def request(d: Draft, hooks: Iterable[HookSpec], subject: str) -> None:
    """Add a Pending run for each hook that has none for ``subject`` (the oldest finished runs make room)."""
    new = [
        HookRun(hook=h.name, subject=subject, type=h.type, phase=HookPhase.PENDING, next_attempt_at=d.now)
        for h in hooks
        if _run(d.status, h.name, subject) is None
    ]
    if not new:
        return
    runs = [*(d.status.hooks or ()), *new]
    while len(runs) > MAX_HOOK_RUNS:
        oldest_done = next(
            (r for r in runs if r.phase in (HookPhase.SUCCEEDED, HookPhase.FAILED)), runs[0]
        )  # never expected to be a waiting one: at most a few wait at a time
        runs.remove(oldest_done)
    d.update(hooks=tuple(runs))
    d.wait(0.0)


def hold_for_hooks(spec: ScaleSetImageSpec, d: Draft, t: Timings, domain_id: str, first: bool) -> bool:
    """Before domain ``domain_id`` (``first``: no domain of this rollout started yet): ask for the calls it
    needs, and hold while a confirm hook has not answered 200 or a notification has not been tried."""
    if not spec.rollout.hooks:
        return False
    wanted: list[tuple[HookSpec, str]] = []
    if first:
        wanted += [(h, ROLLOUT_SUBJECT) for h in _hooks(spec, _BEFORE_ROLLOUT)]
    wanted += [(h, domain_id) for h in _hooks(spec, _BEFORE_DOMAIN)]
    # Rollout-level hooks go first: a domain's hooks are asked for once the rollout's have passed.
    for stage in (ROLLOUT_SUBJECT, domain_id):
        stage_hooks = [h for h, subject in wanted if subject == stage]
        if not stage_hooks:
            continue
        request(d, stage_hooks, stage)
        runs = [_run(d.status, h.name, stage) for h in stage_hooks]
        waiting = [r for r in runs if r is not None and r.phase in (HookPhase.PENDING, HookPhase.WAITING)]
        if waiting:
            what = "the rollout" if stage == ROLLOUT_SUBJECT else f"domain {domain_id}"
            words = ", ".join(
                f"{r.hook} ({r.type}, {r.phase}" + (f": {r.message}" if r.message else "") + ")" for r in waiting
            )
            d.condition(
                ConditionType.RECONCILING, True, Reason.WAITING_FOR_HOOKS, f"Before {what}, waiting for {words}."
            )
            due = min((r.next_attempt_at or d.now for r in waiting), default=d.now)
            d.wait(max(0.0, min((due - d.now).total_seconds(), t.poll_interval)))
            return True
    return False


def after_domain(spec: ScaleSetImageSpec, d: Draft, domain_id: str) -> None:
    """Domain ``domain_id`` is healthy: notify the PostDomain hooks."""
    request(d, _hooks(spec, (HookType.POST_DOMAIN,)), domain_id)


def after_failure(spec: ScaleSetImageSpec, d: Draft) -> None:
    """The rollout failed or is rolling back: notify the Rollback hooks, once per failure."""
    hooks = _hooks(spec, (HookType.ROLLBACK,))
    if not hooks or d.status.target is None:
        return
    s = d.status
    if s.rollback is not None and s.rollback.started_at is not None:
        when: datetime | None = s.rollback.started_at
    elif s.phase == Phase.FAILED:
        stalled = s.condition(ConditionType.STALLED)
        when = stalled.last_transition_time if stalled is not None else None
    else:
        when = None
    if when is None:
        return
    request(d, hooks, f"failure-{int(when.timestamp())}")


def due_runs(status: ScaleSetImageStatus, now: datetime) -> list[HookRun]:
    """The calls to make now."""
    return [
        r
        for r in status.hooks or ()
        if r.phase in (HookPhase.PENDING, HookPhase.WAITING) and (r.next_attempt_at is None or r.next_attempt_at <= now)
    ]


def record_call(
    hook: HookSpec | None, run: HookRun, status_code: int | None, message: str, now: datetime, retry_after: float
) -> HookRun:
    """``run`` after one call that answered ``status_code`` (None: no answer). A hook removed from the spec
    meanwhile is given up."""
    attempts = run.attempts + 1
    base = evolve(run, attempts=attempts, status_code=status_code, last_attempt_at=now, message=message[:1024])
    if hook is None:
        return evolve(base, phase=HookPhase.FAILED, next_attempt_at=None, message="the hook is no longer in the spec")
    ok = status_code == 200 if hook.type in CONFIRM_HOOKS else status_code is not None and 200 <= status_code < 300
    if ok:
        return evolve(base, phase=HookPhase.SUCCEEDED, next_attempt_at=None)
    if hook.type in CONFIRM_HOOKS:
        return evolve(base, phase=HookPhase.WAITING, next_attempt_at=now + timedelta(seconds=retry_after))
    if attempts > hook.retries:
        return evolve(base, phase=HookPhase.FAILED, next_attempt_at=None)
    backoff = min(retry_after * 2 ** (attempts - 1), 300.0)
    return evolve(base, phase=HookPhase.PENDING, next_attempt_at=now + timedelta(seconds=backoff))


def replace_run(status: ScaleSetImageStatus, run: HookRun) -> ScaleSetImageStatus:
    return evolve(
        status,
        hooks=tuple(run if (r.hook, r.subject) == (run.hook, run.subject) else r for r in status.hooks or ()),
    )
