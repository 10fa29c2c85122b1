"""deploy/monitoring/dashboard.json: a Grafana dashboard with the panels the issue lists, whose queries are
valid PromQL (``promtool check rules``) and select only metrics the operator really exports."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.metrics import DOMAIN_STATE_CODES

from .support import (
    PROMETHEUS_GENERATED,
    dashboard_queries,
    exported_names,
    fed_metrics,
    load_dashboard,
    metric_names,
    panels,
    substitute,
    template_queries,
    tool,
)

SEL_NAMESPACE, SEL_NAME = 'namespace=~"$namespace"', 'name=~"$name"'
HEATMAP = "Domains \u00d7 time: instance states"
FLEET_ROW = "Fleet runs (ScaleSetImageRollout)"
SEL_FLEET = 'name=~"$fleet"'
FLEET_METRIC = "scaleset_image_fleet_"


def unknown_metrics(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    """{query: metric names it selects that the operator does not export}."""
    known = exported_names() | PROMETHEUS_GENERATED
    queries = [*dashboard_queries(dashboard).values(), *template_queries(dashboard)]
    return {expr: metric_names(expr) - known for expr in queries if metric_names(expr) - known}


def panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    found = [p for p in panels(dashboard) if p["title"] == title]
    assert len(found) == 1, f"expected one panel {title!r}, found {len(found)}"
    return found[0]


def test_every_query_selects_only_exported_metrics() -> None:
    assert unknown_metrics(load_dashboard()) == {}


def test_the_check_catches_a_panel_querying_a_missing_metric() -> None:
    dashboard = copy.deepcopy(load_dashboard())
    target = panel(dashboard, "Instance progress")["targets"][0]
    target["expr"] = target["expr"].replace("scaleset_image_instances_updated", "scaleset_image_instances_upgraded")
    panel(dashboard, "Throttling: HTTP 429 from Azure")["targets"][0]["expr"] = "sum(rate(azure_throttled[5m]))"
    assert {name for names in unknown_metrics(dashboard).values() for name in names} == {
        "scaleset_image_instances_upgraded",
        "azure_throttled",
    }


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="y", z=~"$name"}[$__rate_interval]))', {"a_bucket"}),
        ("histogram_quantile(0.9, sum without (pod) (b_bucket)) > bool 1e3", {"b_bucket"}),
        ('c * on (namespace) group_left (phase) d offset 5m or absent(e{job="x"})', {"c", "d", "e"}),
        ('time() - max by (name) (f) and on (name) g{phase="Progressing, ok"} == 1', {"f", "g"}),
    ],
)
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses each expression (Grafana's variables substituted as Grafana would) as a recording rule.
    queries = list(dashboard_queries(load_dashboard()).values())
    rules = [{"record": f"dashboard:query_{i}", "expr": substitute(expr)} for i, expr in enumerate(queries)]
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_the_dashboard_has_the_panels_the_issue_lists() -> None:
    dashboard = load_dashboard()
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == [
        "Fleet overview",
        "Rollout progress",
        "Durations",
        "Azure requests and throttling",
        "Operator",
        FLEET_ROW,
    ]
    by_row: dict[str, list[str]] = {}
    current = ""
    for p in dashboard["panels"]:
        if p["type"] == "row":
            current = p["title"]
        else:
            by_row.setdefault(current, []).append(p["title"])
    assert {"Rollouts in progress", "Failed rollouts", "Resources by phase", "Fleet"} <= set(by_row["Fleet overview"])
    assert {"Domain progress", "Instance progress", HEATMAP, "Domains", "Instances"} <= set(by_row["Rollout progress"])
    assert {"Rollout duration (mean over the time range)", "Domain durations"} <= set(by_row["Durations"])
    assert {"Azure requests by operation", "Throttling: HTTP 429 from Azure", "Azure rate limit remaining"} <= set(
        by_row["Azure requests and throttling"]
    )
    assert {
        "Fleet runs by phase",
        "Fleets waiting for approval",
        "Failed fleet runs",
        "Fleet member progress",
        "Fleet stages by state",
        "Fleet members by state",
    } <= set(by_row[FLEET_ROW])
    fleet_metrics = {
        name
        for title in by_row[FLEET_ROW]
        for t in panel(dashboard, title)["targets"]
        for name in metric_names(t["expr"])
    }
    assert fleet_metrics == {
        "scaleset_image_fleet_phase",
        "scaleset_image_fleet_run",
        "scaleset_image_fleet_stages",
        "scaleset_image_fleet_members",
        "scaleset_image_fleet_waiting_for_approval",
    }


def test_the_domain_heatmap_maps_every_domain_state() -> None:
    heatmap = panel(load_dashboard(), HEATMAP)
    assert heatmap["type"] == "status-history"
    assert metric_names(heatmap["targets"][0]["expr"]) == {"scaleset_image_domain_state"}
    (mapping,) = heatmap["fieldConfig"]["defaults"]["mappings"]
    assert {int(code): text["text"] for code, text in mapping["options"].items()} == {
        code: state for state, code in DOMAIN_STATE_CODES.items()
    }


def test_per_resource_queries_follow_the_namespace_and_name_variables() -> None:
    per_resource = {
        sample.name
        for family in fed_metrics().registry.collect()
        for sample in family.samples
        if "namespace" in sample.labels
    }
    for (title, ref), expr in dashboard_queries(load_dashboard()).items():
        for name in metric_names(expr) & per_resource:
            for match in re.finditer(rf"(?<![\w:]){name}(?![\w:])(\{{[^}}]*\}})?", expr):
                matchers = match.group(1) or ""
                # A fleet (ScaleSetImageRollout) is chosen by $fleet, a ScaleSetImage by $name.
                by_name = SEL_FLEET if name.startswith(FLEET_METRIC) else SEL_NAME
                assert SEL_NAMESPACE in matchers, f"{title}/{ref}: {name} not filtered by $namespace"
                assert by_name in matchers, f"{title}/{ref}: {name} not filtered by {by_name}"


def test_templating_datasource_and_layout() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "scaleset-image-rollouts"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace", "name", "fleet"}
    assert variables["datasource"]["query"] == "prometheus"
    assert "$namespace" in variables["name"]["query"]["query"]
    assert "$namespace" in variables["fleet"]["query"]["query"]
    assert template_queries(dashboard)[-1].startswith("scaleset_image_fleet_run")
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for p in panels(dashboard):
        grid = p["gridPos"]
        assert 0 <= grid["x"] < grid["x"] + grid["w"] <= 24, p["title"]
        columns, lines = range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        area = {(x, y) for x in columns for y in lines}
        assert not area & cells, f"{p['title']} overlaps another panel"
        cells |= area
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
            refs = [t["refId"] for t in p["targets"]]
            assert refs, p["title"]
            assert len(refs) == len(set(refs)), p["title"]
