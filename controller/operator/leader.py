"""Leader election over a ``coordination.k8s.io/v1`` Lease, and the fence that keeps a replica which may have
lost it from writing to Azure.

The election follows client-go's ``leaderelection`` package, so a platform team reads the Lease the way they
read every other controller's: ``holderIdentity``, ``leaseDurationSeconds``, ``acquireTime``, ``renewTime`` and
``leaseTransitions``. A candidate takes the Lease when it is free or when the holder has not renewed it for a
whole lease duration, measured on the candidate's own monotonic clock from the moment it last saw the record
change (never from ``renewTime``, so the replicas' wall clocks may disagree). Every write of the Lease carries
the resourceVersion it read: of two candidates racing for it, the API server lets exactly one win (409).

The leader renews every retry period. The fence: Azure writes are allowed only while the last successful
renewal *started* less than the renew deadline ago. Another replica cannot take the Lease before it saw that
renewal, plus a whole lease duration; since the renew deadline is shorter than the lease duration, a leader
that stops renewing (cut off from the API server, its process stalled) stops writing to Azure at least
``lease duration - renew deadline`` seconds (5 s with the defaults) before anyone else may start. A leader
that misses the renew deadline stops leading for good: the process ends (``LeadershipLost``) and Kubernetes
starts it again as a standby, as controller-runtime does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from controller.operator.live import LiveObjects

logger = logging.getLogger("scaleset_image.leader")

JITTER = 1.2
"""Retries wait ``retry period x (1 + up to 0.2)``, client-go's jitter factor, so candidates do not march in step."""
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class LeadershipLost(Exception):
    """This replica led and no longer may: it stops, and its process ends so that it restarts as a standby."""


@dataclass(frozen=True)
class ElectionSettings:
    """Where the Lease is, who this replica is, and the three timings (seconds) of client-go's election."""

    lease_name: str
    lease_namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_name or not self.lease_namespace or not self.identity:
            raise ValueError("leader election needs a lease name, a lease namespace and an identity")
        if self.retry_period <= 0:
            raise ValueError(f"--retry-period must be positive (got {self.retry_period:g})")
        if self.renew_deadline <= JITTER * self.retry_period:
            raise ValueError(
                f"--renew-deadline ({self.renew_deadline:g} s) must be more than {JITTER} x --retry-period "
                f"({self.retry_period:g} s): a leader must get more than one try to renew before it gives up"
            )
        if self.lease_duration <= self.renew_deadline:
            raise ValueError(
                f"--lease-duration ({self.lease_duration:g} s) must be more than --renew-deadline "
                f"({self.renew_deadline:g} s): the difference is the margin in which a leader that cannot renew "
                "has stopped writing and no one else may start yet"
            )


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease's spec as last read: who holds it, for how long, and how many times it changed hands."""

    holder: str
    duration: float
    acquire_time: str | None
    renew_time: str | None
    transitions: int


class LeaderElector:
    """One replica's candidacy: acquire the Lease, keep renewing it, release it on a clean stop."""

    def __init__(
        self,
        settings: ElectionSettings,
        live: LiveObjects,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self._live = live
        self._clock = clock
        self._on_change = on_change
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0  # monotonic time this replica last saw the record change
        self._renewed_at: float | None = None  # start of the last successful acquire or renewal while leading
        self._leading = False
        self.transitions = 0  # leaseTransitions as last written or read

    @property
    def leading(self) -> bool:
        return self._leading

    @property
    def holder(self) -> str | None:
        """Who holds the Lease, as this replica last read it."""
        return self._observed.holder if self._observed is not None else None

    def fence(self) -> str | None:
        """None while this replica may write to Azure, else why not (checked right before each write)."""
        if not self._leading or self._renewed_at is None:
            return "NotLeader"
        if self._clock() - self._renewed_at >= self.settings.renew_deadline:
            return "LeaseNotRenewed"
        return None

    def _set_leading(self, leading: bool) -> None:
        if leading != self._leading:
            self._leading = leading
            if not leading:
                self._renewed_at = None
            if self._on_change is not None:
                self._on_change(leading)

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Try every retry period until this replica leads (True) or ``stop`` is set (False)."""
        announced: str | None = None
        while not stop.is_set():
            if await self._attempt():
                logger.info(
                    "%s leads: holds Lease %s/%s (transitions %d)",
                    self.settings.identity,
                    self.settings.lease_namespace,
                    self.settings.lease_name,
                    self.transitions,
                )
                return True
            if self.holder and self.holder != announced:
                announced = self.holder
                logger.info("standing by: Lease %s is held by %s", self.settings.lease_name, self.holder)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._jittered())
        return False

    async def keep(self) -> None:
        """Renew every retry period while leading; raises ``LeadershipLost`` when the renew deadline passes
        without a renewal, or when the Lease is found held by another replica."""
        while True:
            await asyncio.sleep(self.settings.retry_period)
            if self._renewed_at is None:
                raise LeadershipLost("not leading")
            left = self.settings.renew_deadline - (self._clock() - self._renewed_at)
            renewed = False
            if left > 0:
                try:
                    renewed = await asyncio.wait_for(self._attempt(), timeout=left)
                except TimeoutError:
                    renewed = False
            if renewed:
                continue
            if self.holder and self.holder != self.settings.identity:
                self._set_leading(False)
                raise LeadershipLost(f"the Lease is held by {self.holder}")
            if self._renewed_at is None or self._clock() - self._renewed_at >= self.settings.renew_deadline:
                self._set_leading(False)
                raise LeadershipLost(
                    f"the Lease could not be renewed within the renew deadline ({self.settings.renew_deadline:g} s)"
                )

    async def release(self) -> None:
        """On a clean stop: stop writing (the fence closes first), then give the Lease up at once (holder
        cleared), so a standby need not wait it out."""
        leading = self._leading
        self._set_leading(False)
        if not leading or self._observed is None:
            return
        try:
            current, version = await self._read()
            if current is None or current.holder != self.settings.identity:
                return
            now = _micro_now()
            spec = {
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": current.transitions,
            }
            await self._write(spec, version)
            logger.info("%s released Lease %s", self.settings.identity, self.settings.lease_name)
        except (aiohttp.ClientError, TimeoutError, ElectionError) as exc:
            logger.warning("could not release Lease %s: %s", self.settings.lease_name, exc)

    # --- one try: client-go's tryAcquireOrRenew ---------------------------------------------------------------

    async def _attempt(self) -> bool:
        started = self._clock()
        try:
            ok = await self._try_acquire_or_renew(started)
        except (aiohttp.ClientError, TimeoutError, ElectionError) as exc:
            logger.warning("leader election: Lease %s not acquired or renewed: %s", self.settings.lease_name, exc)
            return False
        if ok:
            self._renewed_at = started
            self._set_leading(True)
        return ok

    async def _try_acquire_or_renew(self, started: float) -> bool:
        me = self.settings.identity
        now = _micro_now()
        current, version = await self._read()
        if current is None:
            spec = {
                "holderIdentity": me,
                "leaseDurationSeconds": math.ceil(self.settings.lease_duration),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            }
            if not await self._create(spec):
                return False
            self._observe(_record(spec), started)
            self.transitions = 0
            return True
        if current != self._observed:
            self._observe(current, self._clock())
        held_by_other = bool(current.holder) and current.holder != me
        if held_by_other and self._observed_at + current.duration > self._clock():
            return False
        taking = current.holder != me
        transitions = current.transitions + 1 if taking else current.transitions
        spec = {
            "holderIdentity": me,
            "leaseDurationSeconds": math.ceil(self.settings.lease_duration),
            "acquireTime": now if taking else current.acquire_time or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        if not await self._write(spec, version):
            return False
        self._observe(_record(spec), started)
        self.transitions = transitions
        return True

    def _observe(self, record: LeaseRecord, at: float) -> None:
        self._observed = record
        self._observed_at = at

    # --- HTTP -------------------------------------------------------------------------------------------------

    def _url(self, name: str | None = None) -> str:
        s = self.settings
        base = f"{self._live.server}/apis/coordination.k8s.io/v1/namespaces/{s.lease_namespace}/leases"
        return f"{base}/{name}" if name else base

    async def _read(self) -> tuple[LeaseRecord | None, str | None]:
        async with self._live.session().get(
            self._url(self.settings.lease_name), headers=self._live.headers()
        ) as response:
            if response.status == 404:
                return None, None
            if response.status != 200:
                raise ElectionError(f"reading the Lease: the Kubernetes API answered {response.status}")
            body: Any = await response.json(content_type=None)
        meta = body.get("metadata") or {}
        return _record(body.get("spec") or {}), str(meta.get("resourceVersion") or "")

    async def _create(self, spec: dict[str, Any]) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.settings.lease_name, "namespace": self.settings.lease_namespace},
            "spec": spec,
        }
        async with self._live.session().post(self._url(), json=body, headers=self._live.headers()) as response:
            if response.status == 409:
                return False  # another candidate created it first
            if response.status not in (200, 201):
                raise ElectionError(f"creating the Lease: the Kubernetes API answered {response.status}")
        return True

    async def _write(self, spec: dict[str, Any], version: str | None) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.settings.lease_name,
                "namespace": self.settings.lease_namespace,
                "resourceVersion": version,
            },
            "spec": spec,
        }
        url = self._url(self.settings.lease_name)
        async with self._live.session().put(url, json=body, headers=self._live.headers()) as response:
            if response.status == 409:
                return False  # changed since it was read: someone else renewed or took it
            if response.status != 200:
                raise ElectionError(f"updating the Lease: the Kubernetes API answered {response.status}")
        return True

    def _jittered(self) -> float:
        return self.settings.retry_period * (1.0 + random.uniform(0.0, JITTER - 1.0))


class ElectionError(Exception):
    """The API server answered the election's request with an unexpected status."""


def _record(spec: dict[str, Any]) -> LeaseRecord:
    duration = spec.get("leaseDurationSeconds")
    transitions = spec.get("leaseTransitions")
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration=float(duration) if isinstance(duration, int | float) and duration > 0 else 0.0,
        acquire_time=spec.get("acquireTime"),
        renew_time=spec.get("renewTime"),
        transitions=transitions if isinstance(transitions, int) else 0,
    )


def _micro_now() -> str:
    return datetime.now(UTC).strftime(_MICRO_TIME)
