"""The whole system in one event loop: Azure emulator, Kubernetes emulator, and the real kopf operator.

``System`` starts all three; tests create and patch ScaleSetImage resources through the Kubernetes API
(plain HTTP, as kubectl would) and read the Azure emulator's audit to check what really happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import yaml
from scaleset_testbed import worlds
from scaleset_testbed.azure import AzureEmulator, parse_scenario
from scaleset_testbed.kube import RunningKubeEmulator, start_kube_emulator
from scaleset_testbed.worlds import CR, RG, TOKEN, V1, V2, V3, VMSS, resources_path

from controller.config import BudgetConfig, CloudProfile, OperatorConfig, load_config
from controller.operator import OperatorContext, run_operator

ROOT = Path(__file__).resolve().parents[2]
# The e2e world: scale sets start on OLD, rollouts go to NEW, and the newest published version is a bad build.
OLD, NEW, BAD = V1, V2, V3
RESOURCES = resources_path("default")
TOKEN_ENV = "SCALESET_IMAGE_TEST_TOKEN"
AZURE_STACK_API_VERSION = "2020-06-01"


def scenario(capacity: int = 10, uds: int = 5, **scale_set: Any) -> dict[str, Any]:
    return worlds.scenario(
        {RG: {VMSS: worlds.scale_set(capacity, uds, 3, version=OLD, **scale_set)}},
        versions=[OLD, NEW, BAD],
        badImageVersions=[BAD],
        timing={"instanceUpgradeSeconds": 2.0, "jitterSeconds": 0.5, "modelUpdateSeconds": 0.5},
        throttling={"enabled": True},
    )


def resource(name: str = "web", version: str = NEW, **rollout: Any) -> dict[str, Any]:
    return worlds.manifest(name, version=version, rollout=rollout)


class System:
    def __init__(self, azure: AzureEmulator, kube: RunningKubeEmulator, http: aiohttp.ClientSession) -> None:
        self.azure = azure
        self.kube = kube
        self.http = http
        self._operator: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self.contexts: list[OperatorContext] = []
        self.budget = BudgetConfig()
        self.api_version: str | None = None  # the cloud profile's pinned Compute api-version

    def config(self) -> OperatorConfig:
        profile = CloudProfile(
            "azure-public",
            arm_endpoint=self.azure.url,
            allow_http=True,
            credential="static-token",
            static_token_env=TOKEN_ENV,
            api_version=self.api_version,
        )
        return OperatorConfig(
            clouds={"azure-public": profile}, poll_interval=0.2, resync_interval=2.0, budget=self.budget
        )

    def config_file(self, path: Path, **extra: Any) -> Path:
        """This system's configuration as the YAML file the operator reads (``extra``: more top-level keys)."""
        data: dict[str, Any] = {
            "clouds": {
                "azure-public": {
                    "armEndpoint": self.azure.url,
                    "allowHttp": True,
                    "credential": "static-token",
                    "staticTokenEnv": TOKEN_ENV,
                    **({"apiVersion": self.api_version} if self.api_version else {}),
                }
            },
            "pollInterval": 0.2,
            "resyncInterval": 2.0,
            **extra,
        }
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    async def start_operator(self, config_path: Path | None = None) -> OperatorContext:
        """The operator in this event loop; with ``config_path``, configured (and re-reading scope) from it."""
        config = load_config(config_path) if config_path is not None else self.config()
        ctx = OperatorContext(config=config, tick=0.05, config_path=str(config_path) if config_path else None)
        self.contexts.append(ctx)
        self._stop = asyncio.Event()
        url = self.kube.url

        def login() -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=url, insecure=True, default_namespace="default")

        self._operator = asyncio.create_task(run_operator(ctx, namespaces=[], stop_flag=self._stop, connection=login))
        return ctx

    async def stop_operator(self) -> None:
        if self._operator is None or self._stop is None:
            return
        self._stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._operator, timeout=10)
        self._operator = None

    async def kill_operator(self) -> None:
        """Stop the operator abruptly, as a crash would (its task is cancelled mid-step)."""
        if self._operator is not None:
            self._operator.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._operator
            self._operator = None

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.kube.url + RESOURCES, json=body) as response:
            data: dict[str, Any] = await response.json()
            assert response.status == 201, data
            return data

    async def patch_spec(self, name: str, spec_patch: dict[str, Any]) -> None:
        async with self.http.patch(
            f"{self.kube.url}{RESOURCES}/{name}",
            json={"spec": spec_patch},
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response:
            assert response.status == 200, await response.text()

    def get(self, name: str = "web") -> dict[str, Any]:
        obj = self.kube.get_object(CR, name, "default")
        assert obj is not None
        return obj

    def status(self, name: str = "web") -> dict[str, Any]:
        return dict(self.get(name).get("status") or {})

    def condition(self, type_: str, name: str = "web") -> dict[str, Any]:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == type_), {})

    async def wait_for(self, check: Callable[[], Any], within: float = 60.0, what: str = "") -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.azure.world.advance()
            value = check()
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or check}; status: {self.status() if self._has() else None}")

    def _has(self) -> bool:
        return self.kube.get_object(CR, "web", "default") is not None

    def audit(self) -> list[dict[str, Any]]:
        self.azure.world.advance()
        return list(self.azure.world.audit)

    def requests(self, method: str | None = None, suffix: str = "") -> list[dict[str, Any]]:
        return [
            e
            for e in self.audit()
            if e["type"] == "request" and (method is None or e["method"] == method) and e["path"].endswith(suffix)
        ]

    def upgrades(self) -> list[list[str]]:
        return [e["body"]["instanceIds"] for e in self.requests("POST", "/manualupgrade") if e["status"] == 202]


@contextlib.asynccontextmanager
async def running_system(
    scenario_data: dict[str, Any], time_scale: float = 20.0, *, azure_stack: bool = False
) -> AsyncIterator[System]:
    """The three parts running; ``azure_stack``: the emulator as Azure Stack Hub (Compute 2020-06-01 only) and
    the operator's cloud profile pinned to that api-version."""
    os.environ[TOKEN_ENV] = TOKEN
    profile = "azurestack" if azure_stack else "azure"
    azure = AzureEmulator(parse_scenario(scenario_data), time_scale=time_scale, profile=profile)
    await azure.start()
    kube = await start_kube_emulator(crd_paths=[ROOT / "crds"])
    http = aiohttp.ClientSession()
    system = System(azure, kube, http)
    system.api_version = AZURE_STACK_API_VERSION if azure_stack else None
    try:
        yield system
    finally:
        await system.kill_operator()
        for ctx in system.contexts:
            await ctx.close()
        await http.close()
        await kube.stop()
        await azure.stop()
