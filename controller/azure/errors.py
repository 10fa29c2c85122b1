"""Azure errors, classified so the caller can decide: retry, report, or stop."""

from __future__ import annotations

from typing import Any, Literal

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

ErrorKind = Literal["NotFound", "PreconditionFailed", "Throttled", "Transient", "Rejected", "Withdrawn"]


class WriteWithdrawn(AzureError):
    """A write withdrawn right before it was sent: the decision behind it no longer holds."""


class AzureCallError(Exception):
    """An Azure call that failed, classified so the caller can decide: retry, report, or stop."""

    def __init__(self, kind: ErrorKind, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message
        self.retry_after = retry_after


def classify_error(exc: AzureError) -> AzureCallError:
    if isinstance(exc, WriteWithdrawn):
        return AzureCallError("Withdrawn", "WriteWithdrawn", exc.message)
    if isinstance(exc, ResourceNotFoundError):
        return AzureCallError("NotFound", _code(exc, "NotFound"), _message(exc))
    if isinstance(exc, ResourceModifiedError):
        return AzureCallError("PreconditionFailed", _code(exc, "PreconditionFailed"), _message(exc))
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        retry_after = None
        response: Any = exc.response
        if response is not None:
            header = response.headers.get("Retry-After")
            if header and header.isdigit():
                retry_after = float(header)
        if status == 429:
            return AzureCallError("Throttled", _code(exc, "TooManyRequests"), _message(exc), retry_after=retry_after)
        if status >= 500 or status in (408, 0):
            return AzureCallError("Transient", _code(exc, f"HTTP{status}"), _message(exc), retry_after=retry_after)
        if status == 409 and _code(exc, "") in ("OperationNotAllowed", "Conflict"):
            return AzureCallError("Transient", _code(exc, "Conflict"), _message(exc))
        return AzureCallError("Rejected", _code(exc, f"HTTP{status}"), _message(exc))
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return AzureCallError("Transient", type(exc).__name__, str(exc))
    return AzureCallError("Transient", type(exc).__name__, str(exc))


def _code(exc: AzureError, default: str) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return str(code) if code else default


def _message(exc: AzureError) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    return str(message) if message else str(exc).splitlines()[0]


def monitor_error(http_response: Any) -> tuple[str | None, str | None]:
    if http_response is None:
        return None, None
    try:
        body = http_response.json()
    except Exception:  # any unreadable body means "no detail"
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    return error.get("code"), error.get("message")


def polling_error(exc: Exception, pipeline_response: Any) -> AzureCallError:
    """An error azure-core's long-running-operation polling raised outside ``AzureError``, classified."""
    http = getattr(pipeline_response, "http_response", None)
    status = int(getattr(http, "status_code", 0) or 0)
    headers = getattr(http, "headers", None) or {}
    retry_after = _retry_after(headers.get("Retry-After") if hasattr(headers, "get") else None)
    if status == 429:
        return AzureCallError("Throttled", "TooManyRequests", str(exc), retry_after=retry_after)
    if status in (400, 401, 403, 404):
        return AzureCallError("Rejected", f"HTTP{status}", str(exc))
    return AzureCallError(
        "Transient", f"HTTP{status}" if status else type(exc).__name__, str(exc), retry_after=retry_after
    )


def _retry_after(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
