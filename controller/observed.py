"""What the operator observes in Azure, as plain data: the planner's input, free of any SDK type.

``azure_api`` fills these in; the planner and the views read them. Keeping them apart from the SDK keeps
the planner importable (and testable) without Azure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OperationKind = Literal["ModelUpdate", "ManualUpgrade"]


@dataclass(frozen=True)
class ScaleSetRef:
    subscription_id: str
    resource_group: str
    name: str

    def __str__(self) -> str:
        return f"{self.subscription_id}/{self.resource_group}/{self.name}"


@dataclass(frozen=True)
class ObservedInstance:
    instance_id: str
    update_domain: int
    fault_domain: int
    zone: str | None
    latest_model: bool
    image_version: str | None  # exactVersion for marketplace images; None when Azure does not report it
    provisioning: str  # succeeded | updating | creating | failed | deleting ...
    power: str | None  # running | stopped | starting | deallocated ...
    health: str | None  # healthy | unhealthy | initializing | unknown; None without the health extension


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


@dataclass(frozen=True)
class OperationState:
    status: Literal["InProgress", "Succeeded", "Failed", "Canceled"]
    error_code: str | None = None
    error_message: str | None = None


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
