"""Upgrades: manualupgrade (success, failure, unhealthy), Automatic and Rolling policies, rolling cancel,
osRollingUpgrade."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute.models import VirtualMachineScaleSetVMInstanceRequiredIDs
from scaleset_testbed.worlds import LOCATION, OFFER, PUBLISHER, RG, SKU, V1, V2, V3, VMSS, scale_set

from .conftest import AsyncControl, Control, arm_error, scenario_dict, versions_by_instance


def _set_image(client: Any, version: str, name: str = VMSS) -> None:
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": version}}}}}
    client.virtual_machine_scale_sets.begin_update(RG, name, patch).result()


def _max_concurrent_updating(events: list[dict[str, Any]]) -> int:
    updating: set[str] = set()
    peak = 0
    for e in events:
        if e["type"] != "instance":
            continue
        if e["state"] == "Updating":
            updating.add(e["instanceId"])
        else:
            updating.discard(e["instanceId"])
        peak = max(peak, len(updating))
    return peak


def _wait_rolling(client: Any, name: str = VMSS, seconds: float = 10.0) -> tuple[Any, list[Any]]:
    """Poll rollingUpgrades/latest until it leaves RollingForward; return the last answer and all seen."""
    seen = []
    deadline = time.monotonic() + seconds
    while True:
        status = client.virtual_machine_scale_set_rolling_upgrades.get_latest(RG, name)
        seen.append(status)
        if status.properties.running_status.code != "RollingForward":
            return status, seen
        assert time.monotonic() < deadline, "rolling upgrade did not finish"
        time.sleep(0.005)


# ----------------------------------------------------------------------------- manual upgrade
def test_manual_upgrade_moves_only_the_named_instances(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    _set_image(client, V2)
    poller = client.virtual_machine_scale_sets.begin_update_instances(
        RG, VMSS, VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=["0", "5"])
    )
    assert poller.result() is None
    assert poller.status().lower() == "succeeded"

    assert versions_by_instance(control.audit()) == {"0": [V2], "5": [V2]}
    updating = [e["instanceId"] for e in control.instance_events() if e["state"] == "Updating"]
    assert updating == ["0", "5"]
    post = control.requests("/manualupgrade", "POST")
    assert [(p["status"], p["body"]) for p in post] == [(202, {"instanceIds": ["0", "5"]})]

    vms = {v.instance_id: v.properties for v in client.virtual_machine_scale_set_vms.list(RG, VMSS)}
    assert {i for i, p in vms.items() if p.latest_model_applied} == {"0", "5"}
    assert {i: p.storage_profile.image_reference.exact_version for i, p in vms.items() if i in ("0", "5", "1")} == {
        "0": V2,
        "5": V2,
        "1": V1,
    }


async def test_aio_manual_upgrade(aio_emulator: Any, aio_client: Any, aio_control: Any) -> None:
    emu = await aio_emulator()
    control: AsyncControl = aio_control(emu.url)
    client = aio_client(emu.url)
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    updated = await (await client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch)).result()
    assert updated.etag == '"2"'
    poller = await client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["2", "7"]})
    assert await poller.result() is None
    assert versions_by_instance(await control.audit()) == {"2": [V2], "7": [V2]}
    stale = [
        v.instance_id
        async for v in client.virtual_machine_scale_set_vms.list(
            RG, VMSS, filter="properties/latestModelApplied eq false"
        )
    ]
    assert sorted(stale, key=int) == ["0", "1", "3", "4", "5", "6", "8", "9"]


def test_manual_upgrade_to_a_failing_image(emulator_thread: Any, sync_client: Any) -> None:
    data = scenario_dict(badImageVersions=[{"version": V3, "effect": "failed"}])
    emu = emulator_thread(data)
    control = Control(emu.url)
    client = sync_client(emu.url)
    _set_image(client, V3)
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["1", "6"]}).result()
    assert arm_error(caught).code == "OSProvisioningTimedOut"
    assert {d.target for d in arm_error(caught).details} == {"1", "6"}
    failed = {e["instanceId"]: e["imageVersion"] for e in control.instance_events() if e["state"] == "Failed"}
    assert failed == {"1": V3, "6": V3}
    view = client.virtual_machine_scale_set_vms.get_instance_view(RG, VMSS, "1")
    assert view.statuses[0].code.startswith("ProvisioningState/failed")
    assert client.virtual_machine_scale_set_vms.get(RG, VMSS, "1").properties.provisioning_state == "Failed"


def test_manual_upgrade_to_an_unhealthy_image(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict(badImageVersions=[V3]))
    control = Control(emu.url)
    client = sync_client(emu.url)
    _set_image(client, V3)
    client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["2"]}).result()
    view = client.virtual_machine_scale_set_vms.get_instance_view(RG, VMSS, "2")
    assert view.vm_health.status.code == "HealthState/unhealthy"
    assert view.statuses[0].code == "ProvisioningState/succeeded"
    running = [e for e in control.instance_events() if e["state"] == "Running"]
    assert [(e["instanceId"], e["imageVersion"], e["healthy"]) for e in running] == [("2", V3, False)]
    other = client.virtual_machine_scale_set_vms.get_instance_view(RG, VMSS, "3")
    assert other.vm_health.status.code == "HealthState/healthy"


# ----------------------------------------------------------------------------- Automatic
def test_automatic_policy_upgrades_everything_at_once(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict({VMSS: scale_set(upgradePolicy="Automatic")}))
    control = Control(emu.url)
    client = sync_client(emu.url)
    _set_image(client, V2)
    control.wait_until(lambda: len(versions_by_instance(control.audit())) == 10, what="10 instances on V2")
    events = control.instance_events()
    states = [e["state"] for e in events]
    assert states[:10] == ["Updating"] * 10
    assert states[10:] == ["Running"] * 10
    assert len({e["time"] for e in events[:10]}) == 1
    assert versions_by_instance(events) == {str(i): [V2] for i in range(10)}
    assert control.requests("/manualupgrade") == []


# ----------------------------------------------------------------------------- Rolling
ROLLING = scale_set(
    upgradePolicy="Rolling",
    rollingUpgradePolicy={"maxBatchInstancePercent": 20, "pauseTimeBetweenBatches": "PT1S"},
)


def test_rolling_policy_runs_batches(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict({VMSS: ROLLING}))
    control = Control(emu.url)
    client = sync_client(emu.url)
    _set_image(client, V2)
    final, seen = _wait_rolling(client)

    assert final.properties.running_status.code == "Completed"
    progress = final.properties.progress
    assert (progress.successful_instance_count, progress.failed_instance_count) == (10, 0)
    assert (progress.in_progress_instance_count, progress.pending_instance_count) == (0, 0)
    assert final.properties.policy.max_batch_instance_percent == 20
    forward = [s for s in seen if s.properties.running_status.code == "RollingForward"]
    assert forward, "progress was never observed"
    counts = [s.properties.progress.successful_instance_count for s in forward]
    assert counts == sorted(counts)
    assert counts[0] < 10

    events = control.instance_events()
    assert _max_concurrent_updating(events) == 2  # 20% of 10
    updating = [e for e in events if e["state"] == "Updating"]
    batches: dict[float, list[int]] = {}
    for e in updating:
        batches.setdefault(e["time"], []).append(e["updateDomain"])
    assert len(batches) == 5
    assert [sorted(set(uds)) for uds in batches.values()] == [[0], [1], [2], [3], [4]]  # walked by update domain
    assert versions_by_instance(events) == {str(i): [V2] for i in range(10)}


def test_rolling_upgrade_to_a_bad_image_faults(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict({VMSS: ROLLING}, badImageVersions=[V3]))
    control = Control(emu.url)
    client = sync_client(emu.url)
    _set_image(client, V3)
    final, _ = _wait_rolling(client)
    assert final.properties.running_status.code == "Faulted"
    assert final.properties.error.code == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    assert final.properties.progress.failed_instance_count == 2
    touched = {e["instanceId"] for e in control.instance_events()}
    assert len(touched) == 2  # the first batch only
    assert {e["healthy"] for e in control.instance_events() if e["state"] == "Running"} == {False}


def test_rolling_upgrade_cancel(emulator_thread: Any, sync_client: Any) -> None:
    # Cancelled mid-batch, with a long pause: it must stop when the batch in flight ends, not after the pause.
    policy = {"maxBatchInstancePercent": 20, "pauseTimeBetweenBatches": "PT100S"}
    data = scenario_dict({VMSS: scale_set(upgradePolicy="Rolling", rollingUpgradePolicy=policy)})
    data["timing"]["instanceUpgradeSeconds"] = 20.0  # 0.4 s of real time
    emu = emulator_thread(data)
    control = Control(emu.url)
    client = sync_client(emu.url)
    _set_image(client, V2)
    assert client.virtual_machine_scale_set_rolling_upgrades.begin_cancel(RG, VMSS).result() is None
    assert (
        client.virtual_machine_scale_set_rolling_upgrades.get_latest(
            RG, VMSS
        ).properties.progress.in_progress_instance_count
        == 2
    )
    final, _ = _wait_rolling(client, seconds=1.5)  # the pause alone would take 2 s of real time
    assert final.properties.running_status.code == "Cancelled"
    assert final.properties.running_status.last_action == "Cancel"
    upgraded = versions_by_instance(control.audit())
    assert len(upgraded) == 2
    stale = list(client.virtual_machine_scale_set_vms.list(RG, VMSS, filter="properties/latestModelApplied eq false"))
    assert len(stale) == 8
    # Nothing left to cancel.
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_set_rolling_upgrades.begin_cancel(RG, VMSS)
    assert caught.value.status_code == 409


def test_get_latest_before_any_rolling_upgrade(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread(scenario_dict({VMSS: ROLLING}))
    with pytest.raises(HttpResponseError) as caught:
        sync_client(emu.url).virtual_machine_scale_set_rolling_upgrades.get_latest(RG, VMSS)
    assert caught.value.status_code == 404
    assert arm_error(caught).code == "RollingUpgradeNotFound"


def test_os_rolling_upgrade_moves_a_latest_model_to_a_new_version(emulator_thread: Any, sync_client: Any) -> None:
    image = {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": "latest"}
    emu = emulator_thread(scenario_dict({VMSS: {**ROLLING, "image": image}}, versions=[V1, V2]))
    control = Control(emu.url)
    client = sync_client(emu.url)
    vms = list(client.virtual_machine_scale_set_vms.list(RG, VMSS))
    assert {v.properties.storage_profile.image_reference.exact_version for v in vms} == {V2}

    control.call(
        "POST",
        "images/marketplace",
        {"location": LOCATION, "publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": V3},
    )
    assert client.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade(RG, VMSS).result() is None
    final = client.virtual_machine_scale_set_rolling_upgrades.get_latest(RG, VMSS)
    assert final.properties.running_status.code == "Completed"
    assert final.properties.progress.successful_instance_count == 10
    vms = list(client.virtual_machine_scale_set_vms.list(RG, VMSS))
    assert {v.properties.storage_profile.image_reference.exact_version for v in vms} == {V3}
    assert {v.properties.storage_profile.image_reference.version for v in vms} == {"latest"}
    assert _max_concurrent_updating(control.audit()) == 2

    pinned = emulator_thread(scenario_dict({VMSS: ROLLING}))
    with pytest.raises(HttpResponseError) as caught:
        sync_client(pinned.url).virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade(RG, VMSS)
    assert arm_error(caught).code == "OperationNotAllowed"


def test_rolling_upgrade_cancelled_during_the_health_grace_stays_cancelled(
    emulator_thread: Any, sync_client: Any
) -> None:
    data = scenario_dict({VMSS: ROLLING}, badImageVersions=[V3])
    data["timing"]["healthGraceSeconds"] = 20.0  # 0.4 s of real time
    emu = emulator_thread(data)
    control = Control(emu.url)
    client = sync_client(emu.url)
    _set_image(client, V3)
    control.wait_until(lambda: len(versions_by_instance(control.audit())) == 2, what="the first batch to run")
    client.virtual_machine_scale_set_rolling_upgrades.begin_cancel(RG, VMSS).result()
    assert client.virtual_machine_scale_set_rolling_upgrades.get_latest(RG, VMSS).properties.running_status.code == (
        "Cancelled"
    )
    # The grace period ends with both upgraded instances unhealthy: that must not turn it into Faulted.
    control.wait_until(
        lambda: [e["healthy"] for e in control.instance_events() if e["state"] == "Running"][-2:] == [False, False],
        what="the grace period to end",
    )
    final = client.virtual_machine_scale_set_rolling_upgrades.get_latest(RG, VMSS)
    assert final.properties.running_status.code == "Cancelled"
    assert len(versions_by_instance(control.audit())) == 2
