"""The kopf glue of ScaleSetImageRollout (a fleet): list members, ask Azure for a followed image's versions, plan,
apply the members' image, write status. The decisions are ``controller.fleet``'s.

How the fleet sets a member's image: a merge patch under its own field manager (``scaleset-image-fleet``) of
exactly ``spec.image`` and ``spec.rollout.paused`` (``apply_member`` says why not server-side apply). The member
stays a plain ScaleSetImage (its own controller, status and kubectl verbs unchanged), and ``managedFields`` says
who set the image. With GitOps, Git keeps owning the rest of the member; tell the GitOps tool that these two
fields are the fleet's: Flux: the annotation ``kustomize.toolkit.fluxcd.io/ssa: IfNotPresent`` on the member
(created from Git, then left to the fleet); Argo CD: ``ignoreDifferences`` on ``/spec/image`` and
``/spec/rollout/paused`` with ``managedFieldsManagers: [scaleset-image-fleet]`` (docs/fleets.md).

A pass costs one Kubernetes LIST per member namespace, one apply per member started (or paused/resumed), and,
when following, one Azure version listing at most every resync interval.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import kopf

from controller.azure import AzureCallError
from controller.fleet import (
    ApplyToMember,
    MemberView,
    fleet_conditions,
    newest_version,
    plan_fleet,
    record_applied,
    unrecord_started,
)
from controller.operator.context import OperatorContext
from controller.operator.live import LiveObjects, LiveReadError
from controller.operator.reconcile import merge_apply, merge_patch, plain_body
from controller.operator.selector import LabelFilter
from controller.operator.writes import all_owned
from controller.resource import (
    GROUP,
    PLURAL,
    VERSION,
    ModelError,
    evolve,
)
from controller.resource.fleet import (
    FLEET_FIELD_MANAGER,
    FLEET_PLURAL,
    FleetEventReason,
    FleetPhase,
    FleetReason,
    FollowSpec,
    ScaleSetImageRolloutSpec,
    ScaleSetImageRolloutStatus,
)
from controller.scope import ScopeTarget

logger = logging.getLogger("scaleset_image.fleet")
_KEY_PREFIX = "fleet:"  # a fleet's clock in OperatorContext, apart from a ScaleSetImage of the same name


def register_fleet(registry: kopf.OperatorRegistry, ctx: OperatorContext, labels: LabelFilter | None = None) -> None:
    """Add the ScaleSetImageRollout handlers to ``registry``; ``labels``: only the fleets whose own labels match
    (this process's shard, from ``--selector``)."""

    @kopf.on.create(GROUP, VERSION, FLEET_PLURAL, registry=registry, labels=labels)
    @kopf.on.update(GROUP, VERSION, FLEET_PLURAL, field="spec", registry=registry, labels=labels)
    @kopf.on.update(GROUP, VERSION, FLEET_PLURAL, field="metadata.annotations", registry=registry, labels=labels)
    @kopf.on.resume(GROUP, VERSION, FLEET_PLURAL, registry=registry, labels=labels)
    async def _fleet_nudge(**kwargs: Any) -> None:
        ctx.nudge(_KEY_PREFIX + str(kwargs["namespace"]), str(kwargs["name"]))

    @kopf.timer(GROUP, VERSION, FLEET_PLURAL, interval=ctx.tick, registry=registry, labels=labels)
    async def _fleet_tick(**kwargs: Any) -> None:
        body: kopf.Body = kwargs["body"]
        namespace, name = str(kwargs["namespace"]), str(kwargs["name"])
        meta = body.get("metadata", {})
        if meta.get("deletionTimestamp"):
            return
        if ctx.fenced() is not None:
            return
        plain = plain_body(body)
        uid = meta.get("uid")
        if uid:  # the watch may not have brought this process's own last status write yet
            plain["status"] = ctx.written.freshest(FLEET_PLURAL, str(uid), plain["status"], all_owned)
        observed = plain["status"].get("observedGeneration")
        if not ctx.is_due(_KEY_PREFIX + namespace, name) and meta.get("generation") == observed:
            return

        def post(reason: str, message: str, warning: bool) -> None:
            kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)

        try:
            status_patch, requeue = await reconcile_fleet(ctx, plain, post_event=post)
        except Exception:
            logger.exception("reconcile of fleet %s/%s failed", namespace, name)
            ctx.schedule(_KEY_PREFIX + namespace, name, ctx.config.poll_interval)
            raise kopf.TemporaryError("fleet reconcile failed; retrying", delay=ctx.config.poll_interval) from None
        new_status = merge_apply(plain["status"], status_patch)
        try:
            written = not status_patch or await ctx.write_status(
                FLEET_PLURAL, namespace, name, uid, plain["status"], new_status, all_owned
            )
        except LiveReadError as exc:
            logger.warning("fleet %s/%s: %s", namespace, name, exc)
            written = False
        if not written:  # the status moved under this pass (or this replica may not write): decide again on it
            ctx.schedule(_KEY_PREFIX + namespace, name, min(requeue, ctx.config.poll_interval))
            return
        ctx.schedule(_KEY_PREFIX + namespace, name, requeue)
        if ctx.fleet_status_hook is not None:
            ctx.fleet_status_hook(namespace, name, new_status)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def _member_changed(**kwargs: Any) -> None:  # async: no thread hop per member watch event
        # A member's status moved (phase, generation acted on, Stalled): the fleets running it look at once,
        # instead of at their next poll. Watch events cost no request; a fleet pass is one LIST per namespace.
        body = kwargs["body"]
        meta = body.get("metadata", {})
        for fleet in members_moved(
            (str(meta.get("namespace", "")), str(meta.get("name", ""))),
            member_signature(body),
            gone=kwargs.get("type") == "DELETED",
        ):
            ctx.nudge(_KEY_PREFIX + fleet[0], fleet[1])

    @kopf.on.delete(GROUP, VERSION, FLEET_PLURAL, registry=registry, optional=True, labels=labels)
    async def _fleet_forget(**kwargs: Any) -> None:
        ctx.forget(_KEY_PREFIX + str(kwargs["namespace"]), str(kwargs["name"]))
        _followed_cache.pop((str(kwargs["namespace"]), str(kwargs["name"])), None)
        watch_members((str(kwargs["namespace"]), str(kwargs["name"])), ())


# --------------------------------------------------------------------------------------------------
# watching members: which fleet runs which member, and what of a member's status a fleet decides on
# --------------------------------------------------------------------------------------------------

_watched: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
"""fleet (namespace, name) -> the members of its run in flight. Only memory: after a restart the first pass of
each fleet (kopf's resume) fills it again, and until then the fleet polls as before."""
_owners: dict[tuple[str, str], set[tuple[str, str]]] = {}
"""member (namespace, name) -> the fleets watching it (the inverse of ``_watched``)."""
_signatures: dict[tuple[str, str], tuple[Any, ...]] = {}
"""member -> the part of its status a fleet decides on, as last seen in a watch event."""


def watch_members(fleet: tuple[str, str], members: Any) -> None:
    """Record the members ``fleet`` waits on (those of a run in flight; none once it ended)."""
    new = frozenset(members)
    old = _watched.pop(fleet, frozenset())
    if new:
        _watched[fleet] = new
    for member in old - new:
        owners = _owners.get(member)
        if owners is not None:
            owners.discard(fleet)
            if not owners:
                del _owners[member]
                _signatures.pop(member, None)
    for member in new - old:
        _owners.setdefault(member, set()).add(fleet)


def member_signature(body: Any) -> tuple[Any, ...]:
    """What of a member a fleet's decision reads: its phase, generations, Stalled, spec.image."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    stalled = next(
        (c.get("status") for c in status.get("conditions") or () if c.get("type") == "Stalled"),
        None,
    )
    return (
        meta.get("generation"),
        status.get("phase"),
        status.get("observedGeneration"),
        (status.get("target") or {}).get("generation"),
        stalled,
        status.get("domainProgress"),
        json.dumps((body.get("spec") or {}).get("image"), sort_keys=True),
    )


def members_moved(member: tuple[str, str], signature: tuple[Any, ...], *, gone: bool) -> list[tuple[str, str]]:
    """The fleets to nudge because ``member`` changed in a way they decide on (nothing if nobody watches it)."""
    owners = _owners.get(member)
    if not owners:
        return []
    if gone:
        _signatures.pop(member, None)
        return sorted(owners)
    if _signatures.get(member) == signature:
        return []
    _signatures[member] = signature
    return sorted(owners)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


_followed_cache: dict[tuple[str, str], tuple[float, str | None]] = {}
"""(namespace, name) -> (monotonic time of the last Azure look-up, the newest version it found). Only a cache:
what was seen is in status.follow, so a restart costs one more look-up, nothing else."""


async def reconcile_fleet(
    ctx: OperatorContext, body: dict[str, Any], *, post_event: Callable[[str, str, bool], None]
) -> tuple[dict[str, Any], float]:
    """One pass over one fleet. Returns (status merge patch, seconds until the next pass)."""
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    generation = int(meta.get("generation") or 0)
    old = dict(body.get("status") or {})
    try:
        status = ScaleSetImageRolloutStatus.from_dict(old)
    except ModelError as exc:
        logger.error("status of fleet %s/%s is unreadable: %s", namespace, name, exc)
        return {}, ctx.config.resync_interval
    try:
        spec = ScaleSetImageRolloutSpec.from_dict(body.get("spec") or {})
    except ModelError as exc:
        return merge_patch(
            old, _invalid(status, f"Invalid spec: {exc}", generation).to_dict()
        ), ctx.config.resync_interval
    live = ctx.live
    if live is None:
        return {}, ctx.config.poll_interval
    members: list[MemberView] = []
    for member_namespace in spec.namespaces or (namespace,):
        for obj in await list_members(live, member_namespace, spec.selector.as_query()):
            members.append(MemberView.from_object(obj, denied=_denial(ctx, namespace, obj)))
    latest = None
    if spec.follow is not None:
        # The regions a gallery version must be replicated to: those named, and those of the members' scale sets
        # this process has read (a member's reconcile reads its scale set; a restart learns them again).
        seen = (ctx.seen.get(m.key) for m in members if m.denied is None and not m.follows)
        regions = set(spec.follow.regions) | {s.scale_set.location for s in seen if s is not None}
        latest = await _latest(ctx, (namespace, name), spec.follow, sorted(regions))
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    plan = plan_fleet(
        spec, status, members, now=_now(), generation=generation, annotations=annotations, latest_version=latest
    )
    new = plan.status
    for event in plan.events:
        post_event(str(event.reason), event.message, event.warning)
        logger.log(
            logging.WARNING if event.warning else logging.INFO,
            "fleet %s/%s %s: %s",
            namespace,
            name,
            event.reason,
            event.message,
        )
    for action in plan.actions:
        try:
            member_generation = await apply_member(live, action)
        except MemberWriteError as exc:
            post_event(str(FleetEventReason.MEMBER_FAILED), f"{action.namespace}/{action.name}: {exc}", True)
            logger.warning(
                "fleet %s/%s: apply to %s/%s failed: %s", namespace, name, action.namespace, action.name, exc
            )
            new = unrecord_started(new, action.namespace, action.name)
            continue
        new = record_applied(new, action.namespace, action.name, member_generation)
    run = new.run
    in_flight = run is not None and run.finished_at is None
    watch_members((namespace, name), (m.key for m in new.members) if in_flight else ())
    if plan.requeue_after is not None:
        requeue = plan.requeue_after
    else:
        requeue = ctx.config.resync_interval if plan.settled else ctx.config.poll_interval
    return merge_patch(old, new.to_dict()), requeue


def _denial(ctx: OperatorContext, fleet_namespace: str, obj: dict[str, Any]) -> str | None:
    """Why the fleet's namespace may not point the operator at this member's scale set (scope policy), else None.

    The fleet changes a member's image, so it needs the same right as a ScaleSetImage in the fleet's namespace
    naming that scale set: a fleet cannot reach, through members in other namespaces, what its namespace cannot.
    """
    ref = (obj.get("spec") or {}).get("scaleSet") or {}
    profile = ctx.config.cloud(ref.get("cloud"))
    cloud = profile.name if profile is not None else str(ref.get("cloud") or ctx.config.default_cloud)
    target = ScopeTarget(
        fleet_namespace,
        cloud,
        str(ref.get("subscriptionId", "")),
        str(ref.get("resourceGroup", "")),
        str(ref.get("name", "")),
    )
    return ctx.scope_denial(target)


async def _latest(ctx: OperatorContext, key: tuple[str, str], follow: FollowSpec, regions: list[str]) -> str | None:
    """The newest followed version, asked of Azure at most once per resync interval."""
    checked = _followed_cache.get(key)
    if checked is not None and time.monotonic() - checked[0] < ctx.config.resync_interval:
        return checked[1]
    profile = ctx.config.cloud(follow.cloud)
    if profile is None:
        logger.warning("fleet %s/%s follows through cloud profile %r, which is not configured", *key, follow.cloud)
        return None
    gateway = ctx.gateway(profile)
    try:
        if follow.gallery_image_id is not None:
            gallery = await gateway.gallery_versions(follow.gallery_image_id)
            latest = newest_version(follow, gallery, None, regions)
        else:
            assert follow.marketplace is not None
            assert follow.subscription_id is not None
            m = follow.marketplace
            listed = await gateway.marketplace_versions(
                follow.subscription_id, follow.regions[0], m.publisher, m.offer, m.sku
            )
            latest = newest_version(follow, None, listed)
    except AzureCallError as exc:
        logger.warning("fleet %s/%s: the followed image's versions could not be listed: %s", *key, exc.message)
        return checked[1] if checked is not None else None
    _followed_cache[key] = (time.monotonic(), latest)
    return latest


def _invalid(status: ScaleSetImageRolloutStatus, message: str, generation: int) -> ScaleSetImageRolloutStatus:
    status = fleet_conditions(status, FleetPhase.FAILED, FleetReason.INVALID_SPEC, message, generation, _now())
    return evolve(status, observed_generation=generation, phase=FleetPhase.FAILED)


# --------------------------------------------------------------------------------------------------
# the Kubernetes API: list members, apply their image
# --------------------------------------------------------------------------------------------------


class MemberWriteError(Exception):
    """The API server did not take the apply to a member."""


async def list_members(live: LiveObjects, namespace: str, selector: str) -> list[dict[str, Any]]:
    """The ScaleSetImages in ``namespace`` whose labels match ``selector`` (one LIST)."""
    url = f"{live.server}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    params = {"labelSelector": selector} if selector else {}
    try:
        async with live.session().get(url, params=params, headers=live.headers()) as response:
            if response.status == 404:
                return []
            if response.status != 200:
                raise kopf.TemporaryError(f"listing members in {namespace}: HTTP {response.status}", delay=5)
            body: Any = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise kopf.TemporaryError(f"listing members in {namespace}: {exc!r}", delay=5) from exc
    items = body.get("items") if isinstance(body, dict) else None
    return [item for item in items or () if isinstance(item, dict)]


async def apply_member(live: LiveObjects, action: ApplyToMember) -> int:
    """Set the member's ``spec.image`` and ``spec.rollout.paused`` (a merge patch under the fleet's field manager);
    returns its new generation.

    A merge patch, not server-side apply: moving a member from one image source to another (a Marketplace image
    to a gallery version) must remove the old source, which another manager (whoever created the member) owns;
    apply can only drop fields its own manager owns, so the merged image would name two sources and be refused.
    """
    url = f"{live.server}/apis/{GROUP}/{VERSION}/namespaces/{quote(action.namespace)}/{PLURAL}/{quote(action.name)}"
    image = action.image.to_dict(nulls=True)
    patch = {"spec": {"image": image, "rollout": {"paused": action.paused}}}
    headers = {**live.headers(), "Content-Type": "application/merge-patch+json"}
    params = {"fieldManager": FLEET_FIELD_MANAGER}
    try:
        async with live.session().patch(url, params=params, headers=headers, data=json.dumps(patch)) as response:
            text = await response.text()
            if response.status != 200:
                raise MemberWriteError(f"HTTP {response.status}: {text[:300]}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise MemberWriteError(repr(exc)) from exc
    generation = (json.loads(text).get("metadata") or {}).get("generation")
    if not isinstance(generation, int):
        raise MemberWriteError("the patched object has no generation")
    return generation
