"""The SDK pipeline policies the gateway adds: api-version pin, request budget, recording, loopback http."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy, SansIOHTTPPolicy

from controller.azure.budget import SubscriptionBudget, classify, compute_policy
from controller.azure.errors import WriteWithdrawn

RequestHook = Callable[[str, str, int, float, dict[str, str]], None]
"""Called after every Azure HTTP answer: (method, url path, status, seconds, response headers)."""


class PlainHttpForLoopback(SansIOHTTPPolicy[Any, Any]):
    """Let the bearer token go over http: only ever installed for an allowHttp (loopback) profile."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context["enforce_https"] = False


class ApiVersionPin(SansIOHTTPPolicy[Any, Any]):
    """Rewrite ``api-version`` on every request (nextLink pages and LRO polls included)."""

    def __init__(self, api_version: str) -> None:
        self._api_version = api_version

    def on_request(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        if "api-version=" in http.url:
            base, _, query = http.url.partition("?")
            parts = [p for p in query.split("&") if not p.startswith("api-version=")]
            parts.append(f"api-version={self._api_version}")
            http.url = base + "?" + "&".join(parts)


class RequestRecorder(SansIOHTTPPolicy[Any, Any]):
    def __init__(self, hook: RequestHook) -> None:
        self._hook = hook

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context["scaleset_image_started"] = time.monotonic()

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        started = request.context.get("scaleset_image_started", time.monotonic())
        http = response.http_response
        path = request.http_request.url.split("?", 1)[0]
        self._hook(
            request.http_request.method,
            path,
            http.status_code,
            time.monotonic() - started,
            {k.lower(): v for k, v in http.headers.items() if k.lower().startswith(("x-ms-ratelimit", "retry-after"))},
        )


BudgetWaitHook = Callable[[str, float], None]
"""Called when a request waited for the request budget: (the limit that held it, seconds)."""


class SpendBudget(AsyncHTTPPolicy[Any, Any]):
    """Wait for the subscription's budget before each request; tell it what Azure answered."""

    def __init__(self, budget: SubscriptionBudget, wait_hook: BudgetWaitHook | None = None) -> None:
        super().__init__()
        self._budget = budget
        self._wait_hook = wait_hook

    async def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        http = request.http_request
        path = urlsplit(http.url).path
        request_class = classify(http.method, path)
        # A request for a scale set that would wait long is deferred (BudgetDeferred), never held unseen.
        waited, limit = await self._budget.acquire(request_class, compute_policy(http.method, path), defer=True)
        if waited > 0 and self._wait_hook is not None:
            self._wait_hook(limit, waited)
        response = await self.next.send(request)
        headers = {k.lower(): v for k, v in response.http_response.headers.items()}
        self._budget.observe(request_class, response.http_response.status_code, headers)
        return response


WriteCheck = Callable[[], str | None]
"""Asked right before a write goes out: None to send it, else why it must not be sent any more."""
LiveWriteCheck = Callable[[], Awaitable[str | None]]
"""The same question put to the source of truth (one request), after ``WriteCheck`` said yes."""

_write_check: ContextVar[tuple[WriteCheck, LiveWriteCheck | None] | None] = ContextVar(
    "scaleset_image_write_check", default=None
)


@contextmanager
def checked_writes(check: WriteCheck, live: LiveWriteCheck | None = None) -> Iterator[None]:
    """Within this block, every write is sent only if ``check()`` (and then ``await live()``) still say None
    at the moment it goes out."""
    token = _write_check.set((check, live))
    try:
        yield
    finally:
        _write_check.reset(token)


async def withdrawal_reason() -> str | None:
    """Why a write in the current context must not go out now (None: send it): what this process knows first,
    then, if that says send, the live check."""
    checks = _write_check.get()
    if checks is None:
        return None
    check, live = checks
    reason = check()
    if reason is None and live is not None:
        reason = await live()
    return reason


class LastMomentCheck(AsyncHTTPPolicy[Any, Any]):
    """Ask the caller's checks once more right before a write leaves (after any wait for the request budget).

    A decision to write is made on what the operator saw; between that and the request, the budget may
    have made it wait, and meanwhile the resource may have been paused, retargeted or deleted.
    """

    async def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        if request.http_request.method not in ("GET", "HEAD"):
            reason = await withdrawal_reason()
            if reason is not None:
                raise WriteWithdrawn(reason)
        return await self.next.send(request)


def fenced_writes(fence: WriteCheck) -> Callable[[PipelineRequest[Any]], None]:
    """An SDK ``raw_request_hook``: a write (any method but GET and HEAD) is not sent while ``fence()`` gives a
    reason (leader election: this replica does not hold, or has not renewed, the Lease)."""

    def hook(request: PipelineRequest[Any]) -> None:
        if request.http_request.method not in ("GET", "HEAD"):
            reason = fence()
            if reason is not None:
                raise WriteWithdrawn(reason)

    return hook


class StaticToken:
    """An async credential that returns a fixed token (emulator profiles only)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticToken:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
