"""The real kopf operator, in-process, against the emulator: the reason the emulator exists.

Recipe (also the one the project's operator tests should follow): a private ``OperatorRegistry`` with
a login handler returning ``ConnectionInfo(server=url, insecure=True)``, ``kopf.operator()`` as a task
in the test's event loop, ``standalone=True``, ``clusterwide=True``, and a stop flag to end it.
Namespace and CRD scanning stay enabled: the emulator serves both.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import kopf
import pytest
from scaleset_testbed.kube import RunningKubeEmulator

from .support import GROUP, RESOURCE, WIDGETS, Api, wait_for, widget

pytestmark = pytest.mark.slow


async def test_kopf_handlers_write_status_through_the_subresource(kube: RunningKubeEmulator, api: Api) -> None:
    registry = kopf.OperatorRegistry()
    created: list[str] = []

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=kube.url, insecure=True, default_namespace="default")

    @kopf.on.create(GROUP, "v1", "widgets", registry=registry)
    def on_create(name: str, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        created.append(name)
        patch.status["phase"] = "Ready"
        kopf.info(body, reason="Provisioned", message=f"{name} is ready")

    @kopf.timer(GROUP, "v1", "widgets", interval=0.1, registry=registry)
    def tick(status: kopf.Status, patch: kopf.Patch, **_: Any) -> None:
        patch.status["ticks"] = int(status.get("ticks") or 0) + 1

    settings = kopf.OperatorSettings()
    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=settings,
            standalone=True,
            clusterwide=True,
            stop_flag=stop,
        )
    )
    try:
        assert (await api.create(widget("w1"))).status == 201

        def progressed() -> bool:
            obj = kube.get_object(RESOURCE, "w1", "default") or {}
            return bool(obj.get("status", {}).get("phase") == "Ready" and obj["status"].get("ticks", 0) >= 3)

        await wait_for(progressed)
        await wait_for(lambda: bool(kube.events(involved_name="w1")))
    finally:
        stop.set()
        # kopf waits up to 5 s for tasks started while it ran; the emulator must not leave any behind.
        await asyncio.wait_for(operator, timeout=3)

    obj = kube.get_object(RESOURCE, "w1", "default")
    assert obj is not None
    assert created == ["w1"]
    assert obj["status"]["phase"] == "Ready"
    assert obj["metadata"]["generation"] == 1  # status and metadata writes never bump it
    assert int(obj["metadata"]["resourceVersion"]) > 1
    assert obj["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]  # via JSON patch + test

    # Every write that carried .status went to the status subresource.
    patches = [r for r in kube.emulator if r.method == "PATCH" and str(r.url.path).startswith(WIDGETS)]
    status_writes = [r for r in patches if "status" in (json.loads(r.body) if r.body.startswith(b"{") else {})]
    assert status_writes
    assert all(r.subresource == "status" for r in status_writes)

    # The handler's kopf.info() arrived as a Kubernetes Event about the object.
    [event] = kube.events(involved_name="w1")
    assert (event["reason"], event["message"], event["type"]) == ("Provisioned", "w1 is ready", "Normal")
    assert event["involvedObject"]["kind"] == "Widget"
