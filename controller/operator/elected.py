"""Running kopf only while this replica holds the leader Lease.

A standby replica runs no kopf at all: no watches, no timers, no Azure calls; it only tries for the Lease every
retry period and answers its liveness probe. Once it leads, kopf starts with the same handlers as a single
replica; the Lease is renewed beside it. If a renewal fails for longer than the renew deadline (or another
replica holds the Lease), writes stop at once (the fence), kopf is stopped, and ``LeadershipLost`` ends the
process so that Kubernetes restarts it as a standby. A clean stop (SIGTERM, the stop flag) releases the Lease,
so a rolling update hands over within a retry period instead of a lease duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

import kopf
from aiohttp import web

from controller.operator.context import OperatorContext
from controller.operator.leader import ElectionSettings, LeaderElector, LeadershipLost

logger = logging.getLogger("scaleset_image.leader")
_KOPF_STOP_SECONDS = 10.0
"""How long a stopping kopf may take before it is cancelled (its passes' Azure writes are fenced already)."""
_LOST_STOP_SECONDS = 2.0
"""The same after the Lease was lost."""

KopfRun = Callable[[asyncio.Event, asyncio.Event], Coroutine[Any, Any, None]]
"""Starts kopf with the given stop flag and ready flag (everything else bound already)."""


async def run_elected(
    ctx: OperatorContext,
    settings: ElectionSettings,
    run_kopf: KopfRun,
    *,
    stop_flag: asyncio.Event | None = None,
    ready_flag: Any = None,
    liveness_endpoint: str | None = None,
) -> None:
    """Stand by, lead while the Lease is held, release it on a clean stop; ``LeadershipLost`` if it is lost."""
    if ctx.live is None:
        raise RuntimeError("leader election needs the Kubernetes connection first (OperatorContext.connected)")
    elector = LeaderElector(settings, ctx.live, on_change=ctx.leader_hook)
    ctx.fence = elector.fence
    ctx.identity = settings.identity
    if ctx.leader_hook is not None:
        ctx.leader_hook(False)
    stop = asyncio.Event()
    waiters: list[asyncio.Task[Any]] = []
    if stop_flag is not None:
        waiters.append(asyncio.create_task(_relay(stop_flag, stop)))
    _on_signals(stop)
    kopf_task: asyncio.Task[None] | None = None
    health = await _serve_liveness(liveness_endpoint, lambda: kopf_task is None or not kopf_task.done())
    logger.info(
        "leader election: %s stands for Lease %s/%s (duration %g s, renew deadline %g s, retry %g s)",
        settings.identity,
        settings.lease_namespace,
        settings.lease_name,
        settings.lease_duration,
        settings.renew_deadline,
        settings.retry_period,
    )
    keep: asyncio.Task[None] | None = None
    try:
        if not await elector.acquire(stop):
            return
        kopf_stop, kopf_ready = asyncio.Event(), asyncio.Event()
        kopf_task = asyncio.create_task(run_kopf(kopf_stop, kopf_ready), name="kopf")
        keep = asyncio.create_task(elector.keep(), name="lease renewal")
        stopping = asyncio.create_task(stop.wait(), name="stop flag")
        waiters.append(stopping)
        waiters.append(asyncio.create_task(_when_ready(kopf_ready, stop, ready_flag), name="kopf ready"))
        await asyncio.wait({kopf_task, keep, stopping}, return_when=asyncio.FIRST_COMPLETED)
        lost = keep.done() and isinstance(keep.exception(), LeadershipLost)
        if lost:
            kopf_stop.set()
            logger.error("leader election lost: %s; stopping (a restart stands by again)", keep.exception())
            # Fenced already, so nothing is left to finish gracefully: kopf's watches may hang on the very
            # connection that failed, and a quick exit makes the restart a standby sooner.
            await _stop_kopf(kopf_task, _LOST_STOP_SECONDS)
            exc = keep.exception()
            assert exc is not None
            raise exc
        # A clean stop: writes end now (the fence closes), the Lease goes at once, so the standby starts
        # within a retry period while kopf winds down here (it can no longer write to Azure or to status).
        keep.cancel()
        await elector.release()
        kopf_stop.set()
        await _stop_kopf(kopf_task)
    finally:
        for task in (keep, kopf_task, *waiters):
            if task is not None and not task.done():
                task.cancel()
        if health is not None:
            await health.cleanup()
        if ctx.leader_hook is not None:
            ctx.leader_hook(False)


async def _when_ready(kopf_ready: asyncio.Event, stop: asyncio.Event, ready_flag: Any) -> None:
    """Once kopf has started (and installed its own signal handlers), take SIGTERM/SIGINT back, so that a clean
    stop releases the Lease before kopf winds down; then raise the caller's ready flag."""
    await kopf_ready.wait()
    _on_signals(stop)
    if isinstance(ready_flag, asyncio.Future):
        if not ready_flag.done():
            ready_flag.set_result(None)
    elif ready_flag is not None:
        ready_flag.set()  # asyncio.Event or threading.Event


async def _relay(flag: asyncio.Event, stop: asyncio.Event) -> None:
    await flag.wait()
    stop.set()


def _on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT stop a standby (kopf installs its own handlers while it runs)."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _stop_kopf(task: asyncio.Task[None], seconds: float = 0.0) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), seconds or _KOPF_STOP_SECONDS)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    except Exception:  # kopf failed by itself: the process ends either way
        logger.exception("kopf ended with an error")


async def _serve_liveness(endpoint: str | None, alive: Callable[[], bool]) -> web.AppRunner | None:
    """``--liveness`` served by this process (kopf's own probe exists only while kopf runs): 200 while the
    election goes on and, when leading, kopf is running; a standby is alive."""
    if not endpoint:
        return None
    url = urlsplit(endpoint)

    async def healthz(_: web.Request) -> web.Response:
        if alive():
            return web.json_response({"alive": True})
        return web.json_response({"alive": False}, status=500)

    app = web.Application()
    app.router.add_get(url.path or "/", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, url.hostname or "0.0.0.0", url.port or 80)
    await site.start()
    return runner


def connection_info(connection: Callable[[], kopf.ConnectionInfo] | None) -> kopf.ConnectionInfo | None:
    """The Kubernetes connection before kopf runs (the election needs it): ``connection``, else in-cluster,
    else the kubeconfig, as kopf's own login finds them."""
    if connection is not None:
        return connection()
    settings = kopf.OperatorSettings()
    return kopf.login_with_service_account(settings=settings, logger=logger) or kopf.login_with_kubeconfig(
        settings=settings, logger=logger
    )
