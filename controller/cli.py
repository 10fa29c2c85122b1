"""The ``scaleset-image`` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import uuid
from collections.abc import Sequence

from controller.config import CloudProfile, ConfigError, OperatorConfig, load_config


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
    from controller.operator.selector import SelectorError, finalizer_for, parse_selector

    config = _load_config(args.config)
    if config is None:
        return 2
    namespaces = [] if args.all_namespaces else list(args.namespace or [])
    if not namespaces and not args.all_namespaces:
        print("scaleset-image run: give --namespace NS (repeatable) or --all-namespaces", file=sys.stderr)
        return 2
    try:
        labels = parse_selector(args.selector)
    except SelectorError as exc:
        print(f"scaleset-image run: --selector: {exc}", file=sys.stderr)
        return 2
    from controller.commands.cluster import KubeError, connect

    try:  # the cluster kopf will log in to, found as kubectl would, before anything starts
        connect(has_flag=False).close()
    except KubeError as exc:
        print(f"scaleset-image run: {exc}", file=sys.stderr)
        return 1
    _configure_logging(args.log_format, args.verbose)
    metrics = None
    if args.metrics_port is not None:
        from controller.metrics import OperatorMetrics

        metrics = OperatorMetrics()
        metrics.serve(args.metrics_port, args.metrics_host)
    election = None
    if args.leader_election:
        from controller.operator.leader import ElectionSettings

        try:
            election = ElectionSettings(
                lease_name=args.lease_name,
                lease_namespace=args.lease_namespace or _own_namespace(),
                identity=args.leader_identity or _identity(),
                lease_duration=args.lease_duration,
                renew_deadline=args.renew_deadline,
                retry_period=args.retry_period,
            )
        except ValueError as exc:
            print(f"scaleset-image run: {exc}", file=sys.stderr)
            return 2
    ctx = OperatorContext(config=config, tick=args.tick, config_path=args.config)
    if metrics is not None:
        from controller.fleet.metrics import FleetMetrics

        metrics.attach(ctx)
        FleetMetrics(metrics.registry).attach(ctx)
    import kopf

    from controller.operator.leader import LeadershipLost

    try:
        asyncio.run(
            run_operator(
                ctx,
                namespaces=namespaces,
                liveness_endpoint=args.liveness,
                labels=labels,
                election=election,
                finalizer=finalizer_for(args.selector),
            )
        )
    except kopf.LoginError as exc:
        print(f"scaleset-image run: cannot log in to the Kubernetes API: {exc}", file=sys.stderr)
        return 1
    except LeadershipLost as exc:  # as controller-runtime does: end, and be restarted as a standby
        print(f"scaleset-image run: leader election lost: {exc}", file=sys.stderr)
        return 1
    return 0


_SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _own_namespace() -> str:
    """Where the Lease lives by default: the pod's namespace (downward API, else the service account's)."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(_SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


def _identity() -> str:
    """This replica in the Lease: the pod's name plus a random suffix (a restarted pod is a new candidate)."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _plan(args: argparse.Namespace) -> int:
    from controller.azure import AzureCallError
    from controller.azure.gateway import AzureComputeGateway
    from controller.commands.plan import load_manifests, plan_manifest

    config = _load_config(args.config)
    if config is None:
        return 2
    try:
        docs = load_manifests(args.file)
    except (OSError, ValueError) as exc:  # a missing file, or YAML that does not parse (yaml.YAMLError)
        print(f"scaleset-image plan: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
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

    try:
        return 0 if asyncio.run(go()) else 1
    except ConfigError as exc:  # e.g. a static-token profile whose variable is not set
        print(f"scaleset-image plan: {exc}", file=sys.stderr)
        return 2
    except (AzureCallError, OSError) as exc:
        print(f"scaleset-image plan: Azure could not be read: {exc}", file=sys.stderr)
        return 1


def _status(args: argparse.Namespace) -> int:
    from controller.commands.status import show

    return show(
        args.name,
        args.namespace,
        watch=args.watch,
        kubeconfig=args.kubeconfig,
        context=args.context,
        interval=args.interval,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaleset-image", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator (kopf) against the cluster in kubeconfig or in-cluster")
    run.add_argument("-n", "--namespace", action="append", help="namespace to watch (repeatable)")
    run.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    run.add_argument("--config", help="operator configuration file (cloud profiles); default: public Azure")
    run.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    run.add_argument("--metrics-host", default="0.0.0.0", help="address for the metrics server")
    run.add_argument("--liveness", help="liveness endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--log-format", choices=["text", "json"], default="text")
    run.add_argument("--tick", type=float, default=1.0, help="how often each resource is checked (seconds)")
    run.add_argument(
        "-l",
        "--selector",
        help="handle only the ScaleSetImages whose labels match this Kubernetes label selector (a shard of a "
        "fleet), e.g. 'shard=a' or 'tier in (web,api)'",
    )
    run.add_argument(
        "--leader-election",
        action="store_true",
        help="run as one of several replicas: act only while holding a coordination.k8s.io Lease",
    )
    run.add_argument("--lease-name", default="scaleset-image-operator", help="the Lease's name")
    run.add_argument("--lease-namespace", help="the Lease's namespace (default: $POD_NAMESPACE, else the pod's own)")
    run.add_argument("--leader-identity", help="this replica in the Lease (default: $POD_NAME or hostname + suffix)")
    run.add_argument(
        "--lease-duration", type=float, default=15.0, help="seconds a standby waits for an unrenewed Lease (15)"
    )
    run.add_argument(
        "--renew-deadline",
        type=float,
        default=10.0,
        help="seconds a leader keeps acting without renewing; then it stops writing and exits (10)",
    )
    run.add_argument("--retry-period", type=float, default=2.0, help="seconds between tries for the Lease (2)")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=_run)

    plan = sub.add_parser("plan", help="dry run: show what the operator would do for a manifest")
    plan.add_argument("-f", "--file", required=True, help="YAML file with ScaleSetImage resources")
    plan.add_argument("--config", help="operator configuration file (cloud profiles)")
    plan.set_defaults(func=_plan)

    status = sub.add_parser("status", help="draw the rollout grid of ScaleSetImage resources")
    status.add_argument("name", nargs="?", help="one resource (default: all in the namespace, or everywhere)")
    status.add_argument("-n", "--namespace", help="namespace (default: all; with a name, the context's namespace)")
    status.add_argument("-w", "--watch", action="store_true", help="redraw until interrupted")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between redraws with --watch")
    status.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    status.add_argument("--context", help="kubeconfig context (default: the current one)")
    status.set_defaults(func=_status)
    return parser


EXIT_INTERRUPTED = 130
"""Ctrl-C: 128 + SIGINT, what a shell reports for a program a signal ended."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)  # the ^C the terminal echoed ends its line; the prompt starts on a fresh one
        return EXIT_INTERRUPTED
    return code


def kubectl_ssi(argv: Sequence[str] | None = None) -> int:
    """The ``kubectl-ssi`` console script (``kubectl ssi ...``); see :mod:`controller.commands.ssi`."""
    from controller.commands.ssi import main as ssi_main

    try:
        return ssi_main(argv)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
