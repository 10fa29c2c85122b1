"""Errors as the SDK sees them: 404/412 exceptions, 429 (injected and real throttling) retried after
Retry-After, injected 5xx and dropped connections retried, and the ARM errors for a missing api-version,
a missing bearer token, and an unsupported api-version."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotFoundError
from scaleset_testbed.worlds import RG, V2, VMSS, vmss_path

from .conftest import DEFAULT_API_VERSION, Control, arm_error, arm_message, raw_request, scenario_dict

SS_URL_RE = "virtualMachineScaleSets/vmss-web$"


def test_not_found_maps_to_resource_not_found_error(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    client = sync_client(emu.url)
    with pytest.raises(ResourceNotFoundError) as caught:
        client.virtual_machine_scale_sets.get(RG, "vmss-nope")
    assert caught.value.status_code == 404
    assert arm_error(caught).code == "ResourceNotFound"
    assert "vmss-nope" in arm_message(caught)
    with pytest.raises(ResourceNotFoundError) as group:
        client.virtual_machine_scale_sets.get("rg-nope", VMSS)
    assert arm_error(group).code == "ResourceGroupNotFound"
    other = sync_client(emu.url, subscription="ffffffff-0000-0000-0000-000000000000")
    with pytest.raises(ResourceNotFoundError) as sub:
        other.virtual_machine_scale_sets.get(RG, VMSS)
    assert arm_error(sub).code == "SubscriptionNotFound"


def test_stale_etag_maps_to_resource_modified_error(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    client = sync_client(emu.url)
    ss = client.virtual_machine_scale_sets.get(RG, VMSS)
    client.virtual_machine_scale_sets.begin_update(RG, VMSS, {"tags": {"touched": "yes"}}).result()
    with pytest.raises(ResourceModifiedError) as caught:
        client.virtual_machine_scale_sets.begin_create_or_update(
            RG, VMSS, ss, etag=ss.etag, match_condition=MatchConditions.IfNotModified
        )
    assert caught.value.status_code == 412
    assert arm_error(caught).code == "PreconditionFailed"


def test_injected_429_is_retried_after_retry_after(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    control.fault(method="GET", path=SS_URL_RE, status=429, code="TooManyRequests", retryAfter=1, count=1)
    started = time.monotonic()
    ss = sync_client(emu.url).virtual_machine_scale_sets.get(RG, VMSS)
    elapsed = time.monotonic() - started
    assert ss.name == VMSS
    assert elapsed >= 0.9  # the SDK waited for Retry-After
    gets = control.requests(vmss_path(), "GET")
    assert [g["status"] for g in gets] == [429, 200]
    assert gets[0]["fault"]["retryAfter"] == 1
    assert control.call("GET", "faults") == {"faults": []}  # spent


async def test_aio_injected_429_on_post_is_retried(aio_emulator: Any, aio_client: Any, aio_control: Any) -> None:
    emu = await aio_emulator()
    control = aio_control(emu.url)
    await control.call(
        "POST", "faults", {"method": "POST", "path": "/manualupgrade$", "status": 429, "retryAfter": 1}, expect=201
    )
    client = aio_client(emu.url)
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    await (await client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch)).result()
    poller = await client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["1"]})
    await poller.result()
    posts = [e for e in await control.audit() if e["type"] == "request" and e["method"] == "POST"]
    assert [p["status"] for p in posts] == [429, 202]
    assert [e["instanceId"] for e in await control.instance_events() if e["state"] == "Running"] == ["1"]


def test_429_on_post_without_retry_after_is_not_retried(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    control.fault(method="POST", path="/manualupgrade$", status=429, code="TooManyRequests")
    with pytest.raises(HttpResponseError) as caught:
        sync_client(emu.url).virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["1"]})
    assert caught.value.status_code == 429
    assert [p["status"] for p in control.requests("/manualupgrade")] == [429]


def test_subscription_throttling(emulator_thread: Any, sync_client: Any) -> None:
    throttling = {"reads": {"capacity": 3, "refillPerSecond": 1.0}, "writes": {"capacity": 2, "refillPerSecond": 1.0}}
    emu = emulator_thread(scenario_dict(throttling=throttling))
    control = Control(emu.url)
    url = f"{emu.url}{vmss_path()}?api-version={DEFAULT_API_VERSION}"
    answers = [raw_request(url) for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ms-ratelimit-remaining-subscription-reads"] for a in answers] == ["2", "1", "0", "0"]
    throttled = answers[3]
    assert throttled.headers["retry-after"].isdigit()
    assert int(throttled.headers["retry-after"]) >= 1
    error = throttled.json()["error"]
    assert error["code"] == "SubscriptionRequestsThrottled"
    assert "read" in error["message"]

    write = raw_request(
        f"{emu.url}{vmss_path()}/manualupgrade?api-version={DEFAULT_API_VERSION}", "POST", {"instanceIds": ["0"]}
    )
    assert write.status == 202
    assert write.headers["x-ms-ratelimit-remaining-subscription-writes"] == "1"

    # The SDK honours the integer Retry-After and succeeds once a token is back.
    started = time.monotonic()
    assert sync_client(emu.url).virtual_machine_scale_sets.get(RG, VMSS).name == VMSS
    assert time.monotonic() - started >= 0.5
    statuses = [r["status"] for r in control.requests(vmss_path(), "GET")]
    assert statuses[:4] == [200, 200, 200, 429]
    assert statuses[4:][-1] == 200
    assert 429 in statuses[4:]
    assert control.call("GET", "throttling")["throttled"] >= 2


def test_compute_resource_provider_throttling(emulator_thread: Any) -> None:
    throttling = {
        "computeLimits": [],  # the older fixed windows alone
        "computePolicies": [
            {
                "name": "GetVMScaleSet3Min",
                "windowSeconds": 180,
                "limit": 2,
                "operations": ["VirtualMachineScaleSets_Get"],
            }
        ],
    }
    emu = emulator_thread(scenario_dict(throttling=throttling))
    url = f"{emu.url}{vmss_path()}?api-version={DEFAULT_API_VERSION}"
    answers = [raw_request(url) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert answers[0].headers["x-ms-ratelimit-remaining-resource"] == "Microsoft.Compute/GetVMScaleSet3Min;1"
    assert answers[1].headers["x-ms-ratelimit-remaining-resource"] == "Microsoft.Compute/GetVMScaleSet3Min;0"
    throttled = answers[2]
    assert 1 <= int(throttled.headers["retry-after"]) <= 180
    error = throttled.json()["error"]
    assert error["code"] == "OperationNotAllowed"
    assert error["details"][0]["code"] == "TooManyRequests"
    assert error["details"][0]["target"] == "GetVMScaleSet3Min"
    assert json.loads(error["details"][0]["message"])["allowedRequestCount"] == 2
    # Other operations are not charged to that policy.
    vms = raw_request(f"{emu.url}{vmss_path()}/virtualMachines?api-version={DEFAULT_API_VERSION}")
    assert vms.status == 200
    assert "x-ms-ratelimit-remaining-resource" not in vms.headers


@pytest.mark.parametrize(("method", "status"), [("GET", 500), ("POST", 503)])
def test_injected_5xx_is_retried(emulator_thread: Any, sync_client: Any, method: str, status: int) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    client = sync_client(emu.url)
    if method == "GET":
        control.fault(method="GET", path="/virtualMachines$", status=status)
        assert len(list(client.virtual_machine_scale_set_vms.list(RG, VMSS))) == 10
        seen = control.requests("/virtualMachines", "GET")
    else:
        control.fault(method="POST", path="/manualupgrade$", status=status, code="ServiceUnavailable")
        client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["2"]}).result()
        seen = control.requests("/manualupgrade", "POST")
    assert [r["status"] for r in seen] == [status, 200 if method == "GET" else 202]
    assert seen[0]["errorCode"] in ("InternalServerError", "ServiceUnavailable")


def test_dropped_connection_is_retried(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    control.fault(method="GET", path=SS_URL_RE, drop=True)
    assert sync_client(emu.url).virtual_machine_scale_sets.get(RG, VMSS).name == VMSS
    assert [r["status"] for r in control.requests(vmss_path(), "GET")] == [0, 200]


async def test_aio_dropped_connection_is_retried(aio_emulator: Any, aio_client: Any, aio_control: Any) -> None:
    emu = await aio_emulator()
    control = aio_control(emu.url)
    await control.call("POST", "faults", {"method": "GET", "path": SS_URL_RE, "drop": True}, expect=201)
    ss = await aio_client(emu.url).virtual_machine_scale_sets.get(RG, VMSS)
    assert ss.name == VMSS
    gets = [e["status"] for e in await control.audit() if e["type"] == "request"]
    assert gets == [0, 200]


def test_drop_after_executes_the_request_and_loses_the_answer(emulator_thread: Any) -> None:
    """dropAfter: Azure did the work (new etag, model changed), but the client sees a closed connection."""
    emu = emulator_thread()
    control = Control(emu.url)
    control.fault(method="PATCH", path=SS_URL_RE, dropAfter=True)
    url = f"{emu.url}{vmss_path()}?api-version={DEFAULT_API_VERSION}"
    with pytest.raises((ConnectionError, OSError, http.client.HTTPException)):
        raw_request(url, "PATCH", {"tags": {"owner": "someone-else"}})
    [patch] = control.requests(vmss_path(), "PATCH")
    assert patch["status"] == 0
    assert patch["executedStatus"] == 200
    assert patch["fault"]["dropAfter"] is True
    after = raw_request(url).json()
    assert after["tags"] == {"owner": "someone-else"}
    assert after["etag"] == '"2"'


def test_drop_after_a_manual_upgrade_still_upgrades(emulator_thread: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    control.call("POST", "faults", {"method": "POST", "path": "/manualupgrade$", "dropAfter": True}, expect=201)
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    assert raw_request(f"{emu.url}{vmss_path()}?api-version={DEFAULT_API_VERSION}", "PATCH", patch).status == 200
    with pytest.raises((ConnectionError, OSError, http.client.HTTPException)):
        raw_request(
            f"{emu.url}{vmss_path()}/manualupgrade?api-version={DEFAULT_API_VERSION}", "POST", {"instanceIds": ["1"]}
        )
    [post] = control.requests("/manualupgrade", "POST")
    assert (post["status"], post["executedStatus"]) == (0, 202)
    assert post["operationId"]
    control.wait_until(
        lambda: any(i["instanceId"] == "1" and i["imageVersion"] == V2 for i in control.instances()),
        what="instance 1 upgraded although its answer was lost",
    )


def test_drop_after_cannot_be_combined_with_an_answer(emulator_thread: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    refused = control.call("POST", "faults", {"dropAfter": True, "status": 500}, expect=400)
    assert "dropAfter" in refused["error"]


def test_injected_delay_holds_the_request(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    control = Control(emu.url)
    control.fault(method="GET", path=SS_URL_RE, delay=0.3)
    started = time.monotonic()
    sync_client(emu.url).virtual_machine_scale_sets.get(RG, VMSS)
    assert time.monotonic() - started >= 0.3
    assert [r["status"] for r in control.requests(vmss_path(), "GET")] == [200]


def test_missing_api_version(emulator_thread: Any) -> None:
    emu = emulator_thread()
    answer = raw_request(f"{emu.url}{vmss_path()}")
    assert answer.status == 400
    assert answer.json()["error"]["code"] == "MissingApiVersionParameter"
    bad = raw_request(f"{emu.url}{vmss_path()}?api-version=yesterday")
    assert bad.status == 400
    assert bad.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_missing_authorization(emulator_thread: Any) -> None:
    emu = emulator_thread()
    url = f"{emu.url}{vmss_path()}?api-version={DEFAULT_API_VERSION}"
    answer = raw_request(url, token=None)
    assert answer.status == 401
    assert answer.json()["error"]["code"] == "AuthenticationFailed"
    assert answer.headers["www-authenticate"].startswith("Bearer ")
    basic = raw_request(url, token=None, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status == 401
    assert basic.json()["error"]["code"] == "AuthenticationFailed"
    assert raw_request(url).status == 200


def test_unsupported_api_version(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    with pytest.raises(HttpResponseError) as caught:
        sync_client(emu.url).virtual_machine_scale_sets.get(RG, VMSS, api_version="2014-01-01")
    assert caught.value.status_code == 400
    assert arm_error(caught).code == "NoRegisteredProviderFound"
    assert "2014-01-01" in arm_message(caught)


def test_unknown_route_and_method(emulator_thread: Any) -> None:
    emu = emulator_thread()
    unknown = raw_request(f"{emu.url}/subscriptions/x/providers/Microsoft.Nope/things?api-version=2020-06-01")
    assert unknown.status == 404
    assert unknown.json()["error"]["code"] == "NotFound"
    delete = raw_request(f"{emu.url}{vmss_path()}?api-version={DEFAULT_API_VERSION}", "DELETE")
    assert delete.status == 405
    assert delete.json()["error"]["code"] == "MethodNotAllowed"


def test_bad_request_bodies(emulator_thread: Any, sync_client: Any) -> None:
    emu = emulator_thread()
    url = f"{emu.url}{vmss_path()}/manualupgrade?api-version={DEFAULT_API_VERSION}"
    assert raw_request(url, "POST", "{not json").json()["error"]["code"] == "InvalidRequestFormat"
    missing = raw_request(url, "POST", {})
    assert (missing.status, missing.json()["error"]["code"]) == (400, "InvalidParameter")
    unknown = raw_request(url, "POST", {"instanceIds": ["77"]})
    assert (unknown.status, unknown.json()["error"]["code"]) == (404, "NotFound")
    client = sync_client(emu.url)
    with pytest.raises(HttpResponseError) as caught:
        client.virtual_machine_scale_sets.begin_update(RG, VMSS, {"sku": {"capacity": 5000}})
    assert arm_error(caught).code == "InvalidParameter"
    # Busy instances refuse a second operation.
    patch = {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": V2}}}}}
    client.virtual_machine_scale_sets.begin_update(RG, VMSS, patch).result()
    running = client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["3"]})
    with pytest.raises(HttpResponseError) as busy:
        client.virtual_machine_scale_sets.begin_update_instances(RG, VMSS, {"instanceIds": ["3"]})
    assert busy.value.status_code == 409
    assert arm_error(busy).code == "OperationNotAllowed"
    running.result()
