"""Domain boundaries (issue 14): the next domain starts on the observation that showed the last one healthy.

Aspects: with no pause, the pass that sees a domain healthy also starts the next one (one instance listing
per boundary, not two); with a pause it waits the pause first; after the last domain there is no pause:
the same pass verifies every instance and reports Succeeded.
"""

from __future__ import annotations

from controller.observed import OperationState
from controller.resource import DomainState, Phase, ScaleSetImageStatus
from controller.rollout import UpgradeInstances, record_operation

from .builders import NEW, NOW, later, scale_set, spec
from .test_other_actors import on, step


def through_ud0(**rollout: str) -> ScaleSetImageStatus:
    sp = spec(**rollout)
    s = step(sp, ScaleSetImageStatus(), scale_set()).status
    s = step(sp, s, scale_set(NEW)).status
    return record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW)


def test_with_no_pause_the_next_domain_starts_in_the_same_pass() -> None:
    s = through_ud0()
    plan = step(spec(), s, on(scale_set(NEW), ["0", "5"]), now=5, operation=OperationState("Succeeded"))
    assert plan.status.domains[0].state == DomainState.SUCCEEDED
    assert plan.action == UpgradeInstances("ud-1", ("1", "6"))


def test_with_a_pause_the_next_domain_waits_for_it() -> None:
    s = through_ud0(pauseBetweenDomains="30s")
    plan = step(
        spec(pauseBetweenDomains="30s"), s, on(scale_set(NEW), ["0", "5"]), now=5, operation=OperationState("Succeeded")
    )
    assert plan.action is None
    assert plan.requeue_after == 30.0


def test_no_pause_after_the_last_domain() -> None:
    sp = spec(pauseBetweenDomains="30s")
    s = through_ud0(pauseBetweenDomains="30s")
    upgraded = ["0", "5"]
    for n, (ud, ids) in enumerate(
        [("ud-1", ("1", "6")), ("ud-2", ("2", "7")), ("ud-3", ("3", "8")), ("ud-4", ("4", "9"))]
    ):
        s = step(sp, s, on(scale_set(NEW), upgraded), now=5 + 40 * n, operation=OperationState("Succeeded")).status
        s = step(sp, s, on(scale_set(NEW), upgraded), now=40 + 40 * n).status
        s = record_operation(s, UpgradeInstances(ud, ids), "dG9rZW4=", later(40 + 40 * n))
        upgraded += list(ids)
    plan = step(sp, s, on(scale_set(NEW), upgraded), now=200, operation=OperationState("Succeeded"))
    assert plan.status.phase == Phase.SUCCEEDED, "the last domain's pass ends the rollout, with no pause"
