"""The ``scaleset-image`` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from controller.config import CloudProfile, ConfigError, OperatorConfig, load_config


def _emulator(args: argparse.Namespace) -> int:
    from controller.emulators.azure import ScenarioError, load_scenario_file, parse_scenario, run_emulator

    try:
        scenario = load_scenario_file(args.scenario) if args.scenario else parse_scenario({})
    except ScenarioError as exc:
        print(f"scaleset-image emulator: {exc}", file=sys.stderr)
        return 2
    if args.time_scale <= 0:
        print("scaleset-image emulator: --time-scale must be > 0", file=sys.stderr)
        return 2
    asyncio.run(
        run_emulator(scenario, host=args.host, port=args.port, profile=args.profile, time_scale=args.time_scale)
    )
    return 0


def _configure_logging(log_format: str, verbose: bool) -> None:
    import kopf

    kopf.configure(
        verbose=verbose,
        log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL,
    )
    # kopf sets the root logger to INFO, which lets azure-core log every request and response with all
    # headers (84% of the log volume measured in the benchmarks); our own decision lines say what matters.
    if not verbose:
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)


def _load_config(path: str | None) -> OperatorConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"scaleset-image: {exc}", file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    from controller.operator import OperatorContext, run_operator

    config = _load_config(args.config)
    if config is None:
        return 2
    _configure_logging(args.log_format, args.verbose)
    metrics = None
    if args.metrics_port is not None:
        from controller.metrics import OperatorMetrics

        metrics = OperatorMetrics()
        metrics.serve(args.metrics_port, args.metrics_host)
    ctx = OperatorContext(config=config, tick=args.tick)
    if metrics is not None:
        metrics.attach(ctx)
    namespaces = [] if args.all_namespaces else list(args.namespace or [])
    if not namespaces and not args.all_namespaces:
        print("scaleset-image run: give --namespace NS (repeatable) or --all-namespaces", file=sys.stderr)
        return 2
    asyncio.run(run_operator(ctx, namespaces=namespaces, liveness_endpoint=args.liveness))
    return 0


def _plan(args: argparse.Namespace) -> int:
    from controller.azure_api import AzureComputeGateway
    from controller.dryrun import load_manifests, plan_manifest

    config = _load_config(args.config)
    if config is None:
        return 2
    docs = load_manifests(args.file)
    if not docs:
        print(f"scaleset-image plan: no ScaleSetImage in {args.file}", file=sys.stderr)
        return 2

    async def go() -> bool:
        gateways: dict[str, AzureComputeGateway] = {}

        def gateway_for(profile: CloudProfile) -> AzureComputeGateway:
            return gateways.setdefault(profile.name, AzureComputeGateway(profile))

        try:
            results = [await plan_manifest(doc, config, gateway_for, sys.stdout) for doc in docs]
        finally:
            for gateway in gateways.values():
                await gateway.close()
        return all(results)

    return 0 if asyncio.run(go()) else 1


def _demo(args: argparse.Namespace) -> int:
    from controller.demo import DemoOptions, run_demo

    options = DemoOptions(
        scenario=args.scenario,
        manifests=list(args.manifests or []),
        until_settled=args.until_settled,
        timeout=args.timeout,
        report=args.report,
        audit=args.audit,
        metrics_port=args.metrics_port,
        ui=not args.no_ui,
        time_scale=args.time_scale,
        kubeconfig=args.kubeconfig,
    )
    return run_demo(options)


def _status(args: argparse.Namespace) -> int:
    from controller.status_view import show

    return show(args.name, args.namespace, watch=args.watch, kubeconfig=args.kubeconfig, interval=args.interval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaleset-image", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    emu = sub.add_parser("emulator", help="serve the Azure Compute emulator on a loopback port")
    emu.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    emu.add_argument("--port", type=int, default=0, help="port to listen on (default 0: a free port)")
    emu.add_argument("--scenario", help="scenario YAML file (default: an empty world)")
    emu.add_argument(
        "--profile",
        choices=["azure", "azurestack"],
        default="azure",
        help="azure: public Azure api-versions; azurestack: only 2020-06-01, as Azure Stack Hub",
    )
    emu.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="scenario seconds per real second (10 runs a 2 s upgrade in 0.2 s)",
    )
    emu.set_defaults(func=_emulator)

    run = sub.add_parser("run", help="run the operator (kopf) against the cluster in kubeconfig or in-cluster")
    run.add_argument("-n", "--namespace", action="append", help="namespace to watch (repeatable)")
    run.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    run.add_argument("--config", help="operator configuration file (cloud profiles); default: public Azure")
    run.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    run.add_argument("--metrics-host", default="0.0.0.0", help="address for the metrics server")
    run.add_argument("--liveness", help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--log-format", choices=["text", "json"], default="text")
    run.add_argument("--tick", type=float, default=1.0, help="how often each resource is checked (seconds)")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=_run)

    plan = sub.add_parser("plan", help="dry run: show what the operator would do for a manifest")
    plan.add_argument("-f", "--file", required=True, help="YAML file with ScaleSetImage resources")
    plan.add_argument("--config", help="operator configuration file (cloud profiles)")
    plan.set_defaults(func=_plan)

    demo = sub.add_parser("demo", help="the operator on the embedded emulators, walking update domains live")
    demo.add_argument("--scenario", help="Azure emulator scenario (default: the built-in demo world)")
    demo.add_argument("--manifests", nargs="+", help="ScaleSetImage files or folders (default: built-in examples)")
    demo.add_argument("--until-settled", action="store_true", help="exit once every resource has settled")
    demo.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (default 600)")
    demo.add_argument("--report", help="write a JSON report: final status, domain upgrades, Azure requests")
    demo.add_argument("--audit", help="write the Azure emulator's full audit log (JSON)")
    demo.add_argument("--metrics-port", type=int, help="serve the operator's metrics on this port")
    demo.add_argument("--no-ui", action="store_true", help="print one line per event instead of the live view")
    demo.add_argument("--time-scale", type=float, default=10.0, help="emulated seconds per real second (10)")
    demo.add_argument("--kubeconfig", help="where to write the kubeconfig for the demo's Kubernetes API")
    demo.set_defaults(func=_demo)

    status = sub.add_parser("status", help="draw the rollout grid of ScaleSetImage resources")
    status.add_argument("name", nargs="?", help="one resource (default: all in the namespace, or everywhere)")
    status.add_argument("-n", "--namespace", help="namespace (default: all namespaces; 'default' with a name)")
    status.add_argument("-w", "--watch", action="store_true", help="redraw until interrupted")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between redraws with --watch")
    status.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    status.set_defaults(func=_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
