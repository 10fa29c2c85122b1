"""One PromQL instant query against a configured Prometheus, with the server's credentials."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import aiohttp

from controller.config import PrometheusServer

_MAX_SAMPLES = 1000


class PrometheusError(Exception):
    """The query could not be answered (unreachable, refused, a PromQL error); the message says why."""


def read_credential(path: str) -> str:
    """A credential file's content (a mounted Secret key), stripped; raises ``PrometheusError``."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PrometheusError(f"cannot read credential file {path}: {exc.strerror or exc}") from exc


def auth_headers(server: PrometheusServer) -> dict[str, str]:
    """The Authorization header from the server's credential files (read at each query: rotation works)."""
    if server.bearer_token_file:
        return {"Authorization": f"Bearer {read_credential(server.bearer_token_file)}"}
    if server.username_file and server.password_file:
        pair = f"{read_credential(server.username_file)}:{read_credential(server.password_file)}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    return {}


def _values(data: Any) -> tuple[float, ...]:
    kind = data.get("resultType") if isinstance(data, dict) else None
    result = data.get("result") if isinstance(data, dict) else None
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return (float(result[1]),)
    if kind == "vector" and isinstance(result, list):
        if len(result) > _MAX_SAMPLES:
            raise PrometheusError(f"the query returned {len(result)} series; at most {_MAX_SAMPLES} are judged")
        return tuple(float(sample["value"][1]) for sample in result)
    raise PrometheusError(f"the query returned a {kind or 'malformed'} result; an instant vector or scalar is needed")


async def query_prometheus(session: aiohttp.ClientSession, server: PrometheusServer, promql: str) -> tuple[float, ...]:
    """The sample values of ``promql`` now; raises ``PrometheusError``."""
    try:
        async with session.post(
            f"{server.url}/api/v1/query",
            data={"query": promql},
            headers=auth_headers(server),
            timeout=aiohttp.ClientTimeout(total=server.timeout),
        ) as response:
            try:
                body: Any = await response.json(content_type=None)
            except ValueError:
                body = None
            if response.status != 200 or not isinstance(body, dict) or body.get("status") != "success":
                detail = body.get("error") if isinstance(body, dict) else None
                raise PrometheusError(f"Prometheus {server.name} answered {response.status}: {detail or 'no detail'}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PrometheusError(f"Prometheus {server.name} could not be reached: {exc!r}") from exc
    try:
        values = _values(body.get("data"))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise PrometheusError(f"Prometheus {server.name} answered something unreadable: {exc!r}") from exc
    return tuple(v for v in values if not math.isinf(v)) if values else values
