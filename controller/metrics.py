"""Prometheus metrics: rollout progress per resource, and the operator's own cost in Azure calls.

Per-resource series carry only ``namespace`` and ``name`` labels (never instance ids or versions, which
would explode cardinality); they are removed when the resource is deleted. The two exceptions are bounded:
``phase`` (one series per phase, 5) and ``domain_state``'s ``domain`` (one series per domain of the plan,
at most ``MAX_DOMAIN_SERIES``). Azure request series are labelled by operation (the route, with ids
replaced) and HTTP status.

Everything per resource is derived from the status the operator writes (``observe_status``), so a restarted
operator exports the same values. Durations are observed on transitions between two consecutive statuses
of one resource: a domain once when it reaches Succeeded, Failed or RolledBack (Skipped domains did no work
and are not observed), a rollout once when it reaches Succeeded or Failed. The first status seen after a
start only seeds that memory, so a restart never observes a duration twice.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from controller import __version__
from controller.resource import AnalysisPhase, DomainState, ModelError, Phase, Reason, parse_timestamp

PREFIX = "scaleset_image_"
_PHASES = [p.value for p in Phase]
_TERMINAL_PHASES = frozenset({Phase.SUCCEEDED, Phase.FAILED})
DOMAIN_STATE_CODES: Final[Mapping[str, int]] = {
    DomainState.PENDING: 0,
    DomainState.UPGRADING: 1,
    DomainState.VERIFYING: 2,
    DomainState.SUCCEEDED: 3,
    DomainState.SKIPPED: 4,
    DomainState.FAILED: 5,
    DomainState.ROLLING_BACK: 6,
    DomainState.ROLLED_BACK: 7,
}
"""Values of ``scaleset_image_domain_state`` (the dashboard's heatmap maps them back to names and colours)."""
MAX_DOMAIN_SERIES = 50
"""Per-domain series are exported for the first this-many domains of a plan only (batches of 1 could
otherwise make one series per instance)."""
_TIMED_DOMAIN_STATES = frozenset({DomainState.SUCCEEDED, DomainState.FAILED, DomainState.ROLLED_BACK})
_RATELIMIT_PREFIX = "x-ms-ratelimit-remaining-"
_ARM_BUCKETS = (_RATELIMIT_PREFIX + "subscription-", _RATELIMIT_PREFIX + "tenant-")
ROLLOUT_BUCKETS = (60.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0)
DOMAIN_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
_ID_SEGMENTS = [
    (re.compile(r"/subscriptions/[^/]+", re.I), "/subscriptions/{sub}"),
    (re.compile(r"/resourceGroups/[^/]+", re.I), "/resourceGroups/{rg}"),
    (re.compile(r"/virtualMachineScaleSets/[^/]+", re.I), "/virtualMachineScaleSets/{vmss}"),
    (re.compile(r"/virtualMachines/[^/]+", re.I), "/virtualMachines/{id}"),
    (re.compile(r"/operations/[^/]+", re.I), "/operations/{op}"),
    (re.compile(r"/locations/[^/]+", re.I), "/locations/{loc}"),
    (re.compile(r"/publishers/.*", re.I), "/publishers/..."),
    (re.compile(r"/galleries/.*", re.I), "/galleries/..."),
    (re.compile(r"/images/[^/]+", re.I), "/images/{image}"),
]
_OPERATIONS = [
    (re.compile(r"/virtualMachineScaleSets/\{vmss\}/manualupgrade$", re.I), "manualupgrade"),
    (re.compile(r"/virtualMachineScaleSets/\{vmss\}/virtualMachines$", re.I), "list_vms"),
    (re.compile(r"/virtualMachineScaleSets/\{vmss\}/rollingUpgrades/latest$", re.I), "rolling_upgrade_latest"),
    (re.compile(r"/virtualMachineScaleSets/\{vmss\}$", re.I), "scale_set"),
    (re.compile(r"/operations/\{op\}$", re.I), "operation_status"),
    (re.compile(r"/publishers/\.\.\.$", re.I), "marketplace_images"),
    (re.compile(r"/galleries/\.\.\.$", re.I), "gallery_images"),
    (re.compile(r"/images/\{image\}$", re.I), "managed_image"),
]


def _seconds(value: Any) -> float | None:
    """An RFC 3339 status timestamp as Unix seconds; None when absent or unreadable (status is writable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_timestamp(value).timestamp()
    except ModelError:
        return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class _Seen:
    """What the last status of one resource said, to observe durations on transitions only."""

    phase: str
    finished_domains: frozenset[tuple[str, str, str]]
    domains: frozenset[str]
    in_flight: bool
    signature: tuple[Any, ...]
    moved_at: float | None


def operation_of(method: str, path: str) -> str:
    """A low-cardinality name for an ARM request: ``GET scale_set``, ``POST manualupgrade`` ..."""
    generic = path
    for pattern, replacement in _ID_SEGMENTS:
        generic = pattern.sub(replacement, generic)
    for pattern, name in _OPERATIONS:
        if pattern.search(generic):
            return f"{method} {name}"
    return f"{method} other"


class OperatorMetrics:
    """All metrics of one operator process, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        Info(PREFIX + "build", "Version of the operator.", registry=r).info({"version": __version__})
        labels = ["namespace", "name"]
        self.phase = Gauge(PREFIX + "phase", "1 for the rollout's current phase.", [*labels, "phase"], registry=r)
        self.domains_total = Gauge(PREFIX + "domains", "Domains in the rollout plan.", labels, registry=r)
        self.domains_completed = Gauge(PREFIX + "domains_completed", "Domains done.", labels, registry=r)
        self.current_domain = Gauge(
            PREFIX + "current_domain_index",
            "1-based position of the domain in flight; 0 when none.",
            labels,
            registry=r,
        )
        self.domain_state = Gauge(
            PREFIX + "domain_state",
            "State of each domain of the plan (first "
            + str(MAX_DOMAIN_SERIES)
            + "): "
            + ", ".join(f"{code} {state}" for state, code in DOMAIN_STATE_CODES.items())
            + ".",
            [*labels, "domain"],
            registry=r,
        )
        self.instances = Gauge(PREFIX + "instances", "Instances of the scale set.", labels, registry=r)
        self.instances_updated = Gauge(PREFIX + "instances_updated", "Instances on the target.", labels, registry=r)
        self.instances_healthy = Gauge(PREFIX + "instances_healthy", "Healthy instances.", labels, registry=r)
        self.instances_unhealthy = Gauge(PREFIX + "instances_unhealthy", "Unhealthy instances.", labels, registry=r)
        self.rollout_start = Gauge(
            PREFIX + "rollout_start_time_seconds", "Unix time the current rollout started.", labels, registry=r
        )
        self.last_success = Gauge(
            PREFIX + "last_success_time_seconds", "Unix time a rollout last succeeded.", labels, registry=r
        )
        self.last_progress = Gauge(
            PREFIX + "last_progress_time_seconds",
            "Unix time the rollout last moved: started, a domain started or finished, an instance reached the"
            " target, the phase changed, or Azure's rolling upgrade advanced.",
            labels,
            registry=r,
        )
        self.rollout_seconds = Histogram(
            PREFIX + "rollout_duration_seconds",
            "Time from a rollout's start to Succeeded or Failed.",
            labels,
            registry=r,
            buckets=ROLLOUT_BUCKETS,
        )
        self.domain_seconds = Histogram(
            PREFIX + "domain_duration_seconds",
            "Time from a domain's upgrade (or rollback) starting to Succeeded, Failed or RolledBack.",
            labels,
            registry=r,
            buckets=DOMAIN_BUCKETS,
        )
        self.reconciles = Counter(PREFIX + "reconciles", "Reconcile passes by result.", ["result"], registry=r)
        for result in ("ok", "error"):  # exported from the start, so rate() of either is 0 rather than absent
            self.reconciles.labels(result)
        self.reconcile_seconds = Histogram(
            PREFIX + "reconcile_duration_seconds",
            "Time of one reconcile pass.",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.azure_requests = Counter(
            PREFIX + "azure_requests",
            "Azure requests by operation and HTTP status.",
            ["operation", "code"],
            registry=r,
        )
        self.azure_seconds = Histogram(
            PREFIX + "azure_request_duration_seconds",
            "Azure request latency.",
            ["operation"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.throttled = Counter(PREFIX + "azure_throttled", "Azure answers with HTTP 429.", registry=r)
        self.budget_wait = Counter(
            PREFIX + "azure_budget_wait_seconds",
            "Seconds requests and reconcile passes waited for the operator's Azure request budget, by limit.",
            ["limit"],
            registry=r,
        )
        self.pass_slot_wait = Counter(
            PREFIX + "pass_slot_wait_seconds",
            "Seconds reconcile passes queued for one of the operator's maxConcurrentPasses slots.",
            registry=r,
        )
        self.ratelimit_remaining = Gauge(
            PREFIX + "azure_ratelimit_remaining", "Requests Azure last said remain, by policy.", ["policy"], registry=r
        )
        self.delivery = DeliveryMetrics(r)
        self.operations_in_flight = Gauge(
            PREFIX + "operations_in_flight",
            "Resources with an Azure long-running operation in flight (status.operation set).",
            registry=r,
        )
        self.leader = Gauge(
            PREFIX + "leader",
            "1 while this replica may act (it holds the leader Lease, or runs without leader election), 0 while it"
            " stands by. max() over the replicas is 0 when no replica leads.",
            registry=r,
        )
        self.leader.set(1)
        self._seen: dict[tuple[str, str], _Seen] = {}

    def serve(self, port: int, host: str = "0.0.0.0") -> WSGIServer:
        """Serve ``/metrics`` from a daemon thread; returns the server (``shutdown()`` stops it)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def attach(self, ctx: Any) -> None:
        """Feed this from an :class:`~controller.operator.OperatorContext`."""
        ctx.request_hook = self.observe_request
        ctx.budget_wait_hook = self.observe_budget_wait
        ctx.slot_wait_hook = self.pass_slot_wait.inc
        ctx.reconcile_hook = self.observe_reconcile
        ctx.status_hook = self.observe_status
        ctx.forget_hook = self.forget
        ctx.leader_hook = self.observe_leader

    def observe_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def observe_request(self, method: str, path: str, status: int, seconds: float, headers: dict[str, str]) -> None:
        operation = operation_of(method, path)
        self.azure_requests.labels(operation, str(status)).inc()
        self.azure_seconds.labels(operation).observe(seconds)
        if status == 429:
            self.throttled.inc()
        for header, value in headers.items():
            key = header.lower()
            if key == _RATELIMIT_PREFIX + "resource":
                # Compute RP policies: "Microsoft.Compute/GetVMScaleSet3Min;197,Microsoft.Compute/...;1297"
                for item in value.split(","):
                    policy, _, remaining = item.partition(";")
                    if remaining.strip().isdigit():
                        self.ratelimit_remaining.labels(policy.split("/")[-1].strip()).set(float(remaining))
            elif key.startswith(_ARM_BUCKETS) and value.strip().isdigit():
                # ARM buckets: subscription-reads, subscription-writes, subscription-global-reads, tenant-reads ...
                self.ratelimit_remaining.labels(key[len(_RATELIMIT_PREFIX) :]).set(float(value))

    def observe_budget_wait(self, limit: str, seconds: float) -> None:
        self.budget_wait.labels(limit or "unknown").inc(seconds)

    def observe_reconcile(self, namespace: str, name: str, seconds: float, result: str) -> None:
        self.reconciles.labels(result).inc()
        self.reconcile_seconds.observe(seconds)

    def observe_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Export the status just written for one resource (the operator calls this after each pass)."""
        key = (namespace, name)
        previous = self._seen.get(key)
        phase = str(status.get("phase") or Phase.PENDING.value)
        for p in _PHASES:
            self.phase.labels(namespace, name, p).set(1.0 if p == phase else 0.0)

        domains = [d for d in status.get("domains") or [] if isinstance(d, dict)]
        self.domains_total.labels(namespace, name).set(len(domains))
        self.domains_completed.labels(namespace, name).set(
            sum(1 for d in domains if d.get("state") in ("Succeeded", "Skipped"))
        )
        current = status.get("currentDomain")
        index = next((i + 1 for i, d in enumerate(domains) if d.get("id") == current), 0) if current else 0
        self.current_domain.labels(namespace, name).set(index)
        exported: set[str] = set()
        for d in domains[:MAX_DOMAIN_SERIES]:
            code = DOMAIN_STATE_CODES.get(str(d.get("state") or DomainState.PENDING))
            if code is not None and d.get("id"):
                self.domain_state.labels(namespace, name, str(d["id"])).set(code)
                exported.add(str(d["id"]))
        for gone in (previous.domains if previous else frozenset()) - exported:
            with contextlib.suppress(KeyError):
                self.domain_state.remove(namespace, name, gone)

        counts = status.get("instances") or {}
        self.instances.labels(namespace, name).set(counts.get("total", 0))
        self.instances_updated.labels(namespace, name).set(counts.get("updated", 0))
        self.instances_healthy.labels(namespace, name).set(counts.get("healthy", 0))
        self.instances_unhealthy.labels(namespace, name).set(counts.get("unhealthy", 0))

        started = _seconds(status.get("rolloutStartedAt"))
        rollback = _mapping(status.get("rollback"))
        rolling = _mapping(status.get("rolling"))
        steps = [
            started,
            *(_seconds(d.get(field)) for d in domains for field in ("startedAt", "finishedAt")),
            *(_seconds(rollback.get(field)) for field in ("startedAt", "finishedAt")),
            *(_seconds(rolling.get(field)) for field in ("startedAt", "lastActionAt")),
        ]
        # Steps the status does not timestamp (an instance reaching the target inside a domain, a resume)
        # count from when this process saw them; a restart forgets those and keeps the status's stamps.
        signature = (
            phase,
            current,
            tuple(str(d.get("state")) for d in domains),
            counts.get("updated", 0),
            tuple(rolling.get(f, 0) for f in ("successfulInstances", "inProgressInstances", "pendingInstances")),
        )
        moved_at = previous.moved_at if previous is not None else None
        if previous is not None and previous.signature != signature:
            moved_at = time.time()
        steps.append(moved_at)
        for gauge, value in (
            (self.rollout_start, started),
            (self.last_success, _seconds(status.get("lastSucceededAt"))),
            (self.last_progress, max((s for s in steps if s is not None), default=None)),
        ):
            if value is not None:
                gauge.labels(namespace, name).set(value)
            else:
                with contextlib.suppress(KeyError):
                    gauge.remove(namespace, name)

        # Histograms exported at 0 from the first status on, so increase() sees a resource's first rollout.
        rollout_seconds = self.rollout_seconds.labels(namespace, name)
        domain_seconds = self.domain_seconds.labels(namespace, name)
        finished = frozenset(
            (str(d.get("id")), str(d["startedAt"]), str(d["finishedAt"]))
            for d in domains
            if d.get("state") in _TIMED_DOMAIN_STATES and d.get("startedAt") and d.get("finishedAt")
        )
        if previous is not None:
            for _id, start_text, end_text in finished - previous.finished_domains:
                start, end = _seconds(start_text), _seconds(end_text)
                if start is not None and end is not None:
                    domain_seconds.observe(max(0.0, end - start))
            if previous.phase not in _TERMINAL_PHASES and phase in _TERMINAL_PHASES and started is not None:
                end = _seconds(status.get("lastSucceededAt")) if phase == Phase.SUCCEEDED.value else None
                rollout_seconds.observe(max(0.0, (end or time.time()) - started))

        self.delivery.observe(namespace, name, status)
        self._seen[key] = _Seen(
            phase, finished, frozenset(exported), bool(status.get("operation")), signature, moved_at
        )
        self._count_in_flight()

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a deleted resource."""
        seen = self._seen.pop((namespace, name), None)
        for metric in (
            self.domains_total,
            self.domains_completed,
            self.current_domain,
            self.instances,
            self.instances_updated,
            self.instances_healthy,
            self.instances_unhealthy,
            self.rollout_start,
            self.last_success,
            self.last_progress,
            self.rollout_seconds,
            self.domain_seconds,
        ):
            with contextlib.suppress(KeyError):
                metric.remove(namespace, name)
        for p in _PHASES:
            with contextlib.suppress(KeyError):
                self.phase.remove(namespace, name, p)
        for domain in seen.domains if seen else frozenset():
            with contextlib.suppress(KeyError):
                self.domain_state.remove(namespace, name, domain)
        self.delivery.forget(namespace, name)
        self._count_in_flight()

    def _count_in_flight(self) -> None:
        self.operations_in_flight.set(sum(1 for seen in self._seen.values() if seen.in_flight))


GATES: Final[Mapping[str, str]] = {
    "analysis": Reason.ANALYSIS_RUNNING,
    "maintenance_window": Reason.OUTSIDE_MAINTENANCE_WINDOW,
    "approval": Reason.WAITING_FOR_APPROVAL,
    "hooks": Reason.WAITING_FOR_HOOKS,
}
"""``scaleset_image_gate_waiting``'s ``gate`` label, and the Reconciling reason that says the rollout waits on it."""
_ANALYSIS_PHASES = [p.value for p in AnalysisPhase]


class DeliveryMetrics:
    """Progressive delivery per resource: the analysis verdict, maintenance windows, and what the rollout waits on.

    Like the rest, derived from the status (``status.analysis``, ``status.maintenanceWindow``, the Reconciling
    condition); extra labels are bounded: ``phase`` (4 analysis phases) and ``gate`` (4 gates).
    """

    def __init__(self, r: CollectorRegistry) -> None:
        labels = ["namespace", "name"]
        self.analysis_phase = Gauge(
            PREFIX + "analysis_phase",
            "1 for the phase of the analysis of the domain that succeeded last (Running, Successful, Failed,"
            " Inconclusive).",
            [*labels, "phase"],
            registry=r,
        )
        self.analysis_failed_rounds = Gauge(
            PREFIX + "analysis_failed_rounds", "Failed rounds of the current analysis.", labels, registry=r
        )
        self.analysis_inconclusive_rounds = Gauge(
            PREFIX + "analysis_inconclusive_rounds", "Inconclusive rounds of the current analysis.", labels, registry=r
        )
        self.window_open = Gauge(
            PREFIX + "maintenance_window_open",
            "1 while a maintenance window is open, 0 outside (only for resources with maintenanceWindows).",
            labels,
            registry=r,
        )
        self.next_window = Gauge(
            PREFIX + "maintenance_window_next_time_seconds",
            "Unix time the next maintenance window opens.",
            labels,
            registry=r,
        )
        self.gate_waiting = Gauge(
            PREFIX + "gate_waiting",
            "1 while the rollout waits on this gate before its next domain: analysis, maintenance_window,"
            " approval or hooks.",
            [*labels, "gate"],
            registry=r,
        )

    def observe(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        analysis = _mapping(status.get("analysis"))
        phase = analysis.get("phase")
        for p in _ANALYSIS_PHASES:
            if phase:
                self.analysis_phase.labels(namespace, name, p).set(1.0 if p == phase else 0.0)
            else:
                with contextlib.suppress(KeyError):
                    self.analysis_phase.remove(namespace, name, p)
        self.analysis_failed_rounds.labels(namespace, name).set(float(analysis.get("failed") or 0))
        self.analysis_inconclusive_rounds.labels(namespace, name).set(float(analysis.get("inconclusive") or 0))
        window = _mapping(status.get("maintenanceWindow"))
        if window:
            self.window_open.labels(namespace, name).set(1.0 if window.get("open") else 0.0)
            upcoming = _seconds(window.get("nextWindowAt"))
            if upcoming is not None:
                self.next_window.labels(namespace, name).set(upcoming)
        else:
            for gauge in (self.window_open, self.next_window):
                with contextlib.suppress(KeyError):
                    gauge.remove(namespace, name)
        reconciling = next(
            (c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") == "Reconciling"), {}
        )
        waits_on = reconciling.get("reason") if reconciling.get("status") == "True" else None
        inconclusive = phase == AnalysisPhase.INCONCLUSIVE and status.get("phase") == Phase.PAUSED
        for gate, reason in GATES.items():
            waiting = waits_on == reason or (gate == "analysis" and inconclusive)
            self.gate_waiting.labels(namespace, name, gate).set(1.0 if waiting else 0.0)

    def forget(self, namespace: str, name: str) -> None:
        for gauge in (
            self.analysis_failed_rounds,
            self.analysis_inconclusive_rounds,
            self.window_open,
            self.next_window,
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)
        for p in _ANALYSIS_PHASES:
            with contextlib.suppress(KeyError):
                self.analysis_phase.remove(namespace, name, p)
        for gate in GATES:
            with contextlib.suppress(KeyError):
                self.gate_waiting.remove(namespace, name, gate)
