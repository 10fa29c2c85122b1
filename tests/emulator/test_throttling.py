"""Throttling as published (issue 14): ARM's buckets per subscription and principal, and Compute's buckets
per resource and per subscription, with the headers and 429 bodies Azure sends.

Covers: the published defaults, a scale set's instance listings held by its own bucket while another scale
set still lists, the subscription bucket shared by every scale set, the docs' worked example of a
per-minute bucket, ARM's buckets per principal, and the scenario keys that change the limits.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from scaleset_testbed.azure.errors import ArmError
from scaleset_testbed.azure.scenario import ScenarioError, Throttling, parse_scenario
from scaleset_testbed.azure.throttle import Throttler, throttled_resource
from scaleset_testbed.worlds import RG, scale_set, vmss_path

from .conftest import DEFAULT_API_VERSION, raw_request, scenario_dict

LIST = "VirtualMachineScaleSetVMs_List"

# MicrosoftDocs azure-compute-docs, compute-throttling-limits (2024): refill per minute / cap, per resource
# and per subscription.
PUBLISHED = {
    "VMScaleSetUpdate": ((4, 12), (500, 1500)),
    "VMScaleSetLowCostGet": ((12, 36), (800, 2400)),
    "VMScaleSetHighCostGet": ((10, 30), (360, 1080)),
    "VMScaleSetVMGet": ((12, 36), (2000, 6000)),
    "VMHighCostGet": (None, (300, 900)),
}


def test_defaults_are_the_published_limits() -> None:
    limits = {limit.name: limit for limit in parse_scenario(scenario_dict()).throttling.compute_limits}
    for name, (resource, subscription) in PUBLISHED.items():
        limit = limits[name]
        got = (limit.resource.refill_per_minute, limit.resource.capacity) if limit.resource else None
        assert got == resource, name
        assert (limit.subscription.refill_per_minute, limit.subscription.capacity) == subscription, name
    assert LIST in limits["VMScaleSetHighCostGet"].operations
    assert "VirtualMachineScaleSets_GetInstanceView" in limits["VMScaleSetHighCostGet"].operations
    assert "VirtualMachineScaleSetRollingUpgrades_GetLatest" in limits["VMScaleSetLowCostGet"].operations
    assert limits["VMHighCostGet"].subscription_only == ["VirtualMachines_List", "VirtualMachines_ListAll"]
    throttling = Throttling()
    assert (throttling.reads.capacity, throttling.reads.refill_per_second) == (250, 25.0)
    assert (throttling.writes.capacity, throttling.writes.refill_per_second) == (200, 10.0)


def _list(emu_url: str, name: str) -> Any:
    return raw_request(f"{emu_url}{vmss_path(name=name)}/virtualMachines?api-version={DEFAULT_API_VERSION}")


def test_a_scale_sets_listings_are_held_by_its_own_bucket(emulator_thread: Any) -> None:
    emu = emulator_thread(scenario_dict({"vmss-a": scale_set(), "vmss-b": scale_set()}))
    answers = [_list(emu.url, "vmss-a") for _ in range(31)]
    assert [a.status for a in answers[:30]] == [200] * 30
    assert answers[0].headers["x-ms-ratelimit-remaining-resource"] == (
        "Microsoft.Compute/HighCostGetVMScaleSet3Min;29,Microsoft.Compute/HighCostGetVMScaleSet30Min;1079"
    )
    refused = answers[30]
    assert refused.status == 429
    assert refused.headers["retry-after"] == "6"  # one token at 10 per minute
    error = refused.json()["error"]
    assert error["code"] == "OperationNotAllowed"
    assert error["details"][0]["code"] == "TooManyRequests"
    assert error["details"][0]["target"] == "HighCostGetVMScaleSet3Min"
    assert json.loads(error["details"][0]["message"])["allowedRequestCount"] == 30
    assert refused.headers["x-ms-ratelimit-remaining-resource"].startswith(
        "Microsoft.Compute/HighCostGetVMScaleSet3Min;0,"
    )
    other = _list(emu.url, "vmss-b")
    assert other.status == 200, "another scale set has a bucket of its own"
    resource_left, subscription_left = other.headers["x-ms-ratelimit-remaining-resource"].split(",")
    assert resource_left == "Microsoft.Compute/HighCostGetVMScaleSet3Min;29"
    # The subscription's bucket counted vmss-a's 30 too (it refills at 6 per second meanwhile).
    assert int(subscription_left.split(";")[1]) < 1060
    get = raw_request(f"{emu.url}{vmss_path(name='vmss-a')}?api-version={DEFAULT_API_VERSION}")
    assert get.status == 200, "a scale-set GET is a low-cost GET, another policy"
    assert get.headers["x-ms-ratelimit-remaining-resource"] == (
        "Microsoft.Compute/GetVMScaleSet3Min;35,Microsoft.Compute/GetVMScaleSet30Min;2399"
    )


def test_the_subscription_bucket_is_shared_by_every_scale_set(emulator_thread: Any) -> None:
    small = {
        "name": "VMScaleSetHighCostGet",
        "operations": [LIST],
        "resource": {"refillPerMinute": 10, "capacity": 30, "header": "HighCostGetVMScaleSet3Min"},
        "subscription": {"refillPerMinute": 6, "capacity": 3, "header": "HighCostGetVMScaleSet30Min"},
    }
    names = ["vmss-a", "vmss-b", "vmss-c", "vmss-d"]
    emu = emulator_thread(scenario_dict({n: scale_set() for n in names}, throttling={"computeLimits": [small]}))
    answers = [_list(emu.url, n) for n in names]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert answers[3].headers["retry-after"] == "10"
    assert answers[3].json()["error"]["details"][0]["target"] == "HighCostGetVMScaleSet30Min"


def test_a_per_minute_bucket_as_in_the_published_example() -> None:
    """The docs' table: 4 per minute, cap 12; requests per minute 0, 8, 0, 13, 5, 0 -> throttled 0, 0, 0, 1, 1, 0."""
    now = [0.0]
    config = Throttling(refill_interval_seconds=60.0)
    config.reads.capacity, config.reads.refill_per_second = 10_000, 1000.0
    throttler = Throttler(config, clock=lambda: now[0])
    path = {"sub": "s", "rg": RG, "name": "vmss-a"}
    resource = throttled_resource(path)
    throttled, statuses = [], set()
    for minute, requests in enumerate([0, 8, 0, 13, 5, 0]):
        refused = 0
        for i in range(requests):
            now[0] = minute * 60 + 1 + i * 0.1
            try:
                throttler.check("s", "PATCH", "VirtualMachineScaleSets_Update", resource=resource)
            except ArmError as err:
                statuses.add(err.status)
                refused += 1
        throttled.append(refused)
    assert throttled == [0, 0, 0, 1, 1, 0]
    assert statuses == {429}


def test_arm_buckets_are_per_principal() -> None:
    config = Throttling()
    config.reads.capacity, config.reads.refill_per_second = 2, 0.001
    throttler = Throttler(config, clock=lambda: 0.0)
    for _ in range(2):
        throttler.check("s", "GET", "Operations_GetStatus", principal="Bearer one")
    with pytest.raises(ArmError) as caught:
        throttler.check("s", "GET", "Operations_GetStatus", principal="Bearer one")
    assert caught.value.code == "SubscriptionRequestsThrottled"
    assert throttler.check("s", "GET", "Operations_GetStatus", principal="Bearer two") == {
        "x-ms-ratelimit-remaining-subscription-reads": "1"
    }
    assert throttler.throttled_by == {"ARM reads": 1}


def test_scenario_keys_for_the_limits() -> None:
    throttling = parse_scenario(
        scenario_dict(
            throttling={
                "refillIntervalSeconds": 60,
                "deletes": {"capacity": 5, "refillPerSecond": 1},
                "computeLimits": [
                    {
                        "name": "VMHighCostGet",
                        "subscriptionOnly": ["VirtualMachines_List"],
                        "subscription": {"refillPerMinute": 30, "capacity": 90, "header": "HighCostGet30Min"},
                    }
                ],
            }
        )
    ).throttling
    assert throttling.refill_interval_seconds == 60.0
    assert throttling.deletes.capacity == 5
    [limit] = throttling.compute_limits
    assert limit.resource is None
    assert limit.subscription.capacity == 90
    with pytest.raises(ScenarioError, match=r"computeLimits\[0\].subscription.refillPerMinute: required"):
        parse_scenario(
            scenario_dict(throttling={"computeLimits": [{"name": "x", "subscription": {"capacity": 1, "header": "h"}}]})
        )
    with pytest.raises(ScenarioError, match="unknown keys"):
        parse_scenario(scenario_dict(throttling={"computeLimits": [{"name": "x", "subscription": {}, "extra": 1}]}))
