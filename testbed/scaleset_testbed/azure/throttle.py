"""Throttling as ARM and the Compute resource provider publish it.

Three layers, all measured on real seconds (the point is the client's request rate, not scenario time):
- ARM's token buckets per subscription and principal: reads, writes and deletes each hold ``capacity``
  tokens refilled at ``refill_per_second``. Every answer carries
  ``x-ms-ratelimit-remaining-subscription-reads`` (or ``-writes``, ``-deletes``).
- Compute's published policies: for each operation a bucket per resource (the scale set, the VM) and one
  per subscription, refilled per minute up to a cap; both must hold a token. Every answer to a Compute
  operation carries ``x-ms-ratelimit-remaining-resource`` as ``Microsoft.Compute/<name>;<tokens>,...``,
  with the policy names Compute still reports (``HighCostGetVMScaleSet3Min`` for the resource,
  ``...30Min`` for the subscription).
- Older fixed windows (``compute_policies``), off unless a scenario configures them.
An empty bucket answers 429 with a whole-second ``Retry-After`` and the body ARM or Compute uses.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import ArmError
from .scenario import BucketLevel, BucketLimit, ComputeLimit, ComputePolicy, Throttling


@dataclass
class TokenBucket:
    """``capacity`` tokens, ``rate`` tokens per second; with ``step`` > 0, refilled in steps of ``step`` s."""

    capacity: float
    rate: float
    tokens: float
    updated: float
    step: float = 0.0

    def refill(self, now: float) -> None:
        if self.step > 0:
            steps = math.floor((now - self.updated) / self.step)
            if steps > 0:
                self.tokens = min(self.capacity, self.tokens + steps * self.step * self.rate)
                self.updated += steps * self.step
            return
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def seconds_until_token(self, now: float) -> float:
        if self.tokens >= 1:
            return 0.0
        if self.rate <= 0:
            return 60.0
        if self.step > 0:
            steps = math.ceil((1 - self.tokens) / (self.step * self.rate))
            return self.updated + steps * self.step - now
        return (1 - self.tokens) / self.rate


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
class _Charge:
    """One Compute bucket a request spends from, and how it is named to the client."""

    bucket: TokenBucket
    header: str
    level: BucketLevel


@dataclass
class Throttler:
    config: Throttling
    clock: Callable[[], float] = time.monotonic
    buckets: dict[tuple[str, ...], TokenBucket] = field(default_factory=dict)
    windows: dict[tuple[str, str], PolicyWindow] = field(default_factory=dict)
    throttled: int = 0
    throttled_by: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.buckets.clear()
        self.windows.clear()

    def _arm_bucket(self, subscription: str, principal: str, kind: str, now: float) -> TokenBucket:
        key = ("arm", subscription, principal, kind)
        bucket = self.buckets.get(key)
        if bucket is None:
            limit: BucketLimit = getattr(self.config, kind)
            bucket = self.buckets[key] = TokenBucket(
                float(limit.capacity), limit.refill_per_second, float(limit.capacity), now
            )
        bucket.refill(now)
        return bucket

    def _compute_bucket(self, key: tuple[str, ...], level: BucketLevel, now: float) -> TokenBucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            step = self.config.refill_interval_seconds
            bucket = self.buckets[key] = TokenBucket(
                float(level.capacity), level.refill_per_minute / 60.0, float(level.capacity), now, step
            )
        bucket.refill(now)
        return bucket

    def _compute_charges(self, subscription: str, resource: str, operation: str, now: float) -> list[_Charge]:
        charges: list[_Charge] = []
        for limit in self.config.compute_limits:
            per_resource = operation in limit.operations
            if not per_resource and operation not in limit.subscription_only:
                continue
            if per_resource and limit.resource is not None and resource:
                key = ("compute", subscription, limit.name, resource.lower())
                charges.append(
                    _Charge(self._compute_bucket(key, limit.resource, now), limit.resource.header, limit.resource)
                )
            key = ("compute", subscription, limit.name, "")
            charges.append(
                _Charge(
                    self._compute_bucket(key, limit.subscription, now), limit.subscription.header, limit.subscription
                )
            )
        return charges

    def check(
        self,
        subscription: str,
        method: str,
        operation: str,
        *,
        resource: str = "",
        principal: str = "",
    ) -> dict[str, str]:
        """Charge one request; return the rate-limit headers, or raise a 429 :class:`ArmError`.

        ``resource``: the id of the resource the operation targets (the scale set, or the VM), for the
        per-resource Compute buckets; ``principal``: who calls (ARM's buckets are per principal).
        """
        now = self.clock()
        kind = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(method.upper(), "writes")
        bucket = self._arm_bucket(subscription, principal, kind, now)
        charges = self._compute_charges(subscription, resource, operation, now)
        windows = [
            self._window(subscription, p, now) for p in self.config.compute_policies if operation in p.operations
        ]
        arm_header = f"x-ms-ratelimit-remaining-subscription-{kind}"
        if not self.config.enabled:
            return {arm_header: str(int(bucket.tokens))}
        if bucket.tokens < 1:
            retry = max(1, math.ceil(bucket.seconds_until_token(now)))
            self._count("ARM " + kind)
            raise self._arm_too_many(retry, kind, int(bucket.capacity), {arm_header: "0"})
        empty = [c for c in charges if c.bucket.tokens < 1]
        if empty:
            bucket.tokens -= 1  # ARM let it through to the resource provider, which refused it
            charge = max(empty, key=lambda c: c.bucket.seconds_until_token(now))
            retry = max(1, math.ceil(charge.bucket.seconds_until_token(now)))
            self._count(charge.header)
            raise self._compute_too_many(
                retry,
                charge.header,
                charge.level.capacity,
                "1Min",
                {"x-ms-ratelimit-remaining-resource": self._resource_header(charges, windows)},
            )
        exhausted = [w for w in windows if w.remaining <= 0]
        if exhausted:
            bucket.tokens -= 1
            w = exhausted[0]
            retry = max(1, math.ceil(w.window_start + w.policy.window_seconds - now))
            self._count(w.policy.name)
            raise self._compute_too_many(
                retry,
                w.policy.name,
                w.policy.limit,
                w.policy.name,
                {"x-ms-ratelimit-remaining-resource": self._resource_header(charges, windows)},
            )
        bucket.tokens -= 1
        for c in charges:
            c.bucket.tokens -= 1
        for w in windows:
            w.used += 1
        headers = {arm_header: str(int(bucket.tokens))}
        if charges or windows:
            headers["x-ms-ratelimit-remaining-resource"] = self._resource_header(charges, windows)
        return headers

    def _count(self, limit: str) -> None:
        self.throttled += 1
        self.throttled_by[limit] = self.throttled_by.get(limit, 0) + 1

    def _window(self, subscription: str, policy: ComputePolicy, now: float) -> PolicyWindow:
        key = (subscription, policy.name)
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = PolicyWindow(policy, now)
        window.roll(now)
        return window

    @staticmethod
    def _resource_header(charges: list[_Charge], windows: list[PolicyWindow]) -> str:
        parts = [f"Microsoft.Compute/{c.header};{max(0, int(c.bucket.tokens))}" for c in charges]
        parts += [f"Microsoft.Compute/{w.policy.name};{w.remaining}" for w in windows]
        return ",".join(parts)

    @staticmethod
    def _compute_too_many(retry: int, target: str, allowed: int, timespan: str, headers: dict[str, str]) -> ArmError:
        detail = json.dumps({"allowedRequestCount": allowed, "measurementTimespan": timespan})
        return ArmError(
            429,
            "OperationNotAllowed",
            "The server rejected the request because too many requests have been received for this subscription.",
            details=[{"code": "TooManyRequests", "target": target, "message": detail}],
            headers={"Retry-After": str(retry), **headers},
        )

    @staticmethod
    def _arm_too_many(retry: int, kind: str, allowed: int, headers: dict[str, str]) -> ArmError:
        word = {"reads": "read", "writes": "write", "deletes": "delete"}[kind]
        return ArmError(
            429,
            "SubscriptionRequestsThrottled",
            f"Number of '{word}' requests for subscription exceeded the limit of '{allowed}' for time interval. "
            f"Please try again after '{retry}' seconds.",
            headers={"Retry-After": str(retry), **headers},
        )


def limits_text(limits: list[ComputeLimit]) -> str:
    """One line per Compute limit, for logs and benchmark reports."""
    lines = []
    for limit in limits:
        per_resource = (
            f"{limit.resource.refill_per_minute:g}/{limit.resource.capacity} per resource, " if limit.resource else ""
        )
        lines.append(
            f"{limit.name}: {per_resource}{limit.subscription.refill_per_minute:g}/{limit.subscription.capacity} "
            "per subscription (refill per minute / cap)"
        )
    return "\n".join(lines)


def throttled_resource(params: dict[str, str]) -> str:
    """The resource a request's per-resource Compute buckets belong to, from the route's parameters."""
    if "vm" in params:
        return f"{params.get('rg', '')}/virtualMachines/{params['vm']}"
    if "name" not in params:
        return ""
    scale_set = f"{params.get('rg', '')}/virtualMachineScaleSets/{params['name']}"
    return f"{scale_set}/virtualMachines/{params['iid']}" if "iid" in params else scale_set
