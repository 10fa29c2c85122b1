"""The results table (stdout, Markdown) and the targets of the issue, judged against the medians."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

YES, NO, INFO = "yes", "NO", "-"


@dataclass(frozen=True)
class Row:
    benchmark: str
    measure: str
    value: str
    target: str
    met: str

    def to_dict(self) -> dict[str, str]:
        return {
            "benchmark": self.benchmark,
            "measure": self.measure,
            "value": self.value,
            "target": self.target,
            "met": self.met,
        }


def _met(ok: bool) -> str:
    return YES if ok else NO


def _sizes(section: dict[str, Any]) -> list[str]:
    keys = [k for k in section if k.startswith("N") and k[1:].isdigit()]
    return sorted(keys, key=lambda k: int(k[1:]))


def rows(benchmarks: dict[str, Any], parameters: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    rollout = parameters.get("rollout") or {}
    domains = int(rollout.get("update_domains") or 5)
    calls = benchmarks.get("calls_per_rollout")
    if calls:
        name = "1 calls per rollout"
        sizes = _sizes(calls)
        for key in sizes:
            c = calls[key]
            out.append(
                Row(name, f"{key} writes", f"{c['writes']}", f"= 1 model update + {domains} manualupgrades = "
                    f"{1 + domains}", _met(c["writes"] == 1 + domains))
            )  # fmt: skip
            out.append(
                Row(name, f"{key} reads (per domain)", f"{c['reads']} ({c['reads_per_domain']:g})",
                    "grow with domains and polling", INFO)
            )  # fmt: skip
        for key in sizes:
            c = calls[key]
            pages = max(1, -(-int(key.lstrip("N")) // 100)) if key.lstrip("N").isdigit() else 1
            listings = c["vm_list_pages"] / pages
            out.append(
                Row(name, f"{key} instance listings (pause {rollout.get('P_pause_s', '?')} s)", f"{listings:g}",
                    f"<= D + 2 = {domains + 2}", _met(listings <= domains + 2))
            )  # fmt: skip
        per_instance = [calls[k].get("per_instance_requests", 0) for k in sizes]
        out.append(
            Row(name, "per-instance requests", ", ".join(str(x) for x in per_instance), "0 (paged listings only)",
                _met(all(x == 0 for x in per_instance)))
        )  # fmt: skip
        if len(sizes) >= 2:
            small, large = calls[sizes[0]], calls[sizes[-1]]
            growth = large["reads"] / small["reads"] if small["reads"] else 0.0
            out.append(
                Row(name, f"reads {sizes[-1]} / {sizes[0]}",
                    f"{growth:.2f}x (VM list pages {small['vm_list_pages']} -> {large['vm_list_pages']})",
                    "not with instances (<= 1.1x)", _met(growth <= 1.1))
            )  # fmt: skip
    flex_calls = benchmarks.get("calls_per_flex_rollout")
    if flex_calls:
        name = "7 calls per Flex rollout"
        sizes = _sizes(flex_calls)
        for key in sizes:
            c = flex_calls[key]
            out.append(
                Row(name, f"{key} writes", f"{c['writes']}", f"= 1 model update + 3 manualupgrades = "
                    f"{c['writes_minimum']}", _met(c["writes"] == c["writes_minimum"] and c["phase"] == "Succeeded"))
            )  # fmt: skip
            out.append(
                Row(name, f"{key} reads (VM list pages)", f"{c['reads']} ({c['vm_list_pages']})",
                    "grow with domains and polling", INFO)
            )  # fmt: skip
        per_vm = [flex_calls[k].get("per_instance_requests", 0) for k in sizes]
        out.append(
            Row(name, "per-VM requests", ", ".join(str(x) for x in per_vm), "0 (the filtered VM list only)",
                _met(all(x == 0 for x in per_vm)))
        )  # fmt: skip
    time_overhead = benchmarks.get("time_overhead")
    if time_overhead:
        for key in _sizes(time_overhead):
            t = time_overhead[key]
            out.append(
                Row("2 time overhead", f"{key} measured / ideal",
                    f"{t['measured_s']:.2f}s / {t['ideal_s']:.2f}s = {t['ratio']:.3f}", f"<= {_time_target(key)}",
                    _met(t["ratio"] <= _time_target(key)))
            )  # fmt: skip
    baselines = benchmarks.get("baselines")
    if baselines:
        for variant in ("one_at_a_time", "vmssupgrade_style", "vmssupgrade_health_gated", "operator"):
            b = baselines.get(variant)
            if not b:
                continue
            out.append(
                Row("3 baselines", f"{variant}: writes / reads / wall / max unavailable",
                    f"{b['writes']} / {b['reads']} / {b['wall_s']:.2f}s / {b['max_unavailable']}", "side by side",
                    INFO)
            )  # fmt: skip
    bad = benchmarks.get("baselines_bad_image")
    if bad:
        labels = {
            "operator": "operator (maxUnhealthyInstances 20%, the default)",
            "operator_max_unhealthy_1": "operator (maxUnhealthyInstances: 1)",
        }
        for variant, b in bad.items():
            out.append(
                Row("3 baselines", f"{labels.get(variant, variant)}: instances put on an unhealthy image",
                    f"{b['instances_put_on_bad_image']} ({b.get('outcome')})", "side by side", INFO)
            )  # fmt: skip
    fleet = benchmarks.get("fleet")
    if fleet:
        name = "4 fleet"
        total = fleet["resources"]
        done = fleet["completed"]
        size = f"{total} x {fleet.get('instances_total', 0) // max(1, total)}"
        out.append(Row(name, f"{size}: rollouts completed", f"{done}/{total}", "all", _met(done == total)))
        out.append(Row(name, "429s received", f"{fleet['throttled']}", "0", _met(fleet["throttled"] == 0)))
        bound = fleet.get("bound_s")
        if bound:
            ratio = fleet["makespan_s"] / bound
            out.append(
                Row(name, f"makespan / bound ({fleet.get('binding_limit')})",
                    f"{fleet['makespan_s']:.0f}s / {bound:.0f}s = {ratio:.2f}", "<= 1.1", _met(ratio <= 1.1))
            )  # fmt: skip
        rss = fleet["peak_rss_mb"]
        out.append(Row(name, "operator peak RSS", f"{rss:.0f} MB", "<= 256 MB", _met(rss <= 256)))
        if "cpu_s_per_rollout" in fleet:
            out.append(
                Row(name, "operator CPU per rollout (total)",
                    f"{fleet['cpu_s_per_rollout']:.3f}s ({fleet['cpu_s']:.0f}s)", "reported", INFO)
            )  # fmt: skip
        if "listings_per_rollout" in fleet:
            out.append(Row(name, "instance listings per rollout", f"{fleet['listings_per_rollout']:.2f}",
                           "reported", INFO))  # fmt: skip
    latency = benchmarks.get("reaction_latency")
    if latency:
        out.append(Row("5 reaction latency", "p50", f"{latency['p50_s']:.3f}s", "reported", INFO))
        out.append(
            Row("5 reaction latency", "p99", f"{latency['p99_s']:.3f}s", "<= 2 s", _met(latency["p99_s"] <= 2.0))
        )
    fo = benchmarks.get("failover")
    if fo:
        params = parameters.get("failover") or {}
        bound = float(params.get("bound_kill_s") or 0.0)
        timings = (
            f"lease {params.get('lease_duration_s', '?'):g} s, renew {params.get('renew_deadline_s', '?'):g} s,"
            f" retry {params.get('retry_period_s', '?'):g} s"
            if params
            else "?"
        )
        for stop, label in (("kill", "leader SIGKILLed"), ("sigterm", "leader stopped (SIGTERM)")):
            f = fo.get(stop)
            if not f:
                continue
            handover = 1.2 * float(params.get("retry_period_s") or 0.0) + 1.0  # next try sees the released Lease
            target = (
                f"<= {bound:.1f} s ({timings})"
                if stop == "kill"
                else f"<= {handover:.1f} s (released: 1.2 x retry + 1 s)"
            )
            met = _met(f["failover_max_s"] <= (bound if stop == "kill" else handover))
            out.append(
                Row("8 failover", f"{label}: standby holds the Lease (max)",
                    f"{f['failover_s']:.2f}s ({f['failover_max_s']:.2f}s)", target, met)
            )  # fmt: skip
            out.append(
                Row("8 failover", f"{label}: first Azure request / walks intact",
                    f"{f['first_request_s']:.2f}s / {f['walks_ok']}/{f['runs']}", "every domain once, in order",
                    _met(f["walks_ok"] == f["runs"]))
            )  # fmt: skip
    cost = benchmarks.get("operator_cost")
    if cost:
        for key in _sizes(cost):
            c = cost[key]
            out.append(
                Row("6 operator cost", f"{key} CPU during rollout / peak RSS",
                    f"{c['cpu_s']:.2f}s / {c['peak_rss_mb']:.0f} MB", "reported", INFO)
            )  # fmt: skip
    return out


def _time_target(size_key: str) -> float:
    """Issue 14: a rollout may take at most 1.03 x its ideal at N = 100 (and smaller), 1.05 x at N = 1000."""
    digits = size_key.lstrip("N")
    return 1.03 if digits.isdigit() and int(digits) <= 100 else 1.05


def table(table_rows: list[Row]) -> str:
    header = Row("Benchmark", "Measure", "Median", "Target", "Met")
    all_rows = [header, *table_rows]
    widths = [max(len(getattr(r, f)) for r in all_rows) for f in ("benchmark", "measure", "value", "target", "met")]

    def line(r: Row) -> str:
        cells = (r.benchmark, r.measure, r.value, r.target, r.met)
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(r) for r in table_rows)])
