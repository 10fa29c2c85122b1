"""The operator's share of Azure's request limits, per subscription and per scale set.

Azure throttles per region (learn.microsoft.com "Understand how Azure Resource Manager throttles requests";
MicrosoftDocs azure-compute-docs "compute-throttling-limits"):
- ARM: a token bucket per subscription and principal for reads (250, refilled at 25/s) and for writes
  (200 at 10/s);
- Microsoft.Compute: for each kind of operation, a bucket per resource and one per subscription, refilled
  per minute (instance listings: 10 per minute up to 30 per scale set, 360 up to 1,080 per subscription).
Every request the operator makes is one the team's other tools cannot make, and a 429 costs a Retry-After
wait. So the operator spends from buckets of its own: Azure's limits times its share (``share`` of the
subscription's buckets, ``resource_share`` of a scale set's), and waits instead of being refused.

- A share of at most 0.75 also keeps under a Compute bucket that refills once a minute rather than
  continuously (every published Compute bucket holds three minutes of refill; after the burst the operator
  spends at most 0.75 of a minute's refill before the next one arrives).
- Fair between resources: a request that would wait longer than ``DEFER_AFTER`` seconds is not held in
  the process; it gets a place in the bucket's queue and :class:`BudgetDeferred` says until when. The
  resource comes back then and goes ahead of any later arrival, so the resources of a fleet take turns and
  advance together, and every such wait is visible (the caller shows it in status, a metric and a log).
- When Azure reports fewer remaining ARM requests than the bucket holds (other clients share the
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

from controller.config import BudgetConfig, ComputeLimit, RequestClass, WindowLimit

DEFER_AFTER = 1.0
"""A request that would wait longer than this (seconds) is deferred with a place in the queue, not held."""

_PROMISE_GRACE = 30.0
"""A place in a queue is given up when its holder has not come back this long after its time."""

_SCALE_SET = re.compile(
    r"^(?P<vmss>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/virtualMachineScaleSets/[^/]+)"
    r"(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_VM_LIST = re.compile(r"/resourceGroups/[^/]+/providers/Microsoft\.Compute/virtualMachines$", re.IGNORECASE)
_VMSS_VM = re.compile(r"^/virtualMachines/[^/]+(?P<tail>/.*)?$", re.IGNORECASE)


def classify(method: str, path: str) -> RequestClass:
    """The ARM class of a request (and of the operator's own extra windows)."""
    if method.upper() != "GET":
        return "write"
    m = _SCALE_SET.match(path)
    if m is not None and not m.group("rest"):
        return "scale_set_get"
    if (m is not None and (m.group("rest") or "").lower() == "/virtualmachines") or _VM_LIST.search(path):
        return "vm_list"
    return "read"


def compute_policy(method: str, path: str) -> tuple[str, str] | None:
    """(Compute policy, resource) a request spends from, as the published tables group operations.

    The resource is the scale set's path (lower case); "" for a policy counted per subscription only.
    """
    write = method.upper() != "GET"
    if _VM_LIST.search(path):
        return None if write else ("VMHighCostGet", "")
    m = _SCALE_SET.match(path)
    if m is None:
        return None
    resource, rest = m.group("vmss").lower(), (m.group("rest") or "").lower()
    vm = _VMSS_VM.match(rest)
    if vm is not None and rest != "/virtualmachines":
        if write:
            return ("VMScaleSetVMUpdate", path.lower())
        return ("VMScaleSetVMGet", path.lower().removesuffix("/instanceview"))
    if write:
        if rest in ("/deallocate", "/poweroff", "/delete"):
            return ("VMScaleSetDelete", resource)
        return ("VMScaleSetUpdate", resource)
    if rest in ("", "/rollingupgrades/latest"):
        return ("VMScaleSetLowCostGet", resource)
    if rest in ("/instanceview", "/virtualmachines"):
        return ("VMScaleSetHighCostGet", resource)
    return None


@dataclass
class _Bucket:
    """``capacity`` tokens refilled at ``rate`` per second, and the places promised in its queue."""

    rate: float
    capacity: float
    tokens: float
    updated: float
    words: str  # the limit in words, for status messages and the metric's label
    promised: dict[str, float] = field(default_factory=dict)  # holder -> when it was told to come back

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        for holder, at in list(self.promised.items()):
            if at + _PROMISE_GRACE < now:
                del self.promised[holder]

    def wait(self, holder: str, now: float) -> float:
        """Seconds until ``holder`` may spend a token: after the tokens owed to those queued ahead of it."""
        mine = self.promised.get(holder)
        ahead = sum(1 for who, at in self.promised.items() if who != holder and (mine is None or at < mine))
        needed = ahead + 1 - self.tokens
        if needed <= 1e-9:  # float rounding must not leave a request waiting for nothing
            return 0.0
        return needed / self.rate if self.rate > 0 else 60.0


class BudgetDeferred(Exception):
    """A request was not sent: the budget would hold it ``seconds`` for ``limit``; come back then."""

    def __init__(self, seconds: float, limit: str) -> None:
        super().__init__(f"waiting {seconds:.1f} s for {limit}")
        self.seconds = seconds
        self.limit = limit


def _per_minute_words(kind: str, level: str, rate_per_s: float, capacity: float) -> str:
    return f"Compute {kind} per {level} ({rate_per_s * 60:g}/min, burst {capacity:g})"


_POLICY_WORDS = {
    "VMScaleSetHighCostGet": "instance listings",
    "VMScaleSetLowCostGet": "scale-set reads",
    "VMScaleSetUpdate": "scale-set updates",
    "VMScaleSetDelete": "scale-set deletes",
    "VMScaleSetVMGet": "instance reads",
    "VMScaleSetVMUpdate": "instance updates",
    "VMHighCostGet": "VM listings",
}


@dataclass
class SubscriptionBudget:
    """The budget of one subscription; :meth:`acquire` before each request, :meth:`observe` after."""

    config: BudgetConfig
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    _windows: dict[WindowLimit, collections.deque[float]] = field(default_factory=dict)
    _blocked_until: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _arm(self, write: bool, now: float) -> _Bucket:
        key = ("arm", "write" if write else "read")
        bucket = self._buckets.get(key)
        if bucket is None:
            share = self.config.share
            if write:
                rate, burst = self.config.writes_per_second * share, self.config.write_burst * share
            else:
                rate, burst = self.config.reads_per_second * share, self.config.read_burst * share
            words = f"ARM {'writes' if write else 'reads'} ({rate:g}/s, burst {burst:g})"
            bucket = self._buckets[key] = _Bucket(rate, burst, burst, now, words)
        bucket.refill(now)
        return bucket

    def _limit(self, policy: str) -> ComputeLimit | None:
        return next((c for c in self.config.compute if c.policy == policy), None)

    def _compute(self, policy: str, resource: str, now: float) -> list[_Bucket]:
        limit = self._limit(policy)
        if limit is None:
            return []
        levels: list[tuple[str, float, float, float, str]] = [
            ("", limit.subscription_per_minute, limit.subscription_capacity, self.config.share, "subscription")
        ]
        if resource and limit.resource_per_minute is not None and limit.resource_capacity is not None:
            levels.append(
                (resource, limit.resource_per_minute, limit.resource_capacity, self.config.resource_share, "scale set")
            )
        buckets = []
        for key, per_minute, capacity, share, level in levels:
            bucket = self._buckets.get((policy, key))
            if bucket is None:
                rate, burst = per_minute * share / 60.0, capacity * share
                words = _per_minute_words(_POLICY_WORDS.get(policy, policy), level, rate, burst)
                bucket = self._buckets[(policy, key)] = _Bucket(rate, burst, burst, now, words)
            bucket.refill(now)
            buckets.append(bucket)
        return buckets

    def _buckets_for(self, request_class: RequestClass, policy: tuple[str, str] | None, now: float) -> list[_Bucket]:
        buckets = [self._arm(request_class == "write", now)]
        if policy is not None:
            buckets += self._compute(policy[0], policy[1], now)
        return buckets

    def _why(
        self, request_class: RequestClass, policy: tuple[str, str] | None, holder: str, now: float
    ) -> tuple[float, str, list[_Bucket]]:
        """How long this request must wait now, which limit holds it (in words), and the buckets it spends."""
        buckets = self._buckets_for(request_class, policy, now)
        delay, limit_text = 0.0, ""
        for bucket in buckets:
            wait = bucket.wait(holder, now)
            if wait > delay:
                delay, limit_text = wait, bucket.words
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
                limit_text = f"operator window on {request_class} ({limit.limit:g} per {limit.window:g} s)"
        return delay, limit_text, buckets

    def pending_wait(
        self, request_class: RequestClass, policy: tuple[str, str] | None = None, holder: str = ""
    ) -> tuple[float, str]:
        """What :meth:`acquire` would wait now for this request, and why, without taking anything."""
        if not self.config.enabled:
            return 0.0, ""
        delay, limit_text, _ = self._why(request_class, policy, holder or (policy[1] if policy else ""), self.clock())
        return delay, limit_text

    async def acquire(
        self, request_class: RequestClass, policy: tuple[str, str] | None = None, *, defer: bool = False
    ) -> tuple[float, str]:
        """Wait until this request may go, and take its share; (seconds waited, the limit that held it).

        With ``defer``, a wait longer than :data:`DEFER_AFTER` raises :class:`BudgetDeferred` instead,
        after keeping the request's place in the queue of the bucket that holds it (its holder is the
        scale set the request is for).
        """
        if not self.config.enabled:
            return 0.0, ""
        holder = policy[1] if policy is not None and policy[1] else ""
        waited, first_limit = 0.0, ""
        async with self._lock:  # first come, first served among the requests that wait in-process
            while True:
                now = self.clock()
                delay, limit_text, buckets = self._why(request_class, policy, holder, now)
                if delay <= 1e-9:
                    break
                first_limit = first_limit or limit_text
                if defer and holder and delay > DEFER_AFTER:
                    for bucket in buckets:
                        if bucket.wait(holder, now) > 0:
                            bucket.promised[holder] = now + bucket.wait(holder, now)
                    raise BudgetDeferred(delay, limit_text)
                delay = max(delay, 0.001)  # a clock coarser than the wait must still move on
                await asyncio.sleep(delay)
                waited += delay
            for bucket in buckets:
                bucket.tokens -= 1
                bucket.promised.pop(holder, None)
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
            bucket = self._arm(request_class == "write", self.clock())
            # Of what Azure says is left (others spend from the same bucket), the operator takes its share.
            bucket.tokens = min(bucket.tokens, int(remaining) * self.config.share - self.config.reserve)
        if status == 429:
            retry = headers.get("retry-after", "")
            seconds = float(retry) if retry.replace(".", "", 1).isdigit() else 5.0
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)
