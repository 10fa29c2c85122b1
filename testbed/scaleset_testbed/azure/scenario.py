"""Scenario files: the Azure world the emulator starts with.

A scenario names subscriptions, resource groups and scale sets, the marketplace and gallery images that
exist per location, the image versions that boot into a broken VM, timings, and throttling limits. Parse
errors name the offending key, because a scenario is written by hand.

Example (every key but ``subscriptions`` is optional)::

    location: westeurope
    subscriptions:
      "00000000-0000-0000-0000-000000000001":
        resourceGroups:
          rg-web:
            scaleSets:
              vmss-web:
                capacity: 20
                updateDomains: 5
                faultDomains: 5
                upgradePolicy: Manual
                healthExtension: true
                image: {publisher: Canonical, offer: UbuntuServer, sku: 16.04-LTS, version: 16.04.201801010}
    images:
      - {location: westeurope, publisher: Canonical, offer: UbuntuServer, sku: 16.04-LTS,
         versions: [16.04.201801010, 16.04.201807060, 16.04.201811010]}
    badImageVersions: [16.04.201811010]
    timing: {instanceUpgradeSeconds: 2.0, jitterSeconds: 0.5}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

UpgradeMode = Literal["Automatic", "Manual", "Rolling"]
BadImageEffect = Literal["unhealthy", "failed"]
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the key at fault."""


@dataclass
class RollingPolicy:
    max_batch_instance_percent: int = 20
    max_unhealthy_instance_percent: int = 20
    max_unhealthy_upgraded_instance_percent: int = 20
    pause_time_between_batches: str = "PT0S"
    prioritize_unhealthy_instances: bool = False
    rollback_failed_instances_on_policy_breach: bool = False

    def to_arm(self) -> dict[str, Any]:
        return {
            "maxBatchInstancePercent": self.max_batch_instance_percent,
            "maxUnhealthyInstancePercent": self.max_unhealthy_instance_percent,
            "maxUnhealthyUpgradedInstancePercent": self.max_unhealthy_upgraded_instance_percent,
            "pauseTimeBetweenBatches": self.pause_time_between_batches,
            "prioritizeUnhealthyInstances": self.prioritize_unhealthy_instances,
            "rollbackFailedInstancesOnPolicyBreach": self.rollback_failed_instances_on_policy_breach,
        }


@dataclass
class ScaleSetSpec:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    capacity: int
    update_domains: int = 5
    fault_domains: int = 5
    zones: list[str] = field(default_factory=list)
    upgrade_policy: UpgradeMode = "Manual"
    rolling_policy: RollingPolicy = field(default_factory=RollingPolicy)
    health_extension: bool = False
    image_reference: dict[str, Any] = field(default_factory=dict)
    vhd_uri: str | None = None
    all_update_domains_zero: bool = False
    orchestration_mode: str = "Uniform"
    sku_name: str = "Standard_D2s_v3"

    @property
    def flexible(self) -> bool:
        """Flexible orchestration: the instances are ``Microsoft.Compute/virtualMachines`` resources."""
        return self.orchestration_mode == "Flexible"


@dataclass
class MarketplaceImageSpec:
    location: str
    publisher: str
    offer: str
    sku: str
    versions: list[str]


@dataclass
class GalleryImageSpec:
    subscription_id: str
    resource_group: str
    gallery: str
    image: str
    versions: list[str]
    regions: list[str]
    exclude_from_latest: list[str] = field(default_factory=list)
    version_regions: dict[str, list[str]] = field(default_factory=dict)
    """Target regions of single versions (a version still replicating); the others are in ``regions``."""

    def regions_of(self, version: str) -> list[str]:
        return self.version_regions.get(version, self.regions)

    @property
    def image_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/galleries/{self.gallery}/images/{self.image}"
        )


@dataclass
class Timing:
    instance_upgrade_seconds: float = 2.0
    jitter_seconds: float = 0.0
    instance_create_seconds: float = 2.0
    model_update_seconds: float = 0.5
    health_grace_seconds: float = 0.0
    retry_after_seconds: int | None = None  # Retry-After on long-running answers; None sends none


@dataclass
class BucketLimit:
    capacity: int
    refill_per_second: float


@dataclass
class ComputePolicy:
    """An older-style Compute policy: ``limit`` calls per fixed ``window_seconds`` (off unless configured)."""

    name: str
    window_seconds: float
    limit: int
    operations: list[str]


@dataclass
class BucketLevel:
    """One level (a resource, or the whole subscription) of a Compute policy: tokens per minute and a cap.

    ``header`` names the bucket in ``x-ms-ratelimit-remaining-resource`` and in 429 bodies.
    """

    refill_per_minute: float
    capacity: int
    header: str


@dataclass
class ComputeLimit:
    """A published Compute throttling policy: a bucket per resource and one per subscription, per region.

    ``operations`` spend from both; ``subscription_only`` operations (listings over many resources) spend
    from the subscription's bucket alone, as the published tables mark them.
    """

    name: str
    operations: list[str]
    resource: BucketLevel | None
    subscription: BucketLevel
    subscription_only: list[str] = field(default_factory=list)


def published_compute_limits() -> list[ComputeLimit]:
    """Microsoft.Compute's per-region limits as MicrosoftDocs azure-compute-docs, compute-throttling-limits,
    publishes them (refill per minute / capacity, per resource and per subscription).

    The tables do not name ``VirtualMachineScaleSetVMs_List`` (a scale set's instance listing) or
    ``manualupgrade``; they are counted with the scale set's high-cost GETs and updates, which is where the
    older policy names (HighCostGetVMScaleSet*, VMScaleSetBatchedVMRequests*) put them.
    """
    vmss = "VirtualMachineScaleSets_"
    return [
        ComputeLimit(
            "VMScaleSetUpdate",
            [
                vmss + "CreateOrUpdate",
                vmss + "Update",
                vmss + "UpdateInstances",
                vmss + "Start",
                vmss + "Restart",
                vmss + "Reimage",
                "VirtualMachineScaleSetRollingUpgrades_Cancel",
                "VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade",
            ],
            BucketLevel(4, 12, "PutVMScaleSet3Min"),
            BucketLevel(500, 1500, "PutVMScaleSet30Min"),
        ),
        ComputeLimit(
            "VMScaleSetDelete",
            [vmss + "Deallocate", vmss + "PowerOff", vmss + "DeleteInstances"],
            BucketLevel(4, 12, "DeleteVMScaleSet3Min"),
            BucketLevel(175, 525, "DeleteVMScaleSet30Min"),
        ),
        ComputeLimit(
            "VMScaleSetLowCostGet",
            [vmss + "Get", "VirtualMachineScaleSetRollingUpgrades_GetLatest"],
            BucketLevel(12, 36, "GetVMScaleSet3Min"),
            BucketLevel(800, 2400, "GetVMScaleSet30Min"),
        ),
        ComputeLimit(
            "VMScaleSetHighCostGet",
            [vmss + "GetInstanceView", "VirtualMachineScaleSetVMs_List"],
            BucketLevel(10, 30, "HighCostGetVMScaleSet3Min"),
            BucketLevel(360, 1080, "HighCostGetVMScaleSet30Min"),
            subscription_only=[vmss + "List", vmss + "ListAll"],
        ),
        ComputeLimit(
            "VMScaleSetVMGet",
            ["VirtualMachineScaleSetVMs_Get", "VirtualMachineScaleSetVMs_GetInstanceView"],
            BucketLevel(12, 36, "GetVMScaleSetVM3Min"),
            BucketLevel(2000, 6000, "GetVMScaleSetVM30Min"),
        ),
        ComputeLimit(
            "VMScaleSetVMUpdate",
            ["VirtualMachineScaleSetVMs_Reimage"],
            BucketLevel(4, 12, "VMScaleSetBatchedVMRequests5Min"),
            BucketLevel(500, 1500, "VmssQueuedVMOperations"),
        ),
        ComputeLimit(
            "VMLowCostGet",
            ["VirtualMachines_Get", "VirtualMachines_InstanceView"],
            BucketLevel(12, 36, "LowCostGet3Min"),
            BucketLevel(8000, 24000, "LowCostGet30Min"),
        ),
        ComputeLimit(
            "VMHighCostGet",
            [],
            None,
            BucketLevel(300, 900, "HighCostGet30Min"),
            subscription_only=["VirtualMachines_List", "VirtualMachines_ListAll"],
        ),
    ]


@dataclass
class Throttling:
    """ARM's token buckets per subscription and principal (reads 250 @ 25/s, writes and deletes 200 @ 10/s,
    learn.microsoft.com "Understand how Azure Resource Manager throttles requests") and Compute's buckets.

    ``refill_interval_seconds``: 0 refills Compute buckets continuously at their per-minute rate; 60 adds a
    minute's tokens at once, each minute after the bucket was first used (the docs' worked example).
    """

    enabled: bool = True
    reads: BucketLimit = field(default_factory=lambda: BucketLimit(250, 25.0))
    writes: BucketLimit = field(default_factory=lambda: BucketLimit(200, 10.0))
    deletes: BucketLimit = field(default_factory=lambda: BucketLimit(200, 10.0))
    compute_limits: list[ComputeLimit] = field(default_factory=published_compute_limits)
    compute_policies: list[ComputePolicy] = field(default_factory=list)
    refill_interval_seconds: float = 0.0
    clock: str = "real"  # "scenario": limits count scenario seconds, so a time-scaled world keeps Azure's ratios


@dataclass
class Scenario:
    location: str = "westeurope"
    scale_sets: list[ScaleSetSpec] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    resource_groups: list[tuple[str, str]] = field(default_factory=list)
    images: list[MarketplaceImageSpec] = field(default_factory=list)
    galleries: list[GalleryImageSpec] = field(default_factory=list)
    managed_images: list[str] = field(default_factory=list)
    vhds: list[str] = field(default_factory=list)
    bad_image_versions: dict[str, BadImageEffect] = field(default_factory=dict)
    timing: Timing = field(default_factory=Timing)
    throttling: Throttling = field(default_factory=Throttling)
    page_size: int = 100
    seed: int = 0


def load_scenario_file(path: str | Path) -> Scenario:
    """Read a scenario from a YAML (or JSON) file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario file {path} is not valid YAML: {exc}") from exc
    return parse_scenario(data or {})


def _get(d: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = None) -> Any:
    value = d.get(key, default)
    if value is None:
        return default
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        raise ScenarioError(f"{where}.{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _parse_scale_set(sub: str, rg: str, name: str, raw: dict[str, Any], location: str) -> ScaleSetSpec:
    where = f"subscriptions.{sub}.resourceGroups.{rg}.scaleSets.{name}"
    known = {
        "capacity",
        "updateDomains",
        "faultDomains",
        "zones",
        "upgradePolicy",
        "rollingUpgradePolicy",
        "healthExtension",
        "image",
        "vhdUri",
        "allUpdateDomainsZero",
        "location",
        "orchestrationMode",
        "platformFaultDomainCount",
        "sku",
    }
    unknown = set(raw) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    capacity = _get(raw, "capacity", int, where, 2)
    if capacity < 0:
        raise ScenarioError(f"{where}.capacity: must be >= 0")
    upgrade = _get(raw, "upgradePolicy", str, where, "Manual")
    if upgrade not in ("Automatic", "Manual", "Rolling"):
        raise ScenarioError(f"{where}.upgradePolicy: must be Automatic, Manual or Rolling, got {upgrade!r}")
    zones = [str(z) for z in _get(raw, "zones", list, where, [])]
    mode = _get(raw, "orchestrationMode", str, where, "Uniform")
    if mode == "Flexible":
        ud, fd = 1, _flexible_fault_domains(raw, where, zones, upgrade, name)
    elif mode == "Uniform":
        if "platformFaultDomainCount" in raw:
            raise ScenarioError(f"{where}.platformFaultDomainCount: a Uniform scale set says faultDomains")
        ud = _get(raw, "updateDomains", int, where, 5)
        fd = _get(raw, "faultDomains", int, where, 5)
        if not 1 <= ud <= 20 or not 1 <= fd <= 5:
            raise ScenarioError(f"{where}: updateDomains must be 1..20 and faultDomains 1..5")
    else:
        raise ScenarioError(f"{where}.orchestrationMode: must be Uniform or Flexible, got {mode!r}")
    image = _mapping(raw.get("image"), f"{where}.image")
    vhd = _get(raw, "vhdUri", str, where)
    if not image and not vhd:
        raise ScenarioError(f"{where}: needs an image (publisher/offer/sku/version, id) or a vhdUri")
    rp = _mapping(raw.get("rollingUpgradePolicy"), f"{where}.rollingUpgradePolicy")
    rolling = RollingPolicy(
        max_batch_instance_percent=_get(rp, "maxBatchInstancePercent", int, where, 20),
        max_unhealthy_instance_percent=_get(rp, "maxUnhealthyInstancePercent", int, where, 20),
        max_unhealthy_upgraded_instance_percent=_get(rp, "maxUnhealthyUpgradedInstancePercent", int, where, 20),
        pause_time_between_batches=_get(rp, "pauseTimeBetweenBatches", str, where, "PT0S"),
        prioritize_unhealthy_instances=_get(rp, "prioritizeUnhealthyInstances", bool, where, False),
        rollback_failed_instances_on_policy_breach=_get(
            rp, "rollbackFailedInstancesOnPolicyBreach", bool, where, False
        ),
    )
    return ScaleSetSpec(
        subscription_id=sub,
        resource_group=rg,
        name=name,
        location=_get(raw, "location", str, where, location),
        capacity=capacity,
        update_domains=ud,
        fault_domains=fd,
        zones=zones,
        upgrade_policy=upgrade,
        rolling_policy=rolling,
        health_extension=_get(raw, "healthExtension", bool, where, False),
        image_reference={str(k): str(v) for k, v in image.items()},
        vhd_uri=vhd,
        all_update_domains_zero=_get(raw, "allUpdateDomainsZero", bool, where, False),
        orchestration_mode=mode,
        sku_name=_get(raw, "sku", str, where, "Standard_D2s_v3"),
    )


# Flexible orchestration, as MicrosoftDocs/azure-compute-docs describes it: fault domains
# (virtual-machine-scale-sets-manage-fault-domains.md: regional 1, 2 or 3, default 1; zonal only 1), no update
# domains (virtual-machine-scale-sets-orchestration-modes.md), managed disks only, VM names
# ``{scale set}_{8 characters}`` of at most 44 characters (virtual-machine-scale-sets-instance-ids.md), and Rolling
# only with the Application Health extension (virtual-machine-scale-sets-upgrade-policy.md).
FLEX_MAX_VM_NAME = 44
FLEX_NAME_SUFFIX = 9  # "_" and 8 hexadecimal characters


def _flexible_fault_domains(raw: dict[str, Any], where: str, zones: list[str], upgrade: str, name: str) -> int:
    for key in ("updateDomains", "faultDomains", "allUpdateDomainsZero"):
        if key in raw:
            hint = "platformFaultDomainCount" if key == "faultDomains" else "nothing: it has no update domains"
            raise ScenarioError(f"{where}.{key}: not for a Flexible scale set (it says {hint})")
    fd = _get(raw, "platformFaultDomainCount", int, where, 1)
    if zones and fd != 1:
        raise ScenarioError(
            f"{where}.platformFaultDomainCount: a zonal Flexible scale set has 1 fault domain per zone, got {fd}"
        )
    if not 1 <= fd <= 3:
        raise ScenarioError(f"{where}.platformFaultDomainCount: a regional Flexible scale set has 1..3, got {fd}")
    if raw.get("vhdUri"):
        raise ScenarioError(f"{where}.vhdUri: Flexible scale sets use managed disks only")
    if upgrade == "Rolling" and not raw.get("healthExtension"):
        raise ScenarioError(f"{where}: a Flexible scale set with upgradePolicy Rolling needs healthExtension: true")
    if len(name) + FLEX_NAME_SUFFIX > FLEX_MAX_VM_NAME:
        raise ScenarioError(
            f"{where}: a Flexible scale set name has at most {FLEX_MAX_VM_NAME - FLEX_NAME_SUFFIX} characters "
            f"(its VMs are named <name>_<8 characters>, at most {FLEX_MAX_VM_NAME})"
        )
    return int(fd)


def check_profile(scenario: Scenario, profile: str) -> None:
    """Refuse a scenario the profile cannot serve: Azure Stack Hub (Compute 2020-06-01) has no Flexible
    orchestration, which needs 2020-12-01 or later."""
    if profile != "azurestack":
        return
    for spec in scenario.scale_sets:
        if spec.flexible:
            raise ScenarioError(
                f"subscriptions.{spec.subscription_id}.resourceGroups.{spec.resource_group}.scaleSets.{spec.name}"
                ".orchestrationMode: Flexible needs Microsoft.Compute 2020-12-01 or later; the azurestack profile "
                "(Azure Stack Hub, 2020-06-01) has no Flexible orchestration"
            )


def parse_scenario(data: dict[str, Any]) -> Scenario:
    """Build a :class:`Scenario` from parsed YAML/JSON, checking every key it knows."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a mapping at the top level")
    known = {
        "location",
        "subscriptions",
        "images",
        "galleries",
        "managedImages",
        "vhds",
        "badImageVersions",
        "timing",
        "throttling",
        "pageSize",
        "seed",
        "allUpdateDomainsZero",
    }
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f"unknown top-level keys {sorted(unknown)}")
    location = _get(data, "location", str, "scenario", "westeurope")
    ud_zero_default = _get(data, "allUpdateDomainsZero", bool, "scenario", False)
    scenario = Scenario(location=location)
    for sub, sub_raw in _mapping(data.get("subscriptions"), "subscriptions").items():
        sub = str(sub)
        scenario.subscriptions.append(sub)
        groups = _mapping(_mapping(sub_raw, f"subscriptions.{sub}").get("resourceGroups"), "resourceGroups")
        for rg, rg_raw in groups.items():
            rg = str(rg)
            scenario.resource_groups.append((sub, rg))
            sets = _mapping(_mapping(rg_raw, rg).get("scaleSets"), f"{rg}.scaleSets")
            for name, raw in sets.items():
                ss_raw = _mapping(raw, f"{rg}.scaleSets.{name}")
                spec = _parse_scale_set(sub, rg, str(name), ss_raw, location)
                if "allUpdateDomainsZero" not in ss_raw:
                    spec.all_update_domains_zero = ud_zero_default
                scenario.scale_sets.append(spec)
    for i, raw in enumerate(data.get("images") or []):
        where = f"images[{i}]"
        raw = _mapping(raw, where)
        versions = [str(v) for v in _get(raw, "versions", list, where, [])]
        for v in versions:
            if not _VERSION_RE.match(v):
                raise ScenarioError(f"{where}.versions: {v!r} is not Major.Minor.Build")
        scenario.images.append(
            MarketplaceImageSpec(
                location=_get(raw, "location", str, where, location),
                publisher=_get(raw, "publisher", str, where, ""),
                offer=_get(raw, "offer", str, where, ""),
                sku=str(raw.get("sku", "")),
                versions=versions,
            )
        )
    for i, raw in enumerate(data.get("galleries") or []):
        where = f"galleries[{i}]"
        raw = _mapping(raw, where)
        for key in ("subscriptionId", "resourceGroup", "gallery", "image"):
            if not raw.get(key):
                raise ScenarioError(f"{where}.{key}: required")
        scenario.galleries.append(
            GalleryImageSpec(
                subscription_id=str(raw["subscriptionId"]),
                resource_group=str(raw["resourceGroup"]),
                gallery=str(raw["gallery"]),
                image=str(raw["image"]),
                versions=[str(v) for v in _get(raw, "versions", list, where, [])],
                regions=[str(r) for r in _get(raw, "regions", list, where, [location])],
                exclude_from_latest=[str(v) for v in _get(raw, "excludeFromLatest", list, where, [])],
                version_regions={
                    str(v): [str(r) for r in regions]
                    for v, regions in _get(raw, "versionRegions", dict, where, {}).items()
                },
            )
        )
    scenario.managed_images = [str(x) for x in _get(data, "managedImages", list, "scenario", [])]
    scenario.vhds = [str(x) for x in _get(data, "vhds", list, "scenario", [])]
    for i, entry in enumerate(data.get("badImageVersions") or []):
        if isinstance(entry, str):
            scenario.bad_image_versions[entry] = "unhealthy"
        elif isinstance(entry, dict) and isinstance(entry.get("version"), str):
            effect = entry.get("effect", "unhealthy")
            if effect not in ("unhealthy", "failed"):
                raise ScenarioError(f"badImageVersions[{i}].effect: must be unhealthy or failed")
            scenario.bad_image_versions[entry["version"]] = effect
        else:
            raise ScenarioError(f"badImageVersions[{i}]: a version string or {{version, effect}}")
    t = _mapping(data.get("timing"), "timing")
    scenario.timing = Timing(
        instance_upgrade_seconds=_get(t, "instanceUpgradeSeconds", float, "timing", 2.0),
        jitter_seconds=_get(t, "jitterSeconds", float, "timing", 0.0),
        instance_create_seconds=_get(t, "instanceCreateSeconds", float, "timing", 2.0),
        model_update_seconds=_get(t, "modelUpdateSeconds", float, "timing", 0.5),
        health_grace_seconds=_get(t, "healthGraceSeconds", float, "timing", 0.0),
        retry_after_seconds=_get(t, "retryAfterSeconds", int, "timing", None),
    )
    th = _mapping(data.get("throttling"), "throttling")
    throttling = Throttling(enabled=_get(th, "enabled", bool, "throttling", True))
    for kind in ("reads", "writes", "deletes"):
        if kind in th:
            b = _mapping(th[kind], f"throttling.{kind}")
            default: BucketLimit = getattr(throttling, kind)
            setattr(
                throttling,
                kind,
                BucketLimit(
                    capacity=_get(b, "capacity", int, f"throttling.{kind}", default.capacity),
                    refill_per_second=_get(
                        b, "refillPerSecond", float, f"throttling.{kind}", default.refill_per_second
                    ),
                ),
            )
    if "computePolicies" in th:
        policies = []
        for i, p in enumerate(_get(th, "computePolicies", list, "throttling", [])):
            p = _mapping(p, f"throttling.computePolicies[{i}]")
            policies.append(
                ComputePolicy(
                    name=str(p["name"]),
                    window_seconds=float(p["windowSeconds"]),
                    limit=int(p["limit"]),
                    operations=[str(o) for o in p.get("operations", [])],
                )
            )
        throttling.compute_policies = policies
    if "computeLimits" in th:
        throttling.compute_limits = [
            _compute_limit(_mapping(x, f"throttling.computeLimits[{i}]"), f"throttling.computeLimits[{i}]")
            for i, x in enumerate(_get(th, "computeLimits", list, "throttling", []))
        ]
    throttling.refill_interval_seconds = _get(th, "refillIntervalSeconds", float, "throttling", 0.0)
    throttling.clock = _get(th, "clock", str, "throttling", "real")
    if throttling.clock not in ("real", "scenario"):
        raise ScenarioError("throttling.clock: real or scenario")
    if throttling.refill_interval_seconds < 0:
        raise ScenarioError("throttling.refillIntervalSeconds: must be >= 0")
    scenario.throttling = throttling
    scenario.page_size = _get(data, "pageSize", int, "scenario", 100)
    if scenario.page_size < 1:
        raise ScenarioError("pageSize: must be >= 1")
    scenario.seed = _get(data, "seed", int, "scenario", 0)
    return scenario


def _bucket_level(raw: Any, where: str) -> BucketLevel:
    level = _mapping(raw, where)
    unknown = set(level) - {"refillPerMinute", "capacity", "header"}
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("refillPerMinute", "capacity", "header"):
        if key not in level:
            raise ScenarioError(f"{where}.{key}: required")
    result = BucketLevel(
        refill_per_minute=_get(level, "refillPerMinute", float, where),
        capacity=_get(level, "capacity", int, where),
        header=_get(level, "header", str, where),
    )
    if result.refill_per_minute < 0 or result.capacity < 1:
        raise ScenarioError(f"{where}: refillPerMinute must be >= 0 and capacity >= 1")
    return result


def _compute_limit(raw: dict[str, Any], where: str) -> ComputeLimit:
    """``{name, operations, subscriptionOnly, resource: {refillPerMinute, capacity, header}, subscription}``."""
    unknown = set(raw) - {"name", "operations", "subscriptionOnly", "resource", "subscription"}
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    if "name" not in raw or "subscription" not in raw:
        raise ScenarioError(f"{where}: name and subscription are required")
    return ComputeLimit(
        name=_get(raw, "name", str, where),
        operations=[str(o) for o in _get(raw, "operations", list, where, [])],
        resource=_bucket_level(raw["resource"], f"{where}.resource") if raw.get("resource") is not None else None,
        subscription=_bucket_level(raw["subscription"], f"{where}.subscription"),
        subscription_only=[str(o) for o in _get(raw, "subscriptionOnly", list, where, [])],
    )
