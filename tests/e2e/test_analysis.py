"""Analysis between domains against the real Prometheus (Debian's package), driving the real operator.

Aspects: a small metrics endpoint exports an error ratio per VM; the test decides it per instance (0.5 for
the VMs of update domain 2 once they run the new image, 0 elsewhere). Prometheus scrapes it every second;
the operator's analysis queries it with the domain's VM names as a template variable. Domains 0 and 1 pass
their analysis; domain 2 fails it (0.5 > 0.1), so the rollout rolls back (onFailure Rollback) and domains 3
and 4 are never upgraded. Every measurement is in status.analysis and in an event. A resource whose
namespace may not use the configured Prometheus gets inconclusive measurements that say why, and pauses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from scaleset_testbed.azure.world import Instance
from scaleset_testbed.kube import write_kubeconfig
from scaleset_testbed.worlds import VMSS

from tests.monitoring.test_prometheus import free_port, prometheus_process

from .commands import run
from .harness import NEW, OLD, System, resource, running_system, scenario

pytestmark = pytest.mark.slow

QUERY = 'max(app_error_ratio{vm=~"{{instanceNames}}"})'


@contextlib.asynccontextmanager
async def metrics_endpoint(system: System, ratio: Callable[[Instance], float]) -> AsyncIterator[str]:
    """``/metrics`` with ``app_error_ratio{vm="<scale set>_<id>"}`` (a VM's name, as ``{{instanceNames}}`` renders
    it) for every instance, as ``ratio`` says at each scrape."""

    async def metrics(_: web.Request) -> web.Response:
        lines = ["# TYPE app_error_ratio gauge"]
        for ss in system.azure.world.scale_sets.values():
            for inst in ss.instances.values():
                lines.append(f'app_error_ratio{{vm="{VMSS}_{inst.instance_id}"}} {ratio(inst)}')
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def bad_in_domain_2(inst: Instance) -> float:
    return 0.5 if inst.update_domain == 2 and inst.image.label == NEW else 0.0


def analysis(**changes: Any) -> dict[str, Any]:
    return {
        "queries": [
            {
                "name": "error-ratio",
                "query": QUERY,
                "successCondition": "result <= 0.1",
                "failureCondition": "result > 0.1",
            }
        ],
        "interval": "1s",
        "initialDelay": "2s",
        "count": 2,
        **changes,
    }


def _images(system: System) -> dict[str, str]:
    return {e["instanceId"]: e["imageVersion"] for e in system.audit() if e["type"] == "instance"}


async def _prometheus_sees(system: System, url: str) -> None:
    async def up() -> bool:
        try:
            async with system.http.get(f"{url}/api/v1/query", params={"query": "count(app_error_ratio)"}) as r:
                body = await r.json()
                return r.status == 200 and bool(body["data"]["result"])
        except Exception:
            return False

    for _ in range(300):
        if await up():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("Prometheus did not scrape the metrics endpoint")


async def test_a_failed_analysis_rolls_back_after_that_domain(tmp_path: Path) -> None:
    async with running_system(scenario()) as system, metrics_endpoint(system, bad_in_domain_2) as target:
        with prometheus_process(tmp_path, target) as (url, _log):
            await _prometheus_sees(system, url)
            config = system.config_file(
                tmp_path / "config.yaml", prometheus={"servers": {"main": {"url": url, "timeoutSeconds": 5}}}
            )
            await system.start_operator(config)
            await system.create(resource(onFailure="Rollback", analysis=analysis()))
            await system.wait_for(
                lambda: (system.status().get("rollback") or {}).get("finishedAt"), within=120, what="rollback done"
            )
            status = system.status()
            states = {d["id"]: d["state"] for d in status["domains"]}
            assert states["ud-3"] == states["ud-4"] == "Pending", states
            assert states["ud-2"] == "RolledBack", states
            assert status["phase"] == "Failed"
            assert status["rollback"]["reason"] == "AnalysisFailed"
            assert status["analysis"]["domain"] == "ud-2"
            assert status["analysis"]["phase"] == "Failed"
            failed = [m for m in status["analysis"]["measurements"] if m["phase"] == "Failed"]
            assert failed, status["analysis"]
            assert failed[0]["value"] == "0.5"
            # Domains 3 and 4 were never upgraded; the upgraded ones run the old image again.
            ud = {
                i.instance_id: i.update_domain
                for ss in system.azure.world.scale_sets.values()
                for i in ss.instances.values()
            }
            upgraded = {i for ids in system.upgrades() for i in ids}
            assert not {i for i in upgraded if ud[i] in (3, 4)}
            assert set(_images(system).values()) <= {OLD}
            reasons = [e["reason"] for e in system.kube.events(involved_name="web")]
            assert reasons.count("AnalysisSucceeded") == 2, reasons  # domains 0 and 1
            assert "AnalysisFailed" in reasons
            assert reasons.count("AnalysisMeasured") >= 5
            assert status["analysis"]["measurements"][-1]["query"] == "error-ratio"


async def test_a_namespace_not_allowed_to_query_prometheus_pauses_inconclusive(tmp_path: Path) -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system:
        config = system.config_file(
            tmp_path / "config.yaml",
            prometheus={"servers": {"main": {"url": "http://127.0.0.1:9", "namespaces": ["team-a"]}}},
        )
        await system.start_operator(config)
        await system.create(resource(analysis=analysis(initialDelay="0s")))
        await system.wait_for(
            lambda: (system.status().get("analysis") or {}).get("phase") == "Inconclusive", within=60, what="paused"
        )
        status = system.status()
        assert status["phase"] == "Paused"
        assert status["analysis"]["measurements"][0]["phase"] == "Error"
        assert "may not be used from namespace 'default'" in status["analysis"]["measurements"][0]["message"]
        ready = system.condition("Ready")
        assert ready["reason"] == "AnalysisInconclusive"
        assert [d["state"] for d in status["domains"]] == ["Succeeded", "Pending"]
        upgrades = len(system.upgrades())
        await asyncio.sleep(1.0)
        assert len(system.upgrades()) == upgrades, "inconclusive never promotes"
        kubeconfig = write_kubeconfig(system.kube.url, tmp_path / "kubeconfig")
        code, out, err = await run("kubectl-ssi", "retry", "web", "--kubeconfig", str(kubeconfig))
        assert (code, err) == (0, ""), out
        assert "the inconclusive analysis of domain ud-0 runs again" in out

        def inconclusive_twice() -> bool:
            reasons = [e["reason"] for e in system.kube.events(involved_name="web")]
            return reasons.count("AnalysisInconclusive") >= 2

        await system.wait_for(inconclusive_twice, within=60, what="analysed again, and inconclusive again")
        assert len(system.upgrades()) == upgrades
