"""Progressive delivery in the resource: analysis between domains, maintenance windows, hooks and approval.

Spec side (under ``spec.rollout``) and status side (``status.analysis``, ``status.maintenanceWindow``,
``status.hooks``, ``status.approval``). Where things are reached (Prometheus servers, webhook URLs) is
never written here: a resource names a Prometheus or a webhook that the operator configuration defines,
or a Secret of its own namespace that holds a webhook URL.
"""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field

from .base import CelRule, ListType, Model, Timestamp
from .expressions import CONDITION_PATTERN, valid_condition
from .names import (
    AnalysisPhase,
    ApprovalMode,
    HookPhase,
    HookType,
    MeasurementPhase,
    OnFailure,
    Weekday,
)
from .patterns import CLOUD_NAME_PATTERN, DOMAIN_ID_PATTERN, DURATION_PATTERN
from .values import parse_duration

NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CRON_PATTERN = "^[-0-9A-Za-z*/,?#LW]+( +[-0-9A-Za-z*/,?#LW]+){4}$"
TIME_OF_DAY_PATTERN = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
TIME_ZONE_PATTERN = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
SECRET_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY_PATTERN = "^[-._a-zA-Z0-9]+$"
MAX_MEASUREMENTS = 30
"""Measurements kept in ``status.analysis.measurements`` (the newest; every one is also an event)."""
MAX_HOOK_RUNS = 40
"""Hook calls kept in ``status.hooks`` (the newest)."""

_CONDITION_HAS_RESULT = CelRule(
    rule="self.contains('result')",
    message="a condition compares result with numbers, e.g. 'result > 0.1' or 'result >= 0.99 && result <= 1'",
    check=valid_condition,
)
_ONE_CONDITION = CelRule(
    rule="has(self.successCondition) || has(self.failureCondition)",
    message="a query needs a successCondition, a failureCondition, or both",
    check=lambda q: q.success_condition is not None or q.failure_condition is not None,
)
_AT_LEAST_1S = CelRule(
    rule="duration(self) >= duration('1s')",
    message="must be at least 1s",
    check=lambda value: parse_duration(value) >= 1,
)
_REPRESENTABLE = CelRule(
    rule="duration(self) >= duration('0s')",
    message="must be a duration Kubernetes can represent (under 292 years)",
    check=lambda value: parse_duration(value) >= 0,
)
_WINDOW_LENGTH = CelRule(
    rule="duration(self) >= duration('1m') && duration(self) <= duration('168h')",
    message="duration must be between 1m and 168h (a week)",
    check=lambda value: 60 <= parse_duration(value) <= 168 * 3600,
)
_HOOK_TIMEOUT = CelRule(
    rule="duration(self) >= duration('1s') && duration(self) <= duration('60s')",
    message="timeout must be between 1s and 60s",
    check=lambda value: 1 <= parse_duration(value) <= 60,
)
_LIMITS_BELOW_COUNT = CelRule(
    rule=(
        "(has(self.failureLimit) ? self.failureLimit : 0) < (has(self.count) ? self.count : 3)"
        " && (has(self.inconclusiveLimit) ? self.inconclusiveLimit : 0) < (has(self.count) ? self.count : 3)"
    ),
    message="failureLimit and inconclusiveLimit must be below count, or the analysis could never fail or pause",
    check=lambda a: a.failure_limit < a.count and a.inconclusive_limit < a.count,
)
_ONE_SCHEDULE = CelRule(
    rule="[has(self.weekly), has(self.cron)].filter(x, x).size() == 1",
    message="a maintenance window has exactly one of weekly or cron",
    check=lambda w: (w.weekly is None) != (w.cron is None),
)
_ONE_TARGET = CelRule(
    rule="[has(self.webhook), has(self.urlSecretRef)].filter(x, x).size() == 1",
    message="a hook names exactly one of webhook (from the operator configuration) or urlSecretRef",
    check=lambda h: (h.webhook is None) != (h.url_secret_ref is None),
)

AT_MOST_20 = CelRule(rule="size(self) <= 20", message="at most 20 items", check=lambda items: len(items) <= 20)
AT_MOST_HOOK_RUNS = CelRule(
    rule=f"size(self) <= {MAX_HOOK_RUNS}",
    message=f"at most {MAX_HOOK_RUNS} items",
    check=lambda items: len(items) <= MAX_HOOK_RUNS,
)


_CRON_MINUTE_TOO_BIG = "^([0-9]+[-,/])*([6-9][0-9]|[0-9]{3,})[^ ]* "
_SHORT_ZONES = ("UTC", "GMT", "CET", "EET", "MET", "WET", "EST", "MST", "HST")


def _valid_cron(text: str) -> bool:
    return re.match(_CRON_MINUTE_TOO_BIG, text) is None and bool(croniter.is_valid(text))


def _known_zone(name: str) -> bool:
    if "/" not in name and name not in _SHORT_ZONES:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_CRON_VALID = CelRule(
    rule=f"!self.matches('{_CRON_MINUTE_TOO_BIG}')",
    message=(
        "cron is a five-field schedule (minute 0-59, hour 0-23, day of month, month, day of week),"
        " e.g. '0 2 * * 6' for 02:00 on Saturdays"
    ),
    check=_valid_cron,
)
_ZONE_KNOWN = CelRule(
    rule="self.contains('/') || self in [" + ", ".join(f"'{zone}'" for zone in _SHORT_ZONES) + "]",
    message="timeZone is an IANA time zone name such as UTC, Europe/Berlin or America/New_York",
    check=_known_zone,
)

Name = Annotated[str, Field(pattern=NAME_PATTERN, min_length=1, max_length=63)]
ConditionText = Annotated[str, Field(pattern=CONDITION_PATTERN, min_length=1, max_length=256), _CONDITION_HAS_RESULT]
_TEMPLATE_WORDS = (
    "Template variables, replaced before the query is sent: {{domain}} (the domain's id), {{instanceIds}} and"
    " {{instanceNames}} (the domain's instance ids and VM names joined with '|', for a regex matcher such as"
    ' instance=~"{{instanceNames}}"), {{scaleSet}}, {{resourceGroup}}, {{namespace}} and {{name}}.'
)


class AnalysisQuery(Model):
    """One PromQL query and the conditions its result is judged by."""

    cel_rules = (_ONE_CONDITION,)

    name: Name = Field(description="Name of the query, unique in the analysis; shown in measurements and events.")
    query: str = Field(
        description="PromQL instant query, evaluated at each measurement. " + _TEMPLATE_WORDS,
        min_length=1,
        max_length=4096,
    )
    success_condition: ConditionText | None = Field(
        default=None,
        description=(
            "When every sample of the result meets it, the measurement is Successful, e.g. 'result < 0.05'."
            " The language: result compared with numbers (<, <=, >, >=, ==, !=), combined with && (and), ||"
            " (or), ! (not) and parentheses. Without it, a measurement that does not fail is Successful."
        ),
    )
    failure_condition: ConditionText | None = Field(
        default=None,
        description=(
            "When any sample of the result meets it, the measurement Failed, e.g. 'result > 0.1'. A result"
            " that meets neither condition, or is empty, is Inconclusive."
        ),
    )


class AnalysisSpec(Model):
    """Prometheus queries that judge each domain after it is healthy, before the next one may start."""

    cel_rules = (_LIMITS_BELOW_COUNT,)

    prometheus: Annotated[str, Field(pattern=CLOUD_NAME_PATTERN, min_length=1, max_length=63)] | None = Field(
        default=None,
        description=(
            "Name of a Prometheus server defined in the operator configuration (prometheus.servers), which"
            " must allow this namespace; default: the configuration's prometheus.default. A name, never a URL."
        ),
    )
    queries: Annotated[tuple[AnalysisQuery, ...], ListType("map", ("name",))] = Field(
        description="The queries; every one is measured each round.",
        min_length=1,
        max_length=10,
    )
    interval: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32), _AT_LEAST_1S] = Field(
        default="1m", description="Time between two rounds of measurements, as a Kubernetes duration (at least 1s)."
    )
    initial_delay: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32), _REPRESENTABLE] = Field(
        default="0s",
        description="Time from the domain being healthy to the first round, so that metrics from it exist.",
    )
    count: int = Field(default=3, description="Rounds to measure; the analysis succeeds after this many.", ge=1, le=100)
    failure_limit: int = Field(
        default=0,
        description="Failed rounds tolerated; one more fails the analysis (then onFailure applies).",
        ge=0,
        le=99,
    )
    inconclusive_limit: int = Field(
        default=0,
        description=(
            "Inconclusive rounds tolerated (empty results, Prometheus errors, neither condition met); one more"
            " pauses the rollout (status.analysis.phase Inconclusive) until spec.rollout.retryToken changes."
        ),
        ge=0,
        le=99,
    )
    on_failure: OnFailure | None = Field(
        default=None,
        description="Pause or Rollback when the analysis fails; default: spec.rollout.onFailure.",
    )

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def initial_delay_seconds(self) -> float:
        return parse_duration(self.initial_delay)


class WeeklySchedule(Model):
    """Days of the week and a start time."""

    days: Annotated[tuple[Weekday, ...], ListType("set")] = Field(
        description="Days the window opens: Mon, Tue, Wed, Thu, Fri, Sat, Sun.", min_length=1, max_length=7
    )
    start: str = Field(description="Time of day the window opens, HH:MM (24-hour clock).", pattern=TIME_OF_DAY_PATTERN)


class MaintenanceWindow(Model):
    """A recurring time span in which domains may start."""

    cel_rules = (_ONE_SCHEDULE,)

    weekly: WeeklySchedule | None = Field(default=None, description="A weekly schedule; or use cron.")
    cron: Annotated[str, Field(pattern=CRON_PATTERN, max_length=128), _CRON_VALID] | None = Field(
        default=None,
        description="When the window opens, as a five-field cron expression, e.g. '0 22 * * 1-5'; or use weekly.",
    )
    duration: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32), _WINDOW_LENGTH] = Field(
        description="How long the window stays open, from 1m to 168h."
    )
    time_zone: Annotated[str, Field(pattern=TIME_ZONE_PATTERN, max_length=64), _ZONE_KNOWN] = Field(
        default="UTC", description="IANA time zone of the schedule, e.g. Europe/Berlin; daylight saving is followed."
    )

    @property
    def duration_seconds(self) -> float:
        return parse_duration(self.duration)


class SecretKeyRef(Model):
    """A key of a Secret in the resource's own namespace."""

    name: str = Field(description="Name of the Secret.", pattern=SECRET_NAME_PATTERN, min_length=1, max_length=253)
    key: str = Field(
        description="Key in the Secret whose value is the URL.", pattern=SECRET_KEY_PATTERN, max_length=253
    )


class HookSpec(Model):
    """An HTTP webhook called at one point of the rollout (a POST with a JSON description of the step)."""

    cel_rules = (_ONE_TARGET,)

    name: Name = Field(description="Name of the hook, unique among the hooks.")
    type: HookType = Field(
        description=(
            "When it is called. ConfirmRollout (before the first domain) and ConfirmDomain (before each"
            " domain) hold the rollout until the hook answers 200, asking again every poll interval."
            " PreRollout, PreDomain (before the domain's upgrade), PostDomain (after the domain is healthy) and"
            " Rollback (when the rollout fails or rolls back) notify: they are tried 1 + retries times, and a"
            " failure is recorded, not waited on."
        )
    )
    webhook: Annotated[str, Field(pattern=CLOUD_NAME_PATTERN, min_length=1, max_length=63)] | None = Field(
        default=None,
        description=(
            "Name of a webhook defined in the operator configuration (webhooks.<name>.url). A name, never a URL."
        ),
    )
    url_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="A Secret key in this namespace whose value is the hook's http(s) URL (the operator reads it).",
    )
    timeout: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32), _HOOK_TIMEOUT] = Field(
        default="10s", description="How long one call may take, 1s to 60s."
    )
    retries: int = Field(
        default=2, description="More attempts after a failed call of a notifying hook, 0 to 10.", ge=0, le=10
    )

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


# --------------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------------


class Measurement(Model):
    """One query's result in one round."""

    round: int = Field(description="Round number, from 1.", ge=1)
    query: str = Field(description="Name of the query.", max_length=63)
    phase: MeasurementPhase = Field(description="Successful, Failed, Inconclusive or Error.")
    value: str | None = Field(
        default=None, description="The result (samples joined with ',', at most a few).", max_length=256
    )
    measured_at: Timestamp = Field(description="When it was measured.")
    message: str | None = Field(default=None, description="Why it is not Successful, in words.", max_length=1024)


class AnalysisStatus(Model):
    """The analysis of the domain that succeeded last."""

    domain: str = Field(description="Id of the domain analysed.", pattern=DOMAIN_ID_PATTERN, max_length=63)
    phase: AnalysisPhase = Field(description="Running, Successful, Failed or Inconclusive.")
    started_at: Timestamp = Field(description="When the domain was healthy and the analysis began.")
    next_measurement_at: Timestamp | None = Field(default=None, description="When the next round is due.")
    rounds: int = Field(default=0, description="Rounds measured so far.", ge=0)
    successful: int = Field(default=0, description="Rounds that were Successful.", ge=0)
    failed: int = Field(default=0, description="Rounds that Failed.", ge=0)
    inconclusive: int = Field(default=0, description="Rounds that were Inconclusive.", ge=0)
    measurements: tuple[Measurement, ...] = Field(
        default=(),
        description=f"The newest measurements (at most {MAX_MEASUREMENTS}; every one is also an event).",
        max_length=MAX_MEASUREMENTS,
    )
    message: str | None = Field(default=None, description="The verdict in words.", max_length=2048)
    retry_token: str | None = Field(
        default=None, description="spec.rollout.retryToken when the analysis started.", max_length=64
    )


class MaintenanceWindowStatus(Model):
    """Whether a maintenance window is open now, and when the next one opens."""

    open: bool = Field(description="True while a maintenance window is open.")
    window_ends_at: Timestamp | None = Field(default=None, description="When the open window closes.")
    next_window_at: Timestamp | None = Field(default=None, description="When the next window opens.")
    message: str | None = Field(default=None, description="Why the rollout waits, in words.", max_length=1024)


class HookRun(Model):
    """One hook called for one step (the rollout, a domain, or a failure)."""

    hook: str = Field(description="Name of the hook (spec.rollout.hooks[].name).", max_length=63)
    subject: str = Field(
        description="What it was called for: 'rollout', a domain id, or 'failure-<time>'.",
        pattern=DOMAIN_ID_PATTERN,
        max_length=63,
    )
    type: HookType = Field(description="The type of the hook.")
    phase: HookPhase = Field(
        description=(
            "Pending (not called yet), Waiting (a confirm hook that has not answered 200 yet), Succeeded or"
            " Failed (a notifying hook out of retries)."
        )
    )
    attempts: int = Field(default=0, description="Calls made so far.", ge=0)
    status_code: int | None = Field(default=None, description="HTTP status of the last call.", ge=0, le=999)
    last_attempt_at: Timestamp | None = Field(default=None, description="When it was last called.")
    next_attempt_at: Timestamp | None = Field(default=None, description="When it is called again.")
    message: str | None = Field(default=None, description="The last outcome in words.", max_length=1024)


class ApprovalStatus(Model):
    """A manual approval asked for before a domain starts."""

    domain: str = Field(description="Id of the domain waiting for approval.", pattern=DOMAIN_ID_PATTERN, max_length=63)
    token: str = Field(
        description=(
            "Set the annotation imagerollout.dev/approve to this value (kubectl ssi approve does) to let the"
            " domain start; a value meant for another domain approves nothing."
        ),
        pattern="^[a-z0-9]{6,32}$",
    )
    requested_at: Timestamp = Field(description="When the approval was asked for.")
    approved_at: Timestamp | None = Field(default=None, description="When the approval was seen.")


WINDOWS_DESCRIPTION = (
    "Recurring windows in which a domain may start; a domain in flight when a window closes finishes. Empty:"
    " always. status.maintenanceWindow shows the next window and why the rollout waits."
)


__all__ = [
    "MAX_HOOK_RUNS",
    "MAX_MEASUREMENTS",
    "AnalysisQuery",
    "AnalysisSpec",
    "AnalysisStatus",
    "ApprovalMode",
    "ApprovalStatus",
    "HookPhase",
    "HookRun",
    "HookSpec",
    "MaintenanceWindow",
    "MaintenanceWindowStatus",
    "Measurement",
    "SecretKeyRef",
    "WeeklySchedule",
]
