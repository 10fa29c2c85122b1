"""The ``scaleset-image-testbed`` command: serve the Azure Compute emulator, or run the demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence


def _emulator(args: argparse.Namespace) -> int:
    from scaleset_testbed.azure import ScenarioError, load_scenario_file, parse_scenario, run_emulator
    from scaleset_testbed.azure.scenario import check_profile

    try:
        scenario = load_scenario_file(args.scenario) if args.scenario else parse_scenario({})
        check_profile(scenario, args.profile)
    except ScenarioError as exc:
        print(f"scaleset-image-testbed emulator: {exc}", file=sys.stderr)
        return 2
    if args.time_scale <= 0:
        print("scaleset-image-testbed emulator: --time-scale must be > 0", file=sys.stderr)
        return 2
    asyncio.run(
        run_emulator(scenario, host=args.host, port=args.port, profile=args.profile, time_scale=args.time_scale)
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    try:
        from scaleset_testbed.demo import DemoOptions, run_demo
    except ImportError as exc:  # the demo runs the operator itself
        print(f"scaleset-image-testbed demo needs scaleset-image-operator installed: {exc}", file=sys.stderr)
        return 2

    import yaml

    from scaleset_testbed.azure import ScenarioError

    if args.timeout <= 0 or args.time_scale <= 0:
        print("scaleset-image-testbed demo: --timeout and --time-scale must be > 0", file=sys.stderr)
        return 2
    options = DemoOptions(
        scenario=args.scenario,
        manifests=list(args.manifests or []),
        timeout=args.timeout,
        stay=args.stay,
        report=args.report,
        audit=args.audit,
        metrics_port=args.metrics_port,
        ui=not args.no_ui,
        time_scale=args.time_scale,
        kubeconfig=args.kubeconfig,
    )
    try:
        return run_demo(options)
    except (OSError, ScenarioError, yaml.YAMLError) as exc:  # a scenario or manifest that cannot be read
        print(f"scaleset-image-testbed demo: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaleset-image-testbed", description=__doc__)
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

    demo = sub.add_parser(
        "demo",
        help="the operator on the embedded emulators, walking domains live",
        description="Exit codes: 0 all settled (with --stay: then Ctrl-C), 2 bad input, 3 --timeout, 4 crash, "
        "130/143 Ctrl-C/SIGTERM before all settled.",
    )
    demo.add_argument("--scenario", help="Azure emulator scenario (default: the built-in demo world)")
    demo.add_argument("--manifests", nargs="+", help="ScaleSetImage files or folders (default: built-in examples)")
    demo.add_argument(
        "--until-settled", action="store_true", help="exit 0 once every resource has settled (the default; for scripts)"
    )
    demo.add_argument(
        "--stay", action="store_true", help="after everything settled, keep the APIs and the operator up until Ctrl-C"
    )
    demo.add_argument(
        "--timeout", type=float, default=600.0, help="exit 3 if not all settled after this many seconds (default 600)"
    )
    demo.add_argument("--report", help="write a JSON report: final status, domain upgrades, Azure requests")
    demo.add_argument("--audit", help="write the Azure emulator's full audit log (JSON)")
    demo.add_argument("--metrics-port", type=int, help="serve the operator's metrics on this port")
    demo.add_argument("--no-ui", action="store_true", help="print one line per event instead of the live view")
    demo.add_argument("--time-scale", type=float, default=10.0, help="emulated seconds per real second (10)")
    demo.add_argument(
        "--kubeconfig", help="where to write the kubeconfig (default: a new directory per run, shown in the header)"
    )
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:  # Ctrl-C before the demo's own handlers are in place, or in the emulator
        print(file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
