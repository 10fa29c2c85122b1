"""Which Azure URLs the operator may send its token to: status can be written by others."""

from __future__ import annotations

import base64
import json
from typing import Final
from urllib.parse import urlsplit

from controller.resource import Operation

_POLLING_HEADERS: Final = frozenset({"azure-asyncoperation", "location", "operation-location"})


def _continuation_token_urls(token: str) -> list[str] | None:
    """The URLs inside an azure-core (JSON, version 1) continuation token; None if it is not one."""
    try:
        envelope = json.loads(base64.b64decode(token, validate=True))
        data = envelope["data"]
        urls = []
        request = data.get("request")
        if request is not None:
            urls.append(request["url"])
        headers = data.get("response", {}).get("headers", {})
        urls += [value for key, value in headers.items() if key.lower() in _POLLING_HEADERS]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return urls if all(isinstance(url, str) for url in urls) else None


def continuation_token_operation_id(token: str) -> str | None:
    """Azure's operation id (the last segment of ``.../operations/<id>``) inside an SDK continuation token."""
    for url in _continuation_token_urls(token) or []:
        path = urlsplit(url).path.rstrip("/")
        head, _, tail = path.rpartition("/")
        if head.lower().endswith("/operations") and tail:
            return tail[:256]
    return None


def same_endpoint(url: str, endpoint: str) -> bool:
    """Whether ``url`` is on the same scheme, host and port as ``endpoint`` (and carries no user info)."""
    try:
        target, base = urlsplit(url), urlsplit(endpoint)
        default = {"https": 443, "http": 80}
        same_port = (target.port or default.get(target.scheme)) == (base.port or default.get(base.scheme))
    except ValueError:
        return False
    return (
        target.scheme in ("https", "http")
        and target.scheme == base.scheme
        and target.username is None
        and target.hostname is not None
        and target.hostname == base.hostname
        and same_port
    )


def trusted_continuation_token(operation: Operation, arm_endpoint: str) -> str | None:
    """``continuationToken`` if every URL the SDK would call when resuming it is on ``arm_endpoint``.

    An azure-core continuation token carries the initial request's URL and the polling URLs from
    the response headers (Azure-AsyncOperation, Location, Operation-Location); resuming sends the
    Azure token to them. A token that cannot be read, or names any other host, is not trusted.
    """
    token = operation.continuation_token
    if token is None:
        return None
    urls = _continuation_token_urls(token)
    if not urls or not all(same_endpoint(url, arm_endpoint) for url in urls):
        return None
    return token
