"""Benchmark 3: the same rollout done four ways, side by side, in the same run.

Scenario (each variant on a fresh emulator): one Manual scale set of N instances over D update domains
with the application health extension; an instance upgrade takes T, and a freshly upgraded instance then
reports ``initializing`` for a health grace period G before ``healthy`` (as the Application Health
extension does until its probe passes). Variants:

- ``one_at_a_time``: ``python -m bench.tools one-at-a-time`` (generic IaC: one instance per manualupgrade);
- ``vmssupgrade_style``: ``python -m bench.tools vmssupgrade`` (one domain per manualupgrade, polling the VM
  list, no health gate);
- ``vmssupgrade_health_gated``: ``python -m bench.tools vmssupgrade-healthy`` (the same, at the operator's
  safety: a domain is done only when its instances report healthy; an unhealthy one stops the rollout);
- ``operator``: the operator process, a ScaleSetImage with ``pauseBetweenDomains: 0s`` and default limits.

Every poller (the SDK's LRO poller in one_at_a_time, the VM-list poll of vmssupgrade_style, the operator's
pollInterval) runs every 5 emulated seconds. Calls come from the emulator's audit; wall time is from the
go signal (the tool's stdin, or the create request) to the tool saying done (or phase Succeeded); safety
is the most instances unavailable at once, replayed from the audit's instance events, where unavailable
means updating, failed, or not (yet) reporting healthy.

An extra run per variant with an image that boots unhealthy shows what the health gate is for: how many
instances each approach put on the bad image.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from scaleset_testbed.worlds import OFFER, PUBLISHER, SKU, SUB

from .common import (
    BAD,
    NEW,
    ROOT,
    Env,
    OperatorSettings,
    azure_requests,
    call_summary,
    die_with_parent,
    emulators,
    last_ready_time,
    log,
    manifest,
    max_unavailable,
    median_of_runs,
    new_workdir,
    operator,
    process_cpu_seconds,
    process_peak_rss_mb,
    remove_workdir,
    scale_set,
    scenario,
    wait_until,
)

RG, VMSS, NAME = "rg-base", "vmss-base", "base"
VARIANTS = ("one_at_a_time", "vmssupgrade_style", "vmssupgrade_health_gated", "operator")
TOOL = {
    "one_at_a_time": "one-at-a-time",
    "vmssupgrade_style": "vmssupgrade",
    "vmssupgrade_health_gated": "vmssupgrade-healthy",
}
# The operator's variants: the ScaleSetImage's spec.rollout beyond pauseBetweenDomains: 0s.
OPERATOR_ROLLOUT: dict[str, dict[str, Any]] = {"operator": {}, "operator_max_unhealthy_1": {"maxUnhealthyInstances": 1}}


@dataclass(frozen=True)
class BaselineParams:
    instances: int
    domains: int
    scale: float
    upgrade_sim: float
    grace_sim: float
    model_update_sim: float
    poll_sim: float
    operator_tick: float
    runs: int
    bad_image_runs: int = 1
    # one_at_a_time is left out of the bad-image runs: it never reads health, so like vmssupgrade_style it
    # puts every instance on the bad image, and a run of it costs N x T. The operator runs twice: with the
    # default maxUnhealthyInstances (20%) and with maxUnhealthyInstances: 1 (as in the README's example).
    bad_image_variants: tuple[str, ...] = (
        "vmssupgrade_style",
        "vmssupgrade_health_gated",
        "operator",
        "operator_max_unhealthy_1",
    )

    @property
    def poll_real(self) -> float:
        return self.poll_sim / self.scale

    def operator_settings(self) -> OperatorSettings:
        # No client-side budget: time runs `scale` times faster here, which multiplies every client's real
        # request rate; the emulator's throttling is off for the same reason (the fleet benchmark has both).
        return OperatorSettings(
            poll_interval=self.poll_real, tick=self.operator_tick, resync_interval=300.0, budget={"enabled": False}
        )

    def describe(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "update_domains": self.domains,
            "time_scale": self.scale,
            "T_upgrade_s": round(self.upgrade_sim / self.scale, 4),
            "T_upgrade_emulated_s": self.upgrade_sim,
            "health_grace_s": round(self.grace_sim / self.scale, 4),
            "health_grace_emulated_s": self.grace_sim,
            "poll_s": round(self.poll_real, 4),
            "poll_emulated_s": self.poll_sim,
            "operator": self.operator_settings().describe(),
            "emulator_throttling": "off (time compression would multiply real request rates)",
            "runs": self.runs,
            "bad_image_runs": self.bad_image_runs,
            "bad_image_variants": list(self.bad_image_variants),
        }


def _scenario(p: BaselineParams) -> dict[str, Any]:
    return scenario(
        {RG: {VMSS: scale_set(p.instances, p.domains)}},
        upgrade_s=p.upgrade_sim,
        model_update_s=p.model_update_sim,
        health_grace_s=p.grace_sim,
    )


async def _readline(stream: asyncio.StreamReader | None, within: float) -> str:
    assert stream is not None
    line = await asyncio.wait_for(stream.readline(), timeout=within)
    if not line:
        raise RuntimeError("the baseline tool ended early")
    return line.decode().strip()


async def run_tool(env: Env, variant: str, p: BaselineParams, version: str) -> dict[str, Any]:
    """Start the tool, wait for 'ready', say go, time until 'done'."""
    log_path = env.workdir / f"{variant}.log"
    with log_path.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.tools",
            TOOL[variant],
            "--url",
            env.azure.url,
            "--subscription",
            SUB,
            "--resource-group",
            RG,
            "--scale-set",
            VMSS,
            "--publisher",
            PUBLISHER,
            "--offer",
            OFFER,
            "--sku",
            SKU,
            "--version",
            version,
            "--poll",
            f"{p.poll_real:.6f}",
            cwd=str(ROOT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            preexec_fn=die_with_parent,
        )
    try:
        if await _readline(proc.stdout, 60) != "ready":
            raise RuntimeError(f"{variant}: unexpected first line")
        cpu_before = process_cpu_seconds(proc.pid)
        sim_start = env.sim_now()
        assert proc.stdin is not None
        started = time.monotonic()
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        if await _readline(proc.stdout, 1800) != "done":
            raise RuntimeError(f"{variant}: did not finish")
        finished = time.monotonic()
        details = json.loads(await _readline(proc.stdout, 30))
        cpu = process_cpu_seconds(proc.pid) - cpu_before
        rss = process_peak_rss_mb(proc.pid)
        proc.stdin.write(b"exit\n")
        await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), timeout=30)
    except Exception as exc:
        raise RuntimeError(
            f"{variant} failed: {log_path.read_text(encoding='utf-8', errors='replace')[-2000:]}"
        ) from exc
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    return {
        "wall_s": finished - started,
        "sim_start": sim_start,
        "cpu_s": cpu,
        "peak_rss_mb": rss,
        "details": details,
    }


async def run_operator(env: Env, p: BaselineParams, version: str, rollout: dict[str, Any]) -> dict[str, Any]:
    async with operator(env, p.operator_settings()) as op:
        cpu_before = op.cpu_seconds()
        sim_start = env.sim_now()
        started = time.monotonic()
        await env.create(manifest(NAME, RG, VMSS, version, pauseBetweenDomains="0s", **rollout))

        def settled() -> bool:
            status = env.status(NAME)
            if status.get("phase") == "Succeeded":
                return True
            return any(c.get("type") == "Stalled" and c.get("status") == "True" for c in status.get("conditions", []))

        finished = await wait_until(settled, within=600, interval=0.005, what="the operator's rollout")
        cpu = op.cpu_seconds() - cpu_before
        op.sample()
        phase = env.status(NAME).get("phase")
    return {
        "wall_s": finished - started,
        "sim_start": sim_start,
        "cpu_s": cpu,
        "peak_rss_mb": op.peak_rss_mb,
        "details": {"phase": phase},
    }


async def one_variant(variant: str, p: BaselineParams, version: str = NEW) -> dict[str, Any]:
    workdir = new_workdir(f"baseline-{variant}")
    try:
        async with emulators(_scenario(p), p.scale, workdir) as env:
            if variant in OPERATOR_ROLLOUT:
                outcome = await run_operator(env, p, version, OPERATOR_ROLLOUT[variant])
            else:
                outcome = await run_tool(env, variant, p, version)
            await asyncio.sleep(0.05)
            audit = list(env.audit())
        requests = azure_requests(audit)
        calls = call_summary(requests)
        last_ready = last_ready_time(audit)
        unhealthy = {
            (e["scaleSet"], e["instanceId"])
            for e in audit
            if e.get("type") == "instance"
            and e.get("imageVersion") == version
            and e.get("state") in ("Running", "Failed")
        }
        result: dict[str, Any] = {
            "writes": calls["writes"],
            "reads": calls["reads"],
            "calls": calls["writes"] + calls["reads"],
            "wall_s": round(outcome["wall_s"], 3),
            "max_unavailable": max_unavailable(audit),
            "last_instance_ready_s": round((last_ready - outcome["sim_start"]) / p.scale, 3) if last_ready else None,
            "cpu_s": round(outcome["cpu_s"], 3),
            "peak_rss_mb": round(outcome["peak_rss_mb"], 1),
            "by_operation": calls["by_operation"],
        }
        if version == BAD:
            result = {
                "instances_put_on_bad_image": len(unhealthy),
                "wall_s": result["wall_s"],
                "max_unavailable": result["max_unavailable"],
                "outcome": outcome["details"].get("phase", "finished"),
            }
        return result
    finally:
        remove_workdir(workdir)


async def run(p: BaselineParams, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    raw: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for i in range(p.runs):
        for variant in variants:
            log(f"baseline {variant} run {i + 1}/{p.runs}")
            result = await one_variant(variant, p)
            log(
                f"  wall {result['wall_s']:.2f}s writes {result['writes']} reads {result['reads']} "
                f"max unavailable {result['max_unavailable']}"
            )
            raw[variant].append(result)
    for variant in variants:
        out[variant] = {**median_of_runs(raw[variant]), "runs": p.runs}
    bad: dict[str, Any] = {}
    for variant in p.bad_image_variants:
        runs = []
        for i in range(p.bad_image_runs):
            log(f"baseline {variant} with an image that boots unhealthy, run {i + 1}/{p.bad_image_runs}")
            runs.append(await one_variant(variant, p, BAD))
            log(f"  {runs[-1]['instances_put_on_bad_image']} instances put on the bad image")
        bad[variant] = {**median_of_runs(runs), "runs": p.bad_image_runs}
    out["bad_image"] = bad
    out["parameters"] = p.describe()
    out["raw"] = raw
    return out
