"""The operator's Azure budget: ARM's and Compute's published buckets times the operator's share, per
subscription and per scale set; deferral with a place in the queue (fair between resources); the
operator's own extra windows; and following Azure's counts.

Runs on looptime's virtual clock, so waits are exact and instant.
"""

from __future__ import annotations

import asyncio

import pytest

from controller.azure.budget import BudgetDeferred, SubscriptionBudget, classify, compute_policy
from controller.config import BudgetConfig, ComputeLimit, ConfigError, WindowLimit, load_config

VMSS = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachineScaleSets/v"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", VMSS, "scale_set_get"),
        ("GET", VMSS + "/virtualMachines", "vm_list"),
        ("GET", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines", "vm_list"),  # Flex
        ("GET", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/vm_1", "read"),
        ("GET", "/subscriptions/s/providers/Microsoft.Compute/locations/w/operations/o", "read"),
        ("POST", VMSS + "/manualupgrade", "write"),
        ("PATCH", VMSS, "write"),
    ],
)  # fmt: skip
def test_classify(method: str, path: str, expected: str) -> None:
    assert classify(method, path) == expected


def budget(**kw: object) -> SubscriptionBudget:
    loop = asyncio.get_running_loop()
    kw.setdefault("share", 1.0)
    kw.setdefault("compute", ())
    return SubscriptionBudget(BudgetConfig(**kw), clock=loop.time)  # type: ignore[arg-type]


@pytest.mark.looptime
async def test_reads_beyond_the_burst_wait_for_the_refill() -> None:
    b = budget(reads_per_second=10.0, read_burst=2, windows=())
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(5):
        await b.acquire("read")
    assert loop.time() - start == pytest.approx(0.3, abs=1e-6)  # 2 at once, then one per 0.1 s


@pytest.mark.looptime
async def test_sliding_window_caps_requests_in_any_window() -> None:
    b = budget(reads_per_second=1000.0, read_burst=1000, windows=(WindowLimit("vm_list", 3, 60.0),))
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(4):
        await b.acquire("vm_list")
    assert loop.time() - start == pytest.approx(60.0, abs=1e-6)
    await b.acquire("scale_set_get")  # other classes are not held by that window
    assert loop.time() - start == pytest.approx(60.0, abs=1e-6)


@pytest.mark.looptime
async def test_azure_remaining_count_and_429_hold_the_budget() -> None:
    b = budget(reads_per_second=10.0, read_burst=100, reserve=10, windows=())
    loop = asyncio.get_running_loop()
    b.observe("read", 200, {"x-ms-ratelimit-remaining-subscription-reads": "10"})  # others used the rest
    start = loop.time()
    await b.acquire("read")
    assert loop.time() - start == pytest.approx(0.1, abs=1e-6)  # 0 tokens left for us: wait one refill
    b.observe("read", 429, {"retry-after": "7"})
    start = loop.time()
    await b.acquire("read")
    assert loop.time() - start == pytest.approx(7.0, abs=1e-6)


async def test_disabled_budget_never_waits() -> None:
    b = budget(enabled=False, reads_per_second=0.001, read_burst=1)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(50):
        await b.acquire("read")
    assert loop.time() - start < 1.0


@pytest.mark.looptime
async def test_a_wait_is_reported_with_the_limit_that_holds_it() -> None:
    b = budget(reads_per_second=1000.0, read_burst=1000, windows=(WindowLimit("vm_list", 2, 60.0),))
    assert await b.acquire("vm_list") == (0.0, "")
    await b.acquire("vm_list")
    wait, limit = b.pending_wait("vm_list")
    assert wait == pytest.approx(60.0, abs=1e-6)
    assert limit == "operator window on vm_list (2 per 60 s)"
    assert b.pending_wait("scale_set_get") == (0.0, ""), "other classes are not held"
    waited, held_by = await b.acquire("vm_list")
    assert waited == pytest.approx(60.0, abs=1e-3)
    assert held_by == limit
    b.observe("read", 429, {"retry-after": "7"})
    assert b.pending_wait("read")[1] == "Azure's Retry-After after a 429"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", VMSS, ("VMScaleSetLowCostGet", VMSS)),
        ("GET", VMSS + "/rollingUpgrades/latest", ("VMScaleSetLowCostGet", VMSS)),
        ("GET", VMSS + "/virtualMachines", ("VMScaleSetHighCostGet", VMSS)),
        ("GET", VMSS + "/instanceView", ("VMScaleSetHighCostGet", VMSS)),
        ("GET", VMSS + "/virtualMachines/3", ("VMScaleSetVMGet", VMSS + "/virtualmachines/3")),
        ("POST", VMSS + "/manualupgrade", ("VMScaleSetUpdate", VMSS)),
        ("PATCH", VMSS, ("VMScaleSetUpdate", VMSS)),
        ("POST", VMSS + "/deallocate", ("VMScaleSetDelete", VMSS)),
        ("GET", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines", ("VMHighCostGet", "")),
        ("GET", "/subscriptions/s/providers/Microsoft.Compute/locations/w/operations/o", None),
    ],
)  # fmt: skip
def test_compute_policy(method: str, path: str, expected: tuple[str, str] | None) -> None:
    """The resource is named in lower case: Azure's resource ids are case-insensitive."""
    assert compute_policy(method, path) == (expected and (expected[0], expected[1].lower()))


LISTINGS = ComputeLimit("VMScaleSetHighCostGet", 10, 30, 360, 1080)


def scale_set(name: str) -> tuple[str, str]:
    return ("VMScaleSetHighCostGet", VMSS[:-1] + name)


@pytest.mark.looptime
async def test_a_scale_set_spends_its_share_of_its_own_bucket_then_is_deferred() -> None:
    b = budget(compute=(LISTINGS,), resource_share=0.75, reads_per_second=1000.0, read_burst=1000)
    for _ in range(22):  # 0.75 of 30
        assert await b.acquire("vm_list", scale_set("a"), defer=True) == (0.0, "")
    with pytest.raises(BudgetDeferred) as caught:
        await b.acquire("vm_list", scale_set("a"), defer=True)
    assert caught.value.seconds == pytest.approx(4.0)  # half a token left, 7.5 per minute
    assert caught.value.limit == "Compute instance listings per scale set (7.5/min, burst 22.5)"
    assert await b.acquire("vm_list", scale_set("b"), defer=True) == (0.0, ""), "another scale set is not held"


@pytest.mark.looptime
async def test_the_subscription_share_is_taken_in_turns() -> None:
    """Deferred resources keep their place: one that comes back first still lets those ahead of it go first."""
    b = budget(compute=(ComputeLimit("VMScaleSetHighCostGet", 1000, 1000, 30, 2),), share=1.0)
    loop = asyncio.get_running_loop()
    await b.acquire("vm_list", scale_set("a"), defer=True)
    await b.acquire("vm_list", scale_set("b"), defer=True)
    waits = {}
    for name in "cde":
        with pytest.raises(BudgetDeferred) as caught:
            await b.acquire("vm_list", scale_set(name), defer=True)
        waits[name] = caught.value.seconds
        assert caught.value.limit == "Compute instance listings per subscription (30/min, burst 2)"
    assert waits == pytest.approx({"c": 2.0, "d": 4.0, "e": 6.0})  # one token each 2 s, in turn
    await asyncio.sleep(2.0)
    with pytest.raises(BudgetDeferred):
        await b.acquire("vm_list", scale_set("e"), defer=True)  # back too early: c and d are ahead
    assert await b.acquire("vm_list", scale_set("c"), defer=True) == (0.0, "")
    await asyncio.sleep(2.0)
    assert await b.acquire("vm_list", scale_set("d"), defer=True) == (0.0, "")
    assert loop.time() == pytest.approx(4.0)
    waited, _ = await b.acquire("vm_list", scale_set("e"))  # without defer: waits in the process
    assert waited == pytest.approx(2.0)


@pytest.mark.looptime
async def test_the_operator_share_scales_every_published_limit() -> None:
    b = budget(share=0.5, compute=(LISTINGS,), resource_share=1.0, reads_per_second=1e6, read_burst=10**6)
    assert b.pending_wait("read") == (0.0, "")
    for i in range(540):  # half of 1,080, over many scale sets
        await b.acquire("vm_list", scale_set(f"s{i}"), defer=True)
    wait, limit = b.pending_wait("vm_list", scale_set("t"))
    assert wait == pytest.approx(1 / 3)  # 180 per minute
    assert limit == "Compute instance listings per subscription (180/min, burst 540)"
    wait, limit = b.pending_wait("write")
    assert wait == 0.0


def test_defaults_are_azures_published_limits() -> None:
    config = BudgetConfig()
    assert (config.reads_per_second, config.read_burst, config.writes_per_second, config.write_burst) == (
        25.0,
        250,
        10.0,
        200,
    )
    limits = {c.policy: c for c in config.compute}
    assert limits["VMScaleSetHighCostGet"] == ComputeLimit("VMScaleSetHighCostGet", 10, 30, 360, 1080)
    assert limits["VMScaleSetLowCostGet"] == ComputeLimit("VMScaleSetLowCostGet", 12, 36, 800, 2400)
    assert limits["VMScaleSetUpdate"] == ComputeLimit("VMScaleSetUpdate", 4, 12, 500, 1500)
    assert limits["VMScaleSetVMGet"] == ComputeLimit("VMScaleSetVMGet", 12, 36, 2000, 6000)
    assert limits["VMHighCostGet"] == ComputeLimit("VMHighCostGet", None, None, 300, 900)
    assert 0 < config.share <= 0.75
    assert 0 < config.resource_share <= 0.75


def test_budget_configuration(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "config.yaml"

    def parse(budget: dict[str, object]) -> BudgetConfig:
        import yaml

        path.write_text(yaml.safe_dump({"azureBudget": budget}))
        return load_config(path).budget

    config = parse(
        {
            "operatorShare": 0.25,
            "computeLimits": [
                {"policy": "VMScaleSetHighCostGet", "subscription": {"refillPerMinute": 36, "capacity": 108}}
            ],
        }
    )
    assert config.share == 0.25
    assert config.compute == (ComputeLimit("VMScaleSetHighCostGet", None, None, 36.0, 108),)
    with pytest.raises(ConfigError, match="operatorShare and resourceShare"):
        parse({"operatorShare": 1.5})
    with pytest.raises(ConfigError, match="less than one request"):
        parse(
            {
                "operatorShare": 0.1,
                "computeLimits": [{"policy": "x", "subscription": {"refillPerMinute": 1, "capacity": 2}}],
            }
        )
