"""The two baseline rollout tools, each run as its own process like the operator (``python -m bench.tools``).

Both use the real ``azure.mgmt.compute.aio`` SDK against the emulator, with clients built the way the
operator builds them (custom ``base_url``, a static-token credential, a per-call policy that lets the
token go over plain HTTP to the loopback emulator). Only ``vmssupgrade-healthy`` checks application health.

- ``one-at-a-time``: the way generic infrastructure-as-code tools roll instances. Change the model
  (and wait for it), then for each instance in id order one ``manualupgrade`` naming only it, waiting
  for that long-running operation to finish (the SDK's poller, polling every ``--poll`` seconds).
- ``vmssupgrade``: one update domain per ``manualupgrade``. Change the model (and wait), read which
  instance is in which update domain (one listing with instance views), then per domain in order: one
  ``manualupgrade`` of all its instances, then list the VMs every ``--poll`` seconds until every one of
  them runs the latest model with provisioning state Succeeded (no health check), then the next domain.
- ``vmssupgrade-healthy``: the same, but a domain is done only when its instances also report healthy
  through the Application Health extension, and an instance reporting unhealthy stops the rollout (the
  operator's safety, for a comparison at equal safety).

Protocol with the benchmark: after the client is built the tool prints ``ready`` and waits for a line
on stdin; it then rolls out, prints ``done`` and a JSON line with its own counters, and exits at the
next line (or end) of stdin, so that its CPU time and peak RSS can be read while it still exists.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.compute.aio import ComputeManagementClient
from scaleset_testbed.worlds import ARM_SCOPES


class StaticToken:
    """An async credential with a fixed token (the emulator accepts any bearer token)."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("bench-token", int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticToken:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class AllowPlainHttp(SansIOHTTPPolicy[Any, Any]):
    """Let the bearer token travel over http to the loopback emulator."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context["enforce_https"] = False


def make_client(url: str, subscription: str, poll: float) -> ComputeManagementClient:
    return ComputeManagementClient(
        StaticToken(),
        subscription,
        base_url=url,
        credential_scopes=list(ARM_SCOPES),
        per_call_policies=[AllowPlainHttp()],
        polling_interval=poll,
    )


def image_patch(publisher: str, offer: str, sku: str, version: str) -> dict[str, Any]:
    reference = {"publisher": publisher, "offer": offer, "sku": sku, "version": version}
    return {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": reference}}}}


async def update_model(client: ComputeManagementClient, args: argparse.Namespace) -> None:
    operations: Any = client.virtual_machine_scale_sets  # a raw dict body goes out as written
    poller = await operations.begin_update(
        args.resource_group, args.scale_set, image_patch(args.publisher, args.offer, args.sku, args.version)
    )
    await poller.result()


async def one_at_a_time(client: ComputeManagementClient, args: argparse.Namespace) -> dict[str, Any]:
    await update_model(client, args)
    ids = [
        str(vm.instance_id)
        async for vm in client.virtual_machine_scale_set_vms.list(args.resource_group, args.scale_set)
    ]
    for instance_id in sorted(ids, key=int):
        poller = await client.virtual_machine_scale_sets.begin_update_instances(
            args.resource_group, args.scale_set, {"instanceIds": [instance_id]}
        )
        await poller.result()
    return {"upgrades": len(ids)}


async def _update_domains(client: ComputeManagementClient, args: argparse.Namespace) -> dict[int, list[str]]:
    """Instance ids by platform update domain, as vmssupgrade groups them (one listing with the instance view)."""
    domains: dict[int, list[str]] = defaultdict(list)
    async for vm in client.virtual_machine_scale_set_vms.list(
        args.resource_group, args.scale_set, expand="instanceView"
    ):
        ud = int(getattr(vm.instance_view, "platform_update_domain", 0) or 0)
        domains[ud].append(str(vm.instance_id))
    return domains


async def vmssupgrade(client: ComputeManagementClient, args: argparse.Namespace) -> dict[str, Any]:
    await update_model(client, args)
    domains = await _update_domains(client, args)
    polls = 0
    for ud in sorted(domains):
        ids = set(domains[ud])
        await client.virtual_machine_scale_sets.begin_update_instances(
            args.resource_group, args.scale_set, {"instanceIds": sorted(ids, key=int)}
        )
        while True:
            await asyncio.sleep(args.poll)
            polls += 1
            done = 0
            async for vm in client.virtual_machine_scale_set_vms.list(args.resource_group, args.scale_set):
                if str(vm.instance_id) in ids and vm.latest_model_applied and vm.provisioning_state == "Succeeded":
                    done += 1
            if done == len(ids):
                break
    return {"domains": len(domains), "polls": polls}


def _health(vm: Any) -> str:
    health = getattr(getattr(vm, "instance_view", None), "vm_health", None)
    code = getattr(getattr(health, "status", None), "code", None) or ""
    return str(code).split("/", 1)[-1].lower()


async def vmssupgrade_healthy(client: ComputeManagementClient, args: argparse.Namespace) -> dict[str, Any]:
    """vmssupgrade at the operator's level of safety: a domain is done when its instances run the latest
    model, provisioned and reporting healthy through the health extension; an unhealthy one stops it."""
    await update_model(client, args)
    domains = await _update_domains(client, args)
    polls = 0
    for ud in sorted(domains):
        ids = set(domains[ud])
        await client.virtual_machine_scale_sets.begin_update_instances(
            args.resource_group, args.scale_set, {"instanceIds": sorted(ids, key=int)}
        )
        while True:
            await asyncio.sleep(args.poll)
            polls += 1
            done = 0
            unhealthy = False
            async for vm in client.virtual_machine_scale_set_vms.list(
                args.resource_group, args.scale_set, expand="instanceView"
            ):
                if str(vm.instance_id) not in ids or not vm.latest_model_applied:
                    continue
                if vm.provisioning_state != "Succeeded":
                    continue
                health = _health(vm)
                unhealthy = unhealthy or health == "unhealthy"
                done += health == "healthy"
            if unhealthy:
                return {"domains": len(domains), "polls": polls, "stopped": f"unhealthy instance in domain {ud}"}
            if done == len(ids):
                break
    return {"domains": len(domains), "polls": polls}


async def main_async(args: argparse.Namespace) -> int:
    client = make_client(args.url, args.subscription, args.poll)
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.monotonic()
        tool = {"one-at-a-time": one_at_a_time, "vmssupgrade": vmssupgrade}.get(args.tool, vmssupgrade_healthy)
        details = await tool(client, args)
        print("done", flush=True)
        print(json.dumps({"tool": args.tool, "wall_s": time.monotonic() - started, **details}), flush=True)
        # Stay alive until told to go, so the benchmark can read this process's CPU time and peak RSS.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    finally:
        await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tools", description=__doc__)
    parser.add_argument("tool", choices=["one-at-a-time", "vmssupgrade", "vmssupgrade-healthy"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--subscription", required=True)
    parser.add_argument("--resource-group", required=True)
    parser.add_argument("--scale-set", required=True)
    parser.add_argument("--publisher", required=True)
    parser.add_argument("--offer", required=True)
    parser.add_argument("--sku", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--poll", type=float, required=True, help="seconds between polls (real time)")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
