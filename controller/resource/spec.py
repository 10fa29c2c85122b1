"""The spec of a ScaleSetImage: which scale set, which image, how to roll it out."""

from __future__ import annotations

from typing import Annotated

from pydantic import Discriminator, Field, Tag

from .base import CelRule, ListType, Model, int_or_string_tag
from .errors import INTEGER_TAG, STRING_TAG
from .follow import ImageFollow
from .names import ApprovalMode, DomainKind, ImageSourceKind, OnFailure
from .patterns import (
    CLOUD_NAME_PATTERN,
    DURATION_PATTERN,
    GALLERY_IMAGE_ID_PATTERN,
    GUID_PATTERN,
    IMAGE_VERSION_PATTERN,
    MANAGED_IMAGE_ID_PATTERN,
    MARKETPLACE_NAME_PATTERN,
    PERCENT_PATTERN,
    POSITIVE_PERCENT_PATTERN,
    RESOURCE_GROUP_PATTERN,
    SCALE_SET_NAME_PATTERN,
    VHD_URI_PATTERN,
)
from .progressive import AT_MOST_20, WINDOWS_DESCRIPTION, AnalysisSpec, HookSpec, MaintenanceWindow
from .values import parse_duration, unhealthy_budget

_EXACTLY_ONE_SOURCE = CelRule(
    rule=(
        "[has(self.marketplace), has(self.galleryImageVersionId), has(self.managedImageId),"
        " has(self.vhdUri)].filter(x, x).size() == 1"
    ),
    message="exactly one of marketplace, galleryImageVersionId, managedImageId or vhdUri must be set",
    check=lambda image: image.source_count() == 1,
)


class MarketplaceImage(Model):
    """An Azure Marketplace image, named by publisher, offer, SKU and version (its URN)."""

    publisher: str = Field(
        description="Publisher of the Marketplace image, e.g. Canonical or MicrosoftWindowsServer.",
        pattern=MARKETPLACE_NAME_PATTERN,
        min_length=1,
        max_length=128,
    )
    offer: str = Field(
        description="Offer of the Marketplace image, e.g. ubuntu-24_04-lts or WindowsServer.",
        pattern=MARKETPLACE_NAME_PATTERN,
        min_length=1,
        max_length=128,
    )
    sku: str = Field(
        description="SKU of the Marketplace image, e.g. server or 2022-datacenter-azure-edition.",
        pattern=MARKETPLACE_NAME_PATTERN,
        min_length=1,
        max_length=128,
    )
    version: str = Field(
        description=(
            "Image version as Major.Minor.Build (e.g. 22.04.202405010), or 'latest'. 'latest' is resolved"
            " once when a rollout starts and the exact version is pinned in status.target for the whole"
            " rollout, so every domain receives the same image."
        ),
        pattern=IMAGE_VERSION_PATTERN,
        max_length=64,
    )


class ImageSource(Model):
    """Where an OS image comes from: exactly one of four sources."""

    cel_rules = (_EXACTLY_ONE_SOURCE,)

    marketplace: MarketplaceImage | None = Field(
        default=None,
        description="An Azure Marketplace image. Set exactly one of marketplace, galleryImageVersionId,"
        " managedImageId or vhdUri.",
    )
    gallery_image_version_id: str | None = Field(
        default=None,
        description=(
            "ARM resource id of an Azure Compute Gallery image: either an image version"
            " (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Compute/galleries/<gallery>"
            "/images/<image>/versions/1.2.3) or an image definition without /versions/..., which means"
            " the latest version, resolved and pinned when a rollout starts."
        ),
        pattern=GALLERY_IMAGE_ID_PATTERN,
        max_length=1024,
    )
    managed_image_id: str | None = Field(
        default=None,
        description=(
            "ARM resource id of a managed image"
            " (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Compute/images/<name>)."
        ),
        pattern=MANAGED_IMAGE_ID_PATTERN,
        max_length=1024,
    )
    vhd_uri: str | None = Field(
        default=None,
        description=(
            "https URL of a VHD blob for a scale set with unmanaged disks (osDisk.image.uri), ending in"
            " .vhd. The URL is handed to Azure as data; the operator does not download it."
        ),
        pattern=VHD_URI_PATTERN,
        max_length=2048,
    )

    def source_count(self) -> int:
        """How many of the four sources are set (valid objects have exactly one)."""
        sources = (self.marketplace, self.gallery_image_version_id, self.managed_image_id, self.vhd_uri)
        return sum(source is not None for source in sources)

    @property
    def kind(self) -> ImageSourceKind:
        if self.marketplace is not None:
            return ImageSourceKind.MARKETPLACE
        if self.gallery_image_version_id is not None:
            return ImageSourceKind.GALLERY
        if self.managed_image_id is not None:
            return ImageSourceKind.MANAGED_IMAGE
        return ImageSourceKind.VHD

    @property
    def is_pinned(self) -> bool:
        """True when the image names one exact version (no Marketplace 'latest', no bare gallery image)."""
        if self.marketplace is not None:
            return self.marketplace.version != "latest"
        if self.gallery_image_version_id is not None:
            return "/versions/" in self.gallery_image_version_id.lower()
        return True

    def summary(self) -> str:
        """A short human form for the printer column: the Marketplace URN, gallery/image:version, a name."""
        if self.marketplace is not None:
            m = self.marketplace
            return f"{m.publisher}:{m.offer}:{m.sku}:{m.version}"
        if self.gallery_image_version_id is not None:
            parts = self.gallery_image_version_id.split("/")
            lowered = [part.lower() for part in parts]
            gallery = parts[lowered.index("galleries") + 1]
            image = parts[lowered.index("images") + 1]
            version = parts[lowered.index("versions") + 1] if "versions" in lowered else "latest"
            return f"{gallery}/{image}:{version}"
        if self.managed_image_id is not None:
            return self.managed_image_id.rsplit("/", 1)[-1]
        assert self.vhd_uri is not None
        return self.vhd_uri.rsplit("/", 1)[-1]


_NOT_A_URL = CelRule(
    rule="!self.contains(':') && !self.contains('/')",
    message="cloud names a cloud profile from the operator configuration; it is never a URL or host",
    check=lambda cloud: ":" not in cloud and "/" not in cloud,
)

_IMMUTABLE_SCALE_SET = CelRule(
    rule="self == oldSelf",
    message="scaleSet is immutable; create another ScaleSetImage to manage a different scale set",
)


class ScaleSetRef(Model):
    """The Azure virtual machine scale set whose OS image is managed."""

    subscription_id: str = Field(
        description="Azure subscription id (a GUID) that holds the scale set.",
        pattern=GUID_PATTERN,
        max_length=36,
    )
    resource_group: str = Field(
        description=(
            "Resource group of the scale set: 1-90 letters, digits, underscores, parentheses, hyphens and"
            " periods, not ending in a period."
        ),
        pattern=RESOURCE_GROUP_PATTERN,
        min_length=1,
        max_length=90,
    )
    name: str = Field(
        description=(
            "Name of the scale set: 1-64 letters, digits, underscores, hyphens and periods, starting with"
            " a letter or digit and not ending in a period or hyphen."
        ),
        pattern=SCALE_SET_NAME_PATTERN,
        min_length=1,
        max_length=64,
    )
    cloud: Annotated[str, Field(pattern=CLOUD_NAME_PATTERN, min_length=1, max_length=63), _NOT_A_URL] | None = Field(
        default=None,
        description=(
            "Name of a cloud profile defined in the operator's own configuration (ARM endpoint, credential"
            " audience, API version). When omitted, the configuration's defaultCloud is used (public Azure"
            " unless configured otherwise); Azure Stack Hub stamps get their own profiles. This is a name,"
            " never a URL: a resource cannot point the operator, and its Azure token, at an endpoint of its"
            " choosing."
        ),
    )


_BATCH_NEEDS_SIZE = CelRule(
    rule="!has(self.domainKind) || self.domainKind != 'Batch' || has(self.batchSize)",
    message="batchSize is required when domainKind is Batch",
    check=lambda rollout: rollout.domain_kind != DomainKind.BATCH or rollout.batch_size is not None,
)
_SIZE_NEEDS_BATCH = CelRule(
    rule="!has(self.batchSize) || (has(self.domainKind) && self.domainKind == 'Batch')",
    message="batchSize may only be set when domainKind is Batch",
    check=lambda rollout: rollout.batch_size is None or rollout.domain_kind == DomainKind.BATCH,
)
_REPRESENTABLE_DURATION = CelRule(
    rule="duration(self) >= duration('0s')",
    message="pauseBetweenDomains must be a duration Kubernetes can represent (under 292 years)",
    check=lambda pause: parse_duration(pause) >= 0,
)
_TIMEOUT_AT_LEAST_1S = CelRule(
    rule="duration(self) >= duration('1s')",
    message="domainTimeout must be at least 1s",
    check=lambda timeout: parse_duration(timeout) >= 1,
)

Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32)]
"""A Kubernetes duration as users write it (``DURATION_PATTERN``)."""

BatchSize = Annotated[
    Annotated[int, Field(ge=1), Tag(INTEGER_TAG)]
    | Annotated[str, Field(pattern=POSITIVE_PERCENT_PATTERN), Tag(STRING_TAG)],
    Discriminator(int_or_string_tag),
]
"""A positive count or percentage (Kubernetes int-or-string)."""

UnhealthyCount = Annotated[
    Annotated[int, Field(ge=0), Tag(INTEGER_TAG)] | Annotated[str, Field(pattern=PERCENT_PATTERN), Tag(STRING_TAG)],
    Discriminator(int_or_string_tag),
]
"""A count or percentage from zero (Kubernetes int-or-string)."""

_DURATION_WORDS = "written as Kubernetes durations: a number and a unit (h, m, s, ms), e.g. 30s, 5m, 1h30m, 1.5h"


class RolloutSpec(Model):
    """How the new image is rolled across the scale set."""

    cel_rules = (_BATCH_NEEDS_SIZE, _SIZE_NEEDS_BATCH)

    domain_kind: DomainKind = Field(
        default=DomainKind.UPDATE_DOMAIN,
        description=(
            "How instances are grouped into the domains upgraded one at a time: UpdateDomain (Azure's"
            " platform update domains), FaultDomain, Zone (availability zones) or Batch (fixed-size"
            " groups, see batchSize). When every instance reports update domain 0, as on Azure Stack Hub,"
            " UpdateDomain falls back to FaultDomain, else Batch; status.domainKind shows what is used."
        ),
    )
    batch_size: BatchSize | None = Field(
        default=None,
        description=(
            "Instances per batch when domainKind is Batch, and only then: a count (e.g. 5) or a"
            " percentage of the scale set (e.g. '25%'), rounded up and at least 1."
        ),
    )
    pause_between_domains: Annotated[Duration, _REPRESENTABLE_DURATION] = Field(
        default="0s",
        description=(
            "How long to wait between domains, counted from the end of a domain's upgrade: the domain is then "
            "checked healthy on a listing taken when the pause is over, and the next starts in the same pass (a "
            "domain healthy only later is paused for again in full once healthy; with analysis, the pause runs "
            f"alongside it, from health). {_DURATION_WORDS[0].upper()}{_DURATION_WORDS[1:]}."
        ),
    )
    domain_timeout: Annotated[Duration, _TIMEOUT_AT_LEAST_1S] = Field(
        default="30m",
        description=(
            "How long one domain may take, from its upgrade starting to its instances being healthy,"
            f" before it counts as failed; {_DURATION_WORDS}. At least 1s."
        ),
    )
    max_unhealthy_instances: UnhealthyCount = Field(
        default="20%",
        description=(
            "How many instances may be unhealthy at once before the rollout stops (see onFailure): a count"
            " (e.g. 1) or a percentage of the scale set (e.g. '20%'), rounded down, so on small scale sets"
            " a percentage can mean zero; write a count there."
        ),
    )
    on_failure: OnFailure = Field(
        default=OnFailure.PAUSE,
        description=(
            "What to do when a domain fails or times out: Pause (stop and wait for a person) or Rollback"
            " (put the previous image, status.previousImage, back on the upgraded domains)."
        ),
    )
    paused: bool = Field(
        default=False,
        description="Set to true to stop starting new domains; the domain in progress finishes. False resumes.",
    )
    abort: bool = Field(
        default=False,
        description=(
            "Set to true to stop the rollout now: once the Azure operation in flight (if any) ends, the domain"
            " in progress counts as failed and onFailure applies (Pause: phase Failed, Stalled=True reason"
            " Aborted; Rollback: the previous image is put back on the upgraded domains). While true, no"
            " domain and no new rollout starts. Setting it back to false retries a rollout that stopped with"
            " onFailure Pause; after a rollback, change retryToken (kubectl ssi retry does both)."
        ),
    )
    retry_token: str | None = Field(
        default=None,
        description=(
            "Any new value retries a failed rollout of the same image: from its failed domain, or from the"
            " start after a rollback. The value means nothing else (kubectl ssi retry writes the time);"
            " status.retryToken records the one last acted on."
        ),
        min_length=1,
        max_length=64,
    )
    analysis: AnalysisSpec | None = Field(
        default=None,
        description=(
            "Prometheus queries run after each domain is healthy; the next domain (and the end of the rollout)"
            " waits for them to succeed, and for pauseBetweenDomains. A failed analysis follows onFailure;"
            " an inconclusive one pauses. Measurements are in status.analysis and in events."
        ),
    )
    maintenance_windows: Annotated[tuple[MaintenanceWindow, ...], AT_MOST_20] | None = Field(
        default=None, description=WINDOWS_DESCRIPTION
    )
    hooks: Annotated[tuple[HookSpec, ...], ListType("map", ("name",)), AT_MOST_20] | None = Field(
        default=None,
        description="HTTP webhooks called before the rollout, before and after each domain, and on failure.",
    )
    approval: ApprovalMode = Field(
        default=ApprovalMode.NEVER,
        description=(
            "Never, BeforeFirstDomain or BeforeEachDomain: the domain waits until the annotation"
            " imagerollout.dev/approve is set to status.approval.token (kubectl ssi approve sets it). An"
            " annotation, not a spec field, so a GitOps tool that owns the spec never approves or un-approves."
        ),
    )

    @property
    def pause_between_domains_seconds(self) -> float:
        return parse_duration(self.pause_between_domains)

    @property
    def domain_timeout_seconds(self) -> float:
        return parse_duration(self.domain_timeout)

    def unhealthy_budget(self, total: int) -> int:
        """``maxUnhealthyInstances`` for a scale set of ``total`` instances (percentages round down)."""
        return unhealthy_budget(self.max_unhealthy_instances, total)


class ScaleSetImageSpec(Model):
    """The desired state: which scale set, which image, and how to roll it out."""

    scale_set: Annotated[ScaleSetRef, _IMMUTABLE_SCALE_SET] = Field(
        description="The Azure virtual machine scale set to manage. Immutable once set.",
    )
    image: ImageSource = Field(
        description=(
            "The OS image the scale set should run. Set exactly one of marketplace, galleryImageVersionId,"
            " managedImageId or vhdUri. Changing it starts a new rollout."
        ),
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec,
        description="How the image is rolled out, one domain at a time. All fields have defaults.",
        json_schema_extra={"default": {}},  # the API server then fills in the rollout's own defaults
    )
    follow: ImageFollow | None = Field(
        default=None,
        description=(
            "Keep spec.image on the newest version of a gallery image or Marketplace SKU, for this scale set's"
            " region and subscription: a new version replaces spec.image once approved (approvedVersion, the"
            " imagerollout.dev/approved-version annotation, or autoApprove) and no rollout is in flight."
        ),
    )


def followed_image(follow: ImageFollow, version: str) -> ImageSource:
    """The exact image of ``version`` of what ``follow`` follows."""
    if follow.gallery_image_id is not None:
        return ImageSource(gallery_image_version_id=f"{follow.gallery_image_id.rstrip('/')}/versions/{version}")
    assert follow.marketplace is not None
    m = follow.marketplace
    return ImageSource(marketplace=MarketplaceImage(publisher=m.publisher, offer=m.offer, sku=m.sku, version=version))
