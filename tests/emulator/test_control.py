"""The /_emulator/ control and audit API: scenarios, reset, faults, time scale, instance faults, health,
bad images, throttling switch, state, and the exact shape and order of audit events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import yaml
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from scaleset_testbed.worlds import RG, SUB, V1, V2, VMSS, scale_set, vmss_path

from .conftest import (
    DEFAULT_API_VERSION,
    NO_COMPUTE_LIMITS,
    Control,
    arm_error,
    raw_request,
    scenario_dict,
    versions_by_instance,
)

REQUEST_KEYS = {"type", "time", "method", "path", "apiVersion", "status", "body"}
REQUEST_OPTIONAL = {"operation", "operationId", "errorCode", "fault", "executedStatus", "clientRequestId", "userAgent"}
INSTANCE_KEYS = {
    "type",
    "time",
    "subscriptionId",
    "resourceGroup",
    "scaleSet",
    "instanceId",
    "updateDomain",
    "faultDomain",
    "zone",
    "state",
    "imageVersion",
    "healthy",
}
INSTANCE_OPTIONAL = {"latestModelApplied"}
TARGET = {"subscriptionId": SUB, "resourceGroup": RG, "scaleSet": VMSS}


def _model_to(client: Any, version: str) -> None:
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": version}}}}}
    client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch).result()


@pytest.mark.parametrize("encoding", ["json", "yaml"])
def test_load_a_scenario(emulator_thread: Any, sync_client: Any, encoding: str) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    client.virtual_machine_scale_sets.get(RG, VMSS)
    new = scenario_dict({"vmss-api": scale_set(capacity=3)})
    if encoding == "json":
        answer = control.call("POST", "scenario", new)
    else:
        response = raw_request(
            f"{emu.url}/_emulator/scenario",
            "PUT",
            yaml.safe_dump(new),
            token=None,
            headers={"Content-Type": "text/yaml"},
        )
        assert response.status == 200
        answer = response.json()
    assert answer == {"loaded": True, "scaleSets": 1}
    assert control.audit() == []  # a new world, a new audit
    assert len(list(client.virtual_machine_scale_set_vms.list(RG, "vmss-api"))) == 3
    with pytest.raises(ResourceNotFoundError):
        client.virtual_machine_scale_sets.get(RG, VMSS)

    bad = raw_request(f"{emu.url}/_emulator/scenario", "POST", {"nonsense": 1}, token=None)
    assert bad.status == 400
    assert "nonsense" in bad.json()["error"]


def test_reset_returns_to_the_initial_scenario(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    _model_to(client, V2)
    control.fault(method="GET", path=".*", status=500, count=5)
    assert control.call("POST", "reset") == {"reset": True}
    assert control.call("GET", "faults") == {"faults": []}
    assert control.audit() == []
    ss = client.virtual_machine_scale_sets.get(RG, VMSS)
    assert ss.etag == '"1"'
    assert ss.properties.virtual_machine_profile.storage_profile.image_reference.version == V1


def test_fault_list_consume_and_clear(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    rule = control.fault(method="get", path="/virtualMachines/3$", status=404, code="NotFound", count=2)
    assert rule == {
        "method": "GET",
        "path": "/virtualMachines/3$",
        "count": 2,
        "hits": 0,
        "status": 404,
        "code": "NotFound",
        "delay": 0.0,
        "drop": False,
        "dropAfter": False,
        "retryAfter": None,
    }
    control.fault(method="PATCH", path=".*", status=500)
    assert [f["method"] for f in control.call("GET", "faults")["faults"]] == ["GET", "PATCH"]
    vms = sync_client(emu.url).virtual_machine_scale_set_vms
    with pytest.raises(ResourceNotFoundError):
        vms.get(RG, VMSS, "3")
    assert vms.get(RG, VMSS, "4").instance_id == "4"  # other paths untouched
    assert control.call("GET", "faults")["faults"][0]["hits"] == 1
    with pytest.raises(ResourceNotFoundError):
        vms.get(RG, VMSS, "3")
    assert vms.get(RG, VMSS, "3").instance_id == "3"  # spent after two
    assert control.call("DELETE", "faults") == {"cleared": True}
    assert control.call("GET", "faults") == {"faults": []}
    assert control.call("POST", "faults", {"path": ".*"}, expect=400)["error"]


def test_time_scale_change(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    first = control.call("GET", "time-scale")
    assert first["scale"] == 50.0
    _model_to(client, V2)
    slowed = control.call("PUT", "time-scale", {"scale": 0.5})
    assert slowed["scale"] == 0.5
    assert slowed["now"] >= first["now"]  # scenario time never jumps back
    poller = client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["0"]})
    time.sleep(0.3)  # 0.15 scenario seconds: the 2 s upgrade is still running
    assert [i["state"] for i in control.instances() if i["instanceId"] == "0"] == ["Updating"]
    assert control.call("POST", "time-scale", {"scale": 400})["scale"] == 400
    control.wait_until(lambda: "0" in versions_by_instance(control.audit()), seconds=5, what="the upgrade")
    poller.result()
    assert control.call("PUT", "time-scale", {"scale": 0}, expect=400)["error"]


def test_instance_fail_injection(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    assert control.call("POST", "instances/fail", {**TARGET, "instanceId": "3"}) == {"armed": True}
    assert control.call("POST", "instances/fail", {**TARGET, "instanceId": "4", "effect": "unhealthy"}) == {
        "armed": True
    }
    _model_to(client, V2)
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["2", "3", "4"]}).result()
    assert arm_error(caught).code == "OSProvisioningTimedOut"
    assert [d.target for d in arm_error(caught).details] == ["3"]
    final = {e["instanceId"]: (e["state"], e["healthy"]) for e in control.instance_events()}
    assert final == {"2": ("Running", True), "3": ("Failed", False), "4": ("Running", False)}
    # The injection is one-shot: the next upgrade of instance 3 succeeds.
    client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["3"]}).result()
    assert control.instance_events()[-1]["state"] == "Running"
    assert control.call("POST", "instances/fail", {**TARGET, "instanceId": "3", "effect": "odd"}, expect=400)


def test_health_and_bad_images_through_the_control_api(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    assert control.call("POST", "instances/health", {**TARGET, "instanceId": "5", "health": "unhealthy"}) == {
        "health": "unhealthy"
    }
    assert client.virtual_machine_scale_set_vms.get_instance_view(RG, VMSS, "5").vm_health.status.code == (
        "HealthState/unhealthy"
    )
    assert control.instance_events()[-1]["healthy"] is False
    assert control.call("POST", "images/bad", {"version": V2, "effect": "failed"}) == {"bad": [V2]}
    _model_to(client, V2)
    with pytest.raises(HttpResponseError):
        client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["1"]}).result()
    assert control.instance_events()[-1]["state"] == "Failed"


def test_throttling_switch(emulator_thread: Any) -> None:
    emu = emulator_thread(scenario_dict(throttling={"reads": {"capacity": 1, "refillPerSecond": 0.01}}))
    control = Control(emu.url)
    url = f"{emu.url}{vmss_path()}?api-version={DEFAULT_API_VERSION}"
    assert [raw_request(url).status for _ in range(2)] == [200, 429]
    assert control.call("POST", "throttling", {"enabled": False}) == {
        "enabled": False,
        "throttled": 1,
        "throttledBy": {"ARM reads": 1},
    }
    assert [raw_request(url).status for _ in range(3)] == [200, 200, 200]
    control.call("POST", "throttling", {"enabled": True, "reset": True})
    assert [raw_request(url).status for _ in range(2)] == [200, 429]


def test_state_and_unknown_endpoints(emulator_thread: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    state = control.state()
    assert state["time"] >= 0
    (ss,) = state["scaleSets"]
    assert (ss["subscriptionId"], ss["resourceGroup"], ss["name"], ss["upgradeMode"]) == (SUB, RG, VMSS, "Manual")
    assert [i["instanceId"] for i in ss["instances"]] == [str(i) for i in range(10)]
    assert ss["instances"][7] == {
        "instanceId": "7",
        "updateDomain": 2,
        "faultDomain": 2,
        "zone": None,
        "state": "Running",
        "imageVersion": V1,
        "healthy": True,
        "latestModelApplied": True,
    }
    assert "error" in control.call("GET", "nothing-here", expect=404)
    assert "error" in control.call("POST", "instances/fail", {"scaleSet": VMSS}, expect=400)


def test_audit_event_shapes_and_order(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    _model_to(client, V2)
    client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["3", "8"]}).result()
    control.fault(method="GET", path="/virtualMachines/1$", status=500, count=1)
    client.virtual_machine_scale_set_vms.get(RG, VMSS, "1")
    raw_request(f"{emu.url}{vmss_path()}", token=None)  # no api-version, no token
    events = control.audit()

    requests = [e for e in events if e["type"] == "request"]
    instances = [e for e in events if e["type"] == "instance"]
    assert len(requests) + len(instances) == len(events)
    for e in requests:
        assert REQUEST_KEYS <= set(e) <= REQUEST_KEYS | REQUEST_OPTIONAL, e
        assert isinstance(e["time"], float)
        assert e["method"] in ("GET", "PATCH", "POST")
        assert e["path"].startswith("/subscriptions/")
        assert "?" not in e["path"]
        assert e["apiVersion"] in (DEFAULT_API_VERSION, None)
        assert isinstance(e["status"], int)
        assert e["body"] is None or isinstance(e["body"], dict)
    post = next(e for e in requests if e["method"] == "POST")
    assert post == {
        "type": "request",
        "time": post["time"],
        "method": "POST",
        "path": vmss_path() + "/manualupgrade",
        "apiVersion": DEFAULT_API_VERSION,
        "status": 202,
        "body": {"instanceIds": ["3", "8"]},
        "operation": "VirtualMachineScaleSets_UpdateInstances",
        "operationId": post["operationId"],
        "clientRequestId": post["clientRequestId"],  # the SDK's x-ms-client-request-id
        "userAgent": post["userAgent"],  # the client (with leader election: the replica) that sent it
    }
    assert "azsdk-python" in post["userAgent"]
    assert requests[-1]["apiVersion"] is None
    assert requests[-1]["status"] == 401
    assert requests[-1]["errorCode"] == "AuthenticationFailed"
    injected = [e for e in requests if "fault" in e]
    assert [(e["status"], e["errorCode"]) for e in injected] == [(500, "InternalServerError")]

    assert [(e["instanceId"], e["state"]) for e in instances] == [
        ("3", "Updating"),
        ("8", "Updating"),
        ("3", "Running"),
        ("8", "Running"),
    ]
    for e in instances:
        assert INSTANCE_KEYS <= set(e) <= INSTANCE_KEYS | INSTANCE_OPTIONAL, e
        assert (e["subscriptionId"], e["resourceGroup"], e["scaleSet"]) == (SUB, RG, VMSS)
        assert e["updateDomain"] == 3
        assert e["faultDomain"] == int(e["instanceId"]) % 5
        assert e["zone"] is None
    assert [e["imageVersion"] for e in instances[2:]] == [V2, V2]
    assert [e["healthy"] for e in instances[2:]] == [True, True]

    times = [e["time"] for e in events]
    assert times == sorted(times)  # one clock, non-decreasing
    later = control.call("GET", f"audit?since={len(events) - 2}")
    assert later["events"] == events[-2:]
    assert later["next"] == len(events)


async def test_audit_stays_ordered_under_concurrent_clients(
    aio_emulator: Any, aio_client: Any, aio_control: Any
) -> None:
    emu = await aio_emulator(
        scenario_dict({VMSS: scale_set(capacity=20, upgradePolicy="Automatic")}, throttling=NO_COMPUTE_LIMITS)
    )
    control = aio_control(emu.url)
    clients = [aio_client(emu.url) for _ in range(4)]
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    await (await clients[0].virtual_machine_scale_sets.begin_update(RG, VMSS, patch)).result()

    async def reader(client: Any) -> None:
        for _ in range(10):
            [vm async for vm in client.virtual_machine_scale_set_vms.list(RG, VMSS, expand="instanceView")]

    await asyncio.gather(*(reader(c) for c in clients))
    events = await control.audit()
    times = [e["time"] for e in events]
    assert times == sorted(times)
    assert len([e for e in events if e["type"] == "request"]) >= 40


async def test_audit_stays_ordered_with_a_slow_request_body(
    aio_emulator: Any, aio_client: Any, aio_control: Any
) -> None:
    emu = await aio_emulator()
    control = aio_control(emu.url)
    client = aio_client(emu.url)
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    await (await client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch)).result()
    upgrade = await client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["0"]})

    async def slow_body() -> Any:
        yield b'{"instanceIds": '
        await asyncio.sleep(0.3)  # instance 0 finishes its upgrade meanwhile
        yield b'["5"]}'

    async with aiohttp.ClientSession() as session:
        url = f"{emu.url}{vmss_path()}/manualupgrade?api-version={DEFAULT_API_VERSION}"
        headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
        slow = asyncio.ensure_future(session.post(url, data=slow_body(), headers=headers))
        await upgrade.result()  # polls, so the world records instance 0 running while the body trickles in
        async with await slow as answer:
            assert answer.status == 202
    events = await control.audit()
    times = [e["time"] for e in events]
    assert times == sorted(times)
    running = next(i for i, e in enumerate(events) if e["type"] == "instance" and e["state"] == "Running")
    slow_post = max(i for i, e in enumerate(events) if e["type"] == "request" and e["method"] == "POST")
    assert slow_post > running  # the slow request counts from when its body arrived
