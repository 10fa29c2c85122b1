"""Shared helpers for the monitoring tests: the real Prometheus tools, the operator's exported metric names,
and the PromQL used by deploy/monitoring (dashboard panels and alert rules)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from scaleset_testbed.worlds import vmss_path

from controller.fleet.metrics import FleetMetrics
from controller.metrics import OperatorMetrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
JOB = "scaleset-image-operator"

INSTALL_HINT = (
    "{tool} is not installed. These tests run the real Prometheus tools; `make tools` (part of `make test`)\n"
    "installs them, or: sudo apt-get update && sudo apt-get install -y prometheus\n"
    "(Debian/Ubuntu; provides /usr/bin/prometheus and /usr/bin/promtool; no service is started)."
)

# Series Prometheus itself writes for every target: dashboards and alerts may use them.
PROMETHEUS_GENERATED = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


def tool(name: str) -> str:
    """Path of a Prometheus binary; the test FAILS (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(INSTALL_HINT.format(tool=name), pytrace=False)
    return path


# A status as the operator writes it mid-rollout (domain 2 of 3 upgrading, an operation in flight), then done.
def _domains(*states: str) -> list[dict[str, Any]]:
    out = []
    for index, state in enumerate(states):
        domain: dict[str, Any] = {"id": f"ud-{index}", "instanceIds": [str(index)], "state": state}
        if state != "Pending":
            domain["startedAt"] = f"2024-05-01T12:0{index}:00Z"
        if state in ("Succeeded", "Failed", "Skipped", "RolledBack"):
            domain["finishedAt"] = f"2024-05-01T12:0{index}:40Z"
        out.append(domain)
    return out


MID_STATUS: dict[str, Any] = {
    "phase": "Progressing",
    "rolloutStartedAt": "2024-05-01T11:59:00Z",
    "domains": _domains("Succeeded", "Upgrading", "Pending"),
    "currentDomain": "ud-1",
    "operation": {"kind": "ManualUpgrade", "domain": "ud-1", "instanceIds": ["1"]},
    "instances": {"total": 3, "updated": 1, "healthy": 2, "unhealthy": 1},
}
DONE_STATUS: dict[str, Any] = {
    "phase": "Succeeded",
    "rolloutStartedAt": "2024-05-01T11:59:00Z",
    "lastSucceededAt": "2024-05-01T12:03:00Z",
    "domains": _domains("Succeeded", "Succeeded", "Succeeded"),
    "instances": {"total": 3, "updated": 3, "healthy": 3, "unhealthy": 0},
}
VMSS_PATH = vmss_path()
# A fleet (ScaleSetImageRollout) waiting for the approval of its second stage.
FLEET_STATUS: dict[str, Any] = {
    "phase": "WaitingForApproval",
    "run": {"number": 1},
    "stages": [{"state": "Succeeded"}, {"state": "WaitingForApproval"}, {"state": "Pending"}],
    "members": [{"state": "Succeeded"}, {"state": "Pending"}, {"state": "Pending"}],
}


def fed_metrics() -> OperatorMetrics:
    """Operator metrics after one of everything, so every labelled series exists."""
    metrics = OperatorMetrics()
    metrics.observe_status("default", "web", MID_STATUS)
    metrics.observe_status("default", "web", DONE_STATUS)
    metrics.observe_request(
        "GET",
        VMSS_PATH,
        429,
        0.02,
        {
            "x-ms-ratelimit-remaining-subscription-reads": "11999",
            "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/GetVMScaleSet3Min;197",
        },
    )
    metrics.observe_reconcile("default", "web", 0.05, "ok")
    metrics.observe_budget_wait("Compute instance listings (180 per 180 s)", 3.0)
    FleetMetrics(metrics.registry).observe("default", "rollout", FLEET_STATUS)
    return metrics


def exported_names(metrics: OperatorMetrics | None = None) -> set[str]:
    """Every series name the operator's registry exposes (``_total``, ``_bucket``, ``_info`` ... included)."""
    registry = (metrics or fed_metrics()).registry
    return {sample.name for family in registry.collect() for sample in family.samples}


def exposition(metrics: OperatorMetrics | None = None) -> str:
    return generate_latest((metrics or fed_metrics()).registry).decode()


# --- PromQL ------------------------------------------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACKETS = re.compile(r"\[[^\]]*\]")
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"inf", "nan", "atan2"}
)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords, labels, strings, durations excluded).

    Selectors by ``{__name__=...}`` are refused: they would hide a metric name from this check.
    """
    assert "__name__" not in expr, f"select metrics by name, not by __name__: {expr}"
    text = _STRINGS.sub('""', expr)
    text = _BRACKETS.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _VARIABLES.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MONITORING / "dashboard.json").read_text())
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels") or [])
    return out


def dashboard_queries(dashboard: dict[str, Any]) -> dict[tuple[str, str], str]:
    """{(panel title, refId): expr} for every PromQL target of the dashboard."""
    queries = {}
    for panel in panels(dashboard):
        for target in panel.get("targets") or []:
            queries[(panel["title"], target["refId"])] = target["expr"]
    return queries


def template_queries(dashboard: dict[str, Any]) -> list[str]:
    """PromQL inside the templating variables' label_values(...) queries."""
    out = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query.strip())
            assert match, f"variable {variable['name']}: expected label_values(<selector>, <label>), got {query}"
            out.append(match.group(1))
    return out


def substitute(
    expr: str, namespace: str = "default", name: str = "web", range_: str = "5m", fleet: str = "rollout"
) -> str:
    """A dashboard expression with Grafana's variables replaced, as Grafana sends it to Prometheus."""
    return (
        expr.replace("$namespace", namespace)
        .replace("$fleet", fleet)
        .replace("$name", name)
        .replace("$__rate_interval", "15s")
        .replace("$__range", range_)
        .replace("$__interval", "1s")
    )


def rule_groups(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text())
    groups: list[dict[str, Any]] = data["groups"] if "groups" in data else data["spec"]["groups"]
    return groups
