"""What the operator observes in Azure, as plain data: the planner's input, free of any SDK type.

The Azure side (``controller.azure``) fills these in; the rollout logic (``controller.rollout``) reads
them. They sit in a layer below both, so neither imports the other and the planner stays importable
(and testable) without Azure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from controller.resource import ErrorStatus, ScaleSetRef

ORCHESTRATION_MODE_SINCE = "2020-12-01"
"""The first Compute api-version whose scale-set schema has ``orchestrationMode`` (and so Flexible sets)."""

FLEXIBLE_LISTING_SINCE = "2023-03-01"
"""The first api-version whose VM list takes both ``$filter`` (2021-11-01) and ``$expand=instanceView``
(2023-03-01): how the operator reads a Flexible set's VMs in one paged listing."""


def instance_order(instance_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order ("2" before "10"); names (Flexible VMs) after them, by name."""
    return (int(instance_id), "") if instance_id.isdigit() else (1 << 30, instance_id)


@dataclass(frozen=True)
class ObservedInstance:
    instance_id: str  # Uniform: the numeric instance id; Flexible: the VM's name (what manualupgrade takes)
    update_domain: int | None  # None on Flexible scale sets, which have no update domains
    fault_domain: int
    zone: str | None
    latest_model: bool | None  # None where Azure does not report it (Flexible VMs)
    image_version: str | None  # exactVersion for marketplace images; None when Azure does not report it
    provisioning: str  # succeeded | updating | creating | failed | deleting ...
    power: str | None  # running | stopped | starting | deallocated ...
    health: str | None  # healthy | unhealthy | initializing | unknown; None without the health extension
    image_reference: dict[str, str] = field(default_factory=dict)  # the image this instance runs (wire names)
    vhd_uri: str | None = None  # or the VHD it was created from (unmanaged disks)


@dataclass(frozen=True)
class ObservedScaleSet:
    ref: ScaleSetRef
    location: str
    etag: str | None
    upgrade_mode: str
    image_reference: dict[str, str]  # the model's imageReference (wire names), empty for a VHD image
    vhd_uri: str | None
    has_health_extension: bool
    capacity: int
    provisioning_state: str
    instances: tuple[ObservedInstance, ...] = ()
    orchestration_mode: str = "Uniform"  # Azure's default, and all an api-version before 2020-12-01 can show
    fault_domain_count: int | None = None  # platformFaultDomainCount
    zones: tuple[str, ...] = ()
    api_version: str | None = None  # the Compute api-version the cloud profile pins, if any

    @property
    def flexible(self) -> bool:
        return self.orchestration_mode.lower() == "flexible"

    @property
    def api_hides_orchestration(self) -> bool:
        """The pinned api-version cannot show ``orchestrationMode`` (Azure Stack Hub's 2020-06-01)."""
        return self.api_version is not None and self.api_version[:10] < ORCHESTRATION_MODE_SINCE

    @property
    def api_cannot_list_flexible(self) -> bool:
        """The pinned api-version cannot list a Flexible set's VMs with their instance views in one listing."""
        return self.api_version is not None and self.api_version[:10] < FLEXIBLE_LISTING_SINCE


@dataclass(frozen=True)
class OperationState:
    status: Literal["InProgress", "Succeeded", "Failed", "Canceled"]
    error_code: str | None = None
    error_message: str | None = None
    retry_after: float | None = None  # seconds Azure asked the client to wait before polling again


@dataclass(frozen=True)
class RollingProgress:
    code: str  # RollingForward | RollingBack | Cancelled | Completed | Faulted
    successful: int
    failed: int
    in_progress: int
    pending: int
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class GalleryVersion:
    name: str
    exclude_from_latest: bool
    regions: tuple[str, ...]


@dataclass(frozen=True)
class ImageFacts:
    """What Azure says about the declared image, gathered before planning."""

    marketplace_versions: tuple[str, ...] | None = None  # None: the offer/SKU is unknown in the location
    gallery_versions: tuple[GalleryVersion, ...] | None = None  # None: the gallery image does not exist
    managed_image_exists: bool | None = None


@dataclass(frozen=True)
class Observation:
    """Everything the planner reads from Azure for one pass."""

    scale_set: ObservedScaleSet | None
    image: ImageFacts = ImageFacts()
    operation: OperationState | None = None  # the outcome so far of status.operation, if there is one
    rolling: RollingProgress | None = None
    azure_error: ErrorStatus | None = None  # observing failed (throttled, 5xx, denied)
    instances_current: bool = True
    """False: ``scale_set.instances`` are those of an earlier pass, not listed for this one because the walk
    waits for time alone (``controller.rollout.listing``); the planner never judges them."""
