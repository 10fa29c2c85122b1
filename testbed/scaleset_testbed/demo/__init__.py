"""``scaleset-image-testbed demo``: the whole system on one machine, watchable, or headless for scripts and CI.

One event loop runs the Azure Compute emulator, the Kubernetes API emulator (serving the CRD generated
from the model) and the real operator against both. The manifests are applied through the Kubernetes API
as kubectl would. Each run writes, in a directory of its own, a kubeconfig, an operator configuration for
``scaleset-image plan`` and an ``env`` file to source in another terminal (``files``). The terminal view
(``view``) keeps a header with those paths and fits the resources to the terminal; without a terminal (or
with ``--no-ui``) it prints one line per event.

What a run does: it ends once every resource has settled (exit 0), or after ``--timeout`` seconds when they
have not (exit 3). With ``--stay`` it keeps the APIs and the operator up after that until Ctrl-C or SIGTERM
(exit 0). Ctrl-C before everything settled exits 130 (SIGTERM 143); the operator stopping by itself or an
error exits 4. It runs the operator in-process, so it needs scaleset-image-operator installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import kopf
import yaml
from rich.console import Console
from rich.live import Live

from controller.commands.grid import instance_state, target_label
from controller.config import CloudProfile, OperatorConfig
from controller.operator import OperatorContext, run_operator
from controller.resource import GROUP, KIND, PLURAL, VERSION, Phase
from controller.resource.crd import build_crd
from scaleset_testbed.azure import AzureEmulator, Scenario, load_scenario_file, parse_scenario
from scaleset_testbed.demo.files import RunFiles
from scaleset_testbed.demo.report import report, settled
from scaleset_testbed.demo.view import Header, Row, final_text, frame
from scaleset_testbed.kube import RunningKubeEmulator, start_kube_emulator, write_kubeconfig

TOKEN_ENV = "SCALESET_IMAGE_DEMO_TOKEN"
TOKEN = "demo-token"
CR_REF = f"{GROUP}/{VERSION}/{PLURAL}"
EXIT_TIMEOUT = 3
EXIT_CRASH = 4
"""Exit codes besides 0 (settled) and 128 + the signal that ended a run before everything settled."""
__all__ = ["DemoOptions", "run_demo", "settled"]


@dataclass
class DemoOptions:
    scenario: str | None = None
    manifests: list[str] = field(default_factory=list)
    timeout: float = 600.0
    stay: bool = False
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


class Demo:
    def __init__(self, options: DemoOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.azure: AzureEmulator | None = None
        self.kube: RunningKubeEmulator | None = None
        self.files: RunFiles | None = None
        self.started = time.monotonic()
        self.settled_at: float | None = None
        self.signal: int | None = None
        self._wake: asyncio.Event | None = None
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
        # As kubectl would: the namespace first (an API server that has it already answers 409).
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        async with http.post(f"{self.kube.url}/api/v1/namespaces", json=body):
            pass
        url = f"{self.kube.url}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
        async with http.post(url, json=doc) as response:
            if response.status != 201:
                raise RuntimeError(
                    f"applying {namespace}/{meta.get('name')}: {response.status} {await response.text()}"
                )

    # ---------------------------------------------------------------- signals
    def _on_signal(self, signum: int) -> None:
        self.signal = self.signal or signum
        if self._wake is not None:
            self._wake.set()

    def _catch_signals(self) -> None:
        """Ctrl-C and SIGTERM end the demo through its own clean-up (kopf installs its handlers; ours win)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
                loop.add_signal_handler(signum, self._on_signal, signum)

    def _kopf_signals(self) -> logging.Handler:
        """Until ours are back, kopf's handlers take the signal: learn which one from the line kopf logs."""
        demo = self

        class SignalSeen(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                seen = re.match(r"Signal (SIG[A-Z]+) is received", record.getMessage())
                if seen and seen.group(1) in signal.Signals.__members__:
                    demo._on_signal(signal.Signals[seen.group(1)])

        return SignalSeen(logging.INFO)

    # --------------------------------------------------------------- viewing
    def statuses(self) -> dict[tuple[str, str], dict[str, Any]]:
        assert self.kube is not None
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for obj in self.kube.list_objects(CR_REF):
            meta = obj.get("metadata") or {}
            out[(str(meta.get("namespace")), str(meta.get("name")))] = obj
        return out

    def rows(self) -> list[Row]:
        assert self.azure is not None
        snapshot = self.azure.world.snapshot()
        by_set = {(s["resourceGroup"].lower(), s["name"].lower()): s for s in snapshot["scaleSets"]}
        rows = []
        for (namespace, name), obj in sorted(self.statuses().items()):
            status = obj.get("status") or {}
            ref = (obj.get("spec") or {}).get("scaleSet") or {}
            emulated = by_set.get((str(ref.get("resourceGroup", "")).lower(), str(ref.get("name", "")).lower()))
            label = target_label(status)
            states = {i["instanceId"]: instance_state(i, label) for i in (emulated or {}).get("instances", [])}
            rows.append(Row(namespace, name, status, states, str(ref.get("name", ""))))
        return rows

    def header(self, count: int, done: int) -> Header:
        assert self.azure is not None
        assert self.kube is not None
        assert self.files is not None
        if self.settled_at is not None:
            state = "all settled; up until Ctrl-C" if self.options.stay else "all settled"
        else:
            state = f"settling {done}/{count} (timeout {self.options.timeout:g}s)"
        return Header(
            elapsed=time.monotonic() - self.started, time_scale=self.options.time_scale, state=state,
            kubeconfig=str(self.files.kubeconfig), env_file=str(self.files.env), kube_url=self.kube.url,
            azure_url=self.azure.url,
        )  # fmt: skip

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

    def intro(self) -> str:
        assert self.azure is not None
        assert self.kube is not None
        assert self.files is not None
        f = self.files
        return (
            f"Azure Compute emulator: {self.azure.url}\nKubernetes API emulator: {self.kube.url}\n"
            f"kubeconfig: {f.kubeconfig}   (try: kubectl --kubeconfig {f.kubeconfig} get ssi -A)\n"
            f"operator configuration: {f.operator_config}\n"
            f"in another shell: source {f.env}\n  then: kubectl get ssi -A; kubectl ssi status -A;\n"
            "  scaleset-image plan -f deploy/examples/marketplace-pinned.yaml"
            " --config $SCALESET_IMAGE_DEMO/operator.yaml\n"
        )

    # -------------------------------------------------------------------- run
    async def run(self) -> int:
        # Unreadable input is the caller's to report (exit 2), before anything starts.
        opts = self.options
        scenario = load_scenario_file(opts.scenario) if opts.scenario else default_scenario()
        manifests = load_manifests(opts.manifests or default_manifest_paths())
        self._wake = asyncio.Event()
        self._catch_signals()
        self.files = RunFiles.make(self.options.kubeconfig)
        log_handler: logging.Handler | None = None
        if self.options.ui:  # the live view holds the terminal: the operator's log goes to a file
            log_handler = logging.FileHandler(self.files.log, encoding="utf-8")
            logging.getLogger().addHandler(log_handler)
            logging.getLogger().setLevel(logging.INFO)
        try:
            return await self._run(scenario, manifests)
        except Exception as exc:  # a crash ends the demo with a non-zero code and one line, not a traceback
            self.out.write(f"demo crashed: {exc!r}\n")
            return EXIT_CRASH
        finally:
            if log_handler is not None:
                logging.getLogger().removeHandler(log_handler)
                log_handler.close()
            self.files.remove()
            if self.files.log.exists():
                self.out.write(f"operator log: {self.files.log}\n")
            self.out.flush()

    async def _run(self, scenario: Scenario, manifests: list[dict[str, Any]]) -> int:
        opts, files = self.options, self.files
        assert files is not None
        os.environ.setdefault(TOKEN_ENV, TOKEN)
        self.azure = AzureEmulator(scenario, time_scale=opts.time_scale)
        url = await self.azure.start()
        self.kube = await start_kube_emulator(crds=[build_crd()])
        try:
            config = self.operator_config(url, manifests)
            write_kubeconfig(self.kube.url, files.kubeconfig)
            files.write(config, TOKEN_ENV, os.environ[TOKEN_ENV])
            self.out.write(self.intro())
            ctx = OperatorContext(config=config, tick=0.2)
            if opts.metrics_port is not None:
                from controller.metrics import OperatorMetrics

                metrics = OperatorMetrics()
                metrics.serve(opts.metrics_port, "127.0.0.1")
                metrics.attach(ctx)
                self.out.write(f"metrics: http://127.0.0.1:{opts.metrics_port}/metrics\n")
            self.out.flush()
            return await self._operate(ctx, manifests)
        finally:
            await self.kube.stop()
            await self.azure.stop()

    async def _operate(self, ctx: OperatorContext, manifests: list[dict[str, Any]]) -> int:
        assert self.kube is not None
        stop, ready = asyncio.Event(), asyncio.Event()
        kube_url = self.kube.url

        def login() -> kopf.ConnectionInfo:
            return kopf.ConnectionInfo(server=kube_url, insecure=True, default_namespace="default")

        operator = asyncio.create_task(
            run_operator(ctx, namespaces=[], stop_flag=stop, ready_flag=ready, connection=login)
        )

        async def reclaim_signals() -> None:
            await ready.wait()
            self._catch_signals()

        reclaim = asyncio.create_task(reclaim_signals())
        kopf_logger, seen = logging.getLogger("kopf"), self._kopf_signals()
        kopf_level = kopf_logger.level
        kopf_logger.addHandler(seen)
        if not kopf_logger.isEnabledFor(logging.INFO):
            kopf_logger.setLevel(logging.INFO)
        try:
            with contextlib.ExitStack() as stack:
                live = None
                if self.options.ui:
                    console = Console(file=self.out)
                    live = stack.enter_context(Live(console=console, screen=True, auto_refresh=False,
                                                    redirect_stdout=False, redirect_stderr=False))  # fmt: skip
                async with aiohttp.ClientSession() as http:
                    for doc in manifests:
                        if self.signal is None:
                            await self.apply(http, doc)
                code = await self._watch(operator, live)
        finally:
            reclaim.cancel()
            stop.set()
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(operator, timeout=10)
            kopf_logger.removeHandler(seen)
            kopf_logger.setLevel(kopf_level)
        self._finish(code)
        return code

    async def _watch(self, operator: asyncio.Task[None], live: Live | None) -> int:
        """Redraw until everything settled (or, with --stay, until a signal); the exit code."""
        assert self.azure is not None
        assert self._wake is not None
        deadline = time.monotonic() + self.options.timeout
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.25)
            self.azure.world.advance()
            if operator.done():
                operator.result()  # an exception ends the demo as a crash
                if self.signal is None:  # kopf took a signal before ours were back, and its log line was missed
                    self.signal = signal.SIGINT
            objects = self.statuses()
            done = sum(1 for o in objects.values() if settled(o.get("status") or {}))
            if objects and done == len(objects) and self.settled_at is None:
                self.settled_at = time.monotonic()
                if live is None:
                    stay = "; the APIs stay up until Ctrl-C (SIGINT) or SIGTERM" if self.options.stay else ""
                    self.out.write(f"all settled after {self.settled_at - self.started:.1f}s{stay}\n")
            if live is not None:
                live.update(frame(self.header(len(objects), done), self.rows()), refresh=True)
            else:
                self.log_lines()
            if self.signal is not None:
                return 0 if self.settled_at is not None else 128 + self.signal
            if self.settled_at is not None and not self.options.stay:
                return 0
            if self.settled_at is None and time.monotonic() > deadline:
                self.out.write(f"timed out after {self.options.timeout:g}s with resources not settled\n")
                return EXIT_TIMEOUT

    def _finish(self, code: int) -> None:
        assert self.azure is not None
        opts = self.options
        if opts.ui:
            self.out.write(final_text(self.rows(), shutil.get_terminal_size().columns) + "\n")
        else:
            self.log_lines()
        if opts.report:
            _write(opts.report, json.dumps(report(list(self.azure.world.audit), self.statuses(), self._elapsed())))
        if opts.audit:
            self.azure.world.advance()
            _write(opts.audit, json.dumps({"events": self.azure.world.audit}))
        summary = ", ".join(
            f"{ns}/{name} {(o.get('status') or {}).get('phase', 'Pending')}"
            for (ns, name), o in sorted(self.statuses().items())
        )
        if self.signal is not None and self.settled_at is None:
            self.out.write(f"interrupted by {signal.Signals(self.signal).name} before every resource settled\n")
        self.out.write(f"done in {self._elapsed():.1f}s: {summary}\n")

    def _elapsed(self) -> float:
        return time.monotonic() - self.started


def _write(path: str, text: str) -> None:
    """Small files at the end of the run: a blocking write is fine here."""
    Path(path).write_text(text, encoding="utf-8")


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    if options.ui and not out.isatty():
        options.ui = False
    return asyncio.run(Demo(options, out).run())
