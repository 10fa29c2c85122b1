"""The HTTP side of progressive delivery, against local aiohttp servers: the Prometheus client and its
credentials, the webhook client's answers and timeouts, a hook URL read from a Secret, and the operator
configuration that says where all of them are.

Aspects: bearer token and basic auth are read from files at each query (a rotated token is sent at once);
Prometheus errors, non-vector results and unreachable servers raise with a message; a webhook that answers
slowly is cut at its timeout; a Secret key is decoded, a 403 or a missing key says so; the configuration
refuses unknown keys, bad URLs, two kinds of auth, and a default that is not defined, and a server limited
to some namespaces is refused to the others.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import pytest
from aiohttp import web

from controller.config import ConfigError, PrometheusServer, parse_config
from controller.operator.live import LiveObjects, LiveReadError
from controller.progressive import PrometheusError, call_webhook, query_prometheus

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serving(routes: dict[str, Handler]) -> AsyncIterator[str]:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _vector(*values: float) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, str(v)]} for v in values]},
    }


async def test_the_bearer_token_is_read_at_each_query(tmp_path: Path) -> None:
    seen: list[str | None] = []

    async def query(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        assert (await request.post())["query"] == "up"
        return web.json_response(_vector(1.0, 0.5))

    token = tmp_path / "token"
    token.write_text("first\n")
    async with serving({"/api/v1/query": query}) as url, aiohttp.ClientSession() as http:
        server = PrometheusServer("main", url, bearer_token_file=str(token))
        assert await query_prometheus(http, server, "up") == (1.0, 0.5)
        token.write_text("rotated")
        await query_prometheus(http, server, "up")
    assert seen == ["Bearer first", "Bearer rotated"]


async def test_basic_auth_comes_from_two_files(tmp_path: Path) -> None:
    seen: list[str | None] = []

    async def query(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"status": "success", "data": {"resultType": "scalar", "result": [1, "0.25"]}})

    (tmp_path / "user").write_text("ops")
    (tmp_path / "password").write_text("s3cret")
    async with serving({"/api/v1/query": query}) as url, aiohttp.ClientSession() as http:
        server = PrometheusServer(
            "main", url, username_file=str(tmp_path / "user"), password_file=str(tmp_path / "password")
        )
        assert await query_prometheus(http, server, "scalar(up)") == (0.25,)
    assert seen == ["Basic " + base64.b64encode(b"ops:s3cret").decode()]


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (400, {"status": "error", "error": "parse error at char 3"}, "answered 400: parse error"),
        (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}, "matrix result"),
        (200, "not json", "answered 200"),
    ],
)
async def test_prometheus_errors_say_what_went_wrong(status: int, body: Any, says: str) -> None:
    async def query(_: web.Request) -> web.Response:
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    async with serving({"/api/v1/query": query}) as url, aiohttp.ClientSession() as http:
        with pytest.raises(PrometheusError, match=says):
            await query_prometheus(http, PrometheusServer("main", url), "up(")


async def test_an_unreachable_prometheus_or_a_missing_token_file_is_an_error(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(PrometheusError, match="could not be reached"):
            await query_prometheus(http, PrometheusServer("main", "http://127.0.0.1:9", timeout=2), "up")
        missing = PrometheusServer("main", "http://127.0.0.1:9", bearer_token_file=str(tmp_path / "none"))
        with pytest.raises(PrometheusError, match="cannot read credential file"):
            await query_prometheus(http, missing, "up")


async def test_a_webhook_answer_and_a_slow_webhook() -> None:
    got: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(status=409, text="change freeze")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="too late")

    async with serving({"/hook": hook, "/slow": slow}) as url, aiohttp.ClientSession() as http:
        answer = await call_webhook(http, f"{url}/hook", {"subject": "ud-1"}, 2.0, token="t")
        assert (answer.status, answer.message) == (409, "HTTP 409: change freeze")
        assert got == [{"subject": "ud-1"}]
        late = await call_webhook(http, f"{url}/slow", {}, 0.2)
        assert late.status is None
        assert "no answer within 0.2s" in late.message


async def test_a_hook_url_is_read_from_a_secret_key() -> None:
    async def secret(request: web.Request) -> web.Response:
        if request.match_info["name"] == "forbidden":
            return web.json_response({"kind": "Status", "code": 403}, status=403)
        url = base64.b64encode(b"https://pager.example.com/x\n").decode()
        return web.json_response({"kind": "Secret", "data": {"pager-url": url}})

    async with serving({"/api/v1/namespaces/{ns}/secrets/{name}": secret}) as api:
        live = LiveObjects(kopf.ConnectionInfo(server=api, insecure=True, token="op-token"))
        try:
            assert await live.secret_value("web", "rollout-hooks", "pager-url") == "https://pager.example.com/x"
            with pytest.raises(LiveReadError, match="has no key 'other'"):
                await live.secret_value("web", "rollout-hooks", "other")
            with pytest.raises(LiveReadError, match="answered 403"):
                await live.secret_value("web", "forbidden", "pager-url")
        finally:
            await live.close()


def test_the_configuration_of_prometheus_servers_and_webhooks() -> None:
    config = parse_config(
        {
            "prometheus": {
                "servers": {
                    "main": {"url": "http://prom:9090/", "namespaces": ["web"]},
                    "all": {"url": "https://prom.example.com", "bearerTokenFile": "/t"},
                },
                "default": "all",
            },
            "webhooks": {"chat": {"url": "https://chat.example.com/x", "namespaces": ["web"]}},
        }
    )
    delivery = config.delivery
    main = delivery.prometheus_for("main", "web")
    assert isinstance(main, PrometheusServer)
    assert main.url == "http://prom:9090"
    assert "may not be used from namespace 'api'" in str(delivery.prometheus_for("main", "api"))
    default = delivery.prometheus_for(None, "api")
    assert isinstance(default, PrometheusServer)
    assert default.name == "all"
    assert "not defined" in str(delivery.prometheus_for("nope", "web"))
    assert delivery.webhooks["chat"].allows("web")
    assert not delivery.webhooks["chat"].allows("api")
    assert "no Prometheus is configured" in str(parse_config({}).delivery.prometheus_for(None, "web"))
    single = parse_config({"prometheus": {"servers": {"only": {"url": "http://p:9090"}}}}).delivery
    assert single.default_prometheus == "only"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"prometheus": {"servers": {"m": {"url": "prom:9090"}}}}, "not an absolute http"),
        ({"prometheus": {"servers": {"m": {"url": "http://p", "token": "x"}}}}, "unknown keys"),
        (
            {"prometheus": {"servers": {"m": {"url": "http://p", "bearerTokenFile": "/t", "basicAuth": {
                "usernameFile": "/u", "passwordFile": "/p"}}}}},
            "exclude each other",
        ),
        ({"prometheus": {"servers": {"m": {"url": "http://p", "basicAuth": {"usernameFile": "/u"}}}}}, "both"),
        ({"prometheus": {"servers": {"m": {"url": "http://p"}}, "default": "x"}}, "prometheus.default"),
        ({"prometheus": {"servers": {"m": {"url": "http://p", "timeoutSeconds": 0}}}}, "timeoutSeconds"),
        ({"prometheus": {"servers": {"M": {"url": "http://p"}}}}, "lowercase name"),
        ({"webhooks": {"chat": {"url": "ftp://x"}}}, "webhooks.chat.url"),
        ({"webhooks": {"chat": {"url": "https://x", "namespaces": "web"}}}, "namespaces"),
    ],
)  # fmt: skip
def test_bad_delivery_configuration_is_refused_naming_the_key(data: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_config(data)
