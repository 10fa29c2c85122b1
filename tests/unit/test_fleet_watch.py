"""The fleet reacts to its members' watch events: which fleet runs which member, and which changes nudge it.

Aspects: a member of a run in flight nudges its fleet when its phase, generations, Stalled or image change, not on
an event that changes none of them (a resync, another field); a member of no run in flight, or of a fleet that
was deleted, nudges nothing; a member in two fleets' runs nudges both; a deleted member nudges its fleets.
"""

from __future__ import annotations

from typing import Any

from controller.operator.fleet import member_signature, members_moved, watch_members

FLEET, OTHER = ("platform", "web"), ("platform", "api")
A, B = ("eu", "a"), ("eu", "b")


def body(phase: str = "Progressing", generation: int = 2, observed: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "eu", "name": "a", "generation": generation},
        "spec": {"image": {"marketplace": {"version": "2.0.0"}}},
        "status": {"phase": phase, "observedGeneration": observed, "target": {"generation": observed}, **extra},
    }


def test_a_member_change_nudges_the_fleet_that_runs_it_once() -> None:
    watch_members(FLEET, [A, B])
    try:
        assert members_moved(A, member_signature(body()), gone=False) == [FLEET]
        # the same status again (a resync, a label edit): nothing to decide
        assert members_moved(A, member_signature(body()), gone=False) == []
        assert members_moved(A, member_signature(body(phase="Succeeded")), gone=False) == [FLEET]
        stalled = body(phase="Succeeded", conditions=[{"type": "Stalled", "status": "True"}])
        assert members_moved(A, member_signature(stalled), gone=False) == [FLEET]
        assert members_moved(A, member_signature(body(generation=3, phase="Succeeded")), gone=False) == [FLEET]
        assert members_moved(A, member_signature(body()), gone=True) == [FLEET]
    finally:
        watch_members(FLEET, ())


def test_members_of_no_run_in_flight_nudge_nothing() -> None:
    assert members_moved(A, member_signature(body()), gone=False) == []
    watch_members(FLEET, [A])
    watch_members(FLEET, ())  # the run ended (or the fleet was deleted)
    assert members_moved(A, member_signature(body(phase="Failed")), gone=False) == []


def test_a_member_in_two_runs_nudges_both_and_a_fleet_letting_go_stops_its_nudges() -> None:
    watch_members(FLEET, [A])
    watch_members(OTHER, [A, B])
    try:
        assert members_moved(A, member_signature(body()), gone=False) == [OTHER, FLEET]
        watch_members(OTHER, [B])
        assert members_moved(A, member_signature(body(phase="Succeeded")), gone=False) == [FLEET]
        assert members_moved(B, member_signature(body()), gone=False) == [OTHER]
    finally:
        watch_members(FLEET, ())
        watch_members(OTHER, ())
