"""Following the newest version of a gallery image or a Marketplace SKU: what to follow, and what was found.

Shared by a ScaleSetImage (``spec.follow``: it follows for its own scale set, whose region and subscription say
where to look) and a fleet (``ScaleSetImageRollout.spec.follow``, which names the regions and subscription
itself). The decision (seen, approved, by whom) is ``controller.fleet.following``'s, the same for both.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final

from pydantic import Field

from .base import CelRule, Model, Timestamp
from .names import GROUP
from .patterns import GALLERY_IMAGE_ID_PATTERN, MARKETPLACE_NAME_PATTERN

APPROVED_VERSION_ANNOTATION: Final = f"{GROUP}/approved-version"
"""Annotation: the followed image version approved (the same as ``spec.follow.approvedVersion``)."""
VERSION_PATTERN: Final = r"^[0-9]+(\.[0-9]+){1,3}$"


class FollowedMarketplace(Model):
    """A Marketplace SKU whose newest version is followed."""

    publisher: str = Field(
        pattern=MARKETPLACE_NAME_PATTERN,
        min_length=1,
        max_length=128,
        description="The image publisher, e.g. Canonical.",
    )
    offer: str = Field(
        pattern=MARKETPLACE_NAME_PATTERN,
        min_length=1,
        max_length=128,
        description="The publisher's offer, e.g. ubuntu-24_04-lts.",
    )
    sku: str = Field(
        pattern=MARKETPLACE_NAME_PATTERN, min_length=1, max_length=128, description="The offer's SKU, e.g. server."
    )


ONE_FOLLOWED = CelRule(
    rule="[has(self.marketplace), has(self.galleryImageId)].filter(x, x).size() == 1",
    message="follow names exactly one of marketplace or galleryImageId",
    check=lambda follow: (follow.marketplace is None) != (follow.gallery_image_id is None),
)
_DEFINITION_ONLY = CelRule(
    rule="!self.contains('/versions/')",
    message="galleryImageId names an image definition, without /versions/",
    check=lambda image_id: "/versions/" not in image_id.lower(),
)


class ImageFollow(Model):
    """Follow the newest version of a gallery image or a Marketplace SKU; a new version is rolled out once
    approved (``approvedVersion``, the ``imagerollout.dev/approved-version`` annotation) or at once with
    ``autoApprove``."""

    cel_rules: ClassVar[tuple[CelRule, ...]] = (ONE_FOLLOWED,)

    gallery_image_id: (
        Annotated[str, Field(pattern=GALLERY_IMAGE_ID_PATTERN, max_length=1024), _DEFINITION_ONLY] | None
    ) = Field(
        default=None,
        description=(
            "ARM id of a Compute Gallery image definition. Its newest version that is not excludeFromLatest"
            " and is replicated to the region(s) is followed."
        ),
    )
    marketplace: FollowedMarketplace | None = Field(default=None, description="A Marketplace SKU to follow.")
    auto_approve: bool = Field(default=False, description="Roll out each new version without approval.")
    approved_version: str | None = Field(
        default=None,
        pattern=VERSION_PATTERN,
        max_length=64,
        description=(
            "The newest version a person approved (status.follow.latestVersion when it was approved); the"
            " imagerollout.dev/approved-version annotation does the same. It is rolled out once seen."
        ),
    )

    def followed(self) -> str:
        """A short name of what is followed, for events and messages."""
        if self.gallery_image_id is not None:
            return self.gallery_image_id.rsplit("/images/", 1)[-1]
        assert self.marketplace is not None
        m = self.marketplace
        return f"{m.publisher}:{m.offer}:{m.sku}"


class FollowStatus(Model):
    """What following found: the newest version seen and the one approved."""

    latest_version: str | None = Field(default=None, max_length=64, description="The newest eligible version seen.")
    seen_at: Timestamp | None = Field(default=None, description="When latestVersion was first seen.")
    approved_version: str | None = Field(default=None, max_length=64, description="The newest version approved.")
    approved_at: Timestamp | None = Field(default=None, description="When it was approved.")
    approved_by: str | None = Field(
        default=None, max_length=64, description="AutoApprove, Spec (spec.follow.approvedVersion) or Annotation."
    )
