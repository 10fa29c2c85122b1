"""Polling an operation near its expected end: how long this resource's last operation of a kind took.

While an Azure operation runs, a pass polls it every ``pollInterval`` (or as Azure's ``Retry-After`` asks),
so its end is seen on average half an interval late, and every domain of a rollout pays that. The domains of
one rollout take about as long as each other: the last operation of a kind ended between the last poll that
saw it running and the first that saw it done. The next one of that kind is polled every eighth of the
interval from a little before that lower bound to a little after that upper bound (3 to 4 polls: the window
is about three of its own steps wide), and every ``pollInterval`` otherwise: its end seen about 1/16 of the
interval late on average instead of 1/2. An operation of a kind not timed yet is polled a quarter interval
after it started, then at twice as long from its start each time up to the interval: a model update that
takes a fraction of the interval is seen then, for two polls more on a long operation. (A poll due sooner
than the operator's tick runs in the same timer call, see ``handlers``.)

In memory only, on the operator's own clock (``time.monotonic``): after a restart the first operation of
each kind is polled as a kind not timed yet. Never used when Azure sent ``Retry-After``: that is followed as
it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.observed import OperationState


@dataclass
class OperationClock:
    """One resource's operation in flight, on the operator's clock, and what the last ones took."""

    token: str | None = None
    """The continuation token of the operation timed now (None: none is)."""
    started: float = 0.0
    last_running: float | None = None
    took: dict[str, tuple[float, float]] = field(default_factory=dict)
    """By operation kind: (at least, at most) seconds the last one took, from its request to its end."""

    def started_operation(self, token: str, now: float) -> None:
        self.token, self.started, self.last_running = token, now, None

    def polled(self, token: str | None, kind: str, state: OperationState, now: float) -> None:
        """A poll of the operation ``token`` answered ``state`` at ``now``."""
        if token is None or token != self.token:
            return
        if state.status == "InProgress":
            self.last_running = now
            return
        least = self.last_running - self.started if self.last_running is not None else 0.0
        self.took[kind] = (least, now - self.started)
        self.token = None

    def next_poll(
        self, token: str | None, kind: str, now: float, requeue: float, fast: float, first: float | None = None
    ) -> float:
        """When to poll operation ``token`` again: ``requeue``, or sooner near its expected end (every ``fast``);
        with nothing learned of its kind, ``first`` after its start, then twice as long from its start each time
        up to ``requeue`` (default ``first``: ``fast``)."""
        if token is None or token != self.token:
            return requeue
        if kind not in self.took:
            # An operation that ends within a fraction of the interval (a model update, often) is seen then, for
            # a couple of polls more on a long one.
            return min(requeue, max(fast if first is None else first, now - self.started))
        least, most = self.took[kind]
        begin, end = self.started + least - fast, self.started + most + fast
        if now < begin:
            return min(requeue, begin - now)
        if now <= end:
            return min(requeue, fast)
        return requeue
