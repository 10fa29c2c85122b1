"""``python -m bench``: run the benchmarks against the emulators, write the results, print the table.

    python -m bench                      # everything (make bench); writes bench/results.json
    python -m bench --only fleet         # one benchmark (repeatable / comma-separated); merged into the file
    python -m bench --quick              # every benchmark at tiny sizes, once (under a minute); temp file
    python -m bench --runs 5             # more runs per benchmark (medians)
    python -m bench --only fleet --fleet-size 1000   # the fleet at 1000 scale sets (5,000 instances)

Benchmarks: ``rollout`` (1 calls per rollout, 2 time overhead, 6 operator cost: the same runs),
``baselines`` (3), ``fleet`` (4), ``latency`` (5), ``flex`` (7 calls per Flexible rollout), ``failover`` (8
two replicas, the leader killed or stopped mid-domain). Progress
goes to stderr, the table to stdout. The exit status is 0 when every selected benchmark ran (whether or not
it met its targets), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from . import baselines, failover, fleet, flex, latency, rollout
from .common import ROOT, log, machine, machine_summary
from .report import rows, table
from .suite import BENCHMARKS, Suite, full, quick

ALIASES = {
    "rollout": "rollout",
    "calls": "rollout",
    "calls_per_rollout": "rollout",
    "time": "rollout",
    "time_overhead": "rollout",
    "cost": "rollout",
    "operator_cost": "rollout",
    "baselines": "baselines",
    "fleet": "fleet",
    "latency": "latency",
    "reaction_latency": "latency",
    "flex": "flex",
    "flexible": "flex",
    "failover": "failover",
    "ha": "failover",
}
DEFAULT_OUT = ROOT / "bench" / "results.json"


def _selected(only: list[str] | None) -> list[str]:
    if not only:
        return list(BENCHMARKS)
    chosen: list[str] = []
    for item in only:
        for name in item.split(","):
            name = name.strip().lower().replace("-", "_")
            if not name:
                continue
            if name not in ALIASES:
                raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(sorted(ALIASES))}")
            if ALIASES[name] not in chosen:
                chosen.append(ALIASES[name])
    return [b for b in BENCHMARKS if b in chosen]


async def _run_one(name: str, suite: Suite) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(benchmarks entries, parameters, raw runs) of one benchmark."""
    if name == "rollout":
        result = await rollout.run(suite.rollout)
        return (
            {
                "calls_per_rollout": result["calls_per_rollout"],
                "time_overhead": result["time_overhead"],
                "operator_cost": result["operator_cost"],
            },
            {"rollout": result["parameters"]},
            {"rollout": result["raw"]},
        )
    if name == "baselines":
        result = await baselines.run(suite.baselines)
        main = {k: v for k, v in result.items() if k in baselines.VARIANTS}
        return (
            {"baselines": main, "baselines_bad_image": result["bad_image"]},
            {"baselines": result["parameters"]},
            {"baselines": result["raw"]},
        )
    if name == "flex":
        result = await flex.run(suite.rollout)
        return (
            {"calls_per_flex_rollout": result["calls_per_flex_rollout"]},
            {"flex": result["parameters"]},
            {"flex": result["raw"]},
        )
    if name == "failover":
        result = await failover.run(suite.failover)
        raw = result.pop("raw")
        parameters = result.pop("parameters")
        return {"failover": result}, {"failover": parameters}, {"failover": raw}
    if name == "fleet":
        result = await fleet.run(suite.fleet)
        raw = result.pop("raw")
        parameters = result.pop("parameters")
        return {"fleet": result}, {"fleet": parameters}, {"fleet": raw}
    result = await latency.run(suite.latency)
    parameters = result.pop("parameters")
    samples = result.pop("samples_s")
    return {"reaction_latency": result}, {"latency": parameters}, {"latency": {"samples_s": samples}}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _run(selected: list[str], suite: Suite) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
    """Run the selected benchmarks in order: (benchmark entries, parameters, raw runs and timings, failed)."""
    benchmarks: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    raw: dict[str, Any] = {"measured_at": {}, "runtime_s": {}}
    failed: list[str] = []
    for name in selected:
        started = time.monotonic()
        log(f"=== {name} ===")
        try:
            entries, params, runs = await _run_one(name, suite)
        except Exception:
            log(f"{name} failed:\n{traceback.format_exc()}")
            failed.append(name)
            continue
        benchmarks.update(entries)
        parameters.update(params)
        raw.update(runs)
        raw["measured_at"][name] = _now()
        raw["runtime_s"][name] = round(time.monotonic() - started, 1)
        log(f"=== {name} done in {time.monotonic() - started:.0f}s ===")
    return benchmarks, parameters, raw, failed


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # asyncio.run then cancels the run, so operators stop and temp dirs go


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (repeatable)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each, results in a temp file")
    parser.add_argument("--runs", type=int, default=3, help="runs per benchmark for the medians (default 3)")
    parser.add_argument(
        "--fleet-size",
        type=int,
        default=200,
        help="scale sets in the fleet benchmark (default 200; 1000 = 5,000 instances, about 10 minutes)",
    )
    parser.add_argument("--out", type=Path, help=f"results file (default {DEFAULT_OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    selected = _selected(args.only)
    suite = quick() if args.quick else full(args.runs, args.fleet_size)
    out = args.out or (Path(tempfile.gettempdir()) / "scaleset-bench-quick.json" if args.quick else DEFAULT_OUT)
    started = time.monotonic()
    info = machine()
    log(f"{suite.name} suite: {', '.join(selected)} on {machine_summary(info)}")
    try:
        benchmarks, parameters, raw, failed = asyncio.run(_run(selected, suite))
    except KeyboardInterrupt:
        log("interrupted: nothing written")
        return 130
    elapsed = round(time.monotonic() - started, 1)
    measured_now = raw.pop("measured_at")
    runtimes_now = raw.pop("runtime_s")

    # A partial run (--only) is merged into the existing file; a full run replaces it.
    previous = _load(out) if len(selected) < len(BENCHMARKS) else {}
    if previous.get("suite") not in (None, suite.name):
        previous = {}
    merged_benchmarks = {**(previous.get("benchmarks") or {}), **benchmarks}
    merged_parameters = {**(previous.get("parameters") or {}), **parameters}
    measured_at = {**(previous.get("measured_at") or {}), **measured_now}
    results = {
        "machine": machine_summary(info),
        "machine_info": info,
        "suite": suite.name,
        "benchmarks": merged_benchmarks,
        "targets": [r.to_dict() for r in rows(merged_benchmarks, merged_parameters)],
        "parameters": merged_parameters,
        "measured_at": measured_at,
        "runtime_s": {**(previous.get("runtime_s") or {}), **runtimes_now, "last_invocation": elapsed},
        "raw": {**(previous.get("raw") or {}), **raw},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    print(f"scaleset-image-operator benchmarks ({suite.name} suite), {machine_summary(info)}")
    print()
    print(table(rows(benchmarks, {**merged_parameters})))
    print()
    print(f"total runtime {elapsed:.0f}s; results written to {out}")
    if failed:
        print(f"FAILED: {', '.join(failed)} (see the log above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
