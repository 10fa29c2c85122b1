"""The metrics the operator exports (controller/metrics.py): names, types and labels as the observability
issue asks, durations observed once per transition, series of deleted resources removed, and a scrape that
``promtool check metrics`` accepts."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller.config import OperatorConfig
from controller.metrics import DOMAIN_STATE_CODES, MAX_DOMAIN_SERIES, OperatorMetrics
from controller.operator import OperatorContext
from controller.resource import DomainState, Phase

from .support import DONE_STATUS, GATED_STATUS, MID_STATUS, VMSS_PATH, exposition, fed_metrics, tool

RESOURCE = ("namespace", "name")

# Every metric family: (type, labels). This is the list the closing note asks for; a change to
# controller/metrics.py that adds, renames or relabels a metric must change it too.
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "scaleset_image_build": ("info", ("version",)),
    "scaleset_image_phase": ("gauge", (*RESOURCE, "phase")),
    "scaleset_image_domains": ("gauge", RESOURCE),
    "scaleset_image_domains_completed": ("gauge", RESOURCE),
    "scaleset_image_current_domain_index": ("gauge", RESOURCE),
    "scaleset_image_domain_state": ("gauge", (*RESOURCE, "domain")),
    "scaleset_image_instances": ("gauge", RESOURCE),
    "scaleset_image_instances_updated": ("gauge", RESOURCE),
    "scaleset_image_instances_healthy": ("gauge", RESOURCE),
    "scaleset_image_instances_unhealthy": ("gauge", RESOURCE),
    "scaleset_image_rollout_start_time_seconds": ("gauge", RESOURCE),
    "scaleset_image_last_success_time_seconds": ("gauge", RESOURCE),
    "scaleset_image_last_progress_time_seconds": ("gauge", RESOURCE),
    "scaleset_image_rollout_duration_seconds": ("histogram", RESOURCE),
    "scaleset_image_domain_duration_seconds": ("histogram", RESOURCE),
    "scaleset_image_reconciles": ("counter", ("result",)),
    "scaleset_image_reconcile_duration_seconds": ("histogram", ()),
    "scaleset_image_azure_requests": ("counter", ("operation", "code")),
    "scaleset_image_azure_request_duration_seconds": ("histogram", ("operation",)),
    "scaleset_image_azure_throttled": ("counter", ()),
    "scaleset_image_azure_budget_wait_seconds": ("counter", ("limit",)),
    "scaleset_image_pass_slot_wait_seconds": ("counter", ()),
    "scaleset_image_azure_ratelimit_remaining": ("gauge", ("policy",)),
    "scaleset_image_operations_in_flight": ("gauge", ()),
    "scaleset_image_leader": ("gauge", ()),
    "scaleset_image_analysis_phase": ("gauge", (*RESOURCE, "phase")),
    "scaleset_image_analysis_failed_rounds": ("gauge", RESOURCE),
    "scaleset_image_analysis_inconclusive_rounds": ("gauge", RESOURCE),
    "scaleset_image_maintenance_window_open": ("gauge", RESOURCE),
    "scaleset_image_maintenance_window_next_time_seconds": ("gauge", RESOURCE),
    "scaleset_image_gate_waiting": ("gauge", (*RESOURCE, "gate")),
    # ScaleSetImageRollout (controller/fleet/metrics.py), per fleet
    "scaleset_image_fleet_phase": ("gauge", (*RESOURCE, "phase")),
    "scaleset_image_fleet_run": ("gauge", RESOURCE),
    "scaleset_image_fleet_stages": ("gauge", (*RESOURCE, "state")),
    "scaleset_image_fleet_members": ("gauge", (*RESOURCE, "state")),
    "scaleset_image_fleet_waiting_for_approval": ("gauge", RESOURCE),
}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def families(metrics: OperatorMetrics) -> dict[str, Any]:
    return {family.name: family for family in metrics.registry.collect()}


def value(metrics: OperatorMetrics, series: str, /, **labels: str) -> float | None:
    result: float | None = metrics.registry.get_sample_value(series, labels)
    return result


def series_of(metrics: OperatorMetrics, namespace: str, name: str) -> list[str]:
    return [
        f"{sample.name}{sample.labels}"
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.labels.get("namespace") == namespace and sample.labels.get("name") == name
    ]


def status_with_domains(count: int, state: str = "Pending") -> dict[str, Any]:
    return {"phase": "Progressing", "domains": [{"id": f"batch-{i}", "state": state} for i in range(count)]}


def test_every_metric_has_the_expected_type_and_labels() -> None:
    found = {}
    for name, family in families(fed_metrics()).items():
        label_names: set[str] = set()
        for sample in family.samples:
            label_names |= set(sample.labels) - {"le"}
        found[name] = (family.type, tuple(sorted(label_names)))
    assert found == {name: (kind, tuple(sorted(labels))) for name, (kind, labels) in EXPECTED.items()}


def test_series_names_follow_prometheus_naming_rules() -> None:
    for name, family in families(fed_metrics()).items():
        assert name.startswith("scaleset_image_"), name
        samples = {sample.name for sample in family.samples}
        if family.type in SUFFIXES:
            assert all(s.startswith(name) and s.endswith(SUFFIXES[family.type]) for s in samples), samples
        elif family.type == "info":
            assert samples == {name + "_info"}
        else:
            assert samples == {name}, samples
            assert not name.endswith("_total"), f"{name}: _total is for counters"
        if family.type == "histogram" or "time" in name:
            assert name.endswith("_seconds"), f"{name}: durations and timestamps are in seconds"


def test_per_resource_series_are_labelled_by_namespace_and_name_only() -> None:
    # No instance ids or versions: the only extra labels are the bounded phase and domain.
    allowed = {
        "scaleset_image_phase": {"phase"},
        "scaleset_image_domain_state": {"domain"},
        "scaleset_image_analysis_phase": {"phase"},
        "scaleset_image_gate_waiting": {"gate"},
        "scaleset_image_fleet_phase": {"phase"},
        "scaleset_image_fleet_stages": {"state"},
        "scaleset_image_fleet_members": {"state"},
    }
    for name, family in families(fed_metrics()).items():
        for sample in family.samples:
            if "namespace" in sample.labels:
                extra = set(sample.labels) - {"namespace", "name", "le"}
                assert extra <= allowed.get(name, set()), (sample.name, sample.labels)


def test_promtool_accepts_a_scrape_of_the_registry() -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=exposition(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout  # lint findings are printed
    assert result.stderr.strip() == "", result.stderr


def test_progress_gauges_follow_the_status() -> None:
    metrics = OperatorMetrics()
    metrics.observe_status("default", "web", MID_STATUS)
    labels = {"namespace": "default", "name": "web"}
    assert value(metrics, "scaleset_image_phase", **labels, phase="Progressing") == 1
    assert value(metrics, "scaleset_image_phase", **labels, phase="Succeeded") == 0
    assert value(metrics, "scaleset_image_domains", **labels) == 3
    assert value(metrics, "scaleset_image_domains_completed", **labels) == 1
    assert value(metrics, "scaleset_image_current_domain_index", **labels) == 2
    assert value(metrics, "scaleset_image_instances", **labels) == 3
    assert value(metrics, "scaleset_image_instances_updated", **labels) == 1
    assert value(metrics, "scaleset_image_instances_healthy", **labels) == 2
    assert value(metrics, "scaleset_image_instances_unhealthy", **labels) == 1
    assert value(metrics, "scaleset_image_domain_state", **labels, domain="ud-0") == DOMAIN_STATE_CODES["Succeeded"]
    assert value(metrics, "scaleset_image_domain_state", **labels, domain="ud-1") == DOMAIN_STATE_CODES["Upgrading"]
    assert value(metrics, "scaleset_image_domain_state", **labels, domain="ud-2") == DOMAIN_STATE_CODES["Pending"]
    assert value(metrics, "scaleset_image_rollout_start_time_seconds", **labels) == 1714564740  # 2024-05-01T11:59Z
    # The last step the status stamps: ud-1 started at 12:01.
    assert value(metrics, "scaleset_image_last_progress_time_seconds", **labels) == 1714564860
    assert value(metrics, "scaleset_image_last_success_time_seconds", **labels) is None
    assert value(metrics, "scaleset_image_operations_in_flight") == 1


def test_durations_are_observed_once_when_domains_and_the_rollout_finish() -> None:
    metrics = OperatorMetrics()
    labels = {"namespace": "default", "name": "web"}
    metrics.observe_status("default", "web", MID_STATUS)
    # Series exist at 0 from the first status, so increase() sees the first rollout.
    assert value(metrics, "scaleset_image_rollout_duration_seconds_count", **labels) == 0
    assert value(metrics, "scaleset_image_domain_duration_seconds_count", **labels) == 0
    for _ in range(3):  # the same status again and again observes nothing more
        metrics.observe_status("default", "web", DONE_STATUS)
    assert value(metrics, "scaleset_image_rollout_duration_seconds_count", **labels) == 1
    assert value(metrics, "scaleset_image_rollout_duration_seconds_sum", **labels) == 240  # 11:59 -> 12:03
    # ud-0 had finished before the first status this process saw; ud-1 and ud-2 took 40 s each.
    assert value(metrics, "scaleset_image_domain_duration_seconds_count", **labels) == 2
    assert value(metrics, "scaleset_image_domain_duration_seconds_sum", **labels) == 80
    assert value(metrics, "scaleset_image_domain_duration_seconds_bucket", **labels, le="30.0") == 0
    assert value(metrics, "scaleset_image_domain_duration_seconds_bucket", **labels, le="60.0") == 2
    assert value(metrics, "scaleset_image_last_success_time_seconds", **labels) == 1714564980
    assert value(metrics, "scaleset_image_operations_in_flight") == 0


def test_a_restarted_operator_does_not_observe_finished_work_again() -> None:
    metrics = OperatorMetrics()
    metrics.observe_status("default", "web", DONE_STATUS)
    metrics.observe_status("default", "web", DONE_STATUS)
    labels = {"namespace": "default", "name": "web"}
    assert value(metrics, "scaleset_image_rollout_duration_seconds_count", **labels) == 0
    assert value(metrics, "scaleset_image_domain_duration_seconds_count", **labels) == 0


def test_a_failed_rollout_and_its_failed_domain_are_observed() -> None:
    metrics = OperatorMetrics()
    metrics.observe_status("default", "web", MID_STATUS)
    failed = {
        **MID_STATUS,
        "phase": "Failed",
        "currentDomain": None,
        "operation": None,
        "domains": [
            MID_STATUS["domains"][0],
            {**MID_STATUS["domains"][1], "state": "Failed", "finishedAt": "2024-05-01T12:01:30Z"},
            MID_STATUS["domains"][2],
        ],
    }
    before = time.time()
    metrics.observe_status("default", "web", failed)
    labels = {"namespace": "default", "name": "web"}
    assert value(metrics, "scaleset_image_domain_duration_seconds_sum", **labels) == 30
    assert value(metrics, "scaleset_image_rollout_duration_seconds_count", **labels) == 1
    # A failed rollout ends when the operator sees it fail.
    total = value(metrics, "scaleset_image_rollout_duration_seconds_sum", **labels)
    assert total is not None
    assert total >= before - 1714564740
    assert value(metrics, "scaleset_image_phase", **labels, phase="Failed") == 1


def test_an_unreadable_timestamp_never_breaks_the_reconcile() -> None:
    metrics = OperatorMetrics()
    metrics.observe_status("default", "web", {**MID_STATUS, "rolloutStartedAt": "yesterday"})
    assert value(metrics, "scaleset_image_rollout_start_time_seconds", namespace="default", name="web") is None


def test_last_progress_moves_when_an_instance_reaches_the_target() -> None:
    metrics = OperatorMetrics()
    metrics.observe_status("default", "web", MID_STATUS)
    stamped = value(metrics, "scaleset_image_last_progress_time_seconds", namespace="default", name="web")
    metrics.observe_status("default", "web", MID_STATUS)
    assert value(metrics, "scaleset_image_last_progress_time_seconds", namespace="default", name="web") == stamped
    before = time.time()
    metrics.observe_status("default", "web", {**MID_STATUS, "instances": {**MID_STATUS["instances"], "updated": 2}})
    moved = value(metrics, "scaleset_image_last_progress_time_seconds", namespace="default", name="web")
    assert moved is not None
    assert moved >= before


def test_every_domain_state_and_phase_has_its_series_value() -> None:
    # A state added to the model must get a code (and a colour in the dashboard's heatmap).
    assert set(DOMAIN_STATE_CODES) == {state.value for state in DomainState}
    assert sorted(DOMAIN_STATE_CODES.values()) == list(range(len(DomainState)))
    metrics = OperatorMetrics()
    metrics.observe_status("default", "web", MID_STATUS)
    phases = {s.labels["phase"] for f in metrics.registry.collect() for s in f.samples if "phase" in s.labels}
    assert phases == {phase.value for phase in Phase}


def test_domain_series_are_bounded_and_follow_the_plan() -> None:
    metrics = OperatorMetrics()
    metrics.observe_status("default", "web", status_with_domains(MAX_DOMAIN_SERIES + 30))
    domains = {s.labels["domain"] for f in metrics.registry.collect() for s in f.samples if "domain" in s.labels}
    assert len(domains) == MAX_DOMAIN_SERIES
    # A new plan with fewer domains: the old domains' series go.
    metrics.observe_status("default", "web", status_with_domains(2, "Upgrading"))
    domains = {s.labels["domain"] for f in metrics.registry.collect() for s in f.samples if "domain" in s.labels}
    assert domains == {"batch-0", "batch-1"}


def test_forget_removes_every_series_of_a_deleted_resource() -> None:
    metrics = OperatorMetrics()
    for name in ("web", "api"):
        metrics.observe_status("default", name, MID_STATUS)
        metrics.observe_status("default", name, DONE_STATUS)
    metrics.observe_status("default", "web", MID_STATUS)  # an operation in flight again
    assert value(metrics, "scaleset_image_operations_in_flight") == 1
    before = series_of(metrics, "default", "api")
    metrics.forget("default", "web")
    assert series_of(metrics, "default", "web") == []
    assert series_of(metrics, "default", "api") == before
    assert value(metrics, "scaleset_image_operations_in_flight") == 0
    metrics.forget("default", "web")  # twice is harmless


def test_azure_requests_throttling_and_rate_limits() -> None:
    metrics = OperatorMetrics()
    metrics.observe_request("GET", VMSS_PATH, 200, 0.02, {"x-ms-ratelimit-remaining-subscription-reads": "11999"})
    metrics.observe_request(
        "POST",
        VMSS_PATH + "/manualupgrade",
        429,
        0.03,
        {
            "x-ms-ratelimit-remaining-subscription-global-writes": "2",
            "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/VMScaleSetActionsA3Min;0,"
            "Microsoft.Compute/VMScaleSetActionsA30Min;88",
            "retry-after": "17",
        },
    )
    assert value(metrics, "scaleset_image_azure_requests_total", operation="GET scale_set", code="200") == 1
    assert value(metrics, "scaleset_image_azure_requests_total", operation="POST manualupgrade", code="429") == 1
    assert value(metrics, "scaleset_image_azure_request_duration_seconds_count", operation="GET scale_set") == 1
    assert value(metrics, "scaleset_image_azure_throttled_total") == 1
    remaining = {
        s.labels["policy"]: s.value
        for f in metrics.registry.collect()
        for s in f.samples
        if s.name == "scaleset_image_azure_ratelimit_remaining"
    }
    assert remaining == {
        "subscription-reads": 11999,
        "subscription-global-writes": 2,
        "VMScaleSetActionsA3Min": 0,
        "VMScaleSetActionsA30Min": 88,
    }


def test_budget_waits_add_up_by_limit() -> None:
    metrics = OperatorMetrics()
    metrics.observe_budget_wait("Compute instance listings (180 per 180 s)", 12.5)
    metrics.observe_budget_wait("Compute instance listings (180 per 180 s)", 0.5)
    metrics.observe_budget_wait("ARM reads (20/s, burst 200)", 0.05)
    listings = "Compute instance listings (180 per 180 s)"
    assert value(metrics, "scaleset_image_azure_budget_wait_seconds_total", limit=listings) == 13.0
    assert value(metrics, "scaleset_image_azure_budget_wait_seconds_total", limit="ARM reads (20/s, burst 200)") == 0.05


def test_leader_is_one_without_election_and_follows_the_lease_with_it() -> None:
    metrics = OperatorMetrics()
    assert value(metrics, "scaleset_image_leader") == 1  # a single replica without election acts
    ctx = OperatorContext(config=OperatorConfig())
    metrics.attach(ctx)
    assert ctx.leader_hook is not None
    ctx.leader_hook(False)  # standing by
    assert value(metrics, "scaleset_image_leader") == 0
    ctx.leader_hook(True)
    assert value(metrics, "scaleset_image_leader") == 1


def test_reconciles_by_result_start_at_zero() -> None:
    metrics = OperatorMetrics()
    assert value(metrics, "scaleset_image_reconciles_total", result="error") == 0
    metrics.observe_reconcile("default", "web", 0.2, "error")
    metrics.observe_reconcile("default", "web", 0.1, "ok")
    assert value(metrics, "scaleset_image_reconciles_total", result="error") == 1
    assert value(metrics, "scaleset_image_reconciles_total", result="ok") == 1
    assert value(metrics, "scaleset_image_reconcile_duration_seconds_count") == 2


def test_metrics_are_served_on_their_own_loopback_port() -> None:
    metrics = fed_metrics()
    server = metrics.serve(0, "127.0.0.1")
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert 'scaleset_image_build_info{version="' in text
        assert 'scaleset_image_phase{name="web",namespace="default",phase="Succeeded"} 1.0' in text
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("registry", [None, CollectorRegistry()])
def test_each_operator_metrics_has_its_own_registry(registry: CollectorRegistry | None) -> None:
    # Two instances in one process (tests, the demo) must not collide on metric names.
    first, second = OperatorMetrics(registry), OperatorMetrics()
    assert first.registry is not second.registry


def test_gates_follow_the_status_and_go_with_the_resource() -> None:
    metrics = fed_metrics()
    assert value(metrics, "scaleset_image_analysis_phase", namespace="default", name="gated", phase="Running") == 1
    assert value(metrics, "scaleset_image_analysis_phase", namespace="default", name="gated", phase="Failed") == 0
    assert value(metrics, "scaleset_image_analysis_failed_rounds", namespace="default", name="gated") == 1
    assert value(metrics, "scaleset_image_maintenance_window_open", namespace="default", name="gated") == 0
    assert value(metrics, "scaleset_image_maintenance_window_next_time_seconds", namespace="default", name="gated") == (
        1714780800.0
    )
    waiting = {
        gate: value(metrics, "scaleset_image_gate_waiting", namespace="default", name="gated", gate=gate)
        for gate in ("analysis", "maintenance_window", "approval", "hooks")
    }
    assert waiting == {"analysis": 0, "maintenance_window": 1, "approval": 0, "hooks": 0}
    # No analysis and no windows in the spec: no series for them.
    assert value(metrics, "scaleset_image_analysis_phase", namespace="default", name="web", phase="Running") is None
    assert value(metrics, "scaleset_image_maintenance_window_open", namespace="default", name="web") is None
    metrics.observe_status(
        "default",
        "gated",
        {**GATED_STATUS, "analysis": {**GATED_STATUS["analysis"], "phase": "Inconclusive"}, "phase": "Paused"},
    )
    assert value(metrics, "scaleset_image_gate_waiting", namespace="default", name="gated", gate="analysis") == 1
    metrics.forget("default", "gated")
    assert series_of(metrics, "default", "gated") == []
