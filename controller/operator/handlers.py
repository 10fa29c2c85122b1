"""The kopf registry: a timer per ScaleSetImage that reconciles when due, and running the operator."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import kopf

from controller.operator.context import OperatorContext
from controller.operator.fleet import register_fleet
from controller.operator.follow import register_follow
from controller.operator.reconcile import logger, merge_apply, merge_patch, plain_body, reconcile
from controller.operator.selector import LabelFilter
from controller.resource import (
    GROUP,
    PLURAL,
    VERSION,
)


def build_registry(ctx: OperatorContext, labels: LabelFilter | None = None) -> kopf.OperatorRegistry:
    """A kopf registry with the ScaleSetImage handlers bound to ``ctx``; ``labels``: only the resources whose
    labels match (a shard of the fleet, from ``--selector``), the others are not touched at all."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = f"{GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 300
        # A deletion waits for the timer's pass in flight to end before the finalizer goes: wait for it
        # (briefly) at once, then check every second, instead of kopf's 60 s polling of a stopping timer,
        # which left a deleted resource Terminating (and its name blocked) for up to a minute.
        settings.background.instant_exit_timeout = 2.0
        settings.background.cancellation_polling = 1.0

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry, labels=labels)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry, labels=labels)
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry, labels=labels)
    def _nudge(**kwargs: Any) -> None:
        ctx.nudge(str(kwargs["namespace"]), str(kwargs["name"]))

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, optional=True, labels=labels)
    def _forget(**kwargs: Any) -> None:
        meta = kwargs["body"].get("metadata", {})
        ctx.saw(str(kwargs["namespace"]), str(kwargs["name"]), meta.get("uid"), gone=True)
        ctx.forget(str(kwargs["namespace"]), str(kwargs["name"]))

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry, labels=labels)
    def _watch(**kwargs: Any) -> None:
        # Every watch event, before any handler: a deletion is known at once, also while a reconcile of
        # the same object is waiting on Azure, so that reconcile sends nothing more on its behalf.
        meta = kwargs["body"].get("metadata", {})
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
        patch: kopf.Patch = kwargs["patch"]
        namespace, name = str(kwargs["namespace"]), str(kwargs["name"])
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        if not ctx.is_current(namespace, name, body.get("metadata", {}).get("uid")):
            return
        generation = body.get("metadata", {}).get("generation")
        observed = (body.get("status") or {}).get("observedGeneration")
        if not ctx.is_due(namespace, name) and generation == observed:
            # Due before the next tick: wait for that moment here rather than a whole tick past it (the
            # end of a pause, a poll near an operation's expected end). The timer is this resource's own.
            wait = ctx.until_due(namespace, name)
            if wait >= ctx.tick:
                return
            await asyncio.sleep(wait)
        plain = plain_body(body)
        before = plain["status"]
        until = time.monotonic() + ctx.tick

        def post(reason: str, message: str, warning: bool) -> None:
            kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)

        while True:
            started = time.monotonic()
            result = "ok"
            try:
                status_patch, requeue = await reconcile(ctx, plain, post_event=post)
                if not ctx.is_current(namespace, name, plain["metadata"].get("uid")):
                    return  # deleted (maybe re-created) meanwhile: this status is about an object that is gone
            except Exception:
                result = "error"
                logger.exception("reconcile of %s/%s failed", namespace, name)
                ctx.schedule(namespace, name, ctx.config.poll_interval)
                if before != plain["status"]:
                    patch["status"] = merge_patch(before, plain["status"])  # what the passes before it found
                raise kopf.TemporaryError("reconcile failed; retrying", delay=ctx.config.poll_interval) from None
            finally:
                if ctx.reconcile_hook is not None:
                    ctx.reconcile_hook(namespace, name, time.monotonic() - started, result)
            ctx.schedule(namespace, name, requeue)
            status = merge_apply(plain["status"], status_patch)
            started_operation = _operation_token(status) not in (None, _operation_token(plain["status"]))
            plain = {**plain, "status": status}
            # Due again before the next tick, with nothing started in Azure by this pass (an operation polled
            # near its expected end): the next pass runs here, on the status this one wrote, at that moment.
            if started_operation or requeue <= 0 or time.monotonic() + requeue >= until:
                break
            await asyncio.sleep(requeue)
        status_patch = merge_patch(before, plain["status"])
        if status_patch:
            patch["status"] = status_patch
        if ctx.status_hook is not None:
            ctx.status_hook(namespace, name, plain["status"])

    return registry


def _operation_token(status: dict[str, Any]) -> Any:
    operation = status.get("operation")
    return operation.get("continuationToken") if isinstance(operation, dict) else None


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
) -> None:
    """Run kopf with our handlers until stopped. ``extra`` may add handlers; ``connection`` names the
    Kubernetes API (default: in-cluster, then kubeconfig); ``labels`` limits this process to a shard."""
    registry = build_registry(ctx, labels)
    register_fleet(registry, ctx)
    register_follow(registry, ctx, labels)
    if extra is not None:
        extra(registry)
    _login(registry, ctx, connection)
    try:
        await kopf.operator(
            registry=registry,
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,
            liveness_endpoint=liveness_endpoint,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        await ctx.close()
