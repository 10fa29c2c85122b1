"""``python -m scaleset_testbed.chaos --seeds START:END [--kill-share 0.1] [--out DIR] [-j N]``.

Runs the schedules of seeds START..END-1 (each in a fresh world, ``-j`` worker processes side by side),
prints one line per schedule as it finishes and a summary at the end, and saves each violating schedule's
seed, schedule, audit, status history and operator log under ``--out/seed-<n>/`` (plus ``summary.json``).
Exit status: 0 when no schedule violated an invariant or failed to run, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from .invariants import INVARIANTS, check
from .runner import load, run_schedule, save
from .schedule import generate


def parse_seeds(text: str) -> range:
    """``START:END`` (END excluded) or a single seed ``N``."""
    try:
        if ":" in text:
            start, end = text.split(":", 1)
            seeds = range(int(start), int(end))
        else:
            seeds = range(int(text), int(text) + 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"seeds must be START:END or N, not {text!r}") from exc
    if len(seeds) == 0:
        raise argparse.ArgumentTypeError(f"no seeds in {text!r}")
    return seeds


def run_one(seed: int, kill_share: float, out: str, settle: float) -> dict[str, Any]:
    """Run one seed's schedule in this (worker) process; save it when it violated something."""
    schedule = generate(seed, kill_share)
    workdir = Path(tempfile.mkdtemp(prefix=f"scaleset-chaos-{seed}-"))
    try:
        result, observation = asyncio.run(run_schedule(schedule, workdir, settle=settle))
        if result.violations or result.error:
            result.saved = str(save(result, schedule, observation, Path(out)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "seed": seed,
        "line": result.line(),
        "wall": result.wall,
        "kills": result.kills,
        "endPhase": result.end_phase,
        "error": result.error,
        "violations": [v.to_json() for v in result.violations],
        "saved": result.saved,
        "schedule": schedule.describe(),
    }


def summarize(results: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    walls = sorted(r["wall"] for r in results)
    seeds_by: dict[str, list[int]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for r in results:
        names = {v["invariant"] for v in r["violations"]}
        for v in r["violations"]:
            counts[v["invariant"]] += 1
        for name in names:
            seeds_by[name].append(r["seed"])
    p90 = walls[max(0, -(-len(walls) * 9 // 10) - 1)] if walls else 0.0
    return {
        "schedules": len(results),
        "kills": sum(r["kills"] for r in results),
        "violating": sum(1 for r in results if r["violations"]),
        "errors": [r["seed"] for r in results if r["error"]],
        "violations": {name: {"count": counts[name], "seeds": sorted(seeds_by[name])} for name in sorted(counts)},
        "wall": round(wall, 1),
        "perSchedule": {
            "median": round(statistics.median(walls), 2) if walls else 0.0,
            "p90": round(p90, 2),
            "max": round(walls[-1], 2) if walls else 0.0,
        },
    }


def print_summary(summary: dict[str, Any]) -> None:
    per = summary["perSchedule"]
    print(
        f"\n{summary['schedules']} schedules, {summary['kills']} kills, {summary['violating']} violating,"
        f" {len(summary['errors'])} errors; wall {summary['wall']}s; per schedule median {per['median']}s"
        f" p90 {per['p90']}s max {per['max']}s"
    )
    for name in INVARIANTS:
        entry = summary["violations"].get(name)
        if entry:
            seeds = entry["seeds"]
            shown = ", ".join(map(str, seeds[:20])) + (" ..." if len(seeds) > 20 else "")
            print(f"  {name}: {entry['count']} violations in {len(seeds)} schedules (seeds {shown})")
    if summary["errors"]:
        print(f"  schedules that failed to run: {summary['errors']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaleset_testbed.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=parse_seeds, help="START:END (END excluded) or one seed")
    parser.add_argument("--recheck", type=Path, help="check a saved run (a seed-<n> folder) again instead")
    parser.add_argument("--kill-share", type=float, default=0.1, help="share of schedules that SIGKILL the operator")
    parser.add_argument("--out", default="chaos-out", help="where violating schedules are saved (default chaos-out)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="schedules run side by side (processes)")
    parser.add_argument("--settle", type=float, default=8.0, help="real seconds to wait for the status to settle")
    args = parser.parse_args(argv)
    if args.recheck is not None:
        found = check(load(args.recheck))
        for violation in found:
            print(f"{violation.invariant} at {violation.time:.2f}: {violation.evidence}")
        return 1 if found else 0
    if args.seeds is None:
        parser.error("--seeds is required (or --recheck)")
    if not 0.0 <= args.kill_share <= 1.0 or args.jobs < 1:
        parser.error("--kill-share must be within 0..1 and -j at least 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, seed, args.kill_share, str(out), args.settle) for seed in args.seeds]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            print(result["line"], flush=True)
    results.sort(key=lambda r: r["seed"])
    summary = summarize(results, time.monotonic() - started)
    (out / "summary.json").write_text(json.dumps({**summary, "results": results}, indent=2), encoding="utf-8")
    print_summary(summary)
    return 1 if summary["violating"] or summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
