"""The scope policy end to end (issue 16): a denied resource makes no Azure call at all.

Aspects: allowed by a rule, the rollout runs; denied (a rule names the namespace but not the resource
group), it is Stalled with ScopeForbidden naming the rule, and Azure sees no request of it, not even a read;
the same manifest re-created in a namespace no rule names is denied (default deny); a policy change that
revokes access mid-rollout stops before the next domain and says why, and restoring it resumes the walk
without repeating or skipping a domain.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from scaleset_testbed import worlds
from scaleset_testbed.worlds import CR, RG, SUB

from .harness import NEW, System, running_system, scenario

pytestmark = pytest.mark.slow


def policy(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"scopePolicy": {"rules": list(rules)}}


WEB = {"name": "team-web", "namespaces": ["web"], "subscriptions": [SUB], "resourceGroups": [RG]}
WEB_ELSEWHERE = {"name": "team-web", "namespaces": ["web"], "resourceGroups": ["rg-other"]}


async def create_in(system: System, namespace: str, name: str = "web", **rollout: Any) -> None:
    namespace_body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    async with system.http.post(f"{system.kube.url}/api/v1/namespaces", json=namespace_body) as response:
        assert response.status < 500, await response.text()  # created, or there already
    body = worlds.manifest(name, namespace=namespace, version=NEW, rollout=rollout)
    url = f"{system.kube.url}/apis/imagerollout.dev/v1alpha1/namespaces/{namespace}/scalesetimages"
    async with system.http.post(url, json=body) as response:
        assert response.status == 201, await response.text()


def status_of(system: System, namespace: str, name: str = "web") -> dict[str, Any]:
    obj = system.kube.get_object(CR, name, namespace) or {}
    return dict(obj.get("status") or {})


def stalled(system: System, namespace: str) -> dict[str, Any]:
    conditions = status_of(system, namespace).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Stalled" and c["status"] == "True"), {})


def azure_requests(system: System) -> int:
    return len(system.requests())


def rewrite(path: Path, system: System, data: dict[str, Any], tick: int) -> None:
    system.config_file(path, **data)
    os.utime(path, ns=(tick * 10**9, tick * 10**9))  # a new mtime even within the same second


async def test_allowed_rolls_out_and_denied_makes_no_azure_call(tmp_path: Path) -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system:
        config = system.config_file(tmp_path / "config.yaml", **policy(WEB_ELSEWHERE))
        await system.start_operator(config)
        await create_in(system, "web")
        await system.wait_for(lambda: stalled(system, "web"), what="Stalled")
        condition = stalled(system, "web")
        assert condition["reason"] == "ScopeForbidden"
        assert "rule 'team-web' does not allow resource group rg-web (allowed: rg-other)" in condition["message"]
        await asyncio.sleep(0.5)
        assert azure_requests(system) == 0, "not even a read"
        events = {e.get("reason") for e in system.kube.events(involved_name="web")}
        assert "ScopeForbidden" in events

        rewrite(config, system, policy(WEB), 2_000_000_000)
        await system.wait_for(lambda: status_of(system, "web").get("phase") == "Succeeded", what="Succeeded")
        assert system.upgrades() == [["0", "2"], ["1", "3"]]


async def test_the_same_manifest_in_a_namespace_no_rule_names_is_denied(tmp_path: Path) -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system:
        await system.start_operator(system.config_file(tmp_path / "config.yaml", **policy(WEB)))
        await create_in(system, "web")
        await system.wait_for(lambda: status_of(system, "web").get("phase") == "Succeeded", what="Succeeded")
        async with system.http.delete(
            f"{system.kube.url}/apis/imagerollout.dev/v1alpha1/namespaces/web/scalesetimages/web"
        ) as response:
            assert response.status == 200
        before = azure_requests(system)
        await create_in(system, "intruder")  # the same scale set, from another namespace
        await system.wait_for(lambda: stalled(system, "intruder"), what="Stalled")
        assert "No scope rule allows namespace intruder" in stalled(system, "intruder")["message"]
        await asyncio.sleep(0.5)
        assert azure_requests(system) == before


async def test_revoking_access_mid_rollout_stops_before_the_next_domain(tmp_path: Path) -> None:
    async with running_system(scenario(capacity=6, uds=3), time_scale=1.0) as system:  # 2 s a domain
        config = system.config_file(tmp_path / "config.yaml", **policy(WEB))
        await system.start_operator(config)
        await create_in(system, "web")
        await system.wait_for(lambda: len(system.upgrades()) == 1, what="the first domain started")
        rewrite(config, system, policy(WEB_ELSEWHERE), 2_000_000_000)
        await system.wait_for(lambda: stalled(system, "web"), within=30, what="Stalled")
        assert stalled(system, "web")["reason"] == "ScopeForbidden"
        await asyncio.sleep(4.0)  # the first domain finishes in Azure meanwhile; nothing new starts
        assert system.upgrades() == [["0", "3"]]
        requests = azure_requests(system)
        await asyncio.sleep(0.5)
        assert azure_requests(system) == requests, "no Azure call while denied"

        rewrite(config, system, policy(WEB), 2_000_000_100)
        await system.wait_for(lambda: status_of(system, "web").get("phase") == "Succeeded", within=60)
        assert system.upgrades() == [["0", "3"], ["1", "4"], ["2", "5"]], "resumed: none repeated, none skipped"
