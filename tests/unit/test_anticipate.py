"""Polling an operation near the end the last one of its kind took (issue 14: the end of a domain seen sooner).

Aspects: with nothing learned, polls come after a quarter interval and then twice as long from the start each
time, up to ``pollInterval``; once an operation of a kind has ended, the next one of that kind is polled at a
fraction of the interval (in a pass: an eighth) from a little before its shortest possible duration to a
little after its longest, and at ``pollInterval`` outside that window; another kind or another operation's
token are told apart; in a reconcile pass, Azure's ``Retry-After`` wins over it.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from controller.config import PUBLIC_ARM_ENDPOINT
from controller.observed import OperationState
from controller.operator.anticipate import OperationClock
from controller.operator.reconcile import reconcile
from controller.rollout import UpgradeInstances, record_operation
from tests.planner.builders import NEW, NOW, scale_set
from tests.unit.test_writes import KEY, FakeAzure, body, cache, context, walk_status

POLL, FAST = 0.2, 0.05
RUNNING, DONE = OperationState("InProgress"), OperationState("Succeeded")


def learned() -> OperationClock:
    """One manualupgrade requested at 0, seen running at 2.9 and done at 3.1."""
    clock = OperationClock()
    clock.started_operation("op-1", 0.0)
    for t in (0.2, 1.0, 2.9):
        clock.polled("op-1", "ManualUpgrade", RUNNING, t)
    clock.polled("op-1", "ManualUpgrade", DONE, 3.1)
    return clock


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (0.0, FAST),  # just requested: a quarter interval
        (0.05, FAST),  # then at twice that from the start (0.1) ...
        (0.1, 0.1),  # ... and twice again (0.2)
        (0.2, POLL),  # a whole interval in: the interval from then on
        (2.95, POLL),
    ],
)
def test_nothing_learned_polls_sooner_first_then_at_the_poll_interval(now: float, expected: float) -> None:
    clock = OperationClock()
    clock.started_operation("op-1", 0.0)
    assert clock.next_poll("op-1", "ManualUpgrade", now, POLL, FAST) == pytest.approx(expected)


def test_an_ended_operation_bounds_how_long_the_next_of_its_kind_takes() -> None:
    assert learned().took == {"ManualUpgrade": (2.9, 3.1)}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (10.1, POLL),  # early in the operation: the usual interval
        (12.7, 0.15),  # the next poll lands a little before 2.9 s have passed (10 + 2.9 - 0.05)
        (12.9, FAST),  # inside the window: every quarter interval
        (13.1, FAST),
        (13.2, POLL),  # past the longest it took, plus a quarter interval: the usual interval again
    ],
)
def test_the_next_operation_of_the_kind_is_polled_often_only_near_its_expected_end(now: float, expected: float) -> None:
    clock = learned()
    clock.started_operation("op-2", 10.0)
    assert clock.next_poll("op-2", "ManualUpgrade", now, POLL, FAST) == pytest.approx(expected)


def test_another_kind_or_another_operation_is_not_anticipated() -> None:
    clock = learned()
    clock.started_operation("op-2", 10.0)
    assert clock.next_poll("op-2", "ModelUpdate", 12.95, POLL, FAST) == POLL
    assert clock.next_poll("op-x", "ManualUpgrade", 12.95, POLL, FAST) == POLL, "not the operation timed"
    clock.polled("op-x", "ManualUpgrade", DONE, 12.0)
    assert clock.took["ManualUpgrade"] == (2.9, 3.1), "a poll of another operation teaches nothing"


def test_an_operation_never_seen_running_has_no_lower_bound() -> None:
    clock = OperationClock()
    clock.started_operation("op-1", 0.0)
    clock.polled("op-1", "ModelUpdate", DONE, 0.3)
    assert clock.took["ModelUpdate"] == (0.0, 0.3)


# ------------------------------------------------------------------------------- in a reconcile pass
def token() -> str:
    """A continuation token whose URLs are on the default cloud's ARM endpoint (so it is polled)."""
    data = {
        "version": 1,
        "data": {
            "request": {"url": PUBLIC_ARM_ENDPOINT + "/subscriptions/s/x"},
            "headers": {"Azure-AsyncOperation": PUBLIC_ARM_ENDPOINT + "/subscriptions/s/operations/op1"},
        },
    }
    return base64.b64encode(json.dumps(data).encode()).decode()


class RunningAzure(FakeAzure):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__(NEW, scale_set(NEW).instances)
        self.retry_after = retry_after

    async def poll(self, ref: Any, kind: Any, tok: str) -> OperationState:
        self.calls["poll"] += 1
        return OperationState("InProgress", retry_after=self.retry_after)


@pytest.mark.parametrize(
    ("case", "learned_took", "retry_after", "elapsed", "expected"),
    [
        ("near the end the last one took: an eighth of the interval", (2.9, 3.1), None, 2.95, 1.25),
        ("nothing learned yet, 2.95 s in: 2.95 s more (doubling up to the interval)", None, None, 2.95, 2.95),
        ("nothing learned yet, just started: a quarter interval", None, None, 0.0, 2.5),
        ("Azure said when: as Azure said", (2.9, 3.1), 7.0, 2.95, 7.0),
    ],
)
async def test_a_pass_polls_sooner_near_the_expected_end_unless_azure_said_when(
    case: str, learned_took: tuple[float, float] | None, retry_after: float | None, elapsed: float, expected: float
) -> None:
    azure = RunningAzure(retry_after)
    tok = token()
    status = record_operation(walk_status(), UpgradeInstances("ud-1", ("1", "6")), tok, NOW)
    ctx = context(azure)
    cache(ctx, scale_set(NEW))
    clock = ctx.clocks.setdefault(KEY, OperationClock())
    if learned_took is not None:
        clock.took["ManualUpgrade"] = learned_took
    clock.started_operation(tok, time.monotonic() - elapsed)
    _, requeue = await reconcile(ctx, body(status), post_event=lambda *args: None)
    assert azure.calls["poll"] == 1, case
    assert requeue == pytest.approx(expected, abs=0.05), case


def test_the_next_pass_counts_from_the_decision_not_from_the_status_write_after_it() -> None:
    """A pass decides "the pause ends in 1 s" and its status write takes 0.3 s: due 0.7 s after that write."""
    ctx = context(RunningAzure(None))
    decided = time.monotonic() - 0.3
    ctx.schedule("default", "web", 1.0, 1, since=decided)
    assert 0.6 < ctx.until_due("default", "web") <= 0.7
    ctx.schedule("default", "web", 1.0, 1)  # no decision time given: from now
    assert 0.9 < ctx.until_due("default", "web") <= 1.0
