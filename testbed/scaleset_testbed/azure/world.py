"""The simulated Azure world: scale sets, their instances, images, and the operations running on them.

The world is a discrete-event simulation driven by one clock. Nothing runs in the background: every
request first calls :meth:`World.advance`, which applies every state change scheduled up to "now", in
time order, recording each in the audit log with the time it was scheduled for. That keeps the audit in
time order, makes runs reproducible for a given seed and request sequence, and needs no tasks to cancel.

What it models, as Azure does it:
- A change of a scale set's ``virtualMachineProfile`` makes every instance's ``latestModelApplied`` false.
  With upgrade policy ``Manual`` nothing else happens until ``manualupgrade`` or ``reimage`` names
  instances; ``Automatic`` upgrades every instance at once; ``Rolling`` runs a rolling upgrade in batches
  per ``rollingUpgradePolicy``.
- An instance being upgraded is ``Updating`` for the scenario's upgrade time (with jitter), then runs the
  image the model named when its upgrade started (``latest`` resolved to the highest version then).
- Instances that boot an image version listed as bad come back unhealthy (application health extension)
  or failed (provisioning state failed).
- Capacity changes create or delete instances; creating one needs the model's image to exist.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import itertools
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from . import flex, rolling
from .clock import Clock
from .errors import ArmError, invalid_parameter, not_found, resource_group_not_found
from .scenario import GalleryImageSpec, RollingPolicy, ScaleSetSpec, Scenario, check_profile

InstanceState = Literal["Creating", "Updating", "Running", "Failed", "Deleting", "Deleted"]
OperationStatus = Literal["InProgress", "Succeeded", "Failed", "Canceled"]

_DURATION_RE = re.compile(r"^P(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_iso_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration of the form ``PT1H2M3S`` (what ``pauseTimeBetweenBatches`` uses)."""
    match = _DURATION_RE.match(text or "PT0S")
    if not match:
        raise invalid_parameter(f"The value '{text}' is not a valid ISO 8601 duration.", "pauseTimeBetweenBatches")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def version_key(version: str) -> tuple[int, ...]:
    """Numeric Major.Minor.Build ordering (string order would put 9 above 10)."""
    return tuple(int(p) for p in version.split("."))


@dataclass
class RunningImage:
    """The image an instance actually runs: its model's image reference plus what was resolved."""

    reference: dict[str, Any]  # as in the model (may say version "latest")
    exact_version: str | None  # marketplace: the resolved version
    label: str  # what the audit calls the image version
    vhd_uri: str | None = None


@dataclass
class Instance:
    instance_id: str
    update_domain: int
    fault_domain: int
    zone: str | None
    vm_id: str
    model_generation: int
    image: RunningImage
    state: InstanceState = "Running"
    provisioning: str = "succeeded"
    power: str = "running"
    health: str | None = None  # HealthState/<health> when the scale set has the health extension
    busy: bool = False
    forced_effect: str | None = None  # injected: the next upgrade of this instance fails or is unhealthy
    reported_update_domain: int = 0
    state_time: float = 0.0
    seq: int = 0  # creation order within the scale set (a Flexible VM's id is a name, not a number)
    time_created: float = 0.0

    def healthy_flag(self) -> bool | None:
        if self.health is None or self.health in ("initializing", "unknown"):
            return None
        return self.health == "healthy"


@dataclass
class RollingUpgrade:
    id: str
    policy: RollingPolicy
    started: float
    code: str = "RollingForward"  # RollingForward|RollingBack|Cancelled|Completed|Faulted
    last_action: str = "Start"
    last_action_time: float = 0.0
    ended: float | None = None
    successful: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    in_progress: set[str] = field(default_factory=set)
    cancel_requested: bool = False
    error: dict[str, Any] | None = None
    operation: Operation | None = None
    batches: int = 0
    extra_pending: set[str] = field(default_factory=set)  # osRollingUpgrade: stale instances on the latest model
    previous: dict[str, tuple[RunningImage, int]] = field(default_factory=dict)  # image, model before the batch


@dataclass
class ScaleSet:
    spec: ScaleSetSpec
    resource: dict[str, Any]  # the ARM model without the read-only fields we compute
    etag: int = 1
    model_generation: int = 1
    instances: dict[str, Instance] = field(default_factory=dict)
    next_instance_id: int = 0
    provisioning_state: str = "Succeeded"
    rolling: RollingUpgrade | None = None
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time_created: float = 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.spec.subscription_id, self.spec.resource_group.lower(), self.spec.name.lower())

    @property
    def resource_id(self) -> str:
        s = self.spec
        return (
            f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{s.name}"
        )

    @property
    def upgrade_mode(self) -> str:
        return str(self.resource["properties"].get("upgradePolicy", {}).get("mode", "Manual"))

    @property
    def image_reference(self) -> dict[str, Any]:
        storage = self.resource["properties"]["virtualMachineProfile"].get("storageProfile", {})
        return dict(storage.get("imageReference") or {})

    @property
    def vhd_uri(self) -> str | None:
        storage = self.resource["properties"]["virtualMachineProfile"].get("storageProfile", {})
        uri = (storage.get("osDisk") or {}).get("image", {}).get("uri")
        return str(uri) if uri else None

    @property
    def has_health_extension(self) -> bool:
        profile = self.resource["properties"]["virtualMachineProfile"].get("extensionProfile") or {}
        for ext in profile.get("extensions") or []:
            if str((ext.get("properties") or {}).get("type", "")).startswith("ApplicationHealth"):
                return True
        return False

    def live_instances(self) -> list[Instance]:
        return sorted((i for i in self.instances.values() if i.state != "Deleted"), key=lambda i: i.seq)


@dataclass
class Operation:
    """A long-running operation, as its ``Azure-AsyncOperation`` status monitor reports it."""

    id: str
    name: str
    subscription_id: str
    location: str
    started: float
    resource_id: str
    status: OperationStatus = "InProgress"
    ended: float | None = None
    error: dict[str, Any] | None = None
    pending: int = 0  # units of work still running
    failures: list[dict[str, Any]] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)
    not_before: float = 0.0  # the operation cannot finish before this time


class World:
    """Everything the emulator knows, and the simulation that moves it."""

    def __init__(self, scenario: Scenario, clock: Clock, *, profile: str = "azure") -> None:
        check_profile(scenario, profile)
        self.clock = clock
        self.profile = profile
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.audit: list[dict[str, Any]] = []
        self.epoch = datetime.now(UTC).timestamp() - clock.now()
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()
        self.scale_sets: dict[tuple[str, str, str], ScaleSet] = {}
        self.resource_groups: set[tuple[str, str]] = {(s, rg.lower()) for s, rg in scenario.resource_groups}
        self.subscriptions: set[str] = set(scenario.subscriptions)
        # marketplace catalog: (location, publisher, offer, sku) lower-cased -> versions
        self.marketplace: dict[tuple[str, str, str, str], list[str]] = {}
        for img in scenario.images:
            key = (img.location.lower(), img.publisher.lower(), img.offer.lower(), img.sku.lower())
            self.marketplace.setdefault(key, []).extend(v for v in img.versions)
        self.galleries: dict[str, GalleryImageSpec] = {g.image_id.lower(): g for g in scenario.galleries}
        self.managed_images: set[str] = {m.lower() for m in scenario.managed_images}
        self.vhds: set[str] = set(scenario.vhds)
        self.bad_versions: dict[str, str] = dict(scenario.bad_image_versions)
        self.operations: dict[str, Operation] = {}
        now = clock.now()
        for spec in scenario.scale_sets:
            self._create_from_spec(spec, now)

    # ----------------------------------------------------------------- time
    def iso(self, sim_time: float | None) -> str | None:
        if sim_time is None:
            return None
        return datetime.fromtimestamp(self.epoch + sim_time, UTC).isoformat().replace("+00:00", "Z")

    def at(self, when: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), action))

    def advance(self, now: float | None = None) -> float:
        """Apply every scheduled change due by ``now``, in time order; return ``now``."""
        now = self.clock.now() if now is None else now
        while self._heap and self._heap[0][0] <= now:
            when, _, action = heapq.heappop(self._heap)
            action(when)
        return now

    def next_event_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def record(self, event: dict[str, Any]) -> None:
        self.audit.append(event)

    # ------------------------------------------------------------- creation
    def _create_from_spec(self, spec: ScaleSetSpec, now: float) -> None:
        storage: dict[str, Any] = {
            "osDisk": {
                "createOption": "FromImage",
                "caching": "ReadWrite",
                "managedDisk": {"storageAccountType": "Premium_LRS"},
            },
        }
        if spec.vhd_uri:
            storage["osDisk"] = {
                "createOption": "FromImage",
                "name": f"{spec.name}-os",
                "osType": "Linux",
                "image": {"uri": spec.vhd_uri},
                "vhdContainers": [],
            }
        else:
            storage["imageReference"] = dict(spec.image_reference)
        profile: dict[str, Any] = {
            "osProfile": {"computerNamePrefix": spec.name[:9], "adminUsername": "azureuser"},
            "storageProfile": storage,
            "networkProfile": {"networkInterfaceConfigurations": []},
        }
        if spec.health_extension:
            profile["extensionProfile"] = {
                "extensions": [
                    {
                        "name": "HealthExtension",
                        "properties": {
                            "publisher": "Microsoft.ManagedServices",
                            "type": "ApplicationHealthLinux",
                            "typeHandlerVersion": "1.0",
                            "autoUpgradeMinorVersion": True,
                            "settings": {"protocol": "http", "port": 80, "requestPath": "/health"},
                        },
                    }
                ]
            }
        upgrade: dict[str, Any] = {"mode": spec.upgrade_policy}
        if spec.upgrade_policy == "Rolling":
            upgrade["rollingUpgradePolicy"] = spec.rolling_policy.to_arm()
        resource: dict[str, Any] = {
            "location": spec.location,
            "sku": {"name": spec.sku_name, "tier": "Standard", "capacity": spec.capacity},
            "properties": {
                "singlePlacementGroup": not spec.flexible,
                "upgradePolicy": upgrade,
                "virtualMachineProfile": profile,
                "overprovision": False,
                "orchestrationMode": spec.orchestration_mode,
                "platformFaultDomainCount": spec.fault_domains,
            },
        }
        if spec.zones:
            resource["zones"] = list(spec.zones)
        ss = ScaleSet(spec=spec, resource=resource, time_created=now)
        self.subscriptions.add(spec.subscription_id)
        self.resource_groups.add((spec.subscription_id, spec.resource_group.lower()))
        self.scale_sets[ss.key] = ss
        image = self.resolve_image(ss)
        for _ in range(spec.capacity):
            self._new_instance(ss, image, state="Running", now=now, record=False)

    def _new_instance(
        self, ss: ScaleSet, image: RunningImage, *, state: InstanceState, now: float, record: bool
    ) -> Instance:
        index = ss.next_instance_id
        ss.next_instance_id += 1
        spec = ss.spec
        if spec.flexible:  # named VMs, no update domain, spread over fault domains or zones
            instance_id, ud = flex.new_vm_name(self, ss), 0
            fd, zone = flex.place(ss)
        else:
            instance_id, ud = str(index), index % spec.update_domains
            fd, zone = index % spec.fault_domains, spec.zones[index % len(spec.zones)] if spec.zones else None
        inst = Instance(
            instance_id=instance_id,
            update_domain=ud,
            reported_update_domain=0 if spec.all_update_domains_zero else ud,
            fault_domain=fd,
            zone=zone,
            vm_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            model_generation=ss.model_generation,
            image=image,
            state=state,
            state_time=now,
            seq=index,
            time_created=now,
        )
        if state == "Running":
            self._settle_health(ss, inst, now, grace=False)
        else:
            inst.provisioning, inst.power, inst.busy = "creating", "starting", True
        ss.instances[inst.instance_id] = inst
        if record:
            self._record_instance(ss, inst, now)
        return inst

    # ---------------------------------------------------------------- images
    def _catalog_versions(self, location: str, ref: dict[str, Any]) -> list[str] | None:
        key = (
            location.lower(),
            str(ref.get("publisher", "")).lower(),
            str(ref.get("offer", "")).lower(),
            str(ref.get("sku", "")).lower(),
        )
        versions = self.marketplace.get(key)
        return None if versions is None else sorted(set(versions), key=version_key)

    def image_not_found(self, ref: dict[str, Any]) -> ArmError:
        urn = f"{ref.get('publisher')}:{ref.get('offer')}:{ref.get('sku')}:{ref.get('version')}"
        code = "ImageNotFound" if self.profile == "azurestack" else "PlatformImageNotFound"
        return ArmError(
            404,
            code,
            f"The platform image '{urn}' is not available. Verify that all fields in the storage profile are "
            "correct. For more details about storage profile information, please refer to https://aka.ms/storageprofile",
        )

    def resolve_image(self, ss: ScaleSet) -> RunningImage:
        """The image an instance created or reimaged now from ``ss``'s model would run, or an ARM error."""
        uri = ss.vhd_uri
        if uri:
            if self.vhds and uri not in self.vhds:
                raise ArmError(404, "BlobNotFound", f"The blob '{uri}' does not exist.", target="osDisk.image.uri")
            return RunningImage(reference={}, exact_version=None, label=uri, vhd_uri=uri)
        return self.resolve_reference(ss.spec.location, ss.image_reference)

    def resolve_reference(self, location: str, ref: dict[str, Any]) -> RunningImage:
        image_id = ref.get("id")
        if image_id:
            return self._resolve_id(location, ref, str(image_id))
        for key in ("publisher", "offer", "sku", "version"):
            if not ref.get(key):
                raise invalid_parameter(
                    f"Required parameter 'imageReference.{key}' is missing (null).", f"imageReference.{key}"
                )
        versions = self._catalog_versions(location, ref)
        version = str(ref["version"])
        if not versions:
            raise self.image_not_found(ref)
        if version.lower() == "latest":
            exact = versions[-1]
        elif version in versions:
            exact = version
        else:
            raise self.image_not_found(ref)
        return RunningImage(reference=dict(ref), exact_version=exact, label=exact)

    def _resolve_id(self, location: str, ref: dict[str, Any], image_id: str) -> RunningImage:
        lowered = image_id.lower()
        if "/providers/microsoft.compute/galleries/" in lowered:
            parts = image_id.split("/")
            if len(parts) >= 13 and parts[-2].lower() == "versions":
                image_key, version = "/".join(parts[:-2]).lower(), parts[-1]
            else:
                image_key, version = lowered, None
            gallery = self.galleries.get(image_key)
            if gallery is None:
                raise ArmError(
                    404,
                    "GalleryImageNotFound",
                    f"The gallery image {image_id} is not available.",
                    target="imageReference",
                )
            if location.lower() not in (r.lower().replace(" ", "") for r in gallery.regions):
                raise ArmError(
                    409,
                    "GalleryImageNotReplicatedToRegion" if version else "GalleryImageNotFound",
                    f"The gallery image {image_id} is not replicated to region {location}.",
                    target="imageReference",
                )
            if version is None:
                candidates = [v for v in gallery.versions if v not in gallery.exclude_from_latest]
                if not candidates:
                    raise ArmError(
                        404,
                        "GalleryImageVersionNotFound",
                        f"The gallery image {image_id} has no version to use as latest.",
                    )
                version = max(candidates, key=version_key)
            elif version not in gallery.versions:
                raise ArmError(
                    404,
                    "GalleryImageVersionNotFound",
                    f"The gallery image version {image_id} does not exist.",
                    target="imageReference",
                )
            return RunningImage(reference=dict(ref), exact_version=None, label=version)
        if "/providers/microsoft.compute/images/" in lowered:
            if lowered not in self.managed_images:
                raise ArmError(
                    404,
                    "NotFound",
                    f"The Image '{image_id}' cannot be found in '{location}' region.",
                    target="imageReference.id",
                )
            return RunningImage(reference=dict(ref), exact_version=None, label=image_id.rsplit("/", 1)[-1])
        raise invalid_parameter(
            f"The value '{image_id}' of parameter 'imageReference.id' is invalid.", "imageReference.id"
        )

    def is_bad(self, image: RunningImage) -> str | None:
        for candidate in (image.exact_version, image.label, image.vhd_uri, image.reference.get("id")):
            if candidate and candidate in self.bad_versions:
                return self.bad_versions[candidate]
        return None

    # ---------------------------------------------------------------- lookup
    def check_resource_group(self, sub: str, rg: str) -> None:
        if sub not in self.subscriptions:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if (sub, rg.lower()) not in self.resource_groups:
            raise resource_group_not_found(rg)

    def get_scale_set(self, sub: str, rg: str, name: str) -> ScaleSet:
        self.check_resource_group(sub, rg)
        ss = self.scale_sets.get((sub, rg.lower(), name.lower()))
        if ss is None:
            raise not_found("Microsoft.Compute/virtualMachineScaleSets", name, rg)
        return ss

    def get_instance(self, ss: ScaleSet, instance_id: str) -> Instance:
        if ss.spec.flexible:
            name = flex.canonical_name(ss, instance_id)
            if name is None:
                raise flex.vm_not_found(ss.spec.resource_group, instance_id)
            return ss.instances[name]
        inst = ss.instances.get(instance_id)
        if inst is None or inst.state == "Deleted":
            raise not_found(
                "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
                f"{ss.spec.name}/{instance_id}",
                ss.spec.resource_group,
            )
        return inst

    # ------------------------------------------------------------ operations
    def new_operation(self, name: str, ss: ScaleSet, now: float, *, instance_ids: list[str] | None = None) -> Operation:
        op = Operation(
            id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            name=name,
            subscription_id=ss.spec.subscription_id,
            location=ss.spec.location,
            started=now,
            resource_id=ss.resource_id,
            instance_ids=list(instance_ids or []),
        )
        self.operations[op.id] = op
        return op

    def finish_operation(
        self, op: Operation, now: float, error: dict[str, Any] | None = None, *, canceled: bool = False
    ) -> None:
        if op.status != "InProgress":
            return
        op.ended = now
        if error is None and op.failures:
            error = {
                "code": "VMExtensionProvisioningError" if op.failures[0].get("health") else "OSProvisioningTimedOut",
                "message": "One or more instances failed to be updated. See details.",
                "details": op.failures,
            }
        op.error = error
        op.status = "Canceled" if canceled else "Failed" if error else "Succeeded"

    def _operation_unit_done(self, op: Operation | None, now: float, failure: dict[str, Any] | None) -> None:
        if op is None:
            return
        if failure:
            op.failures.append(failure)
        op.pending -= 1
        if op.pending <= 0:
            self.at(max(now, op.not_before), lambda t: self.finish_operation(op, t))

    def preempt(self, operation_id: str, now: float) -> Operation:
        op = self.operations.get(operation_id)
        if op is None:
            raise ArmError(404, "NotFound", f"operation {operation_id} not found")
        self.finish_operation(
            op,
            now,
            {
                "code": "OperationPreempted",
                "message": "Operation execution has been preempted by a more recent operation.",
            },
            canceled=True,
        )
        return op

    # ------------------------------------------------------------- instances
    def _record_instance(self, ss: ScaleSet, inst: Instance, now: float) -> None:
        inst.state_time = now
        self.record(
            {
                "type": "instance",
                "time": round(now, 6),
                "subscriptionId": ss.spec.subscription_id,
                "resourceGroup": ss.spec.resource_group,
                "scaleSet": ss.spec.name,
                "instanceId": inst.instance_id,
                "updateDomain": None if ss.spec.flexible else inst.update_domain,
                "faultDomain": inst.fault_domain,
                "zone": inst.zone,
                "state": inst.state,
                "imageVersion": inst.image.label,
                "healthy": inst.healthy_flag(),
                "latestModelApplied": inst.model_generation == ss.model_generation,
            }
        )

    def _settle_health(
        self, ss: ScaleSet, inst: Instance, now: float, *, grace: bool, effect: str | None = None
    ) -> None:
        """Set the application health a running instance reports (after the grace period, if any)."""
        effect = effect or self.is_bad(inst.image)
        if not ss.has_health_extension:
            inst.health = None
            return
        final = "unhealthy" if effect else "healthy"
        grace_s = self.scenario.timing.health_grace_seconds if grace else 0.0
        if grace_s > 0:
            inst.health = "initializing"

            def later(t: float, inst: Instance = inst, final: str = final) -> None:
                if inst.state == "Running" and inst.health == "initializing":
                    inst.health = final
                    self._record_instance(ss, inst, t)

            self.at(now + grace_s, later)
        else:
            inst.health = final

    def _duration(self, base: float) -> float:
        jitter = self.scenario.timing.jitter_seconds
        return max(0.01, base + (self.rng.uniform(-jitter, jitter) if jitter else 0.0))

    def upgrade_instance(
        self,
        ss: ScaleSet,
        inst: Instance,
        image: RunningImage,
        now: float,
        on_done: Callable[[float, dict[str, Any] | None], None],
        *,
        generation: int | None = None,
    ) -> None:
        """Put ``inst`` through an update to ``image`` and the current model (or model ``generation``, a
        rollback's); call ``on_done`` at the end."""
        generation = ss.model_generation if generation is None else generation
        inst.state, inst.provisioning, inst.power, inst.busy = "Updating", "updating", "stopped", True
        if ss.has_health_extension:
            inst.health = "unknown"
        self._record_instance(ss, inst, now)

        def finish(t: float) -> None:
            if inst.state == "Deleted":
                on_done(t, None)
                return
            inst.busy = False
            inst.image = image
            inst.model_generation = generation
            effect = inst.forced_effect or self.is_bad(image)
            inst.forced_effect = None
            if effect == "failed" or (effect and not ss.has_health_extension):
                inst.state, inst.provisioning, inst.power = "Failed", "failed", "running"
                inst.health = "unhealthy" if ss.has_health_extension else None
                self._record_instance(ss, inst, t)
                on_done(
                    t,
                    {
                        "code": "OSProvisioningTimedOut",
                        "target": inst.instance_id,
                        "message": f"OS Provisioning for VM '{ss.spec.name}_{inst.instance_id}' did not finish in "
                        "the allotted time.",
                    },
                )
                return
            inst.state, inst.provisioning, inst.power = "Running", "succeeded", "running"
            self._settle_health(ss, inst, t, grace=True, effect=effect)
            self._record_instance(ss, inst, t)
            on_done(t, None)

        self.at(now + self._duration(self.scenario.timing.instance_upgrade_seconds), finish)

    def start_instance_upgrades(
        self, ss: ScaleSet, instance_ids: list[str], now: float, op: Operation | None, *, reimage: bool = False
    ) -> list[str]:
        """Upgrade the named instances (skipping those already on the latest model unless reimaging)."""
        targets: list[Instance] = []
        for iid in instance_ids:
            inst = self.get_instance(ss, iid)
            if inst.busy:
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The operation cannot be performed on instance '{iid}' of '{ss.spec.name}' because another "
                    "operation is in progress on it. Retry after the running operation finishes.",
                )
            if reimage or inst.model_generation != ss.model_generation or inst.state == "Failed":
                targets.append(inst)
        image = self.resolve_image(ss) if targets else None
        for inst in targets:
            assert image is not None
            if op is not None:
                op.pending += 1
            self.upgrade_instance(ss, inst, image, now, lambda t, failure: self._operation_unit_done(op, t, failure))
        if op is not None and op.pending == 0:
            self.at(now + 0.05, lambda t: self.finish_operation(op, t))
        return [i.instance_id for i in targets]

    # ---------------------------------------------------------- model change
    def apply_model(self, ss: ScaleSet, new_resource: dict[str, Any], now: float, op: Operation) -> None:
        """Apply a validated new model (PUT or PATCH result) to ``ss`` and start what follows from it."""
        old = ss.resource
        profile_changed = old["properties"].get("virtualMachineProfile") != new_resource["properties"].get(
            "virtualMachineProfile"
        )
        old_capacity = int(old.get("sku", {}).get("capacity", 0))
        new_capacity = int(new_resource.get("sku", {}).get("capacity", old_capacity))
        if new_capacity > old_capacity or profile_changed:
            # A model whose image cannot be resolved is refused before anything changes.
            probe = ScaleSet(spec=ss.spec, resource=new_resource)
            self.resolve_image(probe)
        ss.resource = new_resource
        ss.etag += 1
        ss.provisioning_state = "Updating"
        if profile_changed:
            ss.model_generation += 1
        op.not_before = now + self._duration(self.scenario.timing.model_update_seconds)
        op.pending += 1

        def model_applied(t: float) -> None:
            ss.provisioning_state = "Succeeded"
            self._operation_unit_done(op, t, None)

        self.at(op.not_before, model_applied)
        if new_capacity != old_capacity:
            self._scale(ss, new_capacity, now, op)
        if profile_changed:
            mode = ss.upgrade_mode
            if mode == "Automatic":
                ids = [i.instance_id for i in ss.live_instances() if not i.busy]
                self.at(op.not_before, lambda t: self._automatic_upgrade(ss, ids, t))
            elif mode == "Rolling":
                self.at(op.not_before, lambda t: self._start_rolling_after_model(ss, t))

    def _start_rolling_after_model(self, ss: ScaleSet, now: float) -> None:
        rolling.start(self, ss, now, None)

    def _automatic_upgrade(self, ss: ScaleSet, ids: list[str], now: float) -> None:
        live = [i for i in ids if i in ss.instances and ss.instances[i].state != "Deleted" and not ss.instances[i].busy]
        # If the model's image vanished meanwhile, the instances stay on their old model.
        with contextlib.suppress(ArmError):
            self.start_instance_upgrades(ss, live, now, None)

    def _scale(self, ss: ScaleSet, capacity: int, now: float, op: Operation) -> None:
        live = ss.live_instances()
        if capacity > len(live):
            image = self.resolve_image(ss)
            for _ in range(capacity - len(live)):
                inst = self._new_instance(ss, image, state="Creating", now=now, record=True)
                op.pending += 1

                def created(t: float, inst: Instance = inst) -> None:
                    if inst.state == "Deleted":
                        self._operation_unit_done(op, t, None)
                        return
                    inst.busy = False
                    effect = self.is_bad(inst.image)
                    if effect == "failed" or (effect and not ss.has_health_extension):
                        inst.state, inst.provisioning, inst.power = "Failed", "failed", "running"
                        failure: dict[str, Any] | None = {
                            "code": "OSProvisioningTimedOut",
                            "target": inst.instance_id,
                            "message": "OS Provisioning did not finish in the allotted time.",
                        }
                    else:
                        inst.state, inst.provisioning, inst.power = "Running", "succeeded", "running"
                        self._settle_health(ss, inst, t, grace=True)
                        failure = None
                    self._record_instance(ss, inst, t)
                    self._operation_unit_done(op, t, failure)

                self.at(now + self._duration(self.scenario.timing.instance_create_seconds), created)
        elif capacity < len(live):
            for inst in sorted(live, key=lambda i: i.seq, reverse=True)[: len(live) - capacity]:
                self.delete_instance(ss, inst, now, op)

    def delete_instance(self, ss: ScaleSet, inst: Instance, now: float, op: Operation | None) -> None:
        inst.state, inst.provisioning, inst.busy = "Deleting", "deleting", True
        self._record_instance(ss, inst, now)
        if op is not None:
            op.pending += 1

        def gone(t: float) -> None:
            inst.state = "Deleted"
            inst.busy = False
            self._record_instance(ss, inst, t)
            del ss.instances[inst.instance_id]
            self._operation_unit_done(op, t, None)

        self.at(now + self._duration(1.0), gone)

    # ------------------------------------------------------- rolling upgrade
    def create_scale_set(
        self, sub: str, rg: str, name: str, body: dict[str, Any], now: float
    ) -> tuple[ScaleSet, Operation]:
        """Create a scale set from a PUT body; its instances are Creating until the scenario's create time."""
        props = body.get("properties") or {}
        profile = props.get("virtualMachineProfile")
        if not isinstance(profile, dict) or not isinstance(profile.get("storageProfile"), dict):
            raise invalid_parameter(
                "Required parameter 'virtualMachineProfile.storageProfile' is missing (null).",
                "properties.virtualMachineProfile.storageProfile",
            )
        location = str(body.get("location") or "")
        if not location:
            raise invalid_parameter("Required parameter 'location' is missing (null).", "location")
        sku = dict(body.get("sku") or {})
        capacity = int(sku.get("capacity", 0))
        zones = [str(z) for z in body.get("zones") or []]
        mode = str(props.get("orchestrationMode") or "Uniform")
        fault_domains = int(props.get("platformFaultDomainCount") or (1 if zones or mode == "Flexible" else 5))
        if mode == "Flexible":
            props = flex.check_new_flexible(body, zones, fault_domains)
        elif mode != "Uniform":
            raise invalid_parameter(
                f"The value '{mode}' of parameter 'orchestrationMode' is invalid.", "properties.orchestrationMode"
            )
        spec = ScaleSetSpec(
            subscription_id=sub,
            resource_group=rg,
            name=name,
            location=location,
            capacity=0,
            update_domains=1 if mode == "Flexible" else 5,
            fault_domains=fault_domains,
            orchestration_mode=mode,
            zones=zones,
            upgrade_policy=(props.get("upgradePolicy") or {}).get("mode", "Manual"),
            image_reference=dict(profile["storageProfile"].get("imageReference") or {}),
            vhd_uri=((profile["storageProfile"].get("osDisk") or {}).get("image") or {}).get("uri"),
            sku_name=str(sku.get("name", "Standard_D2s_v3")),
        )
        resource: dict[str, Any] = {"location": location, "sku": {**sku, "capacity": 0}, "properties": dict(props)}
        if zones:
            resource["zones"] = zones
        ss = ScaleSet(spec=spec, resource=resource, time_created=now)
        self.resolve_image(ss)
        self.scale_sets[ss.key] = ss
        op = self.new_operation("CreateVirtualMachineScaleSet", ss, now)
        new_resource = copy.deepcopy(resource)
        new_resource["sku"]["capacity"] = capacity
        self.apply_model(ss, new_resource, now, op)
        ss.provisioning_state = "Creating"  # a new scale set answers Creating until its model is applied
        return ss, op

    def set_health(self, ss: ScaleSet, instance_id: str, health: str, now: float) -> None:
        if health not in ("healthy", "unhealthy", "initializing", "unknown"):
            raise ValueError("health must be healthy, unhealthy, initializing or unknown")
        if not ss.has_health_extension:
            raise ValueError(f"scale set {ss.spec.name} has no application health extension")
        inst = self.get_instance(ss, instance_id)
        inst.health = health
        self._record_instance(ss, inst, now)

    # ---------------------------------------------------------------- faults
    def force_instance_effect(self, ss: ScaleSet, instance_id: str, effect: str) -> None:
        inst = self.get_instance(ss, instance_id)
        inst.forced_effect = effect

    def remove_marketplace_version(self, location: str, publisher: str, offer: str, sku: str, version: str) -> bool:
        key = (location.lower(), publisher.lower(), offer.lower(), sku.lower())
        versions = self.marketplace.get(key, [])
        if version in versions:
            versions.remove(version)
            return True
        return False

    def add_marketplace_version(self, location: str, publisher: str, offer: str, sku: str, version: str) -> None:
        key = (location.lower(), publisher.lower(), offer.lower(), sku.lower())
        versions = self.marketplace.setdefault(key, [])
        if version not in versions:
            versions.append(version)

    def snapshot(self) -> dict[str, Any]:
        """A JSON view of every scale set and instance (for dashboards, the demo, and debugging)."""
        out = []
        for ss in self.scale_sets.values():
            out.append(
                {
                    "subscriptionId": ss.spec.subscription_id,
                    "resourceGroup": ss.spec.resource_group,
                    "name": ss.spec.name,
                    "upgradeMode": ss.upgrade_mode,
                    "modelGeneration": ss.model_generation,
                    "imageReference": copy.deepcopy(ss.image_reference),
                    "vhdUri": ss.vhd_uri,
                    "rollingUpgrade": ss.rolling.code if ss.rolling else None,
                    "instances": [
                        {
                            "instanceId": i.instance_id,
                            "updateDomain": None if ss.spec.flexible else i.update_domain,
                            "faultDomain": i.fault_domain,
                            "zone": i.zone,
                            "state": i.state,
                            "imageVersion": i.image.label,
                            "healthy": i.healthy_flag(),
                            "latestModelApplied": i.model_generation == ss.model_generation,
                        }
                        for i in ss.live_instances()
                    ],
                }
            )
        return {"time": self.clock.now(), "scaleSets": out}
