"""Progressive-delivery gates in the pure planner, with a fake clock (``now`` is an input).

Aspects: an analysis starts when a domain is healthy and holds the next domain (and the pause) until it
succeeds; a failed analysis fails the domain and follows onFailure (the analysis's own first); an
inconclusive one pauses and never promotes until retryToken changes; the last domain's analysis holds
Succeeded. Maintenance windows (weekly and cron, in a time zone, across daylight saving): a domain starts
only inside a window, one in flight finishes, status shows the next window. Approval: a token per domain,
the annotation approves only its own domain. Hooks: confirm hooks hold until 200, notifications until
tried, and a failure asks the Rollback hooks once. Conditions: the small language and its verdicts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.observed import ObservedScaleSet, OperationState
from controller.resource import (
    AnalysisPhase,
    AnalysisQuery,
    AnalysisSpec,
    ConditionType,
    DomainState,
    HookPhase,
    HookRun,
    HookType,
    MaintenanceWindow,
    MeasurementPhase,
    ModelError,
    Phase,
    ScaleSetImageStatus,
    evolve,
    parse_condition,
)
from controller.rollout import UpdateModel, UpgradeInstances, record_operation
from controller.rollout.analysis import QueryResult, judge, measurement_due, record_round, render, template_values
from controller.rollout.gates import approval_token, approve
from controller.rollout.hooks import due_runs, record_call, replace_run
from controller.rollout.windows import cron_of, window_state

from .builders import NEW, NOW, later, scale_set, spec
from .test_plan_next_step import cond, started, step, upgraded

ANALYSIS: dict[str, Any] = {
    "queries": [{"name": "errors", "query": 'max(err{vm=~"{{instanceNames}}"})', "failureCondition": "result > 0.1"}],
    "interval": "1m",
    "count": 2,
}


def _upgrading(s: ScaleSetImageStatus, domain_id: str) -> ScaleSetImageStatus:
    """``domain_id`` in flight since NOW (whatever gates held it: those are tested on their own)."""
    domains = tuple(
        evolve(d, state=DomainState.UPGRADING, started_at=NOW) if d.id == domain_id else d for d in s.domains
    )
    return evolve(s, domains=domains, current_domain=domain_id, approval=None, hooks=None)


def _healthy_ud0(**rollout: Any) -> tuple[Any, ScaleSetImageStatus, ObservedScaleSet]:
    """ud-0 upgraded and healthy at NOW + 5 s; the plan's status and the scale set as it is then."""
    sp = spec(**rollout)
    s = _upgrading(step(sp, started(sp), scale_set(NEW)).status, "ud-0")
    s = record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW)
    ss = upgraded(scale_set(NEW), ["0", "5"])
    plan = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert plan.status.domains[0].state == DomainState.SUCCEEDED
    return sp, plan.status, ss


def _measured(sp: Any, s: ScaleSetImageStatus, now: datetime, *values: float) -> ScaleSetImageStatus:
    assert sp.rollout.analysis is not None
    assert s.analysis is not None
    assert measurement_due(sp, s, now)
    new, _events = record_round(sp.rollout.analysis, s.analysis, [QueryResult("errors", values=values)], now)
    return evolve(s, analysis=new)


# --------------------------------------------------------------------------------------------- analysis
def test_a_healthy_domain_starts_its_analysis_and_the_next_domain_waits_for_it() -> None:
    sp, s, ss = _healthy_ud0(analysis=ANALYSIS)
    assert s.analysis is not None
    assert (s.analysis.domain, s.analysis.phase, s.analysis.next_measurement_at) == ("ud-0", "Running", later(5))
    held = step(sp, s, ss, now=later(6))
    assert held.action is None
    assert cond(held.status, ConditionType.RECONCILING) == ("True", "AnalysisRunning")
    s = _measured(sp, s, later(6), 0.01)
    assert not measurement_due(sp, s, later(30)), "the next round waits for the interval"
    assert step(sp, s, ss, now=later(30)).action is None
    s = _measured(sp, s, later(66), 0.02)
    assert s.analysis is not None
    assert s.analysis.phase == AnalysisPhase.SUCCESSFUL
    go = step(sp, s, ss, now=later(67))
    assert go.action == UpgradeInstances("ud-1", ("1", "6"))


def test_soak_is_the_pause_and_the_analysis_both() -> None:
    sp, s, ss = _healthy_ud0(analysis={**ANALYSIS, "count": 1}, pauseBetweenDomains="10m")
    s = _measured(sp, s, later(10), 0.0)
    assert step(sp, s, ss, now=later(60)).action is None, "analysis done, the pause is not"
    assert step(sp, s, ss, now=later(606)).action == UpgradeInstances("ud-1", ("1", "6"))


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        ({"onFailure": "Pause"}, "Pause"),
        ({"onFailure": "Rollback"}, "Rollback"),
        ({"onFailure": "Pause", "analysis": {**ANALYSIS, "onFailure": "Rollback"}}, "Rollback"),
    ],
    ids=["pause", "rollback", "the analysis's own onFailure"],
)
def test_a_failed_analysis_fails_the_domain_and_follows_on_failure(rollout: dict[str, Any], expected: str) -> None:
    sp, s, ss = _healthy_ud0(**{"analysis": ANALYSIS, **rollout})
    s = _measured(sp, s, later(6), 0.5)
    assert s.analysis is not None
    assert s.analysis.phase == AnalysisPhase.FAILED
    assert s.analysis.measurements[0].phase == MeasurementPhase.FAILED
    plan = step(sp, s, ss, now=later(7))
    assert plan.status.domains[0].state == DomainState.FAILED
    assert all(d.state == DomainState.PENDING for d in plan.status.domains[1:]), "nothing after it starts"
    if expected == "Pause":
        assert plan.action is None
        assert plan.status.phase == Phase.FAILED
        assert cond(plan.status, ConditionType.STALLED) == ("True", "AnalysisFailed")
    else:
        assert isinstance(plan.action, UpdateModel)
        assert plan.status.rollback is not None
        assert plan.status.rollback.reason == "AnalysisFailed"


def test_an_inconclusive_analysis_pauses_until_the_retry_token_changes() -> None:
    sp, s, ss = _healthy_ud0(analysis=ANALYSIS)
    s = _measured(sp, s, later(6))  # no samples
    assert s.analysis is not None
    assert s.analysis.phase == AnalysisPhase.INCONCLUSIVE
    paused = step(sp, s, ss, now=later(7))
    assert paused.action is None
    assert paused.status.phase == Phase.PAUSED
    assert cond(paused.status, ConditionType.READY) == ("False", "AnalysisInconclusive")
    assert step(sp, paused.status, ss, now=later(600)).action is None, "inconclusive never promotes"
    retried = spec(analysis=ANALYSIS, retryToken="again")
    again = step(retried, paused.status, ss, now=later(700), generation=2)
    assert again.status.analysis is not None
    assert (again.status.analysis.phase, again.status.analysis.rounds) == ("Running", 0)
    assert again.status.phase == Phase.PROGRESSING


def test_the_last_domain_analysis_holds_succeeded() -> None:
    sp = spec(analysis={**ANALYSIS, "count": 1})
    s = step(sp, started(sp), scale_set(NEW)).status
    s = evolve(
        s,
        domains=tuple(evolve(d, state=DomainState.SUCCEEDED, started_at=NOW, finished_at=NOW) for d in s.domains[:4])
        + s.domains[4:],
    )
    s = record_operation(_upgrading(s, "ud-4"), UpgradeInstances("ud-4", ("4", "9")), "dG9rZW4=", NOW)
    every = upgraded(scale_set(NEW), [str(i) for i in range(10)])
    last = step(sp, s, every, now=later(5), operation=OperationState("Succeeded"))
    assert last.status.phase == Phase.PROGRESSING, "not Succeeded before the last domain's analysis"
    assert last.status.analysis is not None
    assert last.status.analysis.domain == "ud-4"
    done = _measured(sp, last.status, later(6), 0.0)
    assert step(sp, done, every, now=later(7)).status.phase == Phase.SUCCEEDED


def test_template_variables_name_the_domain_instances() -> None:
    sp, s, _ss = _healthy_ud0(analysis=ANALYSIS)
    values = template_values(sp, s, "prod", "web")
    assert values["instanceIds"] == "0|5"
    assert values["instanceNames"] == "vmss-web_0|vmss-web_5"
    assert values["domain"] == "ud-0"
    assert sp.rollout.analysis is not None
    assert render(sp.rollout.analysis.queries[0], values) == 'max(err{vm=~"vmss-web_0|vmss-web_5"})'


@pytest.mark.parametrize(
    ("success", "failure", "result", "expected"),
    [
        (None, "result > 0.1", QueryResult("q", values=(0.5,)), MeasurementPhase.FAILED),
        (None, "result > 0.1", QueryResult("q", values=(0.0, 0.05)), MeasurementPhase.SUCCESSFUL),
        ("result < 0.05", "result > 0.1", QueryResult("q", values=(0.07,)), MeasurementPhase.INCONCLUSIVE),
        ("result < 0.05", None, QueryResult("q", values=(0.01, 0.2)), MeasurementPhase.INCONCLUSIVE),
        ("result < 0.05", None, QueryResult("q"), MeasurementPhase.INCONCLUSIVE),
        ("result < 0.05", None, QueryResult("q", values=(float("nan"),)), MeasurementPhase.INCONCLUSIVE),
        ("result < 0.05", None, QueryResult("q", error="unreachable"), MeasurementPhase.ERROR),
    ],
    ids=["fails", "no failure", "between", "one sample fails success", "empty", "NaN", "error"],
)
def test_a_query_result_is_judged(
    success: str | None, failure: str | None, result: QueryResult, expected: MeasurementPhase
) -> None:
    query = AnalysisQuery(name="q", query="up", success_condition=success, failure_condition=failure)
    assert judge(query, result)[0] == expected


@pytest.mark.parametrize(
    ("text", "result", "holds"),
    [
        ("result > 0.1", 0.2, True),
        ("result >= 0.99 && result <= 1", 0.995, True),
        ("result < 0.5 or result > 2", 1.0, False),
        ("!(result == 0)", 0.0, False),
        ("not result != 3", 3.0, True),
        ("0.1 < result", 0.2, True),
        ("result > -1e-3", 0.0, True),
    ],
)
def test_conditions_evaluate(text: str, result: float, holds: bool) -> None:
    assert parse_condition(text)(result) is holds


@pytest.mark.parametrize("text", ["result >", "result > 0.1 &&", "1 > 0", "result > x", "(result > 1", "result"])
def test_malformed_conditions_are_refused(text: str) -> None:
    with pytest.raises(ModelError):
        parse_condition(text)


def test_failure_and_inconclusive_limits_are_tolerated_then_decide() -> None:
    analysis = AnalysisSpec(
        queries=(AnalysisQuery(name="q", query="up", failure_condition="result > 1"),),
        count=4,
        failure_limit=1,
    )
    sp = spec(analysis=analysis.to_dict())
    _sp, s, _ss = _healthy_ud0(analysis=analysis.to_dict())
    assert s.analysis is not None and sp.rollout.analysis is not None  # noqa: PT018
    a, _ = record_round(analysis, s.analysis, [QueryResult("q", values=(2.0,))], later(10))
    assert a.phase == AnalysisPhase.RUNNING, "one failure within failureLimit 1"
    a, events = record_round(analysis, a, [QueryResult("q", values=(2.0,))], later(20))
    assert a.phase == AnalysisPhase.FAILED
    assert [e.reason for e in events] == ["AnalysisMeasured", "AnalysisFailed"]


def test_measurements_in_status_are_bounded() -> None:
    analysis = AnalysisSpec(queries=(AnalysisQuery(name="q", query="up", failure_condition="result > 1"),), count=100)
    _sp, s, _ss = _healthy_ud0(analysis=analysis.to_dict())
    a = s.analysis
    assert a is not None
    for i in range(40):
        a, _ = record_round(analysis, a, [QueryResult("q", values=(0.0,))], later(10 + i))
    assert a.rounds == 40
    assert len(a.measurements) == 30
    assert a.measurements[-1].round == 40


# ------------------------------------------------------------------------------------ maintenance windows
WEEKEND_BERLIN = {"weekly": {"days": ["Sat", "Sun"], "start": "02:00"}, "duration": "4h", "timeZone": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("now", "open_", "next_"),
    [
        (datetime(2026, 12, 5, 0, 59, tzinfo=UTC), False, datetime(2026, 12, 5, 1, 0, tzinfo=UTC)),  # Sat 01:59 CET
        (datetime(2026, 12, 5, 1, 0, tzinfo=UTC), True, datetime(2026, 12, 6, 1, 0, tzinfo=UTC)),
        (datetime(2026, 12, 5, 4, 59, tzinfo=UTC), True, datetime(2026, 12, 6, 1, 0, tzinfo=UTC)),
        (datetime(2026, 12, 5, 5, 0, tzinfo=UTC), False, datetime(2026, 12, 6, 1, 0, tzinfo=UTC)),
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), False, datetime(2026, 12, 12, 1, 0, tzinfo=UTC)),  # Monday
        (datetime(2026, 7, 4, 0, 0, tzinfo=UTC), True, datetime(2026, 7, 5, 0, 0, tzinfo=UTC)),  # summer: 02:00 CEST
    ],
)
def test_a_weekly_window_in_a_time_zone(now: datetime, open_: bool, next_: datetime) -> None:
    state = window_state([MaintenanceWindow.from_dict(WEEKEND_BERLIN)], now)
    assert (state.open, state.next_at) == (open_, next_)


def test_weekly_schedules_are_cron_and_several_windows_combine() -> None:
    weekly = MaintenanceWindow.from_dict(WEEKEND_BERLIN)
    assert cron_of(weekly) == "0 2 * * 0,6"
    nightly = MaintenanceWindow.from_dict({"cron": "0 22 * * 1-5", "duration": "2h"})
    monday = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)
    state = window_state([weekly, nightly], monday)
    assert state.open
    assert state.ends_at == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)


def test_a_domain_starts_only_inside_a_window_and_status_shows_the_next() -> None:
    window = {"cron": "0 2 * * *", "duration": "1h"}  # 02:00-03:00 UTC daily; NOW is 12:00
    sp, s, ss = _healthy_ud0(maintenanceWindows=[window])
    held = step(sp, s, ss, now=later(10))
    assert held.action is None
    assert cond(held.status, ConditionType.RECONCILING) == ("True", "OutsideMaintenanceWindow")
    mw = held.status.maintenance_window
    assert mw is not None
    assert (mw.open, mw.next_window_at) == (False, datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    assert held.requeue_after == 300, "looked at again every resync interval until the window opens"
    assert mw.message is not None
    assert "opens at 2026-11-23T02:00:00Z" in mw.message
    fresh = step(sp, evolve(s, maintenance_window=None), ss, now=later(10))
    assert "WaitingForMaintenanceWindow" in [e.reason for e in fresh.events], "the wait is announced once"
    assert "WaitingForMaintenanceWindow" not in [e.reason for e in step(sp, held.status, ss, now=later(20)).events]
    inside = datetime(2026, 11, 23, 2, 0, 30, tzinfo=UTC)
    go = step(sp, held.status, ss, now=inside)
    assert go.action == UpgradeInstances("ud-1", ("1", "6"))
    assert go.status.maintenance_window is not None
    assert go.status.maintenance_window.open


def test_a_domain_in_flight_finishes_when_its_window_closes() -> None:
    sp = spec(maintenanceWindows=[{"cron": "0 11 * * *", "duration": "1h"}])  # 11:00-12:00 UTC; NOW is 12:00
    s = step(sp, started(sp), scale_set(NEW), now=NOW - timedelta(minutes=30)).status
    s = record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW - timedelta(minutes=30))
    ss = upgraded(scale_set(NEW), ["0", "5"])
    plan = step(sp, s, ss, now=later(5), operation=OperationState("Succeeded"))
    assert plan.status.domains[0].state == DomainState.SUCCEEDED, "the window closed, the domain still finished"
    assert plan.action is None


# ------------------------------------------------------------------------------------------------ approval
def test_approval_is_asked_per_domain_and_a_token_for_another_domain_approves_nothing() -> None:
    sp, s, ss = _healthy_ud0(approval="BeforeEachDomain")
    held = step(sp, s, ss, now=later(10))
    assert held.action is None
    assert cond(held.status, ConditionType.RECONCILING) == ("True", "WaitingForApproval")
    approval = held.status.approval
    assert approval is not None
    assert approval.domain == "ud-1"
    assert approval.token == approval_token(held.status, "ud-1")
    assert approve(held.status, approval_token(held.status, "ud-2"), later(11)) is None
    assert approve(held.status, None, later(11)) is None
    given = approve(held.status, approval.token, later(11))
    assert given is not None
    assert step(sp, given, ss, now=later(12)).action == UpgradeInstances("ud-1", ("1", "6"))


def test_approval_before_the_first_domain_only() -> None:
    sp = spec(approval="BeforeFirstDomain")
    s = step(sp, started(sp), scale_set(NEW)).status
    assert s.approval is not None
    assert s.approval.domain == "ud-0"
    given = approve(s, s.approval.token, later(1))
    assert given is not None
    assert step(sp, given, scale_set(NEW), now=later(2)).action == UpgradeInstances("ud-0", ("0", "5"))
    _sp, s1, ss = _healthy_ud0(approval="BeforeFirstDomain")
    assert step(_sp, s1, ss, now=later(10)).action == UpgradeInstances("ud-1", ("1", "6")), "not asked again"


# -------------------------------------------------------------------------------------------------- hooks
HOOKS = [
    {"name": "gate", "type": "ConfirmDomain", "webhook": "gate"},
    {"name": "tell", "type": "PreDomain", "webhook": "chat", "retries": 1},
    {"name": "pager", "type": "Rollback", "webhook": "pager"},
]


def _answer(sp: Any, s: ScaleSetImageStatus, code: int | None, now: datetime) -> ScaleSetImageStatus:
    for run in due_runs(s, now):
        hook = next(h for h in sp.rollout.hooks if h.name == run.hook)
        s = replace_run(s, record_call(hook, run, code, f"HTTP {code}", now, 10.0))
    return s


def test_a_confirm_hook_holds_until_200_and_a_notification_until_tried() -> None:
    sp, s, ss = _healthy_ud0(hooks=HOOKS)
    held = step(sp, s, ss, now=later(10))
    assert held.action is None
    assert cond(held.status, ConditionType.RECONCILING) == ("True", "WaitingForHooks")
    assert {(r.hook, r.subject, r.phase) for r in held.status.hooks or ()} >= {
        ("gate", "ud-1", "Pending"),
        ("tell", "ud-1", "Pending"),
    }
    refused = _answer(sp, held.status, 403, later(11))
    gate = next(r for r in refused.hooks or () if r.hook == "gate" and r.subject == "ud-1")
    assert (gate.phase, gate.attempts, gate.next_attempt_at) == (HookPhase.WAITING, 1, later(21))
    tell = next(r for r in refused.hooks or () if r.hook == "tell" and r.subject == "ud-1")
    assert tell.phase == HookPhase.PENDING, "one retry left"
    assert step(sp, refused, ss, now=later(12)).action is None
    answered = _answer(sp, refused, 200, later(22))
    assert step(sp, answered, ss, now=later(23)).action == UpgradeInstances("ud-1", ("1", "6"))


def test_a_notification_out_of_retries_is_given_up_without_holding() -> None:
    hook = spec(hooks=HOOKS).rollout.hooks
    assert hook is not None
    run = HookRun(hook="tell", subject="ud-1", type=HookType.PRE_DOMAIN, phase=HookPhase.PENDING)
    run = record_call(hook[1], run, 500, "HTTP 500", NOW, 10.0)
    assert (run.phase, run.next_attempt_at) == (HookPhase.PENDING, later(10))
    run = record_call(hook[1], run, None, "no answer", later(10), 10.0)
    assert (run.phase, run.attempts) == (HookPhase.FAILED, 2)
    assert record_call(None, run, None, "", NOW, 10.0).phase == HookPhase.FAILED


def test_a_failure_asks_the_rollback_hooks_once() -> None:
    sp, s, ss = _healthy_ud0(hooks=HOOKS, analysis=ANALYSIS, onFailure="Rollback")
    s = _answer(sp, s, 200, later(6))
    s = _measured(sp, s, later(6), 0.9)
    plan = step(sp, s, ss, now=later(7))
    pager = [r for r in plan.status.hooks or () if r.hook == "pager"]
    assert len(pager) == 1
    assert pager[0].subject == f"failure-{int(later(7).timestamp())}"
    again = step(sp, plan.status, ss, now=later(8))
    assert len([r for r in again.status.hooks or () if r.hook == "pager"]) == 1
