"""One following pass of a ScaleSetImage (``controller.operator.follow.follow_pass``) against a fake gateway.

Aspects: a Marketplace SKU is listed in the scale set's own subscription and region (the region from one GET of
the model, then remembered); the newest version is recorded as seen and waits for approval (an event says how);
Azure is asked at most once per resync interval; a scale set out of the scope policy is never asked about;
without spec.follow a stale status.follow is removed; an unreadable spec does nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controller.config import OperatorConfig, parse_config
from controller.observed import ObservedScaleSet
from controller.operator import OperatorContext
from controller.operator import follow as follow_module
from controller.operator.follow import follow_pass
from controller.resource.spec import ScaleSetRef
from tests.model.samples import SUBSCRIPTION

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MARKETPLACE = {"publisher": "Canonical", "offer": "ubuntu", "sku": "server"}


def body(name: str, follow: dict[str, Any] | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleSet": {"subscriptionId": SUBSCRIPTION, "resourceGroup": "web-rg", "name": "web-vmss"},
        "image": {"marketplace": {**MARKETPLACE, "version": "1.0.0"}},
    }
    if follow is not None:
        spec["follow"] = follow
    return {
        "metadata": {"name": name, "namespace": "team", "generation": 1},
        "spec": spec,
        "status": {"observedGeneration": 1, "phase": "Succeeded", **(status or {})},
    }


class Gateway:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def get_model(self, ref: ScaleSetRef) -> ObservedScaleSet | None:
        self.calls.append(("get_model", ref.name))
        return ObservedScaleSet(
            ref=ref,
            location="swedencentral",
            etag=None,
            upgrade_mode="Manual",
            image_reference={},
            vhd_uri=None,
            has_health_extension=True,
            capacity=2,
            provisioning_state="Succeeded",
        )

    async def marketplace_versions(self, sub: str, location: str, publisher: str, offer: str, sku: str) -> list[str]:
        self.calls.append(("marketplace_versions", sub, location, publisher, offer, sku))
        return ["1.0.0", "1.10.0", "1.9.0"]

    async def close(self) -> None:
        pass


def context(config: OperatorConfig) -> tuple[OperatorContext, Gateway]:
    gateway = Gateway()

    def factory(profile: Any) -> Any:  # the calls a following pass makes, no more
        return gateway

    return OperatorContext(config=config, gateway_factory=factory), gateway


async def test_a_marketplace_sku_is_listed_in_the_scale_sets_region_and_waits_for_approval() -> None:
    ctx, gateway = context(parse_config({"clouds": {"azure-public": {}}, "resyncInterval": 300}))
    events: list[tuple[str, str, bool]] = []
    patch = await follow_pass(
        ctx, body("market", {"marketplace": MARKETPLACE}), post_event=lambda *e: events.append(e), now=NOW
    )
    assert patch == {"follow": {"latestVersion": "1.10.0", "seenAt": "2024-05-01T12:00:00Z"}}
    assert gateway.calls == [
        ("get_model", "web-vmss"),
        ("marketplace_versions", SUBSCRIPTION, "swedencentral", "Canonical", "ubuntu", "server"),
    ]
    assert [e[0] for e in events] == ["NewVersionSeen", "ApprovalRequired"]
    assert "spec.follow.approvedVersion to 1.10.0" in events[1][1]
    # Within the resync interval Azure is not asked again; the region is remembered.
    again = body("market", {"marketplace": MARKETPLACE}, {"follow": patch["follow"]})
    assert await follow_pass(ctx, again, post_event=lambda *e: events.append(e), now=NOW) == {}
    assert len(gateway.calls) == 2
    assert len(events) == 2


async def test_auto_approve_records_who_approved_and_when() -> None:
    ctx, _ = context(parse_config({"clouds": {"azure-public": {}}}))
    patch = await follow_pass(
        ctx, body("auto", {"marketplace": MARKETPLACE, "autoApprove": True}), post_event=lambda *e: None, now=NOW
    )
    assert patch["follow"]["approvedVersion"] == "1.10.0"
    assert patch["follow"]["approvedBy"] == "AutoApprove"
    assert patch["follow"]["approvedAt"] == "2024-05-01T12:00:00Z"


async def test_a_scale_set_out_of_scope_is_never_asked_about() -> None:
    config = parse_config(
        {
            "clouds": {"azure-public": {}},
            "scopePolicy": {"rules": [{"name": "team", "namespaces": ["team"], "resourceGroups": ["other-rg"]}]},
        }
    )
    ctx, gateway = context(config)
    patch = await follow_pass(ctx, body("denied", {"marketplace": MARKETPLACE}), post_event=lambda *e: None, now=NOW)
    assert gateway.calls == []
    assert patch == {"follow": {}}


async def test_without_follow_a_stale_status_is_removed_and_a_bad_spec_does_nothing() -> None:
    ctx, gateway = context(parse_config({"clouds": {"azure-public": {}}}))
    stale = body("plain", None, {"follow": {"latestVersion": "1.0.0"}})
    assert await follow_pass(ctx, stale, post_event=lambda *e: None, now=NOW) == {"follow": None}
    bad = body("bad", {"marketplace": MARKETPLACE, "galleryImageId": "x"})
    assert await follow_pass(ctx, bad, post_event=lambda *e: None, now=NOW) == {}
    assert gateway.calls == []


def teardown_function() -> None:
    for cache in (follow_module._checked, follow_module._locations, follow_module._acted):
        cache.clear()
