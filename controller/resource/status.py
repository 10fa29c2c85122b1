"""The status of a ScaleSetImage (everything needed to show and to resume a rollout), and the whole resource."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Self

from pydantic import Field, computed_field

from .base import CelRule, ListType, Model, Timestamp, evolve
from .follow import FollowStatus
from .names import (
    API_VERSION,
    DOMAIN_DONE_STATES,
    KIND,
    ConditionStatus,
    DomainKind,
    DomainState,
    OperationKind,
    OrchestrationMode,
    Phase,
    UpgradeMode,
)
from .patterns import (
    BASE64_PATTERN,
    CONDITION_REASON_PATTERN,
    CONDITION_TYPE_PATTERN,
    DOMAIN_ID_PATTERN,
    HTTPS_URL_PATTERN,
)
from .progressive import (
    AT_MOST_HOOK_RUNS,
    MAX_HOOK_RUNS,
    AnalysisStatus,
    ApprovalStatus,
    HookRun,
    MaintenanceWindowStatus,
)
from .spec import ImageSource, ScaleSetImageSpec

_INT64: Any = {"format": "int64"}
_COUNT: Any = {"minimum": 0}

_PINNED = CelRule(
    rule="!has(self.image.marketplace) || self.image.marketplace.version != 'latest'",
    message="a resolved image names an exact version, never 'latest'",
    check=lambda target: target.image.marketplace is None or target.image.marketplace.version != "latest",
)


class ResolvedImage(Model):
    """The image a rollout installs, resolved to an exact version and pinned for the whole rollout."""

    cel_rules = (_PINNED,)

    image: ImageSource = Field(description="The image with any 'latest' replaced by the exact version it meant.")
    generation: int = Field(
        description="metadata.generation of the spec this image was resolved from.",
        ge=0,
        json_schema_extra=_INT64,
    )
    resolved_at: Timestamp | None = Field(default=None, description="When the image was resolved.")


class DomainStatus(Model):
    """One domain of the rollout plan: a group of instances upgraded together."""

    id: str = Field(
        description=(
            "Domain id: the update or fault domain number ('0', '1'), 'zone-<n>' for a zone or 'batch-<n>' for a batch."
        ),
        pattern=DOMAIN_ID_PATTERN,
        max_length=63,
    )
    instance_ids: Annotated[tuple[str, ...], ListType("set")] = Field(
        default=(),
        description="Scale set instance ids in this domain, fixed when the plan was made.",
    )
    state: DomainState = Field(
        default=DomainState.PENDING,
        description=(
            "Pending, Upgrading (image being applied), Verifying (waiting for instances to be healthy),"
            " Succeeded, Skipped (already on the target image), Failed, RollingBack or RolledBack."
        ),
    )
    started_at: Timestamp | None = Field(default=None, description="When the upgrade of this domain started.")
    finished_at: Timestamp | None = Field(
        default=None, description="When this domain reached Succeeded, Skipped, Failed or RolledBack."
    )
    message: str | None = Field(default=None, description="Human-readable detail, e.g. why the domain failed.")


class InstanceCounts(Model):
    """Instance counts of the scale set, as last observed."""

    total: int = Field(default=0, description="Instances in the scale set.", ge=0)
    updated: int = Field(default=0, description="Instances running the target image.", ge=0)
    healthy: int = Field(default=0, description="Instances reported healthy.", ge=0)
    unhealthy: int = Field(default=0, description="Instances reported unhealthy.", ge=0)


class Operation(Model):
    """A long-running Azure operation the operator started and has not yet seen finish."""

    kind: OperationKind = Field(
        description=(
            "ModelUpdate (setting the image on the scale set model), ManualUpgrade (applying the model to"
            " instances) or Rollback (restoring the previous image on the model)."
        ),
    )
    id: str | None = Field(default=None, description="Azure's operation id, when Azure reported one.", max_length=256)
    azure_async_operation: str | None = Field(
        default=None,
        description=(
            "The Azure-AsyncOperation URL to poll for the outcome. It is trusted only when its host is"
            " the ARM endpoint of the resource's cloud profile, so writing this field cannot redirect"
            " the operator's Azure token."
        ),
        pattern=HTTPS_URL_PATTERN,
        max_length=4096,
    )
    domain: str | None = Field(default=None, description="Id of the domain the operation works on.", max_length=63)
    instance_ids: Annotated[tuple[str, ...], ListType("set")] = Field(
        default=(), description="Instance ids the operation targets (empty for model updates)."
    )
    continuation_token: str | None = Field(
        default=None,
        description=(
            "The Azure SDK's continuation token for the operation, used to resume polling after a"
            " restart. It is trusted only when every URL inside it is on the ARM endpoint of the"
            " resource's cloud profile (see trusted_continuation_token)."
        ),
        pattern=BASE64_PATTERN,
        max_length=262144,
    )
    started_at: Timestamp = Field(description="When the operation was started.")


class RollingUpgradeProgress(Model):
    """Progress of Azure's own rolling upgrade, for scale sets whose upgrade policy is Rolling."""

    code: str | None = Field(
        default=None,
        description="Azure's runningStatus.code: RollingForward, Cancelled, Completed or Faulted.",
        max_length=64,
    )
    started_at: Timestamp | None = Field(default=None, description="When Azure started the rolling upgrade.")
    last_action: str | None = Field(
        default=None, description="Azure's runningStatus.lastAction: Start or Cancel.", max_length=64
    )
    last_action_at: Timestamp | None = Field(default=None, description="When the last action happened.")
    successful_instances: int = Field(default=0, description="Instances upgraded successfully.", ge=0)
    failed_instances: int = Field(default=0, description="Instances that failed to upgrade.", ge=0)
    in_progress_instances: int = Field(default=0, description="Instances being upgraded now.", ge=0)
    pending_instances: int = Field(default=0, description="Instances not yet upgraded.", ge=0)
    message: str | None = Field(default=None, description="Azure's error message, if the upgrade faulted.")


class RollbackStatus(Model):
    """A rollback to the previous image, under way or finished."""

    in_progress: bool = Field(default=False, description="True while the rollback is running.")
    target: ImageSource = Field(description="The image being restored (status.previousImage when it started).")
    reason: str | None = Field(
        default=None, description="Why the rollback started, e.g. DomainTimedOut.", max_length=1024
    )
    started_at: Timestamp | None = Field(default=None, description="When the rollback started.")
    finished_at: Timestamp | None = Field(default=None, description="When the rollback finished.")
    message: str | None = Field(default=None, description="Human-readable detail about the rollback.")


class ErrorStatus(Model):
    """The last error the operator hit while reconciling this resource."""

    message: str = Field(description="What went wrong, in words.", max_length=32768)
    code: str | None = Field(
        default=None, description="Azure's error code (e.g. OperationNotAllowed) when the error came from Azure."
    )
    observed_at: Timestamp | None = Field(default=None, description="When the error was observed.")


class Condition(Model):
    """A Kubernetes condition (the shape of metav1.Condition), as kstatus reads them."""

    type: str = Field(
        description=(
            "Condition type: Ready, Reconciling, Stalled, ImageAvailable, ScaleSetFound, UpgradePolicyCompatible"
            " or ModelInSync."
        ),
        pattern=CONDITION_TYPE_PATTERN,
        max_length=316,
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="CamelCase reason for the condition's last transition, for programs.",
        pattern=CONDITION_REASON_PATTERN,
        min_length=1,
        max_length=1024,
    )
    message: str = Field(description="Human-readable detail about the last transition.", max_length=32768)
    last_transition_time: Timestamp = Field(description="When status last changed from one value to another.")
    observed_generation: int | None = Field(
        default=None,
        description="metadata.generation the condition was set for.",
        ge=0,
        json_schema_extra=_INT64,
    )


class ScaleSetImageStatus(Model):
    """The observed state: everything needed to show and to resume a rollout."""

    observed_generation: int | None = Field(
        default=None,
        description="metadata.generation of the spec the operator last acted on.",
        ge=0,
        json_schema_extra=_INT64,
    )
    phase: Phase = Field(
        default=Phase.PENDING,
        description="Pending, Progressing, Paused, Succeeded or Failed.",
    )
    target: ResolvedImage | None = Field(
        default=None,
        description="The image being rolled out, pinned to an exact version, and the spec generation it came from.",
    )
    previous_image: ImageSource | None = Field(
        default=None,
        description=(
            "The image on the scale set model before the operator changed it, as Azure reported it;"
            " the image a rollback restores."
        ),
    )
    upgrade_policy_mode: UpgradeMode | None = Field(
        default=None,
        description="The scale set's upgrade policy mode as last observed: Manual, Automatic or Rolling.",
    )
    orchestration_mode: OrchestrationMode | None = Field(
        default=None,
        description=(
            "The scale set's orchestration mode as last observed. Flexible sets have no update domains, and"
            " their instances are VMs known by name."
        ),
    )
    domain_kind: DomainKind | None = Field(
        default=None,
        description="The domain kind actually used; differs from spec.rollout.domainKind after a fallback.",
    )
    domain_kind_reason: str | None = Field(
        default=None,
        description=(
            "Why domainKind differs from the requested one, e.g. every instance reports update domain 0"
            " (Azure Stack Hub)."
        ),
        max_length=1024,
    )
    domains: Annotated[tuple[DomainStatus, ...], ListType("map", ("id",))] = Field(
        default=(),
        description="The rollout plan: the domains in the order they are upgraded, each with its state.",
    )
    current_domain: str | None = Field(
        default=None,
        description="Id of the domain being upgraded or verified, if any.",
        max_length=63,
    )
    instances: InstanceCounts = Field(
        default_factory=InstanceCounts, description="Instance counts of the scale set, as last observed."
    )
    operation: Operation | None = Field(
        default=None,
        description="The Azure operation in flight, polled to completion after an operator restart.",
    )
    rolling: RollingUpgradeProgress | None = Field(
        default=None,
        description="Progress of Azure's own rolling upgrade when the scale set's upgrade policy is Rolling.",
    )
    next_domain_at: Timestamp | None = Field(
        default=None,
        description="When the pause between domains ends and the next domain starts.",
    )
    rollout_started_at: Timestamp | None = Field(default=None, description="When the current rollout started.")
    last_succeeded_at: Timestamp | None = Field(default=None, description="When a rollout last succeeded.")
    rollback: RollbackStatus | None = Field(default=None, description="The rollback, if one was started.")
    retry_token: str | None = Field(
        default=None,
        description="spec.rollout.retryToken as the operator last acted on it; a new value in spec is a retry.",
        max_length=64,
    )
    last_error: ErrorStatus | None = Field(default=None, description="The last error hit while reconciling.")
    analysis: AnalysisStatus | None = Field(
        default=None, description="The analysis of the domain that succeeded last (spec.rollout.analysis)."
    )
    maintenance_window: MaintenanceWindowStatus | None = Field(
        default=None,
        description="Whether a maintenance window is open, and the next one (spec.rollout.maintenanceWindows).",
    )
    hooks: Annotated[tuple[HookRun, ...], ListType("map", ("hook", "subject")), AT_MOST_HOOK_RUNS] | None = Field(
        default=None, description=f"Calls of spec.rollout.hooks in this rollout (the newest {MAX_HOOK_RUNS})."
    )
    approval: ApprovalStatus | None = Field(
        default=None, description="The manual approval asked for (spec.rollout.approval), if any."
    )
    follow: FollowStatus | None = Field(
        default=None, description="With spec.follow: the newest version seen, the one approved, and when."
    )
    leader: str | None = Field(
        default=None,
        description=(
            "The operator replica (its leader-election identity) that wrote this status last; unset when the"
            " operator runs without leader election. A replica that lost the leader Lease cannot write here."
        ),
        max_length=253,
    )
    conditions: Annotated[tuple[Condition, ...], ListType("map", ("type",))] = Field(
        default=(),
        description=(
            "Conditions: Ready, Reconciling and Stalled (kstatus), plus ImageAvailable, ScaleSetFound,"
            " UpgradePolicyCompatible and ModelInSync (False while another actor's change to the model's image"
            " is being put back)."
        ),
    )

    # Derived fields: computed from the fields above on every read and written on the wire for
    # ``kubectl get`` (printer columns); values read from the wire are ignored.

    @computed_field(description="Short form of the target image for kubectl get (derived from target).")  # type: ignore[prop-decorator]
    @property
    def image_summary(self) -> str | None:
        return self.target.image.summary() if self.target is not None else None

    @computed_field(  # type: ignore[prop-decorator]
        description="Domains that reached Succeeded or Skipped (derived from domains).", json_schema_extra=_COUNT
    )
    @property
    def domains_completed(self) -> int:
        return sum(domain.state in DOMAIN_DONE_STATES for domain in self.domains)

    @computed_field(description="Domains in the plan (derived from domains).", json_schema_extra=_COUNT)  # type: ignore[prop-decorator]
    @property
    def domains_total(self) -> int:
        return len(self.domains)

    @computed_field(description="domainsCompleted/domainsTotal, e.g. 2/5, for kubectl get (derived).")  # type: ignore[prop-decorator]
    @property
    def domain_progress(self) -> str:
        return f"{self.domains_completed}/{self.domains_total}"

    @computed_field(description="instances.updated/instances.total, e.g. 37/50, for kubectl get (derived).")  # type: ignore[prop-decorator]
    @property
    def instance_progress(self) -> str:
        return f"{self.instances.updated}/{self.instances.total}"

    def condition(self, type_: str) -> Condition | None:
        """The condition of the given type, if present."""
        return next((cond for cond in self.conditions if cond.type == type_), None)

    def domain(self, domain_id: str) -> DomainStatus | None:
        """The domain with the given id, if present."""
        return next((domain for domain in self.domains if domain.id == domain_id), None)

    def with_condition(self, condition: Condition) -> Self:
        """A copy with ``condition`` set (see ``set_condition``)."""
        return evolve(self, conditions=set_condition(self.conditions, condition))


def set_condition(conditions: Sequence[Condition], condition: Condition) -> tuple[Condition, ...]:
    """Conditions with ``condition`` put in place of the one of its type (appended if new).

    As with Kubernetes' ``meta.SetStatusCondition``, ``lastTransitionTime`` only moves when ``status``
    changes: if the existing condition has the same status, its transition time is kept.
    """
    out = []
    replaced = False
    for existing in conditions:
        if existing.type != condition.type:
            out.append(existing)
            continue
        replaced = True
        if existing.status == condition.status:
            condition = evolve(condition, last_transition_time=existing.last_transition_time)
        out.append(condition)
    if not replaced:
        out.append(condition)
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# The whole resource
# --------------------------------------------------------------------------------------------------


class ScaleSetImage(Model):
    """ScaleSetImage declares the OS image an Azure virtual machine scale set should run; the operator
    rolls a new image across the scale set one update domain (or fault domain, zone or batch) at a time."""

    api_version: str = Field(
        default=API_VERSION,
        description="Versioned schema of this representation of the object.",
    )
    kind: str = Field(default=KIND, description="Kind of the object: ScaleSetImage.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: ScaleSetImageSpec = Field(description="Desired state: the scale set, the image and how to roll it out.")
    status: ScaleSetImageStatus = Field(
        default_factory=ScaleSetImageStatus,
        description="Observed state, written by the operator.",
    )

    @property
    def name(self) -> str | None:
        name = self.metadata.get("name")
        return name if isinstance(name, str) else None

    @property
    def namespace(self) -> str | None:
        namespace = self.metadata.get("namespace")
        return namespace if isinstance(namespace, str) else None

    @property
    def generation(self) -> int | None:
        generation = self.metadata.get("generation")
        return generation if isinstance(generation, int) and not isinstance(generation, bool) else None
