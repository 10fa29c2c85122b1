"""Prometheus metrics: rollout progress per resource, and the operator's own cost in Azure calls.

Per-resource series carry only ``namespace`` and ``name`` labels (never instance ids or versions, which
would explode cardinality); they are removed when the resource is deleted. Azure request series are
labelled by operation (the route, with ids replaced) and HTTP status.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from . import __version__
from .model import Phase

PREFIX = "scaleset_image_"
_PHASES = [p.value for p in Phase]
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
        self.reconciles = Counter(PREFIX + "reconciles", "Reconcile passes by result.", ["result"], registry=r)
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
        self.ratelimit_remaining = Gauge(
            PREFIX + "azure_ratelimit_remaining", "Requests Azure last said remain, by policy.", ["policy"], registry=r
        )
        self._known: set[tuple[str, str]] = set()

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def attach(self, ctx: Any) -> None:
        """Feed this from an :class:`~controller.operator.OperatorContext`."""
        ctx.request_hook = self.observe_request
        ctx.reconcile_hook = self.observe_reconcile
        ctx.status_hook = self.observe_status
        ctx.forget_hook = self.forget

    def observe_request(self, method: str, path: str, status: int, seconds: float, headers: dict[str, str]) -> None:
        operation = operation_of(method, path)
        self.azure_requests.labels(operation, str(status)).inc()
        self.azure_seconds.labels(operation).observe(seconds)
        if status == 429:
            self.throttled.inc()
        for key, value in headers.items():
            if key.startswith("x-ms-ratelimit-remaining-subscription-"):
                if value.isdigit():
                    self.ratelimit_remaining.labels("subscription-" + key.rsplit("-", 1)[-1]).set(float(value))
            elif key == "x-ms-ratelimit-remaining-resource":
                for item in value.split(","):
                    policy, _, remaining = item.partition(";")
                    if remaining.strip().isdigit():
                        self.ratelimit_remaining.labels(policy.split("/")[-1]).set(float(remaining))

    def observe_reconcile(self, namespace: str, name: str, seconds: float, result: str) -> None:
        self.reconciles.labels(result).inc()
        self.reconcile_seconds.observe(seconds)

    def observe_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        from .model import parse_timestamp

        key = (namespace, name)
        self._known.add(key)
        phase = status.get("phase", "Pending")
        for p in _PHASES:
            self.phase.labels(namespace, name, p).set(1.0 if p == phase else 0.0)
        domains = status.get("domains") or []
        self.domains_total.labels(namespace, name).set(len(domains))
        self.domains_completed.labels(namespace, name).set(
            sum(1 for d in domains if d.get("state") in ("Succeeded", "Skipped"))
        )
        current = status.get("currentDomain")
        index = next((i + 1 for i, d in enumerate(domains) if d.get("id") == current), 0) if current else 0
        self.current_domain.labels(namespace, name).set(index)
        counts = status.get("instances") or {}
        self.instances.labels(namespace, name).set(counts.get("total", 0))
        self.instances_updated.labels(namespace, name).set(counts.get("updated", 0))
        self.instances_healthy.labels(namespace, name).set(counts.get("healthy", 0))
        self.instances_unhealthy.labels(namespace, name).set(counts.get("unhealthy", 0))
        for gauge, field in ((self.rollout_start, "rolloutStartedAt"), (self.last_success, "lastSucceededAt")):
            if status.get(field):
                gauge.labels(namespace, name).set(parse_timestamp(status[field]).timestamp())

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a deleted resource."""
        self._known.discard((namespace, name))
        for gauge in (
            self.domains_total,
            self.domains_completed,
            self.current_domain,
            self.instances,
            self.instances_updated,
            self.instances_healthy,
            self.instances_unhealthy,
            self.rollout_start,
            self.last_success,
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)
        for p in _PHASES:
            with contextlib.suppress(KeyError):
                self.phase.remove(namespace, name, p)
