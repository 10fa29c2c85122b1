"""The ``scaleset-image`` command line: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
