"""What the emulator's ARM routes are made of: path patterns, the route table entry, the request being served,
JSON answers, and nextLink paging. Shared by ``server`` (scale sets, images, operations) and ``flex_routes``
(the virtual machines of Flexible scale sets)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .api_versions import ApiFamily
from .errors import invalid_parameter

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourceGroups/(?P<rg>[^/]+)"
VMSS = RG + r"/providers/Microsoft\.Compute/virtualMachineScaleSets/(?P<name>[^/]+)"
VMS = RG + r"/providers/Microsoft\.Compute/virtualMachines"
IMAGES = (
    SUB + r"/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/publishers/(?P<pub>[^/]+)"
    r"/artifacttypes/vmimage/offers/(?P<offer>[^/]+)/skus/(?P<sku>[^/]+)/versions"
)
GALLERY_IMAGE = RG + r"/providers/Microsoft\.Compute/galleries/(?P<gallery>[^/]+)/images/(?P<image>[^/]+)"

# A route's handler outside the server class: called with the emulator and the request.
RouteFunction = Callable[[Any, "Call"], Awaitable[web.StreamResponse]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    family: ApiFamily
    handler_name: str
    function: RouteFunction | None = None  # when set, serves the route instead of the server's _h_<handler_name>
    kind: str = "virtualMachineScaleSets"  # the resource type named in NoRegisteredProviderFound


def route(
    method: str,
    path: str,
    operation: str,
    handler: str | RouteFunction,
    family: ApiFamily = "compute",
    *,
    kind: str = "virtualMachineScaleSets",
) -> Route:
    pattern = re.compile(f"^{path}/?$", re.IGNORECASE)
    if isinstance(handler, str):
        return Route(method, pattern, operation, family, handler, kind=kind)
    return Route(method, pattern, operation, family, handler.__name__, handler, kind)


@dataclass
class Call:
    """One ARM request being served."""

    request: web.Request
    route: Route
    params: dict[str, str]
    api_version: str
    body: Any
    audit: dict[str, Any]
    now: float

    @property
    def base(self) -> str:
        return str(self.request.url.origin())


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json", headers=headers or {})


def paged(call: Call, items: Sequence[Any], page_size: int, render: Callable[[Any], dict[str, Any]]) -> web.Response:
    """One page of ``items`` from ``$skiptoken``: ``{"value": [...], "nextLink": ...}``. The nextLink is absolute
    and keeps every query parameter of the request (api-version, $filter, $expand ...); the last page has none."""
    query = call.request.query
    try:
        start = int(query.get("$skiptoken", "0"))
    except ValueError as exc:
        raise invalid_parameter("The value of parameter '$skiptoken' is invalid.", "$skiptoken") from exc
    out: dict[str, Any] = {"value": [render(item) for item in items[start : start + page_size]]}
    if start + page_size < len(items):
        next_query = {k: v for k, v in query.items() if k != "$skiptoken"}
        next_query["$skiptoken"] = str(start + page_size)
        out["nextLink"] = str(call.request.url.origin().join(call.request.rel_url.with_query(next_query)))
    return json_response(out)
