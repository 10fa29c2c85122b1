"""The kopf glue of a ScaleSetImage that follows a gallery image or Marketplace SKU (``spec.follow``).

Each pass (every ``tick``; Azure is asked at most once per ``resyncInterval``): list the versions in the scale
set's own region and subscription, take the newest eligible one (``controller.fleet.following``: not
excludeFromLatest, replicated to that region), record it as seen, and approved when ``spec.follow`` or the
``imagerollout.dev/approved-version`` annotation says so (``status.follow``). An approved version that differs
from ``spec.image`` becomes ``spec.image`` (a merge patch under the field manager ``scaleset-image-follow``)
once the resource's last spec has been acted on and no rollout is in flight; from there the ScaleSetImage rolls
it out as any other image change. The scale set's region is taken from the scale set the reconcile last read
(no extra call), else from one GET of its model.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import kopf

from controller.azure import AzureCallError
from controller.fleet.following import advance_follow, newest_version, waiting_version
from controller.operator.context import OperatorContext
from controller.operator.live import LiveObjects, LiveReadError
from controller.operator.reconcile import merge_apply, plain_body
from controller.operator.selector import LabelFilter
from controller.operator.writes import follow_owned
from controller.resource import GROUP, PLURAL, VERSION, ImageSource, ModelError, Phase, ScaleSetImageSpec
from controller.resource.follow import APPROVED_VERSION_ANNOTATION, FollowStatus, ImageFollow
from controller.resource.spec import followed_image
from controller.scope import ScopeTarget

logger = logging.getLogger("scaleset_image.follow")
FOLLOW_FIELD_MANAGER: Final = "scaleset-image-follow"
"""The field manager spec.image is written with when a followed version is rolled out."""
IMAGE_FOLLOWED: Final = "ImageFollowed"
"""Event reason: spec.image was set to the approved version."""
APPROVAL_REQUIRED: Final = "ApprovalRequired"
"""Event reason: a new version was seen and waits for approval."""
_KEY_PREFIX = "follow:"
_FOLLOW_KIND = "follow"  # this process's last writes of status.follow, apart from the rollout's
_IN_FLIGHT = frozenset({Phase.PROGRESSING, Phase.PAUSED})

_checked: dict[tuple[str, str], tuple[float, str | None]] = {}
"""(namespace, name) -> (monotonic time of the last Azure look-up, the newest version it found). Only a cache:
what was seen is in status.follow, so a restart costs one more look-up."""
_locations: dict[tuple[str, str], str] = {}
"""(namespace, name) -> the scale set's region (it never changes)."""
_acted: dict[tuple[str, str], tuple[Any, ...]] = {}
"""(namespace, name) -> what the last pass saw (spec, annotation, phase, generations): a pass between two Azure
look-ups runs only when one of them changed."""


def register_follow(registry: kopf.OperatorRegistry, ctx: OperatorContext, labels: LabelFilter | None = None) -> None:
    """Add the following handlers for ScaleSetImages with ``spec.follow`` to ``registry``."""

    def _follows(spec: Any, **_: Any) -> bool:
        return bool(spec.get("follow"))

    @kopf.timer(GROUP, VERSION, PLURAL, interval=ctx.tick, registry=registry, labels=labels, when=_follows)
    async def _follow_tick(**kwargs: Any) -> None:
        body: kopf.Body = kwargs["body"]
        namespace, name = str(kwargs["namespace"]), str(kwargs["name"])
        meta = body.get("metadata", {})
        uid = meta.get("uid")
        if meta.get("deletionTimestamp") or not ctx.is_current(namespace, name, uid) or ctx.fenced() is not None:
            return
        plain = plain_body(body)
        if uid:  # the watch may not have brought this process's own last write of status.follow yet
            plain["status"] = ctx.written.freshest(_FOLLOW_KIND, str(uid), plain["status"], follow_owned)
        status = plain.get("status") or {}
        fingerprint = (
            json.dumps(plain.get("spec"), sort_keys=True),
            (meta.get("annotations") or {}).get(APPROVED_VERSION_ANNOTATION),
            status.get("phase"),
            status.get("observedGeneration"),
            meta.get("generation"),
            json.dumps(status.get("follow"), sort_keys=True),
        )
        key = (namespace, name)
        if not ctx.is_due(_KEY_PREFIX + namespace, name) and _acted.get(key) == fingerprint:
            return
        _acted[key] = fingerprint

        def post(reason: str, message: str, warning: bool = False) -> None:
            kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)

        try:
            status_patch = await follow_pass(ctx, plain, post_event=post)
        except Exception:
            logger.exception("following for %s/%s failed", namespace, name)
            _acted.pop(key, None)
            ctx.schedule(_KEY_PREFIX + namespace, name, ctx.config.poll_interval)
            raise kopf.TemporaryError("following failed; retrying", delay=ctx.config.poll_interval) from None
        new_status = merge_apply(plain["status"], status_patch)
        try:
            written = not status_patch or await ctx.write_status(
                PLURAL, namespace, name, uid, plain["status"], new_status, follow_owned, kind=_FOLLOW_KIND
            )
        except LiveReadError as exc:
            logger.warning("following for %s/%s: %s", namespace, name, exc)
            written = False
        if not written:  # status.follow moved under this pass (or this replica may not write): again, soon
            _acted.pop(key, None)
            ctx.schedule(_KEY_PREFIX + namespace, name, ctx.config.poll_interval)
            return
        ctx.schedule(_KEY_PREFIX + namespace, name, ctx.config.resync_interval)

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, optional=True, labels=labels)
    async def _follow_forget(**kwargs: Any) -> None:
        key = (str(kwargs["namespace"]), str(kwargs["name"]))
        for cache in (_checked, _locations, _acted):
            cache.pop(key, None)
        ctx.forget(_KEY_PREFIX + key[0], key[1])


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def follow_pass(
    ctx: OperatorContext, body: dict[str, Any], *, post_event: Any, now: datetime | None = None
) -> dict[str, Any]:
    """One pass for one ScaleSetImage: returns the status merge patch (``{"follow": ...}``), maybe empty."""
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    try:
        spec = ScaleSetImageSpec.from_dict(body.get("spec") or {})
    except ModelError:
        return {}  # the reconcile reports an invalid spec in status; nothing to follow
    raw_status = body.get("status") or {}
    old_follow = raw_status.get("follow")
    if spec.follow is None:
        return {"follow": None} if old_follow else {}
    try:
        current = FollowStatus.from_dict(old_follow) if old_follow else None
    except ModelError:
        current = None
    latest = await _latest(ctx, (namespace, name), spec)
    annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
    now = now or _now()
    follow, events = advance_follow(spec.follow, current, latest, now=now, annotations=annotations)
    for event in events:
        post_event(str(event.reason), event.message, event.warning)
        logger.info("%s/%s %s: %s", namespace, name, event.reason, event.message)
    wanted = _wanted(spec.follow, follow)
    if wanted is not None and wanted != spec.image and _settled(meta, raw_status) and ctx.live is not None:
        try:
            await set_image(ctx.live, namespace, name, wanted)
        except FollowWriteError as exc:
            post_event("FollowWriteFailed", f"spec.image could not be set to {wanted.summary()}: {exc}", True)
        else:
            message = f"spec.image set to {wanted.summary()} (version {follow.approved_version} approved by"
            post_event(IMAGE_FOLLOWED, f"{message} {follow.approved_by}).", False)
            logger.info("%s/%s %s: %s", namespace, name, IMAGE_FOLLOWED, wanted.summary())
    version = waiting_version(follow)
    if version is not None and version != (waiting_version(current) if current is not None else None):
        post_event(
            APPROVAL_REQUIRED,
            f"Version {version} waits for approval: set spec.follow.approvedVersion to {version}"
            f" (or the {APPROVED_VERSION_ANNOTATION} annotation), or spec.follow.autoApprove.",
            False,
        )
    new = follow.to_dict()
    return {"follow": new} if new != old_follow else {}


def _wanted(follow: ImageFollow, status: FollowStatus) -> ImageSource | None:
    return followed_image(follow, status.approved_version) if status.approved_version else None


def _settled(meta: dict[str, Any], status: dict[str, Any]) -> bool:
    """The last spec has been acted on and no rollout is in flight: a new image would not change one halfway."""
    if status.get("observedGeneration") != meta.get("generation"):
        return False
    return str(status.get("phase") or Phase.PENDING) not in _IN_FLIGHT


async def _latest(ctx: OperatorContext, key: tuple[str, str], spec: ScaleSetImageSpec) -> str | None:
    """The newest followed version for this scale set, asked of Azure at most once per resync interval."""
    follow = spec.follow
    assert follow is not None
    checked = _checked.get(key)
    if checked is not None and time.monotonic() - checked[0] < ctx.config.resync_interval:
        return checked[1]
    ref = spec.scale_set
    profile = ctx.config.cloud(ref.cloud)
    if profile is None:
        return checked[1] if checked is not None else None
    target = ScopeTarget(key[0], profile.name, ref.subscription_id, ref.resource_group, ref.name)
    if ctx.scope_denial(target) is not None:
        return None  # the reconcile says why in status; nothing is asked of Azure on its behalf
    gateway = ctx.gateway(profile)
    try:
        location = _locations.get(key)
        if location is None:
            seen = ctx.seen.get(key)
            observed = seen.scale_set if seen is not None else await gateway.get_model(ref)
            if observed is None:
                return checked[1] if checked is not None else None
            location = _locations[key] = observed.location
        if follow.gallery_image_id is not None:
            versions = await gateway.gallery_versions(follow.gallery_image_id)
            latest = newest_version(follow, versions, None, [location])
        else:
            assert follow.marketplace is not None
            m = follow.marketplace
            listed = await gateway.marketplace_versions(ref.subscription_id, location, m.publisher, m.offer, m.sku)
            latest = newest_version(follow, None, listed)
    except AzureCallError as exc:
        logger.warning("%s/%s: the followed image's versions could not be listed: %s", *key, exc.message)
        return checked[1] if checked is not None else None
    _checked[key] = (time.monotonic(), latest)
    return latest


class FollowWriteError(Exception):
    """The API server did not take the new spec.image."""


async def set_image(live: LiveObjects, namespace: str, name: str, image: ImageSource) -> None:
    """Set ``spec.image`` (a merge patch: the other image sources are removed) under the follow field manager."""
    url = f"{live.server}/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace)}/{PLURAL}/{quote(name)}"
    patch = {"spec": {"image": image.to_dict(nulls=True)}}
    headers = {**live.headers(), "Content-Type": "application/merge-patch+json"}
    try:
        async with live.session().patch(
            url, params={"fieldManager": FOLLOW_FIELD_MANAGER}, headers=headers, data=json.dumps(patch)
        ) as response:
            if response.status != 200:
                raise FollowWriteError(f"HTTP {response.status}: {(await response.text())[:300]}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FollowWriteError(repr(exc)) from exc
