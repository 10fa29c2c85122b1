"""Throttling as ARM and the Compute resource provider do it.

Two layers, both per subscription:
- ARM's token buckets: reads and writes each hold ``capacity`` tokens refilled at ``refill_per_second``.
  Every answer carries ``x-ms-ratelimit-remaining-subscription-reads`` or ``-writes``.
- Compute RP policies: a count of calls per fixed window for named operations (``GetVMScaleSet3Min`` ...),
  reported in ``x-ms-ratelimit-remaining-resource`` as ``Microsoft.Compute/<policy>;<remaining>,...``.
An empty bucket or an exhausted policy answers 429 with an integer ``Retry-After`` and the body ARM uses.
Throttling measures the client's request rate, so it runs on real seconds, not the scenario clock.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ArmError
from .scenario import BucketLimit, ComputePolicy, Throttling


@dataclass
class TokenBucket:
    limit: BucketLimit
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.limit.capacity, self.tokens + (now - self.updated) * self.limit.refill_per_second)
        self.updated = now

    def seconds_until_token(self) -> float:
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.limit.refill_per_second if self.limit.refill_per_second > 0 else 60.0


@dataclass
class PolicyWindow:
    policy: ComputePolicy
    window_start: float
    used: int = 0

    def roll(self, now: float) -> None:
        if now - self.window_start >= self.policy.window_seconds:
            self.window_start = now
            self.used = 0

    @property
    def remaining(self) -> int:
        return max(0, self.policy.limit - self.used)


@dataclass
class Throttler:
    config: Throttling
    clock: Callable[[], float] = time.monotonic
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    windows: dict[tuple[str, str], PolicyWindow] = field(default_factory=dict)
    throttled: int = 0

    def _bucket(self, subscription: str, kind: str, now: float) -> TokenBucket:
        key = (subscription, kind)
        bucket = self.buckets.get(key)
        limit = self.config.reads if kind == "reads" else self.config.writes
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(limit, float(limit.capacity), now)
        bucket.refill(now)
        return bucket

    def check(self, subscription: str, is_write: bool, operation: str) -> dict[str, str]:
        """Charge one request; return the rate-limit headers, or raise a 429 :class:`ArmError`."""
        now = self.clock()
        kind = "writes" if is_write else "reads"
        bucket = self._bucket(subscription, kind, now)
        windows = [
            self._window(subscription, p, now) for p in self.config.compute_policies if operation in p.operations
        ]
        headers: dict[str, str] = {}
        if not self.config.enabled:
            headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = str(int(bucket.tokens))
            return headers
        if bucket.tokens < 1:
            self.throttled += 1
            retry = max(1, math.ceil(bucket.seconds_until_token()))
            raise self._too_many(
                retry,
                "SubscriptionRequestsThrottled",
                kind,
                bucket.limit.capacity,
                headers={
                    f"x-ms-ratelimit-remaining-subscription-{kind}": "0",
                },
            )
        exhausted = [w for w in windows if w.remaining <= 0]
        if exhausted:
            self.throttled += 1
            w = exhausted[0]
            retry = max(1, math.ceil(w.window_start + w.policy.window_seconds - now))
            raise self._too_many(
                retry,
                w.policy.name,
                "resource",
                w.policy.limit,
                headers={
                    "x-ms-ratelimit-remaining-resource": self._resource_header(windows),
                },
            )
        bucket.tokens -= 1
        for w in windows:
            w.used += 1
        headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = str(int(bucket.tokens))
        if windows:
            headers["x-ms-ratelimit-remaining-resource"] = self._resource_header(windows)
        return headers

    def _window(self, subscription: str, policy: ComputePolicy, now: float) -> PolicyWindow:
        key = (subscription, policy.name)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = PolicyWindow(policy, now)
        window.roll(now)
        return window

    @staticmethod
    def _resource_header(windows: list[PolicyWindow]) -> str:
        return ",".join(f"Microsoft.Compute/{w.policy.name};{w.remaining}" for w in windows)

    @staticmethod
    def _too_many(retry: int, target: str, kind: str, allowed: int, headers: dict[str, str]) -> ArmError:
        if kind == "resource":
            detail_message = json.dumps({"allowedRequestCount": allowed, "measurementTimespan": target})
            return ArmError(
                429,
                "OperationNotAllowed",
                "The server rejected the request because too many requests have been received for this subscription.",
                details=[{"code": "TooManyRequests", "target": target, "message": detail_message}],
                headers={"Retry-After": str(retry), **headers},
            )
        return ArmError(
            429,
            "SubscriptionRequestsThrottled",
            f"Number of '{'write' if kind == 'writes' else 'read'}' requests for subscription exceeded the limit "
            f"of '{allowed}' for time interval. Please try again after '{retry}' seconds.",
            headers={"Retry-After": str(retry), **headers},
        )
