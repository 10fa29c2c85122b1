"""deploy/monitoring alerts: the rule file passes ``promtool check rules`` and its unit tests
(``promtool test rules``), the PrometheusRule carries the same groups, every alert the issue asks for exists,
is tested firing and not firing, and queries only metrics the operator exports; the ServiceMonitor scrapes
the way the rules and the dashboard expect."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from controller.fleet.metrics import FleetMetrics

from .support import JOB, MONITORING, PROMETHEUS_GENERATED, exported_names, metric_names, rule_groups, tool

RULES = MONITORING / "alerts.rules.yaml"
RULE_TESTS = MONITORING / "alerts.test.yaml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
SERVICE_MONITOR = MONITORING / "servicemonitor.yaml"
ALERTS = {
    "ScaleSetImageRolloutFailed",
    "ScaleSetImageRolloutStalled",
    "ScaleSetImageReconcileErrors",
    "ScaleSetImageAzureThrottled",
    "ScaleSetImageOperatorDown",
    "ScaleSetImageNoLeader",  # issue 16: every replica stands by
    "ScaleSetImageAnalysisFailed",
    "ScaleSetImageAnalysisInconclusive",
    "ScaleSetImageMaintenanceWindowFarAway",
    "ScaleSetImageFleetRunFailed",
    "ScaleSetImageFleetApprovalPending",
}
STALL_SECONDS = 3600


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups(RULES) for rule in group["rules"] if "alert" in rule}


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    # The same unit tests against a rule file whose stall threshold and `for` durations changed must fail.
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    text = RULES.read_text()
    assert f"> {STALL_SECONDS}" in text
    assert "for: 15m" in text
    assert "for: 4h" in text
    changed = text.replace(f"> {STALL_SECONDS}", "> 1800").replace("for: 15m", "for: 1m").replace("for: 4h", "for: 2h")
    (tmp_path / RULES.name).write_text(changed)
    result = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    for alert in (
        "ScaleSetImageRolloutStalled",
        "ScaleSetImageReconcileErrors",
        "ScaleSetImageAzureThrottled",
        "ScaleSetImageFleetApprovalPending",
    ):
        assert f"alertname: {alert}" in result.stdout + result.stderr


def test_the_prometheus_rule_carries_the_same_groups() -> None:
    resource = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["metadata"]["name"] == "scaleset-image-operator"
    assert resource["spec"]["groups"] == rule_groups(RULES)


def test_every_alert_the_issue_asks_for_exists_with_severity_and_text() -> None:
    found = alerts()
    assert set(found) == ALERTS
    for name, rule in found.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["description"], name
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), f"{name}: a `for` avoids paging on one bad scrape"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test") or []:
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == ALERTS, f"not shown firing: {ALERTS - firing}"
    assert quiet == ALERTS, f"not shown quiet: {ALERTS - quiet}"


def test_alerts_query_only_metrics_the_operator_exports() -> None:
    known = exported_names() | PROMETHEUS_GENERATED
    for name, rule in alerts().items():
        names = metric_names(rule["expr"])
        assert names, f"{name}: no metric found in {rule['expr']!r}"
        assert names <= known, f"{name} queries metrics the operator does not export: {names - known}"


def test_the_stall_threshold_is_one_number_the_chart_can_substitute() -> None:
    expr = alerts()["ScaleSetImageRolloutStalled"]["expr"]
    assert re.findall(r"\b\d+\b", expr) == [str(STALL_SECONDS), "1"], expr
    assert f"the number {STALL_SECONDS} in ScaleSetImageRolloutStalled" in PROMETHEUS_RULE.read_text()
    assert f"for {STALL_SECONDS} s" in RULES.read_text()


def test_operator_down_and_the_service_monitor_agree_on_the_job() -> None:
    assert f'up{{job="{JOB}"}}' in alerts()["ScaleSetImageOperatorDown"]["expr"]
    monitor = yaml.safe_load(SERVICE_MONITOR.read_text())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "scaleset-image-operator"}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
    # Without honorLabels the resource's `namespace` label would become `exported_namespace`.
    assert endpoint["honorLabels"] is True
    assert {"action": "replace", "targetLabel": "job", "replacement": JOB} in endpoint["relabelings"]


def test_the_fleet_alerts_fire_on_the_series_a_fleet_status_yields(tmp_path: Path) -> None:
    # The series come from FleetMetrics fed a real fleet status, not written by hand: an alert that reads a
    # label or value the operator never exports cannot pass here.
    metrics = CollectorRegistry()
    fleet = FleetMetrics(metrics)
    fleet.observe("platform", "weekly", {"phase": "Failed", "run": {"number": 3}, "stages": [], "members": []})
    fleet.observe("platform", "canary", {"phase": "WaitingForApproval", "run": {"number": 1}})
    fleet.observe("platform", "done", {"phase": "Succeeded", "run": {"number": 2}})
    series = [
        {"series": _series(sample.name, {**sample.labels, "job": JOB}), "values": f"{sample.value:g}x300"}
        for family in metrics.collect()
        for sample in family.samples
        if sample.name in ("scaleset_image_fleet_phase", "scaleset_image_fleet_waiting_for_approval")
    ]
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "4h30m",
                        "alertname": alert,
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": severity, "namespace": "platform", "name": name},
                                "exp_annotations": _annotations(alert, "platform", name),
                            }
                        ],
                    }
                    for alert, severity, name in (
                        ("ScaleSetImageFleetRunFailed", "critical", "weekly"),
                        ("ScaleSetImageFleetApprovalPending", "warning", "canary"),
                    )
                ],
            }
        ],
    }
    path = tmp_path / "fleet.test.yaml"
    path.write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"


def _annotations(alert: str, namespace: str, name: str) -> dict[str, str]:
    """The alert's annotations with its label templates filled in, as Prometheus renders them."""
    return {
        key: text.replace("{{ $labels.namespace }}", namespace).replace("{{ $labels.name }}", name)
        for key, text in alerts()[alert]["annotations"].items()
    }
