"""Hooks and manual approval driving the real operator, against a local HTTP server that records every call
and can refuse.

Aspects: with approval BeforeFirstDomain nothing is upgraded until ``kubectl ssi approve`` sets the annotation
to the token in status; a PreRollout hook is told once, before the first domain; a ConfirmDomain hook that
answers 403 holds its domain (status.hooks Waiting, Reconciling reason WaitingForHooks) until it answers 200;
PostDomain hooks are told after each healthy domain. A notifying hook that keeps failing is given up after
1 + retries calls without holding the rollout; a failed rollout calls its Rollback hook once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from scaleset_testbed.kube import write_kubeconfig

from tests.monitoring.test_prometheus import free_port

from .commands import run
from .harness import BAD, NEW, System, resource, running_system, scenario

pytestmark = pytest.mark.slow


class HookServer:
    """Records each call (path and JSON body); answers ``status[path]`` (200 unless set)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.status: dict[str, int] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.path, await request.json()))
        return web.Response(status=self.status.get(request.path, 200), text="recorded")

    def seen(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.calls if p == path]


@contextlib.asynccontextmanager
async def hook_server() -> AsyncIterator[HookServer]:
    server = HookServer()
    app = web.Application()
    app.router.add_post("/{name}", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def _config(system: System, tmp_path: Path, server: HookServer, *names: str) -> Path:
    return system.config_file(
        tmp_path / "config.yaml", webhooks={name: {"url": f"{server.url}/{name}"} for name in names}
    )


async def test_approval_and_a_refusing_confirm_hook_hold_domains_until_they_say_yes(tmp_path: Path) -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system, hook_server() as server:
        server.status["/gate"] = 403
        await system.start_operator(_config(system, tmp_path, server, "notify", "gate", "after"))
        hooks = [
            {"name": "notify", "type": "PreRollout", "webhook": "notify"},
            {"name": "gate", "type": "ConfirmDomain", "webhook": "gate"},
            {"name": "after", "type": "PostDomain", "webhook": "after"},
        ]
        await system.create(resource(approval="BeforeFirstDomain", hooks=hooks))
        token = await system.wait_for(
            lambda: (system.status().get("approval") or {}).get("token"), what="approval asked for"
        )
        assert system.condition("Reconciling")["reason"] == "WaitingForApproval"
        assert token in system.condition("Reconciling")["message"]
        await asyncio.sleep(0.5)
        assert system.upgrades() == [], "nothing starts before the approval"
        assert server.calls == [], "hooks are called once approved"

        kubeconfig = write_kubeconfig(system.kube.url, tmp_path / "kubeconfig")
        code, out, err = await run("kubectl-ssi", "approve", "web", "--kubeconfig", str(kubeconfig))
        assert (code, err) == (0, ""), out
        assert "domain ud-0 starts" in out
        assert system.get()["metadata"]["annotations"]["imagerollout.dev/approve"] == token

        await system.wait_for(lambda: len(server.seen("/gate")) >= 2, what="the confirm hook asked again")
        assert system.upgrades() == [], "a refusing confirm hook holds the domain"
        run_ = next(r for r in system.status()["hooks"] if r["hook"] == "gate")
        assert (run_["phase"], run_["statusCode"], run_["subject"]) == ("Waiting", 403, "ud-0")
        assert system.condition("Reconciling")["reason"] == "WaitingForHooks"

        server.status["/gate"] = 200
        await system.wait_for(lambda: system.status().get("phase") == "Succeeded", within=60, what="Succeeded")
        assert [b["subject"] for b in server.seen("/notify")] == ["rollout"]
        # A notification is made at the pass after the step it tells of: the last one follows Succeeded.
        await system.wait_for(lambda: len(server.seen("/after")) == 2, what="both PostDomain calls")
        assert [b["subject"] for b in server.seen("/after")] == ["ud-0", "ud-1"]
        assert {b["subject"] for b in server.seen("/gate")} == {"ud-0", "ud-1"}
        first_upgrade_call = server.seen("/notify")[0]
        assert first_upgrade_call["image"].endswith(NEW)
        assert first_upgrade_call["type"] == "PreRollout"
        assert first_upgrade_call["namespace"] == "default"
        assert system.status()["approval"]["approvedAt"]
        reasons = [e["reason"] for e in system.kube.events(involved_name="web")]
        assert "ApprovalRequested" in reasons
        assert "Approved" in reasons
        assert "HookRefused" in reasons


async def test_failing_notifications_are_given_up_and_a_failure_calls_the_rollback_hook(tmp_path: Path) -> None:
    async with running_system(scenario(capacity=4, uds=2)) as system, hook_server() as server:
        server.status["/broken"] = 500
        await system.start_operator(_config(system, tmp_path, server, "broken", "pager"))
        hooks = [
            {"name": "broken", "type": "PreDomain", "webhook": "broken", "retries": 1},
            {"name": "pager", "type": "Rollback", "webhook": "pager"},
        ]
        await system.create(resource(version=BAD, hooks=hooks, domainTimeout="3s"))
        await system.wait_for(lambda: server.seen("/pager"), within=60, what="the rollback hook")
        status = system.status()
        assert status["phase"] == "Failed"
        broken = next(r for r in status["hooks"] if r["hook"] == "broken")
        assert (broken["phase"], broken["attempts"], broken["statusCode"]) == ("Failed", 2, 500)
        assert len(system.upgrades()) == 1, "the failing notification did not hold the domain"
        await asyncio.sleep(1.0)
        pager = server.seen("/pager")
        assert len(pager) == 1, "one failure, one call"
        assert pager[0]["subject"].startswith("failure-")
        assert pager[0]["phase"] == "Failed"
        assert "HookFailed" in [e["reason"] for e in system.kube.events(involved_name="web")]
