"""The fleet planner, pure: (fleet spec, fleet status, member ScaleSetImages now) -> status, member writes, events.

A run is one image rolled across the fleet's members stage by stage. Each pass:

1. following: the newest eligible version seen, approved (spec, annotation, or autoApprove) or not;
2. a run starts when the wanted image differs from the run's (a new ``spec.image`` at once; a new followed
   version once the run in flight has ended, so no stage changes image halfway);
3. members are read: a member set to the run's image (its generation recorded) succeeds or fails when its own
   status says so *for that generation or later*, never from a status left by an earlier image;
4. stages are walked in order: a stage starts after the previous one ended, its wait has passed and, when
   asked for, its approval token is in ``spec.approvals`` or the ``imagerollout.dev/approve`` annotation; it
   starts up to ``maxParallel`` members; it ends when every member ended. A failure under ``StopRun`` starts
   nothing more (members in flight finish) and the stages not begun end ``NotStarted``;
5. pausing the fleet pauses the members in flight (``spec.rollout.paused``), resuming resumes them.

Everything the next pass needs is in the status it returns, so a restart anywhere resumes the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from controller.resource import Condition, ConditionStatus, ConditionType, ImageSource, evolve, set_condition
from controller.resource.fleet import (
    APPROVE_ANNOTATION,
    FailurePolicy,
    FleetEventReason,
    FleetPhase,
    FleetReason,
    MemberState,
    MemberStatus,
    RunStatus,
    ScaleSetImageRolloutSpec,
    ScaleSetImageRolloutStatus,
    StageState,
    StageStatus,
)

from .following import advance_follow
from .following import newest_version as newest_version
from .views import ApplyToMember, FleetEvent, FleetPlan, MemberView

_ENDED = frozenset({StageState.SUCCEEDED, StageState.FAILED, StageState.NOT_STARTED})
_NOT_BEGUN = frozenset({StageState.PENDING, StageState.WAITING, StageState.WAITING_FOR_APPROVAL})


def approval_token(stage: str, run: int) -> str:
    """The token that approves ``stage`` of run ``run`` (tied to the run, so an old approval never opens a new run)."""
    return f"{stage}@run-{run}"


class _Draft:
    """The status being built, and what the pass decided so far."""

    def __init__(self, status: ScaleSetImageRolloutStatus, now: datetime) -> None:
        self.status = status
        self.now = now
        self.actions: list[ApplyToMember] = []
        self.events: list[FleetEvent] = []
        self.requeue: float | None = None

    def event(self, reason: FleetEventReason, message: str, warning: bool = False) -> None:
        self.events.append(FleetEvent(reason, message, warning))


def plan_fleet(
    spec: ScaleSetImageRolloutSpec,
    status: ScaleSetImageRolloutStatus,
    members: Sequence[MemberView],
    *,
    now: datetime,
    generation: int,
    annotations: Mapping[str, str] | None = None,
    latest_version: str | None = None,
) -> FleetPlan:
    """One decision for a fleet. ``latest_version``: what following found now (``newest_version``), if anything."""
    d = _Draft(status, now)
    annotations = annotations or {}
    wanted = _wanted_image(spec, d, annotations, latest_version)
    run = d.status.run
    # A new spec.image starts a run at once; a newly approved followed version waits for the run in flight to end.
    new_image = wanted is not None and (run is None or wanted != run.image)
    if new_image and (run is None or run.finished_at is not None or spec.image is not None):
        assert wanted is not None
        _start_run(spec, d, wanted)
    run = d.status.run
    if run is None:
        return _finish(spec, d, generation, run_over=True)
    if run.finished_at is None:
        _take_members(spec, d, members)
        _read_members(d, {m.key: m for m in members})
        _walk_stages(spec, d, annotations)
        _propagate_pause(spec, d)
    return _finish(spec, d, generation, run_over=d.status.run is None or d.status.run.finished_at is not None)


def record_applied(
    status: ScaleSetImageRolloutStatus, namespace: str, name: str, generation: int
) -> ScaleSetImageRolloutStatus:
    """After the apply to a member went through: the member generation that carries the run's image."""
    members = tuple(
        evolve(m, generation=generation) if (m.namespace, m.name) == (namespace, name) and m.generation is None else m
        for m in status.members
    )
    return evolve(status, members=members)


def unrecord_started(status: ScaleSetImageRolloutStatus, namespace: str, name: str) -> ScaleSetImageRolloutStatus:
    """The apply to a member failed: it is Pending again (the next pass starts it again)."""
    members = tuple(
        evolve(m, state=MemberState.PENDING, started_at=None, generation=None)
        if (m.namespace, m.name) == (namespace, name) and m.generation is None
        else m
        for m in status.members
    )
    return evolve(status, members=members)


# --------------------------------------------------------------------------------------------------
# following and runs
# --------------------------------------------------------------------------------------------------


def _wanted_image(
    spec: ScaleSetImageRolloutSpec, d: _Draft, annotations: Mapping[str, str], latest: str | None
) -> ImageSource | None:
    if spec.follow is None:
        if d.status.follow is not None:
            d.status = evolve(d.status, follow=None)
        return spec.image
    follow, events = advance_follow(spec.follow, d.status.follow, latest, now=d.now, annotations=annotations)
    d.events.extend(events)
    d.status = evolve(d.status, follow=follow)
    return spec.follow.image_for(follow.approved_version) if follow.approved_version else None


def _start_run(spec: ScaleSetImageRolloutSpec, d: _Draft, image: ImageSource) -> None:
    old = d.status.run
    number = old.number + 1 if old is not None else 1
    run = RunStatus(number=number, image=image, image_summary=image.summary(), started_at=d.now, paused=spec.paused)
    d.status = evolve(
        d.status,
        run=run,
        stages=tuple(StageStatus(name=s.name) for s in spec.stages),
        members=(),
        excluded=(),
        pending_approval=None,
        current_stage=None,
    )
    d.event(
        FleetEventReason.RUN_STARTED, f"Run {number} started: {run.image_summary} over {len(spec.stages)} stage(s)."
    )


# --------------------------------------------------------------------------------------------------
# members
# --------------------------------------------------------------------------------------------------


def _take_members(spec: ScaleSetImageRolloutSpec, d: _Draft, views: Sequence[MemberView]) -> None:
    """Assign the selected members to stages; a member keeps its stage once started."""
    recorded = {m.key: m for m in d.status.members}
    order = {s.name: i for i, s in enumerate(spec.stages)}
    stage_state = {s.name: s.state for s in d.status.stages}
    excluded: list[str] = []
    out: dict[tuple[str, str], MemberStatus] = {}
    for view in sorted(views, key=lambda v: v.key):
        old = recorded.get(view.key)
        if old is not None and old.state != MemberState.PENDING:
            out[view.key] = old
            continue
        if view.denied is not None:
            excluded.append(f"{view.namespace}/{view.name}: {view.denied}")
            continue
        if view.follows:
            excluded.append(f"{view.namespace}/{view.name}: follows its own image (spec.follow)")
            continue
        stage = next((s.name for s in spec.stages if s.selector.matches(dict(view.labels))), None)
        if stage is None:
            excluded.append(f"{view.namespace}/{view.name}: matches no stage's selector")
            continue
        if old is None and stage_state.get(stage) in _ENDED:
            excluded.append(f"{view.namespace}/{view.name}: selected after its stage {stage} ended")
            continue
        out[view.key] = (
            old
            if old is not None and old.stage == stage
            else MemberStatus(namespace=view.namespace, name=view.name, stage=stage)
        )
    for key, old in recorded.items():
        if key not in out and old.state != MemberState.PENDING:
            # No longer selected (or deleted) after it started: it ends here, as a failure if it was in flight.
            if old.state == MemberState.PROGRESSING:
                old = evolve(
                    old, state=MemberState.FAILED, finished_at=d.now, message="No longer selected, or deleted."
                )
            out[key] = old
    members = sorted(out.values(), key=lambda m: (order.get(m.stage, len(order)), m.namespace, m.name))
    d.status = evolve(d.status, members=tuple(members), excluded=tuple(excluded))


def _read_members(d: _Draft, views: Mapping[tuple[str, str], MemberView]) -> None:
    run = d.status.run
    assert run is not None
    members = []
    for m in d.status.members:
        view = views.get(m.key)
        if view is not None:
            m = evolve(m, phase=view.phase, domains=view.domains)
        if m.state == MemberState.PROGRESSING and view is not None:
            m = _progress(d, m, view, run)
        members.append(m)
    d.status = evolve(d.status, members=tuple(members))


def _progress(d: _Draft, m: MemberStatus, view: MemberView, run: RunStatus) -> MemberStatus:
    name = f"{m.namespace}/{m.name}"
    if m.generation is None:
        if view.image == run.image:
            return evolve(m, generation=view.generation)  # applied, but the pass ended before recording it
        return m
    if view.image != run.image:
        d.event(FleetEventReason.MEMBER_FAILED, f"{name}: spec.image was changed outside the fleet.", True)
        return evolve(
            m, state=MemberState.FAILED, finished_at=d.now, message="spec.image was changed outside the fleet."
        )
    current = (view.observed_generation or 0) >= m.generation and (view.target_generation or 0) >= m.generation
    if view.stalled is not None and (view.observed_generation or 0) >= m.generation:
        d.event(FleetEventReason.MEMBER_FAILED, f"{name} failed: {view.stalled}", True)
        return evolve(m, state=MemberState.FAILED, finished_at=d.now, message=view.stalled[:4096])
    if current and view.phase == "Succeeded":
        d.event(FleetEventReason.MEMBER_SUCCEEDED, f"{name} runs {run.image_summary}.")
        return evolve(m, state=MemberState.SUCCEEDED, finished_at=d.now, message=None)
    if current and view.phase == "Failed":
        d.event(FleetEventReason.MEMBER_FAILED, f"{name} failed its rollout.", True)
        return evolve(m, state=MemberState.FAILED, finished_at=d.now, message="The member's rollout failed.")
    return m


# --------------------------------------------------------------------------------------------------
# stages
# --------------------------------------------------------------------------------------------------


def _walk_stages(spec: ScaleSetImageRolloutSpec, d: _Draft, annotations: Mapping[str, str]) -> None:
    run = d.status.run
    assert run is not None
    approvals = set(spec.approvals) | {
        t.strip() for t in annotations.get(APPROVE_ANNOTATION, "").split(",") if t.strip()
    }
    by_name = {s.name: s for s in d.status.stages}
    stages = [by_name.get(s.name) or StageStatus(name=s.name) for s in spec.stages]
    members = list(d.status.members)
    stop = spec.failure_policy == FailurePolicy.STOP_RUN and any(m.state == MemberState.FAILED for m in members)
    previous_end = run.started_at
    current: str | None = None
    pending_approval: str | None = None
    blocked = False
    for i, stage_spec in enumerate(spec.stages):
        st = _counted(stages[i], members)
        if blocked:
            stages[i] = st
            continue
        if st.state in _ENDED:
            previous_end = st.finished_at or previous_end
            stages[i] = st
            continue
        if st.state in _NOT_BEGUN:
            if stop:
                stages[i] = evolve(st, state=StageState.NOT_STARTED, not_before=None)
                continue
            current = st.name
            if spec.paused:
                stages[i], blocked = st, True
                continue
            wait = stage_spec.wait_before_seconds
            if wait > 0:
                not_before = previous_end + timedelta(seconds=wait)
                if d.now < not_before:
                    stages[i] = evolve(st, state=StageState.WAITING, not_before=not_before)
                    d.requeue = min(d.requeue or 1e9, (not_before - d.now).total_seconds())
                    blocked = True
                    continue
            if stage_spec.approval and st.approved_at is None:
                token = approval_token(st.name, run.number)
                if token not in approvals:
                    if st.state != StageState.WAITING_FOR_APPROVAL:
                        d.event(
                            FleetEventReason.APPROVAL_REQUIRED,
                            f"Stage {st.name} waits for approval: add {token} to spec.approvals"
                            f" (or to the {APPROVE_ANNOTATION} annotation).",
                        )
                    stages[i] = evolve(st, state=StageState.WAITING_FOR_APPROVAL)
                    pending_approval = token
                    blocked = True
                    continue
                st = evolve(st, approved_at=d.now)
                d.event(FleetEventReason.STAGE_APPROVED, f"Stage {st.name} approved ({token}).")
            st = evolve(st, state=StageState.PROGRESSING, started_at=d.now, not_before=None)
            d.event(FleetEventReason.STAGE_STARTED, f"Stage {st.name} started: {st.members} member(s).")
        # Progressing
        current = st.name
        in_stage = [j for j, m in enumerate(members) if m.stage == st.name]
        in_flight = sum(members[j].state == MemberState.PROGRESSING for j in in_stage)
        if not spec.paused and not stop:
            for j in in_stage:
                if in_flight >= stage_spec.max_parallel:
                    break
                m = members[j]
                if m.state != MemberState.PENDING:
                    continue
                members[j] = evolve(m, state=MemberState.PROGRESSING, started_at=d.now, generation=None)
                d.actions.append(ApplyToMember(m.namespace, m.name, run.image, paused=False))
                d.event(FleetEventReason.MEMBER_STARTED, f"{m.namespace}/{m.name}: image set to {run.image_summary}.")
                in_flight += 1
        st = _counted(st, members)
        states = [members[j].state for j in in_stage]
        if MemberState.PROGRESSING in states or (MemberState.PENDING in states and not stop):
            stages[i] = st
            blocked = True
            continue
        failed = st.failed > 0 or MemberState.PENDING in states
        st = evolve(st, state=StageState.FAILED if failed else StageState.SUCCEEDED, finished_at=d.now)
        if failed:
            d.event(
                FleetEventReason.STAGE_FAILED, f"Stage {st.name} failed: {st.failed} of {st.members} member(s).", True
            )
        else:
            d.event(FleetEventReason.STAGE_SUCCEEDED, f"Stage {st.name} succeeded: {st.members} member(s).")
        stages[i] = st
        previous_end = d.now
        current = None
        stop = stop or (spec.failure_policy == FailurePolicy.STOP_RUN and failed)
    d.status = evolve(
        d.status, stages=tuple(stages), members=tuple(members), current_stage=current, pending_approval=pending_approval
    )
    if all(s.state in _ENDED for s in stages):
        ok = all(s.state == StageState.SUCCEEDED for s in stages)
        d.status = evolve(d.status, run=evolve(run, finished_at=d.now), current_stage=None)
        if ok:
            d.event(FleetEventReason.RUN_SUCCEEDED, f"Run {run.number} succeeded: {run.image_summary}.")
        else:
            failed_members = [f"{m.namespace}/{m.name}" for m in members if m.state == MemberState.FAILED]
            d.event(
                FleetEventReason.RUN_FAILED,
                f"Run {run.number} failed: {', '.join(failed_members) or 'members not started'}.",
                True,
            )


def _counted(st: StageStatus, members: Sequence[MemberStatus]) -> StageStatus:
    mine = [m for m in members if m.stage == st.name]
    return evolve(
        st,
        members=len(mine),
        succeeded=sum(m.state == MemberState.SUCCEEDED for m in mine),
        failed=sum(m.state == MemberState.FAILED for m in mine),
    )


def _propagate_pause(spec: ScaleSetImageRolloutSpec, d: _Draft) -> None:
    """Pause or resume the members in flight when the fleet's pause changed."""
    run = d.status.run
    assert run is not None
    if run.finished_at is not None or run.paused == spec.paused:
        return
    started = {a.key for a in d.actions}
    for m in d.status.members:
        if m.state == MemberState.PROGRESSING and m.key not in started:
            d.actions.append(ApplyToMember(m.namespace, m.name, run.image, paused=spec.paused))
    d.status = evolve(d.status, run=evolve(run, paused=spec.paused))
    if spec.paused:
        d.event(FleetEventReason.FLEET_PAUSED, "Paused: no member or stage starts; members in flight are paused.")
    else:
        d.event(FleetEventReason.FLEET_RESUMED, "Resumed.")


# --------------------------------------------------------------------------------------------------
# phase and conditions
# --------------------------------------------------------------------------------------------------


def _finish(spec: ScaleSetImageRolloutSpec, d: _Draft, generation: int, *, run_over: bool) -> FleetPlan:
    run = d.status.run
    follow = d.status.follow
    waiting_version = (
        follow is not None and follow.latest_version is not None and follow.approved_version != follow.latest_version
    )
    if run is None:
        if spec.follow is not None and waiting_version:
            assert follow is not None
            phase, reason = FleetPhase.WAITING_FOR_APPROVAL, FleetReason.WAITING_FOR_VERSION_APPROVAL
            message = f"Version {follow.latest_version} waits for approval (spec.follow.approvedVersion)."
        else:
            phase, reason, message = FleetPhase.PENDING, FleetReason.NO_IMAGE, "No version to roll out yet."
    elif run.finished_at is not None:
        failed = any(s.state != StageState.SUCCEEDED for s in d.status.stages)
        phase = FleetPhase.FAILED if failed else FleetPhase.SUCCEEDED
        reason = FleetReason.RUN_FAILED if failed else FleetReason.RUN_SUCCEEDED
        message = _summary(d.status)
        failures = [f"{m.namespace}/{m.name} ({m.message})" for m in d.status.members if m.state == MemberState.FAILED]
        if failures:
            message += " Failed: " + "; ".join(failures)[:2000] + "."
        if waiting_version:
            assert follow is not None
            message += f" Version {follow.latest_version} waits for approval (spec.follow.approvedVersion)."
    elif spec.paused:
        phase, reason, message = FleetPhase.PAUSED, FleetReason.PAUSED_BY_USER, "Paused by spec.paused."
    elif d.status.pending_approval is not None:
        phase, reason = FleetPhase.WAITING_FOR_APPROVAL, FleetReason.WAITING_FOR_APPROVAL
        message = (
            f"Stage {d.status.current_stage} waits for approval: add {d.status.pending_approval} to spec.approvals."
        )
    elif any(s.state == StageState.WAITING for s in d.status.stages):
        phase, reason = FleetPhase.WAITING, FleetReason.WAITING_BETWEEN_STAGES
        message = f"Waiting before stage {d.status.current_stage}."
    else:
        phase, reason, message = FleetPhase.PROGRESSING, FleetReason.RUN_IN_PROGRESS, _summary(d.status)
    status = evolve(d.status, phase=phase, observed_generation=generation)
    status = fleet_conditions(status, phase, reason, message, generation, d.now)
    return FleetPlan(
        status=status,
        actions=tuple(d.actions),
        events=tuple(d.events),
        requeue_after=d.requeue,
        settled=run_over or phase in (FleetPhase.PAUSED, FleetPhase.WAITING_FOR_APPROVAL),
    )


def _summary(status: ScaleSetImageRolloutStatus) -> str:
    run = status.run
    head = f"Run {run.number} ({run.image_summary}): " if run is not None else ""
    return f"{head}stages {status.stage_progress}, members {status.member_progress} succeeded."


def fleet_conditions(
    status: ScaleSetImageRolloutStatus,
    phase: FleetPhase,
    reason: FleetReason,
    message: str,
    generation: int,
    now: datetime,
) -> ScaleSetImageRolloutStatus:
    """Ready / Reconciling / Stalled of a fleet, all three from its phase (kstatus), with one reason and message."""
    ready = phase == FleetPhase.SUCCEEDED
    stalled = phase == FleetPhase.FAILED
    reconciling = phase in (FleetPhase.PROGRESSING, FleetPhase.WAITING, FleetPhase.WAITING_FOR_APPROVAL)
    conditions = status.conditions
    for type_, value in (
        (ConditionType.READY, ready),
        (ConditionType.RECONCILING, reconciling),
        (ConditionType.STALLED, stalled),
    ):
        conditions = set_condition(
            conditions,
            Condition(
                type=type_,
                status=ConditionStatus.TRUE if value else ConditionStatus.FALSE,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=generation,
            ),
        )
    return evolve(status, conditions=conditions)
