"""The operator's per-subscription Azure budget: buckets, sliding windows, and following Azure's counts.

Runs on looptime's virtual clock, so waits are exact and instant.
"""

from __future__ import annotations

import asyncio

import pytest

from controller.azure.budget import SubscriptionBudget, classify
from controller.config import BudgetConfig, WindowLimit

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
    assert limit == "Compute instance listings (2 per 60 s)"
    assert b.pending_wait("scale_set_get") == (0.0, ""), "other classes are not held"
    waited, held_by = await b.acquire("vm_list")
    assert waited == pytest.approx(60.0, abs=1e-3)
    assert held_by == limit
    b.observe("read", 429, {"retry-after": "7"})
    assert b.pending_wait("read")[1] == "Azure's Retry-After after a 429"
