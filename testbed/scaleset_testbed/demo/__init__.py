"""``scaleset-image-testbed demo``: the whole system on one machine, watchable, or headless for scripts and CI.

One event loop runs the Azure Compute emulator, the Kubernetes API emulator (serving the CRD generated
from the model) and the real operator against both. The manifests are applied through the Kubernetes API
as kubectl would, and a kubeconfig is written so kubectl and client libraries can look on. The terminal
view redraws the domains x instances grid; without a terminal (or with ``--no-ui``) one line per event.
It runs the operator in-process, so it needs scaleset-image-operator installed (the ``demo`` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import kopf
import yaml

from controller.commands.grid import instance_state, legend, render_resource, target_label
from controller.config import CloudProfile, OperatorConfig
from controller.operator import OperatorContext, run_operator
from controller.resource import GROUP, KIND, PLURAL, VERSION, ConditionStatus, ConditionType, Phase
from controller.resource.crd import build_crd
from scaleset_testbed.azure import AzureEmulator, Scenario, load_scenario_file, parse_scenario
from scaleset_testbed.kube import RunningKubeEmulator, start_kube_emulator, write_kubeconfig

TOKEN_ENV = "SCALESET_IMAGE_DEMO_TOKEN"
CR_REF = f"{GROUP}/{VERSION}/{PLURAL}"
EXIT_TIMEOUT = 3
EXIT_CRASH = 4


@dataclass
class DemoOptions:
    scenario: str | None = None
    manifests: list[str] = field(default_factory=list)
    until_settled: bool = False
    timeout: float = 600.0
    report: str | None = None
    audit: str | None = None
    metrics_port: int | None = None
    ui: bool = True
    time_scale: float = 10.0
    kubeconfig: str | None = None


def default_scenario() -> Scenario:
    text = resources.files("scaleset_testbed.demo").joinpath("scenario.yaml").read_text(encoding="utf-8")
    return parse_scenario(yaml.safe_load(text))


def default_manifest_paths() -> list[str]:
    """``deploy/examples/`` of the source tree the demo runs from (the examples users copy)."""
    here = Path(__file__).resolve()
    for parent in (Path.cwd(), *here.parents):
        candidate = parent / "deploy" / "examples"
        if candidate.is_dir():
            return [str(candidate)]
    raise FileNotFoundError("deploy/examples/ not found: run from the project checkout or pass --manifests")


def load_manifests(paths: list[str]) -> list[dict[str, Any]]:
    """Every ScaleSetImage in the given files and folders (folders: their *.yaml files, sorted)."""
    docs: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        for file in files:
            docs.extend(d for d in yaml.safe_load_all(file.read_text(encoding="utf-8")) if isinstance(d, dict))
    return [d for d in docs if d.get("kind") == KIND]


def settled(status: dict[str, Any]) -> bool:
    """Done moving: Succeeded or Failed, or Stalled=True (blocked until someone acts)."""
    if status.get("phase") in (Phase.SUCCEEDED, Phase.FAILED) and not status.get("operation"):
        rollback = status.get("rollback") or {}
        return not rollback.get("inProgress")
    return any(
        c.get("type") == ConditionType.STALLED and c.get("status") == ConditionStatus.TRUE
        for c in status.get("conditions") or []
    )


class Demo:
    def __init__(self, options: DemoOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.azure: AzureEmulator | None = None
        self.kube: RunningKubeEmulator | None = None
        self.started = time.monotonic()
        self.resources: list[tuple[str, str]] = []
        self._seen_events = 0
        self._phases: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ setup
    def operator_config(self, url: str, manifests: list[dict[str, Any]]) -> OperatorConfig:
        names = {"azure-public"} | {
            str(((d.get("spec") or {}).get("scaleSet") or {}).get("cloud") or "azure-public") for d in manifests
        }
        clouds = {
            name: CloudProfile(
                name, arm_endpoint=url, allow_http=True, credential="static-token", static_token_env=TOKEN_ENV,
                api_version="2020-06-01" if "stack" in name else None,
            )
            for name in sorted(names)
        }  # fmt: skip
        return OperatorConfig(clouds=clouds, default_cloud="azure-public", poll_interval=0.5, resync_interval=10.0)

    async def apply(self, http: aiohttp.ClientSession, doc: dict[str, Any]) -> None:
        assert self.kube is not None
        meta = doc.setdefault("metadata", {})
        namespace = str(meta.setdefault("namespace", "default"))
        url = f"{self.kube.url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
        async with http.post(url, json=doc) as response:
            if response.status != 201:
                raise RuntimeError(
                    f"applying {namespace}/{meta.get('name')}: {response.status} {await response.text()}"
                )
        self.resources.append((namespace, str(meta.get("name"))))

    # --------------------------------------------------------------- viewing
    def statuses(self) -> dict[tuple[str, str], dict[str, Any]]:
        assert self.kube is not None
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for obj in self.kube.list_objects(CR_REF):
            meta = obj.get("metadata") or {}
            out[(str(meta.get("namespace")), str(meta.get("name")))] = obj
        return out

    def draw(self) -> None:
        assert self.azure is not None
        snapshot = self.azure.world.snapshot()
        by_set = {(s["resourceGroup"].lower(), s["name"].lower()): s for s in snapshot["scaleSets"]}
        lines = [
            f"scaleset-image-testbed demo  t={time.monotonic() - self.started:5.1f}s  Azure emulator {self.azure.url}"
            f"  (time x{self.options.time_scale:g})",
            legend(colour=True),
            "",
        ]
        for (namespace, name), obj in sorted(self.statuses().items()):
            status = obj.get("status") or {}
            ref = (obj.get("spec") or {}).get("scaleSet") or {}
            emulated = by_set.get((str(ref.get("resourceGroup", "")).lower(), str(ref.get("name", "")).lower()))
            label = target_label(status)
            states = {i["instanceId"]: instance_state(i, label) for i in (emulated or {}).get("instances", [])}
            lines.extend(
                render_resource(namespace, name, status, states, colour=True, scale_set=str(ref.get("name", "")))
            )
            lines.append("")
        self.out.write("\x1b[H\x1b[2J" + "\n".join(lines) + "\n")
        self.out.flush()

    def log_lines(self) -> None:
        assert self.kube is not None
        elapsed = time.monotonic() - self.started
        events = self.kube.events()
        for event in events[self._seen_events :]:
            involved = event.get("involvedObject") or event.get("regarding") or {}
            text = event.get("message") or event.get("note") or ""
            self.out.write(
                f"{elapsed:6.1f}s {involved.get('namespace')}/{involved.get('name')} {event.get('type')} "
                f"{event.get('reason')}: {text}\n"
            )
        self._seen_events = len(events)
        for key, obj in sorted(self.statuses().items()):
            status = obj.get("status") or {}
            phase = str(status.get("phase") or Phase.PENDING)
            if self._phases.get(key) != phase:
                self._phases[key] = phase
                self.out.write(
                    f"{elapsed:6.1f}s {key[0]}/{key[1]} phase {phase} domains {status.get('domainProgress', '-')} "
                    f"instances {status.get('instanceProgress', '-')}\n"
                )
        self.out.flush()

    # -------------------------------------------------------------- reporting
    def report(self) -> dict[str, Any]:
        assert self.azure is not None
        audit = list(self.azure.world.audit)
        out: list[dict[str, Any]] = []
        for (namespace, name), obj in sorted(self.statuses().items()):
            status = obj.get("status") or {}
            ref = (obj.get("spec") or {}).get("scaleSet") or {}
            prefix = (
                f"/subscriptions/{ref.get('subscriptionId')}/resourceGroups/{ref.get('resourceGroup')}"
                f"/providers/Microsoft.Compute/virtualMachineScaleSets/{ref.get('name')}"
            ).lower()
            requests = [e for e in audit if e["type"] == "request" and str(e["path"]).lower().startswith(prefix)]
            by_operation = Counter(str(e.get("operation") or "unknown") for e in requests)
            domain_of = {i: d["id"] for d in status.get("domains") or [] for i in d.get("instanceIds") or []}
            upgrades = []
            for e in requests:
                if not (e["method"] == "POST" and str(e["path"]).endswith("/manualupgrade") and e["status"] == 202):
                    continue
                ids = [str(i) for i in (e.get("body") or {}).get("instanceIds") or []]
                ends = [
                    x["time"] for x in audit
                    if x["type"] == "instance" and x["scaleSet"].lower() == str(ref.get("name", "")).lower()
                    and x["instanceId"] in ids and x["time"] >= e["time"] and x["state"] in ("Running", "Failed")
                ]  # fmt: skip
                upgrades.append({
                    "domain": domain_of.get(ids[0]) if ids else None, "instanceIds": ids, "start": e["time"],
                    "end": max(ends) if len(ends) >= len(ids) else None,
                })  # fmt: skip
            out.append({
                "namespace": namespace, "name": name, "scaleSet": ref, "status": status,
                "settled": settled(status), "domainUpgrades": upgrades,
                "azureRequests": dict(sorted(by_operation.items())),
            })  # fmt: skip
        totals = Counter(str(e.get("operation") or "unknown") for e in audit if e["type"] == "request")
        return {
            "resources": out,
            "azureRequestsTotal": dict(sorted(totals.items())),
            "elapsedSeconds": round(time.monotonic() - self.started, 3),
        }

    # -------------------------------------------------------------------- run
    async def run(self) -> int:
        opts = self.options
        scenario = load_scenario_file(opts.scenario) if opts.scenario else default_scenario()
        manifests = load_manifests(opts.manifests or default_manifest_paths())
        os.environ.setdefault(TOKEN_ENV, "demo-token")
        self.azure = AzureEmulator(scenario, time_scale=opts.time_scale)
        url = await self.azure.start()
        self.kube = await start_kube_emulator(crds=[build_crd()])
        kubeconfig = Path(opts.kubeconfig or Path(tempfile.gettempdir()) / "scaleset-image-demo" / "kubeconfig")
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        write_kubeconfig(self.kube.url, kubeconfig)
        self.out.write(
            f"Azure Compute emulator: {url}\nKubernetes API emulator: {self.kube.url}\n"
            f"kubeconfig: {kubeconfig}   (try: kubectl --kubeconfig {kubeconfig} get ssi -A)\n"
        )
        ctx = OperatorContext(config=self.operator_config(url, manifests), tick=0.2)
        if opts.metrics_port is not None:
            from controller.metrics import OperatorMetrics

            metrics = OperatorMetrics()
            metrics.serve(opts.metrics_port, "127.0.0.1")
            metrics.attach(ctx)
            self.out.write(f"metrics: http://127.0.0.1:{opts.metrics_port}/metrics\n")
        self.out.flush()
        stop = asyncio.Event()
        kube_url = self.kube.url

        def login() -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=kube_url, insecure=True, default_namespace="default")

        operator = asyncio.create_task(run_operator(ctx, namespaces=[], stop_flag=stop, connection=login))
        code = 0
        try:
            async with aiohttp.ClientSession() as http:
                for doc in manifests:
                    await self.apply(http, doc)
            deadline = time.monotonic() + opts.timeout
            while True:
                await asyncio.sleep(0.25)
                self.azure.world.advance()
                if operator.done():
                    operator.result()
                    code = EXIT_CRASH
                    break
                if opts.ui:
                    self.draw()
                else:
                    self.log_lines()
                statuses = self.statuses()
                all_settled = bool(statuses) and all(settled(o.get("status") or {}) for o in statuses.values())
                if opts.until_settled and all_settled:
                    break
                if time.monotonic() > deadline:
                    self.out.write(f"timed out after {opts.timeout:g}s with resources not settled\n")
                    code = EXIT_TIMEOUT
                    break
        except Exception as exc:  # a crash must end the demo with a non-zero code, not hang
            self.out.write(f"demo crashed: {exc!r}\n")
            code = EXIT_CRASH
        finally:
            stop.set()
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(operator, timeout=10)
            if not opts.ui:
                self.log_lines()
            if opts.report:
                _write(opts.report, json.dumps(self.report(), indent=2))
            if opts.audit:
                self.azure.world.advance()
                _write(opts.audit, json.dumps({"events": self.azure.world.audit}))
            summary = ", ".join(
                f"{ns}/{name} {(o.get('status') or {}).get('phase', 'Pending')}"
                for (ns, name), o in sorted(self.statuses().items())
            )
            self.out.write(f"done in {time.monotonic() - self.started:.1f}s: {summary}\n")
            self.out.flush()
            await self.kube.stop()
            await self.azure.stop()
        return code


def _write(path: str, text: str) -> None:
    """Small files at the end of the run: a blocking write is fine here."""
    Path(path).write_text(text, encoding="utf-8")


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    if options.ui and not out.isatty():
        options.ui = False
    return asyncio.run(Demo(options, out).run())
