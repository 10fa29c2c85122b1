"""What the handlers share: configuration, one Azure gateway per cloud profile, per-resource clocks."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import kopf
import yaml

from controller import __version__
from controller.azure import AzureComputeGateway, ComputeGateway, RequestHook
from controller.azure.observe import SeenScaleSet
from controller.config import CloudProfile, OperatorConfig
from controller.operator.anticipate import OperationClock
from controller.operator.live import LiveObjects, LiveReadError
from controller.operator.writes import LEADER_FIELD, Owned, WrittenStatus, status_patch_ops
from controller.scope import ScopePolicy, ScopeTarget, parse_scope_policy

GatewayFactory = Callable[[CloudProfile], ComputeGateway]
logger = logging.getLogger("scaleset_image.operator")
_SCOPE_RECHECK_SECONDS = 1.0
"""How often the configuration file is looked at (one stat) for a changed scope policy."""
SLOT_WAIT_SHOWN = 1.0
"""A pass that queued longer than this (seconds) for a pass slot is logged (``pass_slot``)."""
SLOT_WAIT_LOG_EVERY = 60.0
"""At most one log line about pass slot waits per this many seconds."""

_GONE_REMEMBERED = 10_000
"""Deleted objects (uids) remembered, so a reconcile that outlived its object writes nothing."""


@dataclass
class OperatorContext:
    """What the handlers share: configuration, one gateway per cloud profile, and per-resource clocks."""

    config: OperatorConfig
    gateway_factory: GatewayFactory | None = None
    request_hook: RequestHook | None = None
    budget_wait_hook: Callable[[str, float], None] | None = None  # (limit, seconds): a wait for the budget
    tick: float = 1.0
    reconcile_hook: Callable[[str, str, float, str], None] | None = None
    status_hook: Callable[[str, str, dict[str, Any]], None] | None = None
    fleet_status_hook: Callable[[str, str, dict[str, Any]], None] | None = None  # a fleet's status, as written
    forget_hook: Callable[[str, str], None] | None = None
    _gateways: dict[str, ComputeGateway] = field(default_factory=dict)
    _due: dict[tuple[str, str], float] = field(default_factory=dict)
    _due_generation: dict[tuple[str, str], Any] = field(default_factory=dict)
    seen: dict[tuple[str, str], SeenScaleSet] = field(default_factory=dict)
    clocks: dict[tuple[str, str], OperationClock] = field(default_factory=dict)  # operations timed, see anticipate
    ahead: dict[tuple[str, str], float] = field(default_factory=dict)  # the end of a pause a pass runs ahead of
    _uids: dict[tuple[str, str], str] = field(default_factory=dict)
    _generations: dict[str, int] = field(default_factory=dict)
    _gone: OrderedDict[str, None] = field(default_factory=OrderedDict)
    config_path: str | None = None  # re-read for scopePolicy changes (a mounted ConfigMap changes in place)
    _scope: ScopePolicy | str | None = None  # str: the policy in the file cannot be read (deny everything)
    _scope_mtime: int | None = None
    _scope_checked: float = 0.0
    live: LiveObjects | None = None  # the API server itself, asked right before each Azure write
    _delivery_http: aiohttp.ClientSession | None = None  # Prometheus queries and webhook calls
    fence: Callable[[], str | None] | None = None  # leader election: None while this replica may write
    identity: str | None = None  # leader election: this replica's identity, written to status.leader
    leader_hook: Callable[[bool], None] | None = None  # leader election: this replica leads (True) or not
    written: WrittenStatus = field(default_factory=WrittenStatus)
    slot_wait_hook: Callable[[float], None] | None = None  # seconds a pass queued for a slot (maxConcurrentPasses)
    _slots: asyncio.Semaphore | None = None
    _slow_slots: tuple[int, float] = (0, 0.0)  # waits longer than SLOT_WAIT_SHOWN since the last log: count, longest
    _slot_logged: float = 0.0

    def connected(self, info: kopf.ConnectionInfo) -> None:
        """kopf logged in with ``info``: read live objects with the same connection."""
        if self.live is None:
            self.live = LiveObjects(info)

    def __post_init__(self) -> None:
        self._scope = self.config.scope
        if self.config_path is not None:
            try:
                self._scope_mtime = os.stat(self.config_path).st_mtime_ns
            except OSError:
                self._scope_mtime = None

    def scope_denial(self, target: ScopeTarget) -> str | None:
        """Why ``target`` is out of the scope policy (None: allowed, or no policy)."""
        policy = self._current_scope()
        if isinstance(policy, str):
            return f"The operator's scopePolicy cannot be read ({policy}); every resource is denied until it is fixed."
        return policy.denial(target) if policy is not None else None

    def _current_scope(self) -> ScopePolicy | str | None:
        now = time.monotonic()
        if self.config_path is None or now - self._scope_checked < _SCOPE_RECHECK_SECONDS:
            return self._scope
        self._scope_checked = now
        try:
            mtime = os.stat(self.config_path).st_mtime_ns
        except OSError:
            return self._scope  # a ConfigMap being swapped: keep the last policy read
        if mtime == self._scope_mtime:
            return self._scope
        self._scope_mtime = mtime
        try:
            with open(self.config_path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
            self._scope = parse_scope_policy(data.get("scopePolicy") if isinstance(data, dict) else None)
            logger.info("scope policy reloaded from %s: %s", self.config_path, _describe(self._scope))
        except (OSError, ValueError, yaml.YAMLError) as exc:  # ScopePolicyError is a ValueError
            self._scope = str(exc)
            logger.error("scope policy in %s cannot be read, denying every resource: %s", self.config_path, exc)
        return self._scope

    def fenced(self) -> str | None:
        """Why this replica must not write now (it does not hold the Lease, or has not renewed it in time);
        None without leader election or while it leads."""
        return self.fence() if self.fence is not None else None

    async def write_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        uid: str | None,
        old: dict[str, Any],
        new: dict[str, Any],
        owned: Owned,
        *,
        kind: str | None = None,
        stamp: bool = False,
    ) -> bool:
        """Write ``new`` over ``old`` if the status is still ``old`` (see :mod:`controller.operator.writes`);
        True when written or when there was nothing to write. Nothing is written once this replica may no
        longer write; ``stamp``: with leader election, ``status.leader`` names this replica (a ScaleSetImage's)."""
        if stamp and self.identity is not None and new and new.get(LEADER_FIELD) != self.identity:
            new = {**new, LEADER_FIELD: self.identity}
        ops = status_patch_ops(old, new, owned)
        if not ops:
            return True
        fenced = self.fenced()
        if fenced is not None:
            logger.warning("%s/%s: status not written: this replica may not write (%s)", namespace, name, fenced)
            return False
        if self.live is None:
            raise LiveReadError("not connected to the Kubernetes API")
        outcome = await self.live.patch_status(plural, namespace, name, ops)
        if outcome == "conflict":
            logger.warning(
                "%s/%s: status not written: it changed since this pass read it (another replica, or a stale read);"
                " the next pass starts from the status as it is",
                namespace,
                name,
            )
            return False
        if outcome == "written" and uid:
            self.written.wrote(kind or plural, uid, old, new, owned)
        return outcome == "written"

    def gateway(self, profile: CloudProfile) -> ComputeGateway:
        gateway = self._gateways.get(profile.name)
        if gateway is None:
            if self.gateway_factory is not None:
                gateway = self.gateway_factory(profile)
            else:
                gateway = AzureComputeGateway(
                    profile,
                    request_hook=self.request_hook,
                    budget=self.config.budget,
                    budget_wait_hook=self.budget_wait_hook,
                    write_fence=self.fenced if self.fence is not None else None,
                    user_agent=f"scaleset-image-operator/{__version__}"
                    + (f" replica/{self.identity}" if self.identity else ""),
                )
            self._gateways[profile.name] = gateway
        return gateway

    def delivery_http(self) -> aiohttp.ClientSession:
        """The HTTP session for analysis queries and webhook calls (each request sets its own timeout)."""
        if self._delivery_http is None or self._delivery_http.closed:
            self._delivery_http = aiohttp.ClientSession()
        return self._delivery_http

    async def close(self) -> None:
        if self._delivery_http is not None:
            await self._delivery_http.close()
            self._delivery_http = None
        for gateway in self._gateways.values():
            await gateway.close()
        self._gateways.clear()
        if self.live is not None:
            await self.live.close()

    @asynccontextmanager
    async def pass_slot(self, namespace: str, name: str) -> AsyncIterator[None]:
        """One of ``maxConcurrentPasses`` slots for a pass that talks to Azure (first come, first served). The time
        queued goes to ``slot_wait_hook``; waits longer than a second are logged, one line a minute at most."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.max_concurrent_passes)
        queued = time.monotonic()
        async with self._slots:
            waited = time.monotonic() - queued
            if self.slot_wait_hook is not None and waited > 0:
                self.slot_wait_hook(waited)
            if waited > SLOT_WAIT_SHOWN:
                count, longest = self._slow_slots[0] + 1, max(self._slow_slots[1], waited)
                self._slow_slots = (count, longest)
                if time.monotonic() - self._slot_logged >= SLOT_WAIT_LOG_EVERY:
                    logger.warning(
                        "%d pass(es) waited over %.0f s for one of the %d pass slots (longest %.1f s, last %s/%s); "
                        "raise maxConcurrentPasses if this goes on",
                        count,
                        SLOT_WAIT_SHOWN,
                        self.config.max_concurrent_passes,
                        longest,
                        namespace,
                        name,
                    )
                    self._slow_slots = (0, 0.0)
                    self._slot_logged = time.monotonic()
            yield

    def nudge(self, namespace: str, name: str) -> None:
        self._due[(namespace, name)] = 0.0
        self._due_generation.pop((namespace, name), None)

    def is_due(self, namespace: str, name: str) -> bool:
        return time.monotonic() >= self._due.get((namespace, name), 0.0)

    def until_due(self, namespace: str, name: str) -> float:
        """Seconds until the resource is due (0 when it is)."""
        return max(0.0, self._due.get((namespace, name), 0.0) - time.monotonic())

    def schedule(
        self, namespace: str, name: str, seconds: float, generation: Any = None, *, since: float | None = None
    ) -> None:
        """The next pass ``seconds`` after ``since`` (a ``time.monotonic()`` reading; default now);
        ``generation``: the spec generation that pass was decided on."""
        start = time.monotonic() if since is None else since
        self._due[(namespace, name)] = start + max(0.0, seconds)
        if generation is None:
            self._due_generation.pop((namespace, name), None)
        else:
            self._due_generation[(namespace, name)] = generation

    def waiting(self, namespace: str, name: str, generation: Any) -> bool:
        """A pass of this very spec generation asked to come back later, and it is not time yet (a status that
        does not record the generation, say a wait for the budget, must not make every tick a pass)."""
        return not self.is_due(namespace, name) and self._due_generation.get((namespace, name)) == generation

    def forget(self, namespace: str, name: str) -> None:
        self._due.pop((namespace, name), None)
        self._due_generation.pop((namespace, name), None)
        self.seen.pop((namespace, name), None)
        self.clocks.pop((namespace, name), None)
        self.ahead.pop((namespace, name), None)
        if self.forget_hook is not None:
            self.forget_hook(namespace, name)

    def saw(self, namespace: str, name: str, uid: str | None, *, gone: bool, generation: int | None = None) -> None:
        """Follow the watch stream: which object (uid) a name stands for now, its spec generation, and which
        objects are gone."""
        if not uid:
            return
        if generation is not None and not gone:
            self._generations[uid] = max(generation, self._generations.get(uid, 0))
        if gone:
            self._gone[uid] = None
            while len(self._gone) > _GONE_REMEMBERED:
                self._gone.popitem(last=False)
            self._generations.pop(uid, None)
            self.written.forget(uid)
            if self._uids.get((namespace, name)) == uid:
                del self._uids[(namespace, name)]
                self.forget(namespace, name)
        elif uid not in self._gone:
            if self._uids.get((namespace, name)) not in (None, uid):
                self.forget(namespace, name)  # deleted and re-created: nothing cached is about this object
            self._uids[(namespace, name)] = uid

    def is_current(self, namespace: str, name: str, uid: str | None) -> bool:
        """Whether ``uid`` is still the live object of that name (so writes on its behalf may go out)."""
        if not uid:
            return True
        return uid not in self._gone and self._uids.get((namespace, name), uid) == uid

    def spec_moved_on(self, uid: str | None, generation: int) -> bool:
        """Whether the watch has shown a newer spec than ``generation`` (a pause, a new image) since a pass began."""
        return bool(uid) and self._generations.get(str(uid), generation) > generation


def _describe(policy: ScopePolicy | None) -> str:
    if policy is None:
        return "no policy (every namespace may target every scale set)"
    return f"{len(policy.rules)} rule(s): {', '.join(r.name for r in policy.rules) or 'none (deny all)'}"
