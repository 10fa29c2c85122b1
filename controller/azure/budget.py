"""A client-side budget of Azure requests per subscription, so the operator never gets throttled.

Azure throttles per subscription: ARM's token buckets (reads 250 refilled at 25/s, writes 200 at 10/s)
and the Compute resource provider's windows (e.g. about 200 scale-set GETs per 3 minutes). Every request
the operator makes is one the team's other tools cannot make, and a 429 costs a Retry-After wait. So the
operator spends from its own buckets, set below Azure's, waiting instead of being refused:

- token buckets for reads and writes (capacity and refill per second);
- optional sliding windows for Compute policies (``limit`` requests per ``window`` seconds) on scale-set
  GETs and VM listings; a sliding window never exceeds what any fixed window on the server would count;
- when Azure reports fewer remaining reads or writes than the bucket holds (other clients share the
  subscription), the bucket drops to that; a 429 empties it until ``Retry-After`` has passed.
Pure asyncio; no I/O of its own.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.config import BudgetConfig, RequestClass, WindowLimit

_SCALE_SET = re.compile(r"/virtualMachineScaleSets/[^/]+$", re.IGNORECASE)
_VM_LIST = re.compile(
    r"/virtualMachineScaleSets/[^/]+/virtualMachines$"  # a Uniform set's instances
    r"|/resourceGroups/[^/]+/providers/Microsoft\.Compute/virtualMachines$",  # a Flexible set's VMs (filtered)
    re.IGNORECASE,
)


def classify(method: str, path: str) -> RequestClass:
    if method.upper() != "GET":
        return "write"
    if _SCALE_SET.search(path):
        return "scale_set_get"
    if _VM_LIST.search(path):
        return "vm_list"
    return "read"


_CLASS_WORDS: dict[str, str] = {
    "scale_set_get": "scale-set reads",
    "vm_list": "instance listings",
    "read": "reads",
    "write": "writes",
}


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self) -> float:
        if self.tokens >= 1 - 1e-9:  # float rounding must not leave a request waiting for nothing
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else 1.0


@dataclass
class SubscriptionBudget:
    """The budget of one subscription; :meth:`acquire` before each request, :meth:`observe` after."""

    config: BudgetConfig
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _windows: dict[WindowLimit, collections.deque[float]] = field(default_factory=dict)
    _blocked_until: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _bucket(self, kind: str) -> _Bucket:
        bucket = self._buckets.get(kind)
        if bucket is None:
            if kind == "write":
                rate, burst = self.config.writes_per_second, self.config.write_burst
            else:
                rate, burst = self.config.reads_per_second, self.config.read_burst
            bucket = self._buckets[kind] = _Bucket(rate, float(burst), float(burst), self.clock())
        return bucket

    def _why(self, request_class: RequestClass, now: float) -> tuple[float, str]:
        """How long a request of this class must wait now, and which limit holds it (in words)."""
        write = request_class == "write"
        bucket = self._bucket("write" if write else "read")
        bucket.refill(now)
        delay = bucket.wait()
        limit_text = (
            f"ARM {'writes' if write else 'reads'} ({bucket.rate:g}/s, burst {bucket.capacity:g})" if delay else ""
        )
        if self._blocked_until - now > delay:
            delay, limit_text = self._blocked_until - now, "Azure's Retry-After after a 429"
        for limit in self.config.windows:
            if limit.applies_to != request_class:
                continue
            stamps = self._windows.setdefault(limit, collections.deque())
            while stamps and now - stamps[0] >= limit.window:
                stamps.popleft()
            if len(stamps) >= limit.limit and stamps[0] + limit.window - now > delay:
                delay = stamps[0] + limit.window - now
                limit_text = f"Compute {_CLASS_WORDS[request_class]} ({limit.limit:g} per {limit.window:g} s)"
        return delay, limit_text

    def pending_wait(self, request_class: RequestClass) -> tuple[float, str]:
        """What :meth:`acquire` would wait now for this class, and why, without taking anything."""
        if not self.config.enabled:
            return 0.0, ""
        return self._why(request_class, self.clock())

    async def acquire(self, request_class: RequestClass) -> tuple[float, str]:
        """Wait until a request of this class may go, and take its share; (seconds waited, the limit)."""
        if not self.config.enabled:
            return 0.0, ""
        waited, first_limit = 0.0, ""
        async with self._lock:  # first come, first served
            while True:
                now = self.clock()
                delay, limit_text = self._why(request_class, now)
                if delay <= 1e-9:
                    break
                first_limit = first_limit or limit_text
                delay = max(delay, 0.001)  # a clock coarser than the wait must still move on
                await asyncio.sleep(delay)
                waited += delay
            self._bucket("write" if request_class == "write" else "read").tokens -= 1
            for limit in self.config.windows:
                if limit.applies_to == request_class:
                    self._windows.setdefault(limit, collections.deque()).append(now)
        return waited, first_limit

    def observe(self, request_class: RequestClass, status: int, headers: dict[str, str]) -> None:
        """Follow what Azure says is left, and stop until Retry-After after a 429."""
        if not self.config.enabled:
            return
        kind = "writes" if request_class == "write" else "reads"
        remaining = headers.get(f"x-ms-ratelimit-remaining-subscription-{kind}")
        if remaining is not None and remaining.isdigit():
            bucket = self._bucket("write" if request_class == "write" else "read")
            bucket.tokens = min(bucket.tokens, float(int(remaining) - self.config.reserve))
        if status == 429:
            retry = headers.get("retry-after", "")
            seconds = float(retry) if retry.replace(".", "", 1).isdigit() else 5.0
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)
