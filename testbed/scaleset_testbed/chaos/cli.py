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
from pathlib import Path
from typing import Any

from .invariants import INVARIANTS, Observation, check
from .runner import Result, Station, load, save
from .schedule import Schedule, generate


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


def _record(
    seed: int, schedule: Schedule, result: Result, observation: Observation | None, out: Path
) -> dict[str, Any]:
    unsettled = "unsettled" in result.end_phase
    if observation is not None and (result.violations or result.error or unsettled):
        result.saved = str(save(result, schedule, observation, out))
    return {
        "seed": seed,
        "line": result.line(),
        "wall": result.wall,
        "kills": result.kills,
        "replicas": result.extra.get("replicas", 1),
        "failovers": result.extra.get("failovers", 0),
        "leadershipLosses": result.extra.get("leadershipLosses", 0),
        "leaseChanges": result.extra.get("leaseChanges", 0),
        "endPhase": result.end_phase,
        "error": result.error,
        "violations": [v.to_json() for v in result.violations],
        "saved": result.saved,
        "schedule": schedule.describe(),
    }


async def _work(
    seeds: Any,
    results: Any,
    kill_share: float,
    flex_share: float,
    failover_share: float,
    out: Path,
    settle: float,
    fresh: bool,
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="scaleset-chaos-"))
    station = Station(workdir, fresh=fresh)
    try:
        while (seed := seeds.get()) is not None:
            schedule = generate(seed, kill_share, flex_share=flex_share, failover_share=failover_share)
            started = time.monotonic()
            try:
                result, observation = await station.run(schedule, settle=settle)
            except Exception as exc:  # the station itself broke: report, and start the next one afresh
                result = Result(seed, 0, [], time.monotonic() - started, "", len(schedule.actions), f"{exc!r}")
                observation = None
                await station.close()
            results.put(_record(seed, schedule, result, observation, out))
    finally:
        await station.close()
        shutil.rmtree(workdir, ignore_errors=True)
        results.put(None)


def worker(
    seeds: Any,
    results: Any,
    kill_share: float,
    flex_share: float,
    failover_share: float,
    out: str,
    settle: float,
    fresh: bool,
) -> None:
    """One worker process: a station (emulators and an operator) that runs seeds until it reads None."""
    asyncio.run(_work(seeds, results, kill_share, flex_share, failover_share, Path(out), settle, fresh))


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
        "failoverSchedules": sum(1 for r in results if r.get("replicas", 1) > 1),
        "failovers": sum(r.get("failovers", 0) for r in results),
        "leadershipLosses": sum(r.get("leadershipLosses", 0) for r in results),
        "leaseChanges": sum(r.get("leaseChanges", 0) for r in results),
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
    if summary.get("failoverSchedules"):
        print(
            f"  two replicas in {summary['failoverSchedules']} schedules: {summary['failovers']} failover faults,"
            f" {summary['leaseChanges']} changes of the Lease's holder, {summary['leadershipLosses']} replicas"
            " that lost the Lease and exited (restarted as standbys)"
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
    parser.add_argument(
        "--flex-share", type=float, default=0.0, help="share of schedules whose scale set is Flexible (0..1)"
    )
    parser.add_argument(
        "--failover-share",
        type=float,
        default=0.0,
        help="share of schedules run by two replicas with leader election and failover faults (0..1)",
    )
    parser.add_argument("--out", default="chaos-out", help="where violating schedules are saved (default chaos-out)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="schedules run side by side (processes)")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="a new operator process and new emulators for every schedule (slower; default: one per worker)",
    )
    parser.add_argument("--settle", type=float, default=8.0, help="real seconds to wait for the status to settle")
    args = parser.parse_args(argv)
    if args.recheck is not None:
        found = check(load(args.recheck))
        for violation in found:
            print(f"{violation.invariant} at {violation.time:.2f}: {violation.evidence}")
        return 1 if found else 0
    if args.seeds is None:
        parser.error("--seeds is required (or --recheck)")
    shares = (args.kill_share, args.flex_share, args.failover_share)
    if not all(0.0 <= share <= 1.0 for share in shares) or args.jobs < 1:
        parser.error("--kill-share, --flex-share and --failover-share must be within 0..1 and -j at least 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    seeds: Any = context.Queue()
    finished: Any = context.Queue()
    for seed in args.seeds:
        seeds.put(seed)
    jobs = min(args.jobs, len(args.seeds))
    for _ in range(jobs):
        seeds.put(None)
    workers = [
        context.Process(
            target=worker,
            args=(
                seeds,
                finished,
                args.kill_share,
                args.flex_share,
                args.failover_share,
                str(out),
                args.settle,
                args.fresh,
            ),
        )
        for _ in range(jobs)
    ]
    for process in workers:
        process.start()
    running = jobs
    while running:
        result = finished.get()
        if result is None:
            running -= 1
            continue
        results.append(result)
        print(result["line"], flush=True)
    for process in workers:
        process.join()
    missing = sorted(set(args.seeds) - {r["seed"] for r in results})
    for seed in missing:  # a worker died without reporting them
        results.append(
            {
                "seed": seed,
                "line": f"seed {seed} lost",
                "wall": 0.0,
                "kills": 0,
                "endPhase": "",
                "error": "the worker process died",
                "violations": [],
                "saved": None,
                "schedule": "",
            }
        )
    results.sort(key=lambda r: r["seed"])
    summary = summarize(results, time.monotonic() - started)
    (out / "summary.json").write_text(json.dumps({**summary, "results": results}, indent=2), encoding="utf-8")
    print_summary(summary)
    return 1 if summary["violating"] or summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
