"""At most ``maxConcurrentPasses`` reconcile passes talk to Azure at once (issue 14: a fleet's memory).

Aspects: the configuration reads and checks the limit; passes beyond it queue, in the order they came, and
each queued second is reported to the metrics hook; a long wait is logged once, not once per pass.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from controller.config import DEFAULT_MAX_CONCURRENT_PASSES, ConfigError, OperatorConfig, parse_config
from controller.operator import OperatorContext


def test_the_limit_is_read_from_the_configuration_with_a_default() -> None:
    assert parse_config({}).max_concurrent_passes == DEFAULT_MAX_CONCURRENT_PASSES
    assert parse_config({"maxConcurrentPasses": 8}).max_concurrent_passes == 8


@pytest.mark.parametrize("bad", [0, -1, 2.5, "8", True])
def test_a_limit_that_is_not_a_whole_number_above_zero_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="maxConcurrentPasses"):
        parse_config({"maxConcurrentPasses": bad})


async def test_passes_beyond_the_limit_queue_in_the_order_they_came() -> None:
    waits: list[float] = []
    ctx = OperatorContext(config=OperatorConfig(max_concurrent_passes=2), slot_wait_hook=waits.append)
    running = 0
    most = 0
    entered: list[int] = []

    async def one_pass(i: int) -> None:
        nonlocal running, most
        async with ctx.pass_slot("default", f"r{i}"):
            entered.append(i)
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.02)
            running -= 1

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(one_pass(i)))
        await asyncio.sleep(0)  # queued in this order
    await asyncio.gather(*tasks)
    assert most == 2
    assert entered == list(range(6))
    assert len(waits) >= 4, "the queued passes' waits went to the hook"
    assert sum(waits) >= 0.02 * 4 * 0.9


async def test_a_long_wait_is_logged_once_for_many_passes(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("controller.operator.context.SLOT_WAIT_SHOWN", 0.01)
    ctx = OperatorContext(config=OperatorConfig(max_concurrent_passes=1))

    async def one_pass(i: int) -> None:
        async with ctx.pass_slot("default", f"r{i}"):
            await asyncio.sleep(0.03)

    with caplog.at_level(logging.WARNING, logger="scaleset_image.operator"):
        await asyncio.gather(*(one_pass(i) for i in range(4)))
    lines = [r for r in caplog.records if "pass slots" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "maxConcurrentPasses" in lines[0].getMessage()
