"""What the spec-driven suite made the emulator do: answers and preconditions by api-version (no etag nor
If-Match before 2023-09-01, so none on Azure Stack Hub's 2020-06-01), ARM's reading of string numbers and
booleans, Creating on a fresh PUT, the power actions and instance deletion the 2016 scale-set editor calls, and
rolling-upgrade progress that adds up after osRollingUpgrade."""

from __future__ import annotations

import time
from typing import Any

import pytest
from scaleset_testbed.worlds import (
    OFFER,
    PUBLISHER,
    RG,
    SKU,
    SUB,
    V1,
    V2,
    V3,
    VMSS,
    image_reference,
    scale_set,
    vmss_path,
)

from .conftest import NO_COMPUTE_LIMITS, TIMING, Control, RawResponse, raw_request, scenario_dict


def _url(emu: Any, suffix: str = "", api_version: str = "2026-04-01", name: str = VMSS) -> str:
    return f"{emu.url}{vmss_path(name=name)}{suffix}?api-version={api_version}"


def _wait_operation(answer: RawResponse, seconds: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        status: dict[str, Any] = raw_request(answer.headers["azure-asyncoperation"]).json()
        if status["status"] != "InProgress" or time.monotonic() > deadline:
            return status
        time.sleep(0.01)


# ------------------------------------------------------------------------------------------------ etag by version
@pytest.mark.parametrize(
    ("api_version", "has_etag"), [("2020-06-01", False), ("2023-07-01", False), ("2023-09-01", True)]
)
def test_etag_only_where_the_api_version_defines_it(emulator_thread: Any, api_version: str, has_etag: bool) -> None:
    emu = emulator_thread()
    body = raw_request(_url(emu, api_version=api_version)).json()
    assert ("etag" in body) is has_etag
    assert ("timeCreated" in body["properties"]) is (api_version >= "2021-11-01")


def test_if_match_is_ignored_where_the_version_has_no_etag(emulator_thread: Any) -> None:
    emu = emulator_thread()
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": image_reference(V2)}}}}
    stale = {"If-Match": '"999"'}
    old = raw_request(_url(emu, api_version="2020-06-01"), "PATCH", patch, headers=stale)
    assert old.status == 200, old.body  # 2020-06-01 defines no If-Match: neither honoured nor refused
    assert "etag" not in old.json()
    new = raw_request(_url(emu, api_version="2023-09-01"), "PATCH", patch, headers=stale)
    assert new.status == 412
    assert new.json()["error"]["code"] == "PreconditionFailed"
    none_match = raw_request(_url(emu, api_version="2020-06-01"), "PUT", _put_body(), headers={"If-None-Match": "*"})
    assert none_match.status == 200, none_match.body


# ------------------------------------------------------------------------------------------------ body reading
def _put_body(capacity: Any = 2, **props: Any) -> dict[str, Any]:
    return {
        "location": "westeurope",
        "sku": {"name": "Standard_D2s_v3", "capacity": capacity},
        "properties": {
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {"storageProfile": {"imageReference": image_reference(V1)}},
            **props,
        },
    }


def test_string_numbers_and_booleans_are_read_as_arm_reads_them(emulator_thread: Any) -> None:
    emu = emulator_thread()
    answer = raw_request(_url(emu), "PUT", _put_body("3", overprovision="false"))
    assert answer.status == 200, answer.body
    assert answer.json()["properties"]["overprovision"] is False
    _wait_operation(answer)
    assert raw_request(_url(emu)).json()["sku"]["capacity"] == 3
    patch = {
        "properties": {"upgradePolicy": {"mode": "Rolling", "rollingUpgradePolicy": {"maxBatchInstancePercent": "50"}}}
    }
    rolling = raw_request(_url(emu), "PATCH", patch).json()["properties"]["upgradePolicy"]["rollingUpgradePolicy"]
    assert rolling["maxBatchInstancePercent"] == 50


@pytest.mark.parametrize(
    ("capacity", "code", "words"),
    [
        ("many", "InvalidRequestFormat", "Could not convert string to integer: many. Path 'sku.capacity'."),
        ("1001", "InvalidParameter", "The value 1001 of parameter 'sku.capacity' is out of range"),
        (-1, "InvalidParameter", "must be between 0 and 1000"),
        (True, "InvalidRequestFormat", "Path 'sku.capacity'"),
    ],
)
def test_a_capacity_that_cannot_be_read_or_is_out_of_range(
    emulator_thread: Any, capacity: Any, code: str, words: str
) -> None:
    emu = emulator_thread()
    answer = raw_request(_url(emu), "PATCH", {"sku": {"capacity": capacity}})
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] == code
    assert words in error["message"] + "".join(d["message"] for d in error.get("details", []))


def test_a_fresh_put_answers_creating(emulator_thread: Any) -> None:
    emu = emulator_thread()
    answer = raw_request(_url(emu, name="vmss-new"), "PUT", _put_body())
    assert answer.status == 201
    assert answer.json()["properties"]["provisioningState"] == "Creating"
    assert _wait_operation(answer)["status"] == "Succeeded"
    done = raw_request(_url(emu, name="vmss-new")).json()["properties"]
    assert done["provisioningState"] == "Succeeded"
    assert done["upgradePolicy"]["automaticOSUpgradePolicy"] == {"enableAutomaticOSUpgrade": False}
    assert done["singlePlacementGroup"] is True


# ------------------------------------------------------------------------------------------------ power actions
DURING = {"poweroff": "stopping", "deallocate": "deallocating", "restart": "starting", "start": "starting"}


def _power(emu: Any, iid: str) -> str:
    view = raw_request(_url(emu, f"/virtualMachines/{iid}/instanceView")).json()
    return str(next(s["code"] for s in view["statuses"] if s["code"].startswith("PowerState/")))


@pytest.mark.parametrize(
    ("action", "final"),
    [("poweroff", "stopped"), ("deallocate", "deallocated"), ("restart", "running"), ("start", "running")],
)
@pytest.mark.parametrize("api_version", ["2026-04-01", "2020-06-01", "2019-03-01"])
def test_power_actions_answer_202_and_take_effect(
    emulator_thread: Any, action: str, final: str, api_version: str
) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    answer = raw_request(_url(emu, f"/{action}", api_version), "POST", {"instanceIds": ["1", "2"]})
    assert answer.status == 202
    assert {"azure-asyncoperation", "location"} <= set(answer.headers)
    assert _wait_operation(answer)["status"] == "Succeeded"
    assert {_power(emu, i) for i in ("1", "2")} == {f"PowerState/{final}"}
    assert _power(emu, "0") == "PowerState/running"
    power = [(e["instanceId"], e["powerState"]) for e in control.audit() if e["type"] == "power"]
    assert [p for i, p in power if i == "2"] == [DURING[action], final]
    assert {i for i, _ in power} == {"1", "2"}
    assert control.requests(f"/{action}")[0]["operation"].startswith("VirtualMachineScaleSets_")


def test_a_stopped_instance_starts_again_and_reports_health(emulator_thread: Any) -> None:
    emu = emulator_thread()
    _wait_operation(raw_request(_url(emu, "/deallocate"), "POST"))  # no body: every instance
    assert {_power(emu, str(i)) for i in range(10)} == {"PowerState/deallocated"}
    _wait_operation(raw_request(_url(emu, "/start"), "POST", {"instanceIds": ["*"]}))
    view = raw_request(_url(emu, "/virtualMachines/4/instanceView")).json()
    assert view["vmHealth"]["status"]["code"] == "HealthState/healthy"


def test_delete_instances_scales_in_by_those_instances(emulator_thread: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    answer = raw_request(_url(emu, "/delete"), "POST", {"instanceIds": ["3", "7"]})
    assert answer.status == 202
    assert _wait_operation(answer)["status"] == "Succeeded"
    assert sorted(int(i["instanceId"]) for i in control.instances()) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert raw_request(_url(emu)).json()["sku"]["capacity"] == 8
    deleted = [e["instanceId"] for e in control.instance_events(VMSS) if e["state"] == "Deleted"]
    assert sorted(deleted) == ["3", "7"]
    missing = raw_request(_url(emu, "/delete"), "POST", {"instanceIds": ["3"]})
    assert missing.status == 404


# ------------------------------------------------------------------------------------------------ rolling upgrades
def test_os_rolling_upgrade_progress_adds_up(emulator_thread: Any) -> None:
    latest = {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": "latest"}
    spec = scale_set(
        capacity=6, upgradePolicy="Rolling", image=latest, rollingUpgradePolicy={"maxBatchInstancePercent": 34}
    )
    emu = emulator_thread(scenario_dict({VMSS: spec}, versions=[V1, V2]))
    control = Control(emu.url)
    control.call("POST", "images/marketplace", {"publisher": PUBLISHER, "offer": OFFER, "sku": SKU, "version": V3})
    started = raw_request(_url(emu, "/osRollingUpgrade"), "POST")
    assert started.status == 202
    seen = []
    while True:
        progress = raw_request(_url(emu, "/rollingUpgrades/latest")).json()["properties"]
        counts = progress["progress"]
        seen.append(counts)
        assert sum(counts.values()) == 6, counts
        if progress["runningStatus"]["code"] != "RollingForward":
            break
        time.sleep(0.01)
    assert progress["runningStatus"]["code"] == "Completed"
    assert counts == {
        "successfulInstanceCount": 6,
        "failedInstanceCount": 0,
        "inProgressInstanceCount": 0,
        "pendingInstanceCount": 0,
    }
    assert any(c["pendingInstanceCount"] > 0 for c in seen)


def test_rolling_status_follows_the_api_version(emulator_thread: Any) -> None:
    spec = scale_set(capacity=2, upgradePolicy="Rolling")
    emu = emulator_thread(scenario_dict({VMSS: spec}))
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": image_reference(V2)}}}}
    _wait_operation(raw_request(_url(emu), "PATCH", patch))
    new = raw_request(_url(emu, "/rollingUpgrades/latest")).json()["properties"]["policy"]
    old = raw_request(_url(emu, "/rollingUpgrades/latest", "2019-03-01")).json()["properties"]["policy"]
    assert {"prioritizeUnhealthyInstances", "rollbackFailedInstancesOnPolicyBreach"} <= set(new)
    assert set(old) == {
        "maxBatchInstancePercent",
        "maxUnhealthyInstancePercent",
        "maxUnhealthyUpgradedInstancePercent",
        "pauseTimeBetweenBatches",
    }


# ------------------------------------------------------------------------------------------------ api-versions
@pytest.mark.parametrize(("suffix", "api_version"), [("", "2026-03-01"), ("gallery", "2025-12-03")])
def test_the_spec_s_newest_api_versions_are_served(emulator_thread: Any, suffix: str, api_version: str) -> None:
    gallery = {"subscriptionId": SUB, "resourceGroup": RG, "gallery": "gal", "image": "img", "versions": ["1.0.0"]}
    gallery.update(regions=["westeurope"], excludeFromLatest=["1.0.0"])
    emu = emulator_thread(scenario_dict(galleries=[gallery]))
    if suffix:
        path = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries"
        answer = raw_request(f"{emu.url}{path}/gal/images/img/versions/1.0.0?api-version={api_version}")
        assert answer.status == 200, answer.body
        profile = answer.json()["properties"]["publishingProfile"]
        assert profile["excludeFromLatest"] is True
        assert profile["targetRegions"][0]["excludeFromLatest"] is True
        assert "publishedDate" in profile
    else:
        assert raw_request(_url(emu, api_version=api_version)).status == 200


def test_a_policy_breach_rolls_the_failed_instances_back(emulator_thread: Any) -> None:
    policy = {
        "maxBatchInstancePercent": 50,
        "maxUnhealthyUpgradedInstancePercent": 20,
        "rollbackFailedInstancesOnPolicyBreach": True,
    }
    spec = scale_set(capacity=4, upgradePolicy="Rolling", rollingUpgradePolicy=policy)
    # Instances take 6 scenario seconds to upgrade, so RollingBack lasts long enough to be seen by a poll that a
    # loaded machine (make test runs the fault campaign beside it) delays by a few hundred milliseconds.
    timing = {**TIMING, "instanceUpgradeSeconds": 6.0}
    emu = emulator_thread(
        scenario_dict({VMSS: spec}, badImageVersions=[V3], timing=timing, throttling=NO_COMPUTE_LIMITS)
    )
    control = Control(emu.url)
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": image_reference(V3)}}}}
    assert raw_request(_url(emu), "PATCH", patch).status == 200
    codes: list[tuple[str, str]] = []
    while not codes or codes[-1][0] in ("RollingForward", "RollingBack"):
        new = raw_request(_url(emu, "/rollingUpgrades/latest"))
        if new.status == 200:
            old = raw_request(_url(emu, "/rollingUpgrades/latest", "2020-06-01")).json()
            codes.append(
                (new.json()["properties"]["runningStatus"]["code"], old["properties"]["runningStatus"]["code"])
            )
        time.sleep(0.005)
    assert ("RollingBack", "Faulted") in codes  # 2020-06-01 has no RollingBack
    assert codes[-1] == ("Faulted", "Faulted")
    final = raw_request(_url(emu, "/rollingUpgrades/latest")).json()["properties"]
    assert final["error"]["code"] == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    back = {i["instanceId"]: (i["imageVersion"], i["healthy"], i["latestModelApplied"]) for i in control.instances()}
    assert back == {str(i): (V1, True, False) for i in range(4)}  # 0 and 1 went to V3, unhealthy, and came back
    events = [(e["state"], e["imageVersion"]) for e in control.instance_events(VMSS) if e["instanceId"] == "0"]
    assert events == [("Updating", V1), ("Running", V3), ("Updating", V3), ("Running", V1)]
