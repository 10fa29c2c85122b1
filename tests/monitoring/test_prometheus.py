"""Real Prometheus (Debian's ``prometheus``) scraping the real operator during an emulated rollout.

The Azure emulator, the Kubernetes API emulator and the operator run in this event loop (tests/e2e's harness)
with ``OperatorMetrics`` attached and served on a loopback port; a Prometheus subprocess scrapes it every
second and loads deploy/monitoring/alerts.rules.yaml. Through Prometheus's HTTP API the test evaluates the
dashboard's own queries (read from deploy/monitoring/dashboard.json, variables substituted as Grafana
would) mid-rollout and at the end, reads the domains x time heatmap back as a range query, and checks that
deleting the resource removes its series. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from scaleset_testbed.worlds import CR

from controller.metrics import DOMAIN_STATE_CODES, OperatorMetrics

from ..e2e.harness import RESOURCES, resource, running_system, scenario
from .support import JOB, MONITORING, dashboard_queries, load_dashboard, substitute, tool
from .test_rules import ALERTS

pytestmark = pytest.mark.slow

DOMAINS, INSTANCES = 5, 10
SUCCEEDED, PENDING = DOMAIN_STATE_CODES["Succeeded"], DOMAIN_STATE_CODES["Pending"]
PHASES = ("Pending", "Progressing", "Paused", "Succeeded", "Failed")
HEATMAP = "Domains \u00d7 time: instance states"
# Empty by design once the rollout is over: the panel shows only rollouts in phase Progressing; and the
# progressive-delivery panels of a resource without spec.rollout.analysis or maintenanceWindows.
EMPTY_WHEN_SETTLED = {
    ("Time since last progress", "A"),
    ("Analysis", "A"),
    ("Time until the next maintenance window", "A"),
    ("Maintenance window open", "A"),
}
FLEET_ROW = "Fleet runs (ScaleSetImageRollout)"  # no ScaleSetImageRollout in this test: its panels have no data


def fleet_panel_titles() -> set[str]:
    titles: set[str] = set()
    row = ""
    for panel in load_dashboard()["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
        elif row == FLEET_ROW:
            titles.add(panel["title"])
    return titles


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusApi:
    def __init__(self, http: aiohttp.ClientSession, url: str, log: Path) -> None:
        self.http, self.url, self.log = http, url, log
        self.queries = dashboard_queries(load_dashboard())

    async def get(self, path: str, **params: str) -> Any:
        async with self.http.get(self.url + path, params=params) as response:
            body = await response.json()
            assert response.status == 200, body
            assert body["status"] == "success", body
            return body["data"]

    async def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = await self.get("/api/v1/query", query=expr, time=f"{at:.3f}")
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    async def panel(self, title: str, ref: str, at: float, range_: str = "5m") -> list[dict[str, Any]]:
        """A dashboard query, as Grafana sends it for namespace=default, name=web."""
        return await self.query(substitute(self.queries[(title, ref)], range_=range_), at)

    async def value(self, title: str, ref: str, at: float, range_: str = "5m") -> float:
        result = await self.panel(title, ref, at, range_)
        assert len(result) == 1, f"{title}/{ref}: expected one series, got {result}"
        return float(result[0]["value"][1])

    async def maybe(self, title: str, ref: str, at: float) -> float | None:
        """The query's one value, or None before the operator has exported the series."""
        result = await self.panel(title, ref, at)
        assert len(result) <= 1, f"{title}/{ref}: expected at most one series, got {result}"
        return float(result[0]["value"][1]) if result else None

    async def by_label(self, title: str, ref: str, label: str, at: float) -> dict[str, float]:
        return {s["metric"][label]: float(s["value"][1]) for s in await self.panel(title, ref, at)}

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


@contextlib.contextmanager
def prometheus_process(tmp_path: Path, target: str) -> Iterator[tuple[str, Path]]:
    """Start Prometheus scraping ``target`` every second; stop it by its pid afterwards."""
    binary = tool("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(MONITORING / "alerts.rules.yaml")],
        "scrape_configs": [
            {"job_name": JOB, "honor_labels": True, "static_configs": [{"targets": [target]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = tmp_path / "prometheus.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.asynccontextmanager
async def prometheus_api(tmp_path: Path, target: str) -> AsyncIterator[PrometheusApi]:
    with prometheus_process(tmp_path, target) as (url, log):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            api = PrometheusApi(http, url, log)
            deadline = time.monotonic() + 30
            while True:  # ready, and the operator's target scraped at least once
                with contextlib.suppress(aiohttp.ClientError, AssertionError):
                    up = await api.query(f'up{{job="{JOB}"}}', time.time())
                    if up and up[0]["value"][1] == "1":
                        break
                assert time.monotonic() < deadline, f"Prometheus did not scrape the operator:\n{api.tail()}"
                await asyncio.sleep(0.2)
            yield api


async def snapshot(api: PrometheusApi) -> dict[str, Any]:
    """The dashboard's progress queries, all evaluated at one instant (a second ago: scraped by then)."""
    at = time.time() - 1.0
    return {
        "at": at,
        "phases": await api.by_label("Resources by phase", "A", "phase", at),
        "in progress": await api.maybe("Rollouts in progress", "A", at),
        "failed": await api.maybe("Failed rollouts", "A", at),
        "completed": await api.maybe("Domains", "A", at),
        "domains": await api.maybe("Domains", "B", at),
        "current": await api.maybe("Domains", "C", at),
        "domain progress": await api.maybe("Domain progress", "A", at),
        "updated": await api.maybe("Instances", "A", at),
        "healthy": await api.maybe("Instances", "B", at),
        "unhealthy": await api.maybe("Instances", "C", at),
        "instances": await api.maybe("Instances", "D", at),
        "instance progress": await api.maybe("Instance progress", "A", at),
        "heatmap": await api.by_label(HEATMAP, "A", "domain", at),
        "fleet phase": [s["metric"]["phase"] for s in await api.panel("Fleet", "A", at)],
        "since progress": [float(s["value"][1]) for s in await api.panel("Time since last progress", "A", at)],
    }


def is_mid_rollout(s: dict[str, Any]) -> bool:
    """Not every domain done, and every progress query telling the same story."""
    done = s["completed"]
    return (
        done is not None
        and 0 <= done <= DOMAINS - 1
        and s["phases"] == {p: (1.0 if p == "Progressing" else 0.0) for p in PHASES}
        and s["in progress"] == 1
        and s["failed"] == 0
        and s["fleet phase"] == ["Progressing"]
        and s["domains"] == DOMAINS
        and s["domain progress"] == pytest.approx(done / DOMAINS)
        and s["instances"] == INSTANCES
        and 2 * done <= s["updated"] <= 2 * done + 2
        and s["instance progress"] == pytest.approx(s["updated"] / INSTANCES)
        and len(s["heatmap"]) == DOMAINS
        and sorted(s["heatmap"].values()).count(SUCCEEDED) == done
        and [s["heatmap"][f"ud-{d}"] for d in range(int(done))] == [SUCCEEDED] * int(done)
        and all(s["heatmap"][f"ud-{d}"] == PENDING for d in range(int(done) + 1, DOMAINS))
        and len(s["since progress"]) == 1
        and 0 <= s["since progress"][0] < 30
    )


async def test_prometheus_follows_a_rollout_through_the_dashboard_queries(tmp_path: Path) -> None:
    started = time.time()
    metrics = OperatorMetrics()
    server = metrics.serve(0, "127.0.0.1")
    try:
        async with (
            prometheus_api(tmp_path, f"127.0.0.1:{server.server_port}") as api,
            running_system(scenario(capacity=INSTANCES, uds=DOMAINS)) as system,
        ):
            ctx = await system.start_operator()
            # start_operator only schedules the operator's task: its first Azure call comes after this.
            metrics.attach(ctx)
            await system.create(resource(pauseBetweenDomains="3s"))
            created = time.time()

            # Mid-rollout: each pause between domains (3 s, three scrapes) shows a consistent view of the
            # progress; the dashboard must show every one of them, in order. A pause follows the end of a
            # domain's upgrade, which is judged when it is over: the pauses show 0 to 3 domains done.
            seen: list[dict[str, Any]] = []
            deadline = time.monotonic() + 45
            while system.status().get("phase") != "Succeeded":
                assert time.monotonic() < deadline, f"rollout did not finish; last views: {seen[-3:]}"
                await asyncio.sleep(0.4)
                system.azure.world.advance()
                seen.append(await snapshot(api))
            consistent = [s for s in seen if is_mid_rollout(s)]
            assert {s["completed"] for s in consistent} == set(range(DOMAINS - 1)), seen
            progress = [s["completed"] for s in seen if s["completed"] is not None]
            assert progress == sorted(progress), "domains completed went backwards"

            # The end.
            await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=45, what="Succeeded")
            status = system.status()
            finished = time.time()
            while (await snapshot(api))["phases"].get("Succeeded") != 1:
                assert time.time() < finished + 10, f"Prometheus never saw Succeeded:\n{api.tail()}"
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.5)  # one more scrape after the final status
            end = await snapshot(api)
            at = end["at"]
            assert end["phases"] == {p: (1.0 if p == "Succeeded" else 0.0) for p in PHASES}
            assert (end["in progress"], end["failed"], end["fleet phase"]) == (0, 0, ["Succeeded"])
            assert (end["completed"], end["domains"], end["current"]) == (DOMAINS, DOMAINS, 0)
            assert end["domain progress"] == 1
            assert (end["updated"], end["healthy"], end["unhealthy"], end["instances"]) == (10, 10, 0, 10)
            assert end["instance progress"] == 1
            assert end["heatmap"] == {f"ud-{d}": SUCCEEDED for d in range(DOMAINS)}
            assert end["since progress"] == []

            succeeded_at = time.mktime(time.strptime(status["lastSucceededAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            started_at = time.mktime(time.strptime(status["rolloutStartedAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            assert await api.value("Fleet", "G", at) == succeeded_at * 1000
            window = f"{int(at - started) + 5}s"
            assert 0.9 <= await api.value("Rollouts finished", "A", at, window) <= 1.6  # increase() extrapolates
            mean = await api.value("Rollout duration (mean over the time range)", "A", at, window)
            assert mean == pytest.approx(succeeded_at - started_at)
            assert 4 * 3 <= mean <= 60  # four 3 s pauses between five domains
            domains_observed = await api.query('scaleset_image_domain_duration_seconds_count{name="web"}', at)
            assert [float(s["value"][1]) for s in domains_observed] == [DOMAINS]

            # Operator-wide series agree with what the Azure emulator saw.
            assert await api.value("Operator up", "A", at) == 1
            assert await api.value("Azure operations in flight", "A", at) == 0
            upgrades = await api.query(
                'sum(scaleset_image_azure_requests_total{operation="POST manualupgrade", code="202"})', at
            )
            assert float(upgrades[0]["value"][1]) == len(system.upgrades()) == DOMAINS
            operations = await api.by_label("Azure requests by operation", "A", "operation", at)
            assert {"GET scale_set", "GET list_vms", "PATCH scale_set", "POST manualupgrade"} <= set(operations)
            assert "subscription-reads" in await api.by_label("Azure rate limit remaining", "A", "policy", at)
            assert await api.value("Throttling: HTTP 429 from Azure", "A", at) >= 0
            assert (await api.by_label("Reconciles by result", "A", "result", at)).keys() == {"ok", "error"}
            assert (await api.query('scaleset_image_reconciles_total{result="error"}', at))[0]["value"][1] == "0"

            # Every dashboard query evaluates in the real Prometheus, and returns data (the fleet row's: none,
            # as no ScaleSetImageRollout exists here; the monitoring unit tests feed those series).
            fleet_panels = fleet_panel_titles()
            assert fleet_panels
            for (title, ref), expr in api.queries.items():
                result = await api.query(substitute(expr, range_=window), at)
                empty = (title, ref) in EMPTY_WHEN_SETTLED or title in fleet_panels
                assert bool(result) != empty, f"{title}/{ref}: {result}"

            # The heatmap over time: every domain went Pending -> ... -> Succeeded, one domain at a time.
            data = await api.get(
                "/api/v1/query_range",
                query=substitute(api.queries[(HEATMAP, "A")]),
                start=f"{created:.3f}",
                end=f"{at:.3f}",
                step="1",
            )
            rows = {s["metric"]["domain"]: [(float(t), float(v)) for t, v in s["values"]] for s in data["result"]}
            assert sorted(rows) == [f"ud-{d}" for d in range(DOMAINS)]
            first_done = {d: min(t for t, v in rows[d] if v == SUCCEEDED) for d in rows}
            first_busy = {d: min(t for t, v in rows[d] if v != PENDING) for d in rows}
            for d in range(1, DOMAINS):
                assert rows[f"ud-{d}"][0][1] == PENDING
                # The pass that judges a domain healthy (when its pause is over) starts the next: same scrape.
                assert first_done[f"ud-{d - 1}"] <= first_busy[f"ud-{d}"], rows
            in_flight: dict[float, list[str]] = {}
            for d, values in rows.items():
                for t, v in values:
                    if v not in (PENDING, SUCCEEDED):
                        in_flight.setdefault(t, []).append(d)
            assert all(len(domains) == 1 for domains in in_flight.values()), in_flight
            assert all(values[-1][1] == SUCCEEDED for values in rows.values())

            # The alert rules loaded and evaluate cleanly; none of them fires on a healthy rollout.
            groups = (await api.get("/api/v1/rules"))["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            assert {rule["name"] for rule in rules} == ALERTS
            assert all(rule["health"] == "ok" for rule in rules), json.dumps(rules, indent=1)
            assert (await api.get("/api/v1/alerts"))["alerts"] == []

            # Deleting the resource removes its series: gone from the next scrapes.
            async with system.http.delete(f"{system.kube.url}{RESOURCES}/web") as response:
                assert response.status in (200, 202), await response.text()
            await system.wait_for(lambda: system.kube.get_object(CR, "web", "default") is None, within=15)
            deadline = time.monotonic() + 15
            while await api.query('{namespace="default", name="web"}', time.time()):
                assert time.monotonic() < deadline, "series of the deleted resource are still scraped"
                await asyncio.sleep(0.5)
            assert await api.value("Operator up", "A", time.time()) == 1
    finally:
        server.shutdown()
        server.server_close()
    assert time.time() - started < 90
