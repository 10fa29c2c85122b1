"""Long-running operations: the status monitor (InProgress -> Succeeded|Failed|Canceled), the Location
monitor, Retry-After, preemption seen by the SDK poller, and resuming a poller from its continuation token."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from scaleset_testbed.worlds import RG, SUB, V2, V3, VMSS, vmss_path

from .conftest import DEFAULT_API_VERSION, Control, arm_error, raw_request, scenario_dict, versions_by_instance


def _slow(**top: Any) -> dict[str, Any]:
    data = scenario_dict(**top)
    data["timing"]["instanceUpgradeSeconds"] = 20.0  # 0.4 s of real time
    return data


def _model_to(client: Any, version: str) -> None:
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": version}}}}}
    client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch).result()


def _start_raw_upgrade(url: str, ids: list[str]) -> Any:
    answer = raw_request(
        f"{url}{vmss_path()}/manualupgrade?api-version={DEFAULT_API_VERSION}", "POST", {"instanceIds": ids}
    )
    assert answer.status == 202
    assert answer.body == b""
    return answer


def test_status_monitor_moves_to_succeeded(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(_slow())
    _model_to(sync_client(emu.url), V2)
    answer = _start_raw_upgrade(emu.url, ["0"])
    monitor = answer.headers["azure-asyncoperation"]
    location = answer.headers["location"]
    prefix = f"{emu.url}/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/operations/"
    assert monitor.startswith(prefix)
    assert location.startswith(prefix)
    assert f"api-version={DEFAULT_API_VERSION}" in monitor
    assert "retry-after" not in answer.headers  # the scenario sets no retryAfterSeconds

    first = raw_request(monitor).json()
    assert first["status"] == "InProgress"
    assert "endTime" not in first
    assert first["startTime"].endswith("Z")
    pending = raw_request(location)
    assert pending.status == 202
    assert pending.headers["location"] == location

    control = Control(emu.url)
    control.wait_until(lambda: raw_request(monitor).json()["status"] != "InProgress", what="the operation to end")
    done = raw_request(monitor).json()
    assert done["status"] == "Succeeded"
    assert done["endTime"] >= done["startTime"]
    assert "error" not in done
    assert raw_request(location).status == 200
    assert versions_by_instance(control.audit()) == {"0": [V2]}


def test_status_monitor_moves_to_failed(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict(badImageVersions=[{"version": V3, "effect": "failed"}]))
    _model_to(sync_client(emu.url), V3)
    answer = _start_raw_upgrade(emu.url, ["4"])
    monitor = answer.headers["azure-asyncoperation"]
    control = Control(emu.url)
    control.wait_until(lambda: raw_request(monitor).json()["status"] != "InProgress", what="the operation to end")
    failed = raw_request(monitor).json()
    assert failed["status"] == "Failed"
    assert failed["error"]["code"] == "OSProvisioningTimedOut"
    assert failed["error"]["details"][0]["target"] == "4"
    by_location = raw_request(answer.headers["location"])
    assert by_location.status >= 400
    assert by_location.json()["error"]["code"] == "OSProvisioningTimedOut"


def test_retry_after_is_an_integer(emulator_thread: Any, sync_client: Any) -> None:
    data = scenario_dict()
    data["timing"]["retryAfterSeconds"] = 1
    emu = emulator_thread(data)
    answer = _start_raw_upgrade(emu.url, ["0"])
    assert answer.headers["retry-after"] == "1"
    patch = raw_request(f"{emu.url}{vmss_path()}?api-version={DEFAULT_API_VERSION}", "PATCH", {"tags": {"a": "b"}})
    assert patch.status == 200
    assert patch.headers["retry-after"] == "1"
    assert "azure-asyncoperation" in patch.headers
    assert "location" not in patch.headers  # PUT/PATCH: the poller re-reads the resource itself


def test_preempted_operation_is_canceled(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(_slow())
    control = Control(emu.url)
    client = sync_client(emu.url)
    _model_to(client, V2)
    poller = client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["0", "1"]})
    preempted = control.call(
        "POST", "operations/preempt", {"subscriptionId": SUB, "resourceGroup": RG, "scaleSet": VMSS}
    )["preempted"]
    assert len(preempted) == 1
    with pytest.raises(HttpResponseError) as caught:
        poller.result()
    assert arm_error(caught).code == "OperationPreempted"

    ops = {op["id"]: op for op in control.call("GET", "operations")["operations"]}
    assert ops[preempted[0]]["status"] == "Canceled"
    assert ops[preempted[0]]["error"]["code"] == "OperationPreempted"
    assert ops[preempted[0]]["instanceIds"] == ["0", "1"]
    status_url = control.requests("/operations/" + preempted[0])[-1]["path"]
    monitor = raw_request(f"{emu.url}{status_url}?api-version={DEFAULT_API_VERSION}").json()
    assert monitor["status"] == "Canceled"


async def test_aio_preempted_operation(aio_emulator: Any, aio_client: Any, aio_control: Any) -> None:
    emu = await aio_emulator(_slow())
    control = aio_control(emu.url)
    client = aio_client(emu.url)
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    await (await client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch)).result()
    poller = await client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["3"]})
    operations = await control.call("GET", "operations")
    running = [op["id"] for op in operations["operations"] if op["status"] == "InProgress"]
    assert len(running) == 1
    await control.call("POST", "operations/preempt", {"operationId": running[0]})
    with pytest.raises(HttpResponseError) as caught:
        await poller.result()
    assert arm_error(caught).code == "OperationPreempted"


def test_continuation_token_resumes_in_a_new_client(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(_slow())
    control = Control(emu.url)
    first = sync_client(emu.url)
    _model_to(first, V2)
    poller = first.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["2", "7"]})
    token = poller.continuation_token()
    assert isinstance(token, str)
    assert poller.done() is False

    second = sync_client(emu.url)  # as an operator restarted mid-operation would
    resumed = second.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, None, continuation_token=token)
    assert resumed.result() is None
    assert resumed.status().lower() == "succeeded"
    assert versions_by_instance(control.audit()) == {"2": [V2], "7": [V2]}
    assert len(control.requests("/manualupgrade", "POST")) == 1  # resumed, not restarted


async def test_aio_continuation_token(aio_emulator: Any, aio_client: Any, aio_control: Any) -> None:
    emu = await aio_emulator(_slow())
    control = aio_control(emu.url)
    first = aio_client(emu.url)
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    await (await first.virtual_machine_scale_sets.begin_update(RG, VMSS, patch)).result()
    poller = await first.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["9"]})
    token = poller.continuation_token()
    second = aio_client(emu.url)
    resumed = await second.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, None, continuation_token=token)
    await resumed.result()
    assert versions_by_instance(await control.audit()) == {"9": [V2]}
