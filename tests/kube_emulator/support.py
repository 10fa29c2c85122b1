"""Helpers shared by the emulator tests: a bare HTTP client, a valid Widget body, polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

CRD_FILE = Path(__file__).with_name("widgets-crd.yaml")
GROUP = "test.imagerollout.dev"
WIDGETS = f"/apis/{GROUP}/v1/namespaces/default/widgets"
RESOURCE = f"{GROUP}/v1/widgets"


def widget(name: str = "w1", **spec: Any) -> dict[str, Any]:
    """A valid Widget body; keyword arguments override or add spec fields."""
    body_spec: dict[str, Any] = {"image": {"marketplace": {"publisher": "canonical", "version": "1.2.3"}}}
    body_spec.update(spec)
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": body_spec}


@dataclass
class Reply:
    """An HTTP answer: status code and decoded JSON body."""

    status: int
    body: Any

    @property
    def causes(self) -> list[dict[str, str]]:
        """``details.causes`` of a Status answer."""
        return list(self.body.get("details", {}).get("causes", []))


class Api:
    """A bare-bones Kubernetes client over aiohttp: just the verbs and the patch content types."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Reply:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(method, path, data=data, headers=headers) as response:
            return Reply(response.status, await response.json(content_type=None))

    async def get(self, path: str) -> Reply:
        return await self._call("GET", path)

    async def create(self, body: dict[str, Any], path: str = WIDGETS) -> Reply:
        return await self._call("POST", path, body)

    async def merge(self, path: str, patch: dict[str, Any]) -> Reply:
        return await self._call("PATCH", path, patch, "application/merge-patch+json")

    async def json_patch(self, path: str, ops: list[dict[str, Any]]) -> Reply:
        return await self._call("PATCH", path, ops, "application/json-patch+json")

    async def put(self, path: str, body: dict[str, Any]) -> Reply:
        return await self._call("PUT", path, body)

    async def delete(self, path: str, body: dict[str, Any] | None = None) -> Reply:
        return await self._call("DELETE", path, body)


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0, interval: float = 0.02) -> None:
    """Poll until ``condition()`` holds; fail the test if it does not within ``seconds``."""
    for _ in range(int(seconds / interval)):
        if condition():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"the condition did not come true within {seconds} s")
