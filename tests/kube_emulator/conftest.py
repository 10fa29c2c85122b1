"""Fixtures for the Kubernetes API emulator tests: a served emulator with a test CRD, and a plain HTTP client.

The tests talk HTTP to the emulator the way any client (kopf, kubectl) would, so that what they check
is the wire behaviour, not the emulator's internals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from scaleset_testbed.kube import RunningKubeEmulator, start_kube_emulator

from .kubectl import ROOT, Kubectl
from .support import CRD_FILE, Api


@pytest.fixture
async def kube() -> AsyncIterator[RunningKubeEmulator]:
    """The emulator on a free loopback port, serving the test CRD read from YAML (namespaces must exist)."""
    running = await start_kube_emulator(crd_paths=[CRD_FILE], namespace_auto_provision=False)
    try:
        yield running
    finally:
        await running.stop()
    assert running.errors == [], "the emulator failed internally while serving"


@pytest.fixture
async def api(kube: RunningKubeEmulator) -> AsyncIterator[Api]:
    """A plain HTTP client pointed at the emulator."""
    async with aiohttp.ClientSession(base_url=kube.url) as session:
        yield Api(session)


@pytest.fixture
async def project_kube() -> AsyncIterator[RunningKubeEmulator]:
    """The emulator serving the project's CRD from crds/ (namespaces must exist, as in a cluster)."""
    running = await start_kube_emulator(crd_paths=[ROOT / "crds"], namespace_auto_provision=False)
    try:
        yield running
    finally:
        await running.stop()
    assert running.errors == [], "the emulator failed internally while serving"


@pytest.fixture
def kubectl(project_kube: RunningKubeEmulator, tmp_path: Path) -> Kubectl:
    """The pinned kubectl with a kubeconfig for ``project_kube`` and a HOME of its own."""
    return Kubectl(project_kube, tmp_path)
