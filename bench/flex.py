"""Benchmark 7: the Azure calls of one rollout of a Flexible scale set (issue 12).

The same run as benchmark 1 (``rollout.one_rollout``), on a Flexible set of N named VMs over 3 fault
domains instead of a Uniform one: what must hold is the same minimum of writes (one model PATCH, one
manualupgrade per fault domain) and reads that grow with domains and polling, never with VMs beyond the
VM list's paging (no per-VM GETs).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .common import log, median_of_runs
from .rollout import RolloutParams, one_rollout

FAULT_DOMAINS = 3  # a regional Flexible set has at most 3


async def run(p: RolloutParams) -> dict[str, Any]:
    flex = dataclasses.replace(p, domains=FAULT_DOMAINS)
    out: dict[str, Any] = {"calls_per_flex_rollout": {}, "raw": {}}
    for n in flex.sizes:
        runs = []
        for i in range(flex.runs):
            log(f"Flexible rollout N={n} run {i + 1}/{flex.runs}")
            result = await one_rollout(n, flex, flexible=True)
            calls = result["calls"]
            log(f"  phase {result['phase']}, writes {calls['writes']} reads {calls['reads']}")
            runs.append(result)
        med = median_of_runs(runs)
        calls = med["calls"]
        out["calls_per_flex_rollout"][f"N{n}"] = {
            "phase": runs[-1]["phase"],
            "writes": calls["writes"],
            "writes_minimum": 1 + FAULT_DOMAINS,
            "reads": calls["reads"],
            "reads_per_domain": calls["reads_per_domain"],
            "by_operation": calls["by_operation"],
            "vm_list_pages": calls["vm_list_pages"],
            "per_instance_requests": calls["per_instance_requests"],
            "throttled": calls["throttled"],
            "time_ratio": med["time"]["ratio"],
            "runs": flex.runs,
        }
        out["raw"][f"N{n}"] = runs
    out["parameters"] = {**flex.describe(), "fault_domains": FAULT_DOMAINS, "orchestration": "Flexible"}
    return out
