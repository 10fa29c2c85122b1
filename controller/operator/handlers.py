"""The kopf registry: a timer per ScaleSetImage that reconciles when due, and running the operator."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import kopf

from controller.operator.context import OperatorContext
from controller.operator.elected import connection_info, run_elected
from controller.operator.fleet import register_fleet
from controller.operator.follow import register_follow
from controller.operator.leader import ElectionSettings
from controller.operator.live import LiveReadError
from controller.operator.reconcile import logger, merge_apply, plain_body, reconcile
from controller.operator.selector import LEGACY_FINALIZER, LabelFilter
from controller.operator.writes import LEADER_FIELD, rollout_owned
from controller.resource import (
    GROUP,
    PLURAL,
    VERSION,
)


def build_registry(
    ctx: OperatorContext, labels: LabelFilter | None = None, finalizer: str = LEGACY_FINALIZER
) -> kopf.OperatorRegistry:
    """A kopf registry with the ScaleSetImage handlers bound to ``ctx``; ``labels``: only the resources whose
    labels match (a shard of the fleet, from ``--selector``), the others are not touched at all; ``finalizer``:
    this shard's own (``selector.finalizer_for``)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = finalizer
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 300
        # A deletion waits for the timer's pass in flight to end before the finalizer goes: wait for it
        # (briefly) at once, then check every second, instead of kopf's 60 s polling of a stopping timer,
        # which left a deleted resource Terminating (and its name blocked) for up to a minute.
        settings.background.instant_exit_timeout = 2.0
        settings.background.cancellation_polling = 1.0

    # Handlers that only touch this context's dicts are async: kopf runs a plain function in a thread pool, a
    # thread hop per watch event, with those dicts changed off the event loop that reads them.
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, labels=labels)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry, labels=labels)
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry, labels=labels)
    async def _nudge(**kwargs: Any) -> None:
        ctx.nudge(str(kwargs["namespace"]), str(kwargs["name"]))

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, optional=True, labels=labels)
    async def _forget(**kwargs: Any) -> None:
        meta = kwargs["body"].get("metadata", {})
        ctx.saw(str(kwargs["namespace"]), str(kwargs["name"]), meta.get("uid"), gone=True)
        ctx.forget(str(kwargs["namespace"]), str(kwargs["name"]))

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry, labels=labels)
    async def _watch(**kwargs: Any) -> None:
        # Every watch event, before any handler: a deletion is known at once, also while a reconcile of
        # the same object is waiting on Azure, so that reconcile sends nothing more on its behalf.
        meta = kwargs["body"].get("metadata", {})
        finalizers = list(meta.get("finalizers") or [])
        if finalizer != LEGACY_FINALIZER and {finalizer, LEGACY_FINALIZER} <= set(finalizers) and ctx.live:
            # A resource of this shard from before shards had finalizers of their own: this shard's own
            # finalizer guards it now, and nobody would ever remove the old one.
            await ctx.live.drop_finalizer(
                PLURAL, str(meta.get("namespace")), str(meta.get("name")), finalizers, LEGACY_FINALIZER
            )
        gone = kwargs.get("type") == "DELETED" or bool(meta.get("deletionTimestamp"))
        generation = meta.get("generation")
        ctx.saw(
            str(meta.get("namespace", "")),
            str(meta.get("name", "")),
            meta.get("uid"),
            gone=gone,
            generation=generation if isinstance(generation, int) else None,
        )

    @kopf.timer(GROUP, VERSION, PLURAL, interval=ctx.tick, registry=registry, labels=labels)
    async def _tick(**kwargs: Any) -> None:
        body: kopf.Body = kwargs["body"]
        namespace, name = str(kwargs["namespace"]), str(kwargs["name"])
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        uid = body.get("metadata", {}).get("uid")
        if not ctx.is_current(namespace, name, uid) or ctx.fenced() is not None:
            return
        plain = plain_body(body)
        if uid:  # the watch may not have brought this process's own last status write yet
            plain["status"] = ctx.written.freshest(PLURAL, str(uid), plain["status"], rollout_owned)
        generation = plain["metadata"].get("generation")
        observed = plain["status"].get("observedGeneration")
        if not ctx.is_due(namespace, name) and (generation == observed or ctx.waiting(namespace, name, generation)):
            # Due before the next tick: wait for that moment here rather than a whole tick past it (the end
            # of a pause, a poll near an operation's expected end). The timer is this resource's own.
            wait = ctx.until_due(namespace, name)
            if wait >= ctx.tick:
                return
            await asyncio.sleep(wait)
        # Passes due sooner than a tick (polls near an operation's expected end) run in this call, for a few ticks
        # at most: returning would put the next one a whole tick after this call ends (kopf's timer interval).
        until = time.monotonic() + _IN_CALL_TICKS * ctx.tick

        def post(reason: str, message: str, warning: bool) -> None:
            kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)

        while True:
            if ctx.fenced() is not None or not ctx.is_current(namespace, name, uid):
                return
            started = time.monotonic()
            result = "ok"
            try:
                async with ctx.pass_slot(namespace, name):
                    status_patch, requeue = await reconcile(ctx, plain, post_event=post)
                # The pass's delays count from its decision, not from the end of the status write after it: a
                # pause seen starting at the end of an operation is served from then, not a write later.
                decided = time.monotonic()
                if not ctx.is_current(namespace, name, plain["metadata"].get("uid")):
                    return  # deleted (maybe re-created) meanwhile: this status is about an object that is gone
            except Exception:
                result = "error"
                logger.exception("reconcile of %s/%s failed", namespace, name)
                ctx.schedule(namespace, name, ctx.config.poll_interval, generation)
                raise kopf.TemporaryError("reconcile failed; retrying", delay=ctx.config.poll_interval) from None
            finally:
                if ctx.reconcile_hook is not None:
                    ctx.reconcile_hook(namespace, name, time.monotonic() - started, result)
            new_status = merge_apply(plain["status"], status_patch)
            try:
                written = not status_patch or await ctx.write_status(
                    PLURAL, namespace, name, uid, plain["status"], new_status, rollout_owned, stamp=True
                )
            except LiveReadError as exc:
                logger.warning("%s/%s: %s; the pass is done again later", namespace, name, exc)
                ctx.schedule(namespace, name, ctx.config.poll_interval, generation)
                return
            if not written:
                ctx.schedule(namespace, name, min(requeue, _STATUS_NOT_WRITTEN_RETRY_SECONDS), generation)
                return  # the status moved under this pass (or this replica may not write): decide again on it
            ctx.schedule(namespace, name, requeue, generation, since=decided)
            if ctx.status_hook is not None:
                ctx.status_hook(namespace, name, new_status)
            started_operation = _operation_token(new_status) not in (None, _operation_token(plain["status"]))
            # Due again before the next tick, with nothing started in Azure by this pass (an operation polled
            # near its expected end): the next pass runs here, on the status just written, at that moment.
            if started_operation or requeue <= 0 or requeue >= ctx.tick or decided + requeue >= until:
                return
            await asyncio.sleep(max(0.0, decided + requeue - time.monotonic()))
            if status_patch:  # the status as written (write_status names the leader in it)
                stamped = ctx.identity is not None and bool(new_status)
                plain = {**plain, "status": {**new_status, LEADER_FIELD: ctx.identity} if stamped else new_status}

    return registry


def _operation_token(status: dict[str, Any]) -> Any:
    operation = status.get("operation")
    return operation.get("continuationToken") if isinstance(operation, dict) else None


_IN_CALL_TICKS = 4
"""How many ticks one timer call may go on running passes that are due within a tick of each other."""

_STATUS_NOT_WRITTEN_RETRY_SECONDS = 0.5
"""A pass whose status write was refused is done again this soon (on the status as it is by then)."""

Connection = Callable[[], kopf.ConnectionInfo]
"""Where the Kubernetes API is (tests and the demo name their emulator this way)."""


def _login(registry: kopf.OperatorRegistry, ctx: OperatorContext, connection: Connection | None) -> None:
    """``connection``, else the in-cluster service account, else the kubeconfig (kopf's own client; no
    kubernetes library). The operator reads objects live with the same connection (``OperatorContext.live``)."""

    @kopf.on.login(registry=registry)
    def _connect(**kwargs: Any) -> kopf.ConnectionInfo | None:
        info = connection() if connection is not None else None
        info = info or kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
        if info is not None:
            ctx.connected(info)
        return info


async def run_operator(
    ctx: OperatorContext,
    *,
    namespaces: list[str],
    liveness_endpoint: str | None = None,
    stop_flag: Any = None,
    ready_flag: Any = None,
    extra: Callable[[kopf.OperatorRegistry], None] | None = None,
    labels: LabelFilter | None = None,
    connection: Connection | None = None,
    election: ElectionSettings | None = None,
    finalizer: str = LEGACY_FINALIZER,
) -> None:
    """Run kopf with our handlers until stopped. ``extra`` may add handlers; ``connection`` names the
    Kubernetes API (default: in-cluster, then kubeconfig); ``labels`` limits this process to a shard;
    ``election``: run kopf only while this replica holds the leader Lease (raises ``LeadershipLost``)."""
    registry = build_registry(ctx, labels, finalizer)
    register_fleet(registry, ctx, labels)
    register_follow(registry, ctx, labels)
    if extra is not None:
        extra(registry)
    _login(registry, ctx, connection)

    async def run_kopf(flag: Any, liveness: str | None, ready: Any) -> None:
        await kopf.operator(
            registry=registry,
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,
            liveness_endpoint=liveness,
            stop_flag=flag,
            ready_flag=ready,
        )

    try:
        if election is None:
            await run_kopf(stop_flag, liveness_endpoint, ready_flag)
            return
        info = connection_info(connection)
        if info is None:
            raise kopf.LoginError("no Kubernetes credentials found (in-cluster or kubeconfig) for leader election")
        ctx.connected(info)
        await run_elected(
            ctx,
            election,
            lambda flag, ready: run_kopf(flag, None, ready),
            stop_flag=stop_flag if isinstance(stop_flag, asyncio.Event) else None,
            ready_flag=ready_flag,
            liveness_endpoint=liveness_endpoint,
        )
    finally:
        await ctx.close()
