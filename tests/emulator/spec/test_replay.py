"""The spec-driven conformance suite: every operation the emulator serves, at every api-version stored here
(README.md), replayed from Azure's x-ms-examples and from the suite's own request, each answer checked against
the swagger of the request's api-version (fields, types, enums, casing, ids, long-running headers and the
operation status resource)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from scaleset_testbed.azure import EmulatorThread

from ..conftest import Control
from .replay import Case, cases, problems, scenario, send

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_replay(emulator_thread: Callable[..., EmulatorThread], case: Case) -> None:
    emu = emulator_thread(scenario(case), time_scale=200.0, profile=case.profile)
    answer = send(case, emu.url, Control(emu.url))
    found = problems(answer)
    assert not found, "\n".join(found)


def test_every_served_operation_is_covered_at_every_stored_version() -> None:
    from .extract import OPERATIONS

    covered: dict[str, set[str]] = {}
    for case in CASES:
        covered.setdefault(case.folder, set()).add(case.operation)
    for folder, ops in covered.items():
        family = folder.split("-", 1)[0]
        assert ops == set(OPERATIONS[family]), (folder, set(OPERATIONS[family]) - ops)
