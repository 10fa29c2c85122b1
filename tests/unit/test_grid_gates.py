"""The rollout grid (``kubectl ssi status``) says what the next domain waits on and how its analysis stands.

Aspects: a rollout outside its maintenance window shows a 'waiting:' line with the reason and the message, and
the analysis line shows the domain, phase, rounds and the last measurement; a rollout paused on an
inconclusive analysis says so; a stalled one keeps its 'stalled:' line under the analysis.
"""

from __future__ import annotations

from typing import Any

from controller.commands.grid import render_resource

DOMAINS = [
    {"id": "ud-0", "instanceIds": ["0"], "state": "Succeeded"},
    {"id": "ud-1", "instanceIds": ["1"], "state": "Pending"},
]
ANALYSIS = {
    "domain": "ud-0",
    "phase": "Successful",
    "rounds": 2,
    "measurements": [{"round": 2, "query": "error-ratio", "phase": "Successful", "value": "0.01"}],
}


def _condition(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


def test_a_wait_for_the_maintenance_window_is_shown_with_the_analysis() -> None:
    status = {
        "phase": "Progressing",
        "domains": DOMAINS,
        "analysis": ANALYSIS,
        "conditions": [
            _condition("Reconciling", "True", "OutsideMaintenanceWindow", "Domain ud-1 waits for the next window."),
        ],
    }
    lines = render_resource("web", "web", status)
    assert lines[-2:] == [
        "  analysis of ud-0: Successful, 2 round(s) (last: error-ratio=0.01 Successful)",
        "  waiting: OutsideMaintenanceWindow: Domain ud-1 waits for the next window.",
    ]


def test_a_pause_on_an_inconclusive_analysis_and_a_stall_are_shown() -> None:
    inconclusive = {**ANALYSIS, "phase": "Inconclusive"}
    paused = {
        "phase": "Paused",
        "domains": DOMAINS,
        "analysis": inconclusive,
        "conditions": [
            _condition("Ready", "False", "AnalysisInconclusive", "The analysis is inconclusive."),
            _condition("Reconciling", "False", "AnalysisInconclusive", "The analysis is inconclusive."),
        ],
    }
    assert render_resource("web", "web", paused)[-1] == "  waiting: AnalysisInconclusive: The analysis is inconclusive."
    stalled = {**paused, "conditions": [_condition("Stalled", "True", "AnalysisFailed", "Analysis failed.")]}
    assert render_resource("web", "web", stalled)[-1] == "  stalled: AnalysisFailed: Analysis failed."
    plain = render_resource("web", "web", {"phase": "Succeeded", "domains": DOMAINS})
    assert not [line for line in plain if "waiting:" in line or "analysis" in line], "no gates, no gate lines"
