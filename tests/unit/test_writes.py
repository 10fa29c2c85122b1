"""What a reconcile pass reads before it writes, and what it does after a write fails (issue 11).

Aspects: a write decided on a cached model reads the model again first and is decided again on it (so
another actor's image is never installed by a manualupgrade); after a 412 (or any failed write) the next
pass reads the model again instead of resending the stale If-Match; a normal mid-walk write costs exactly
one extra GET.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from scaleset_testbed.worlds import VERSIONS

from controller.azure import AzureCallError, ComputeGateway, SeenScaleSet
from controller.azure.pipeline import withdrawal_reason
from controller.config import OperatorConfig
from controller.observed import ObservedInstance, ObservedScaleSet, OperationState
from controller.operator import OperatorContext
from controller.operator.live import LiveMeta, LiveObjects, LiveReadError
from controller.operator.reconcile import reconcile
from controller.resource import DomainState, ScaleSetImageStatus, evolve
from controller.rollout import UpgradeInstances, record_operation
from tests.planner.builders import NEW, NOW, OLD, scale_set, spec, with_instances

OTHER = VERSIONS[2]
KEY = ("default", "web")


def walk_status() -> ScaleSetImageStatus:
    """ud-0 done, the walk about to start ud-1 (status as the operator wrote it)."""
    from controller.observed import ImageFacts, Observation
    from controller.rollout import plan_next_step

    def plan(status: ScaleSetImageStatus, ss: ObservedScaleSet) -> ScaleSetImageStatus:
        obs = Observation(scale_set=ss, image=ImageFacts(marketplace_versions=VERSIONS))
        return plan_next_step(spec(), status, obs, now=NOW, generation=1).status

    s = plan(ScaleSetImageStatus(), scale_set())
    s = plan(s, scale_set(NEW))
    s = record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW)
    s = evolve(s, operation=None)
    s = plan(s, upgraded(scale_set(NEW), ["0", "5"]))
    assert s.domains[0].state == DomainState.SUCCEEDED
    return s


def upgraded(ss: ObservedScaleSet, ids: list[str]) -> ObservedScaleSet:
    return with_instances(ss, {i: {"image_version": NEW, "latest_model": True} for i in ids})


class FakeAzure:
    """A gateway whose model the test changes behind the operator's back; it records every call."""

    def __init__(self, model_version: str, instances: tuple[ObservedInstance, ...]) -> None:
        self.model = scale_set(model_version)
        self.instances = instances
        self.calls: Counter[str] = Counter()
        self.fail_model_write: AzureCallError | None = None
        self.etags_written: list[str | None] = []
        self.during_budget_wait: Callable[[], None] = lambda: None
        self.sent = 0

    async def observe(self, ref: Any) -> ObservedScaleSet | None:
        self.calls["get_model"] += 1
        self.calls["list_instances"] += 1
        return self._now()

    async def get_model(self, ref: Any) -> ObservedScaleSet | None:
        self.calls["get_model"] += 1
        return self._now()

    async def list_instances(self, ref: Any, *, flexible: bool = False) -> tuple[ObservedInstance, ...]:
        self.calls["list_instances"] += 1
        return self.instances

    async def marketplace_versions(self, *args: Any) -> list[str]:
        self.calls["marketplace_versions"] += 1
        return list(VERSIONS)

    async def manual_upgrade(self, ref: Any, ids: list[str]) -> str:
        self.calls["manual_upgrade"] += 1
        await self.wait_for_budget()
        return "dG9rZW4="

    async def update_model_image(self, ref: Any, reference: Any, vhd: Any, etag: str | None) -> str:
        self.calls["update_model_image"] += 1
        self.etags_written.append(etag)
        if self.fail_model_write is not None:
            raise self.fail_model_write
        await self.wait_for_budget()
        return "dG9rZW4="

    async def wait_for_budget(self) -> None:
        """What the real gateway does before a write leaves: wait for the budget, then ask the caller again."""
        self.during_budget_wait()
        reason = await withdrawal_reason()
        if reason is not None:
            raise AzureCallError("Withdrawn", "WriteWithdrawn", reason)
        self.sent += 1

    async def poll(self, ref: Any, kind: Any, token: str) -> OperationState:
        self.calls["poll"] += 1
        return OperationState("Succeeded")

    def budget_wait(self, ref: Any, request_class: str) -> tuple[float, str]:
        return 0.0, ""

    async def close(self) -> None:
        pass

    def _now(self) -> ObservedScaleSet:
        from dataclasses import replace

        return replace(self.model, instances=self.instances)


def context(azure: FakeAzure) -> OperatorContext:
    return OperatorContext(config=OperatorConfig(), gateway_factory=lambda profile: cast(ComputeGateway, azure))


def body(status: ScaleSetImageStatus, uid: str = "uid-1") -> dict[str, Any]:
    return {
        "metadata": {"namespace": KEY[0], "name": KEY[1], "generation": 1, "uid": uid},
        "spec": spec().to_dict(),
        "status": status.to_dict(),
    }


def cache(ctx: OperatorContext, ss: ObservedScaleSet) -> None:
    """The operator read ``ss`` a moment ago (fresh cache, so mid-walk passes skip the model GET)."""
    ctx.seen[KEY] = SeenScaleSet(ss, time.monotonic() - 1)


async def test_a_write_planned_on_a_cached_model_reads_the_model_again_and_replans() -> None:
    status = walk_status()
    instances = upgraded(scale_set(NEW), ["0", "5"]).instances
    azure = FakeAzure(OTHER, instances)  # someone set another image since the operator's last read
    ctx = context(azure)
    cache(ctx, scale_set(NEW, instances))
    patch, _ = await reconcile(ctx, body(status), post_event=lambda *a: None)
    assert azure.calls["manual_upgrade"] == 0, "the other actor's image must not be installed"
    assert azure.calls["update_model_image"] == 1, "the declared image is put back"
    assert azure.calls["get_model"] == 1
    assert patch["conditions"] is not None


async def test_a_normal_mid_walk_write_costs_one_extra_model_get() -> None:
    status = walk_status()
    instances = upgraded(scale_set(NEW), ["0", "5"]).instances
    azure = FakeAzure(NEW, instances)
    ctx = context(azure)
    cache(ctx, scale_set(NEW, instances))
    await reconcile(ctx, body(status), post_event=lambda *a: None)
    assert azure.calls == Counter({"list_instances": 1, "get_model": 1, "manual_upgrade": 1})


async def test_at_a_domain_boundary_the_model_is_read_with_the_listing_not_after_it() -> None:
    """ud-1's manualupgrade has just ended and ud-2 follows: the pass reads the model while it lists the
    instances (write_likely), so the write needs no GET after the listing: the same reads, less wait."""
    ud1 = walk_status()
    ud1 = record_operation(ud1, UpgradeInstances("ud-1", ("1", "6")), "dG9rZW4=", NOW)
    ud1 = evolve(
        ud1, domains=tuple(evolve(d, state=DomainState.UPGRADING) if d.id == "ud-1" else d for d in ud1.domains)
    )
    instances = upgraded(scale_set(NEW), ["0", "5", "1", "6"]).instances

    class Ordered(FakeAzure):
        def __init__(self) -> None:
            super().__init__(NEW, instances)
            self.order: list[str] = []

        async def get_model(self, ref: Any) -> ObservedScaleSet | None:
            self.order.append("get_model started")
            return await super().get_model(ref)

        async def list_instances(self, ref: Any, *, flexible: bool = False) -> tuple[ObservedInstance, ...]:
            self.order.append("listing started")
            found = await super().list_instances(ref, flexible=flexible)
            self.order.append("listing ended")
            return found

    azure = Ordered()
    ctx = context(azure)
    cache(ctx, scale_set(NEW, instances))
    patch, _ = await reconcile(ctx, body(ud1), post_event=lambda *a: None)
    assert azure.calls == Counter({"list_instances": 1, "get_model": 1, "manual_upgrade": 1})
    assert azure.order == ["get_model started", "listing started", "listing ended"]
    assert patch["currentDomain"] == "ud-2"


async def test_after_a_412_the_next_pass_reads_the_model_instead_of_resending_the_etag() -> None:
    status = ScaleSetImageStatus()
    azure = FakeAzure(OLD, scale_set().instances)
    azure.fail_model_write = AzureCallError("PreconditionFailed", "PreconditionFailed", "etag changed")
    ctx = context(azure)
    patch, requeue = await reconcile(ctx, body(status), post_event=lambda *a: None)
    assert azure.calls["update_model_image"] == 1
    assert KEY not in ctx.seen, "the stale model is forgotten"
    # Someone else's write moved the etag; the next pass sees the new one.
    azure.model = with_instances(scale_set(OLD), {})
    from dataclasses import replace

    azure.model = replace(azure.model, etag='"4"')
    azure.fail_model_write = None
    written = ScaleSetImageStatus.from_dict({**status.to_dict(), **{k: v for k, v in patch.items() if v is not None}})
    await reconcile(ctx, body(written), post_event=lambda *a: None)
    assert azure.etags_written == ['"3"', '"4"'], "never the same stale If-Match twice"
    assert requeue == 0.0


async def test_no_write_for_an_object_deleted_while_the_pass_ran() -> None:
    azure = FakeAzure(OLD, scale_set().instances)
    ctx = context(azure)
    ctx.saw(*KEY, "uid-1", gone=False)
    ctx.saw(*KEY, "uid-1", gone=True)  # the watch reported the deletion
    patch, _ = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert azure.calls["update_model_image"] == azure.calls["manual_upgrade"] == 0
    assert patch == {}


async def test_a_reconcile_of_the_old_object_writes_nothing_once_the_name_is_re_created() -> None:
    azure = FakeAzure(OLD, scale_set().instances)
    ctx = context(azure)
    ctx.saw(*KEY, "uid-1", gone=False)
    ctx.saw(*KEY, "uid-2", gone=False)  # deleted and re-created under the same name
    await reconcile(ctx, body(ScaleSetImageStatus(), uid="uid-1"), post_event=lambda *a: None)
    assert azure.calls["update_model_image"] == 0
    await reconcile(ctx, body(ScaleSetImageStatus(), uid="uid-2"), post_event=lambda *a: None)
    assert azure.calls["update_model_image"] == 1, "the live object is served as usual"


async def test_no_write_on_a_spec_that_changed_while_the_pass_waited_on_azure() -> None:
    """E.g. paused: the pass began on generation 1, the watch has since shown generation 2."""
    azure = FakeAzure(OLD, scale_set().instances)
    ctx = context(azure)
    ctx.saw(*KEY, "uid-1", gone=False, generation=2)
    patch, requeue = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert azure.calls["update_model_image"] == azure.calls["manual_upgrade"] == 0
    assert (patch, requeue) == ({}, 0.0)
    ctx.saw(*KEY, "uid-1", gone=False, generation=1)  # an older event changes nothing
    await reconcile(
        ctx,
        {**body(ScaleSetImageStatus()), "metadata": {**body(ScaleSetImageStatus())["metadata"], "generation": 2}},
        post_event=lambda *a: None,
    )
    assert azure.calls["update_model_image"] == 1, "the pass on the new spec writes as usual"


async def test_a_write_held_back_by_the_budget_is_withdrawn_when_the_spec_moves_on_meanwhile() -> None:
    """Seed 1254 of the campaign: paused while the manualupgrade of the next domain waited to be sent."""
    status = walk_status()
    instances = upgraded(scale_set(NEW), ["0", "5"]).instances
    azure = FakeAzure(NEW, instances)
    ctx = context(azure)
    ctx.saw(*KEY, "uid-1", gone=False, generation=1)
    azure.during_budget_wait = lambda: ctx.saw(*KEY, "uid-1", gone=False, generation=2)
    patch, requeue = await reconcile(ctx, body(status), post_event=lambda *a: None)
    assert azure.calls["manual_upgrade"] == 1, "the pass decided to write"
    assert azure.sent == 0, "but the write never left"
    assert (patch, requeue) == ({}, 0.0), "nothing recorded; decided again at once on the new spec"


async def test_a_write_held_back_by_the_budget_is_withdrawn_when_the_resource_is_deleted_meanwhile() -> None:
    azure = FakeAzure(OLD, scale_set().instances)
    ctx = context(azure)
    ctx.saw(*KEY, "uid-1", gone=False)
    azure.during_budget_wait = lambda: ctx.saw(*KEY, "uid-1", gone=True)
    patch, _ = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert azure.calls["update_model_image"] == 1
    assert azure.sent == 0
    assert patch == {}


async def test_a_model_write_without_an_etag_reads_the_model_again_right_before_it() -> None:
    """Azure Stack Hub's 2020-06-01 has no etag, so no If-Match: the read-to-write window is kept minimal."""
    from dataclasses import replace

    azure = FakeAzure(OLD, scale_set().instances)
    azure.model = replace(azure.model, etag=None)
    await reconcile(context(azure), body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert azure.calls["get_model"] == 2, "the pass's read, and one more right before the blind write"
    assert azure.etags_written == [None]
    with_etag = FakeAzure(OLD, scale_set().instances)
    await reconcile(context(with_etag), body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert with_etag.calls["get_model"] == 1, "If-Match guards it: no extra read"
    assert with_etag.etags_written == ['"3"']


async def test_a_pass_the_budget_would_hold_is_deferred_and_says_why() -> None:
    """Issue 14: a wait nobody sees (a demo sat 110 s with nothing in status) is now in status, metric, log."""
    azure = FakeAzure(OLD, scale_set().instances)
    waits: list[tuple[str, float]] = []
    azure.budget_wait = lambda ref, request_class: (  # type: ignore[method-assign]
        (42.0, "Compute instance listings (180 per 180 s)") if request_class == "vm_list" else (0.5, "ARM reads")
    )
    ctx = context(azure)
    ctx.budget_wait_hook = lambda limit, seconds: waits.append((limit, seconds))
    patch, requeue = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert sum(azure.calls.values()) == 0, "no Azure request while held"
    assert requeue == 42.0
    (condition,) = [c for c in patch["conditions"] if c["type"] == "Reconciling"]
    assert condition["reason"] == "WaitingForAzureBudget"
    assert "Waiting 42.0 s (until " in condition["message"]
    assert "Compute instance listings (180 per 180 s)" in condition["message"]
    assert waits == [("Compute instance listings (180 per 180 s)", 42.0)]
    azure.budget_wait = lambda ref, request_class: (0.5, "ARM reads")  # type: ignore[method-assign]
    await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert azure.calls["update_model_image"] == 1, "a short wait is left to the SDK pipeline"


class FakeLive:
    """The API server as ``OperatorContext.live`` reads it: what it holds for the name now."""

    def __init__(self, meta: LiveMeta | Exception) -> None:
        self.answer = meta
        self.reads = 0

    async def meta(self, namespace: str, name: str) -> LiveMeta:
        self.reads += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def close(self) -> None:
        pass


def live_context(azure: FakeAzure, meta: LiveMeta | Exception) -> tuple[OperatorContext, FakeLive]:
    ctx = context(azure)
    live = FakeLive(meta)
    ctx.live = cast(LiveObjects, live)
    ctx.saw(*KEY, "uid-1", gone=False, generation=1)  # the watch has not shown anything newer
    return ctx, live


async def test_a_deletion_the_watch_has_not_delivered_yet_withdraws_the_write() -> None:
    """Campaign B, seed 98: deleted 10 ms after creation, the model PATCH reached Azure 30 ms later, because
    the deletion waited in kopf's per-object queue behind the pass that sent it."""
    azure = FakeAzure(OLD, scale_set().instances)
    ctx, live = live_context(azure, LiveMeta(uid="uid-1", generation=1, deleting=True))
    patch, _ = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert azure.calls["update_model_image"] == 1, "the pass decided to write"
    assert (azure.sent, live.reads) == (0, 1), "the API server was asked, and the write never left"
    assert patch == {}


async def test_a_name_that_is_gone_or_re_created_on_the_api_server_gets_no_write() -> None:
    for meta in (LiveMeta(uid=None, generation=None, deleting=False), LiveMeta("uid-2", 1, False)):
        azure = FakeAzure(OLD, scale_set().instances)
        ctx, _ = live_context(azure, meta)
        patch, _ = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
        assert (azure.calls["update_model_image"], azure.sent, patch) == (1, 0, {}), meta


async def test_a_newer_spec_on_the_api_server_withdraws_the_write_and_decides_again_at_once() -> None:
    azure = FakeAzure(OLD, scale_set().instances)
    ctx, _ = live_context(azure, LiveMeta(uid="uid-1", generation=2, deleting=False))
    patch, requeue = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert (azure.sent, patch, requeue) == (0, {}, 0.0)


async def test_when_the_api_server_cannot_be_read_the_write_waits_and_is_not_retried_hot() -> None:
    azure = FakeAzure(OLD, scale_set().instances)
    ctx, _ = live_context(azure, LiveReadError("the Kubernetes API could not be read: refused"))
    patch, requeue = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert (azure.sent, patch) == (0, {})
    assert requeue >= 5.0


async def test_the_object_as_it_is_on_the_api_server_lets_the_write_go() -> None:
    azure = FakeAzure(OLD, scale_set().instances)
    ctx, live = live_context(azure, LiveMeta(uid="uid-1", generation=1, deleting=False))
    patch, _ = await reconcile(ctx, body(ScaleSetImageStatus()), post_event=lambda *a: None)
    assert (azure.sent, live.reads) == (1, 1), "one API-server read per Azure write"
    assert patch["operation"]["kind"] == "ModelUpdate"


def ud0_in_flight() -> ScaleSetImageStatus:
    """ud-0's manualupgrade done in Azure, not yet judged: the next pass finds it healthy and starts ud-1."""
    from controller.observed import ImageFacts, Observation
    from controller.rollout import plan_next_step

    def plan(status: ScaleSetImageStatus, ss: ObservedScaleSet) -> ScaleSetImageStatus:
        obs = Observation(scale_set=ss, image=ImageFacts(marketplace_versions=VERSIONS))
        return plan_next_step(spec(), status, obs, now=NOW, generation=1).status

    s = plan(plan(ScaleSetImageStatus(), scale_set()), scale_set(NEW))
    return evolve(record_operation(s, UpgradeInstances("ud-0", ("0", "5")), "dG9rZW4=", NOW), operation=None)


async def test_a_withdrawn_write_announces_nothing_and_a_sent_one_announces_its_domain() -> None:
    status = ud0_in_flight()
    instances = upgraded(scale_set(NEW), ["0", "5"]).instances
    azure = FakeAzure(NEW, instances)
    ctx = context(azure)
    ctx.saw(*KEY, "uid-1", gone=False, generation=1)
    azure.during_budget_wait = lambda: ctx.saw(*KEY, "uid-1", gone=False, generation=2)
    events: list[tuple[Any, ...]] = []
    await reconcile(ctx, body(status), post_event=lambda *e: events.append(e))
    assert azure.sent == 0
    assert events == [], "no 'domain started' for a manualupgrade that never left"
    azure.during_budget_wait = lambda: None
    await reconcile(context(azure), body(status), post_event=lambda *e: events.append(e))
    assert azure.sent == 1
    reasons = [str(e[0]) for e in events]
    assert "DomainStarted" in reasons, reasons
    assert reasons[-1] == "AzureOperationStarted"


async def test_a_replica_whose_fence_closes_while_the_write_waits_sends_nothing() -> None:
    status = walk_status()
    azure = FakeAzure(NEW, upgraded(scale_set(NEW), ["0", "5"]).instances)
    ctx = context(azure)
    reason: str | None = None
    ctx.fence = lambda: reason

    def lease_lost() -> None:
        nonlocal reason
        reason = "LeaseNotRenewed"  # the renew deadline passed while the request waited for the budget

    azure.during_budget_wait = lease_lost
    patch, requeue = await reconcile(ctx, body(status), post_event=lambda *a: None)
    assert (azure.calls["manual_upgrade"], azure.sent, patch) == (1, 0, {})
    assert requeue >= 5.0, "not retried hot; by then this process has stopped leading"


async def test_a_status_written_by_another_replica_since_the_pass_read_it_withdraws_the_write() -> None:
    status = walk_status()
    azure = FakeAzure(NEW, upgraded(scale_set(NEW), ["0", "5"]).instances)
    moved = {**status.to_dict(), "leader": "replica-b", "currentDomain": "ud-1"}
    ctx, live = live_context(azure, LiveMeta(uid="uid-1", generation=1, deleting=False, status=moved))
    patch, requeue = await reconcile(ctx, body(status), post_event=lambda *a: None)
    assert (azure.sent, live.reads, patch) == (0, 1, {})
    assert requeue <= 1.0, "decided again soon, on the status as it is"
    same = status.to_dict()
    ctx, live = live_context(azure, LiveMeta(uid="uid-1", generation=1, deleting=False, status=same))
    await reconcile(ctx, body(status), post_event=lambda *a: None)
    assert azure.sent == 1, "the status this pass read lets the write go"
