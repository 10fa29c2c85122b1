"""Fixtures for the emulator conformance suite.

The clients are built the way the operator builds them: the real ``azure-mgmt-compute`` SDK (sync and
``aio``) with a custom ``base_url``, ``credential_scopes``, a static-token credential, and a per-call policy
that lets the bearer token travel over plain HTTP to the loopback emulator.

Timing: scenarios use short simulated durations and every emulator runs ``TIME_SCALE`` times faster than
real time, so a 2-second instance upgrade takes 40 ms.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ODataV4Format
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.aio import ComputeManagementClient as AsyncComputeManagementClient
from scaleset_testbed import worlds
from scaleset_testbed.azure import AzureEmulator, EmulatorThread, Scenario, parse_scenario
from scaleset_testbed.worlds import ARM_SCOPES, RG, SUB, TOKEN, VERSIONS, VMSS, scale_set

TIME_SCALE = 50.0
POLLING_INTERVAL = 0.01
DEFAULT_API_VERSION = "2026-04-01"
# Scenario seconds: short, and run TIME_SCALE times faster than real time.
TIMING = {"instanceUpgradeSeconds": 2.0, "jitterSeconds": 0.0, "instanceCreateSeconds": 2.0, "modelUpdateSeconds": 0.5}


# ------------------------------------------------------------------ SDK plumbing
class StaticToken:
    """A credential that always returns the same token (anything with ``get_token`` will do)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(TOKEN, int(time.time()) + 3600)


class AsyncStaticToken:
    """The ``aio`` flavour: an async ``get_token`` and ``close``."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncStaticToken:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class AllowPlainHttp(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Let the bearer-token policy send the token to a plain-HTTP (loopback) URL."""

    def on_request(self, request: Any) -> None:
        request.context["enforce_https"] = False


class ForceApiVersion(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Rewrite the ``api-version`` query parameter of every request (nextLink pages and polls included)."""

    def __init__(self, api_version: str) -> None:
        self.api_version = api_version

    def on_request(self, request: Any) -> None:
        http = request.http_request
        parts = urlsplit(http.url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "api-version"]
        query.append(("api-version", self.api_version))
        http.url = urlunsplit(parts._replace(query=urlencode(query)))


SyncClientFactory = Callable[..., ComputeManagementClient]
AsyncClientFactory = Callable[..., AsyncComputeManagementClient]


def client_kwargs(url: str, policies: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": url,
        "credential_scopes": list(ARM_SCOPES),
        "per_call_policies": [AllowPlainHttp(), *(policies or [])],
        "polling_interval": POLLING_INTERVAL,
        **extra,
    }


@pytest.fixture
def sync_client() -> Iterator[SyncClientFactory]:
    """``sync_client(url, subscription=SUB, policies=[...], **client_kwargs)`` -> a sync client."""
    made: list[ComputeManagementClient] = []

    def make(url: str, subscription: str = SUB, policies: list[Any] | None = None, **extra: Any) -> Any:
        client = ComputeManagementClient(StaticToken(), subscription, **client_kwargs(url, policies, **extra))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
async def aio_client() -> AsyncIterator[AsyncClientFactory]:
    """``aio_client(url, ...)`` -> an ``aio`` client, closed at teardown."""
    made: list[AsyncComputeManagementClient] = []

    def make(url: str, subscription: str = SUB, policies: list[Any] | None = None, **extra: Any) -> Any:
        client = AsyncComputeManagementClient(AsyncStaticToken(), subscription, **client_kwargs(url, policies, **extra))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


# ------------------------------------------------------------------ scenarios
NO_COMPUTE_LIMITS: dict[str, Any] = {"computeLimits": []}
"""Throttling with ARM's buckets alone: for tests that poll one scale set faster than Compute allows."""


def scenario_dict(
    scale_sets: dict[str, dict[str, Any]] | None = None, *, versions: list[str] | None = None, **top: Any
) -> dict[str, Any]:
    """A scenario with one subscription, resource group ``rg-web`` and the given scale sets."""
    return worlds.scenario(
        {RG: scale_sets if scale_sets is not None else {VMSS: scale_set()}},
        versions=versions if versions is not None else VERSIONS,
        **{"timing": dict(TIMING), **top},
    )


def make_scenario(*args: Any, **kwargs: Any) -> Scenario:
    return parse_scenario(scenario_dict(*args, **kwargs))


@pytest.fixture
def emulator_thread() -> Iterator[Callable[..., EmulatorThread]]:
    """``emulator_thread(scenario, profile=..., time_scale=...)`` -> a started :class:`EmulatorThread`."""
    started: list[EmulatorThread] = []

    def start(scenario: Scenario | dict[str, Any] | None = None, **kwargs: Any) -> EmulatorThread:
        if scenario is None:
            scenario = make_scenario()
        elif isinstance(scenario, dict):
            scenario = parse_scenario(scenario)
        kwargs.setdefault("time_scale", TIME_SCALE)
        thread = EmulatorThread(scenario, **kwargs)
        thread.start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


@pytest.fixture
async def aio_emulator() -> AsyncIterator[Callable[..., Awaitable[AzureEmulator]]]:
    """``await aio_emulator(scenario, ...)`` -> an :class:`AzureEmulator` serving in the test's own loop."""
    started: list[AzureEmulator] = []

    async def start(scenario: Scenario | dict[str, Any] | None = None, **kwargs: Any) -> AzureEmulator:
        if scenario is None:
            scenario = make_scenario()
        elif isinstance(scenario, dict):
            scenario = parse_scenario(scenario)
        kwargs.setdefault("time_scale", TIME_SCALE)
        emulator = AzureEmulator(scenario, **kwargs)
        await emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        await emulator.stop()


# ------------------------------------------------------------------ raw HTTP and the control API
class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    url: str,
    method: str = "GET",
    body: Any = None,
    *,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
) -> RawResponse:
    """One plain HTTP request with urllib (never retried, never redirected); errors are answers too."""
    assert url.startswith(("http://127.0.0.1:", "http://[::1]:")), url  # loopback only
    data = None
    all_headers = dict(headers or {})
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return RawResponse(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as err:
        return RawResponse(err.code, dict(err.headers.items()), err.read())


class Control:
    """The ``/_emulator/`` control and audit API, over urllib (for emulators in another thread or process)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None, *, expect: int | None = 200) -> Any:
        response = raw_request(f"{self.url}/_emulator/{path}", method, body, token=None)
        if expect is not None:
            assert response.status == expect, (response.status, response.body)
        return response.json()

    def audit(self, since: int = 0) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.call("GET", f"audit?since={since}")["events"]
        return events

    def requests(self, path_contains: str = "", method: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.audit()
            if e["type"] == "request" and path_contains in e["path"] and (method is None or e["method"] == method)
        ]

    def instance_events(self, scale_set: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.audit() if e["type"] == "instance" and scale_set in (None, e["scaleSet"])]

    def fault(self, **rule: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "faults", rule, expect=201)
        return result

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "state")
        return result

    def instances(self, name: str = VMSS) -> list[dict[str, Any]]:
        for ss in self.state()["scaleSets"]:
            if ss["name"] == name:
                result: list[dict[str, Any]] = ss["instances"]
                return result
        raise AssertionError(f"no scale set {name}")

    def wait_until(self, predicate: Callable[[], bool], seconds: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)


class AsyncControl:
    """The same control API over aiohttp, for emulators serving in the test's own event loop."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def call(self, method: str, path: str, body: Any = None, *, expect: int | None = 200) -> Any:
        async with self.session.request(method, f"{self.url}/_emulator/{path}", json=body) as response:
            payload = await response.json(content_type=None)
            if expect is not None:
                assert response.status == expect, (response.status, payload)
            return payload

    async def audit(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = (await self.call("GET", "audit"))["events"]
        return events

    async def instance_events(self) -> list[dict[str, Any]]:
        return [e for e in await self.audit() if e["type"] == "instance"]

    async def wait_until(self, predicate: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds):
            while True:
                if await predicate():
                    return
                await asyncio.sleep(0.01)


@pytest.fixture
async def aio_control() -> AsyncIterator[Callable[[str], AsyncControl]]:
    async with aiohttp.ClientSession() as session:
        yield lambda url: AsyncControl(url, session)


def arm_error(caught: pytest.ExceptionInfo[HttpResponseError]) -> ODataV4Format:
    """The ARM error body the SDK parsed from a refused request (every emulator error response has one)."""
    error = caught.value.error
    assert error is not None, f"no ARM error body in {caught.value!r}"
    return error


def arm_message(caught: pytest.ExceptionInfo[HttpResponseError]) -> str:
    message = arm_error(caught).message
    assert isinstance(message, str), f"no ARM error message in {caught.value!r}"
    return message


def versions_by_instance(events: list[dict[str, Any]], state: str = "Running") -> dict[str, list[str]]:
    """instance id -> the image versions it reached ``state`` on, in audit order."""
    out: dict[str, list[str]] = {}
    for e in events:
        if e["type"] == "instance" and e["state"] == state:
            out.setdefault(e["instanceId"], []).append(e["imageVersion"])
    return out
