"""Following a gallery image or Marketplace SKU, pure: which version may be followed, and whether it is approved.

The same for a fleet and for a single ScaleSetImage: the newest eligible version is recorded as seen (once, with
when); it is approved by ``autoApprove``, by ``spec.follow.approvedVersion`` or by the
``imagerollout.dev/approved-version`` annotation naming exactly that version; the approval is recorded with
when and by what. Only an approved version is ever rolled out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from controller.observed import GalleryVersion
from controller.resource import evolve
from controller.resource.fleet import FleetEventReason
from controller.resource.follow import APPROVED_VERSION_ANNOTATION, FollowStatus, ImageFollow
from controller.rollout.images import version_key

from .views import FleetEvent


def newest_version(
    follow: ImageFollow,
    gallery: Sequence[GalleryVersion] | None,
    marketplace: Sequence[str] | None,
    regions: Sequence[str] = (),
) -> str | None:
    """The newest version that may be followed: for a gallery image, not excludeFromLatest and replicated to every
    region of ``regions``; for a Marketplace SKU, the newest listed."""
    if follow.gallery_image_id is not None:
        wanted = {_region(r) for r in regions}
        names = [
            v.name
            for v in gallery or ()
            if not v.exclude_from_latest and (not v.regions or wanted <= {_region(r) for r in v.regions})
        ]
    else:
        names = list(marketplace or ())
    return max(names, key=version_key) if names else None


def _region(name: str) -> str:
    return name.lower().replace(" ", "")


def advance_follow(
    follow: ImageFollow,
    status: FollowStatus | None,
    latest: str | None,
    *,
    now: datetime,
    annotations: Mapping[str, str],
) -> tuple[FollowStatus, tuple[FleetEvent, ...]]:
    """``status`` after seeing ``latest`` (what Azure lists now, None when unknown): a newer version is recorded
    as seen; the version seen is approved when ``follow`` or the annotation says so."""
    events: list[FleetEvent] = []
    current = status or FollowStatus()
    if latest is not None and (
        current.latest_version is None or version_key(latest) > version_key(current.latest_version)
    ):
        current = evolve(current, latest_version=latest, seen_at=now)
        events.append(FleetEvent(FleetEventReason.NEW_VERSION_SEEN, f"New version {latest} of {follow.followed()}."))
    seen = current.latest_version
    if seen is not None and current.approved_version != seen:
        by = None
        if follow.auto_approve:
            by = "AutoApprove"
        elif follow.approved_version == seen:
            by = "Spec"
        elif annotations.get(APPROVED_VERSION_ANNOTATION, "").strip() == seen:
            by = "Annotation"
        if by is not None:
            current = evolve(current, approved_version=seen, approved_at=now, approved_by=by)
            events.append(FleetEvent(FleetEventReason.VERSION_APPROVED, f"Version {seen} approved ({by})."))
    return current, tuple(events)


def waiting_version(status: FollowStatus | None) -> str | None:
    """The version seen but not approved, if any."""
    if status is None or status.latest_version is None or status.approved_version == status.latest_version:
        return None
    return status.latest_version
