"""The ScaleSetImageRollout resource (a fleet): which ScaleSetImages, in which stages, to which image.

A fleet sets ``spec.image`` of the ScaleSetImages it selects, stage by stage, with a wait or an approval
between stages; each member still walks its own scale set domain by domain. The CRD of this kind is
generated from these classes exactly as the ScaleSetImage CRD is from theirs (``controller.resource.crd``).
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Final

from pydantic import Field, computed_field

from .base import CelRule, ListType, Model, Timestamp
from .follow import APPROVED_VERSION_ANNOTATION as APPROVED_VERSION_ANNOTATION
from .follow import ONE_FOLLOWED, ImageFollow
from .follow import FollowedMarketplace as FollowedMarketplace
from .follow import FollowStatus as FollowStatus
from .names import GROUP, VERSION
from .patterns import (
    CLOUD_NAME_PATTERN,
    DOMAIN_ID_PATTERN,
    DURATION_PATTERN,
    GUID_PATTERN,
)
from .spec import ImageSource, followed_image
from .status import Condition
from .values import parse_duration

FLEET_KIND: Final = "ScaleSetImageRollout"
FLEET_LIST_KIND: Final = "ScaleSetImageRolloutList"
FLEET_PLURAL: Final = "scalesetimagerollouts"
FLEET_SINGULAR: Final = "scalesetimagerollout"
FLEET_SHORT_NAMES: Final = ("ssir",)
FLEET_CRD_NAME: Final = f"{FLEET_PLURAL}.{GROUP}"
FLEET_FIELD_MANAGER: Final = "scaleset-image-fleet"
"""The field manager the fleet applies members' ``spec.image`` (and ``spec.rollout.paused``) with."""
APPROVE_ANNOTATION: Final = f"{GROUP}/approve"
"""Annotation on a fleet: approval tokens, comma-separated (the same tokens as ``spec.approvals``)."""

_NAME_PATTERN: Final = DOMAIN_ID_PATTERN  # a DNS label
_LABEL_KEY_PATTERN: Final = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
_LABEL_VALUE_PATTERN: Final = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"


class FailurePolicy(enum.StrEnum):
    """What a fleet does when a member's rollout fails."""

    STOP_RUN = "StopRun"
    CONTINUE_OTHER_GROUPS = "ContinueOtherGroups"


class FleetPhase(enum.StrEnum):
    """Coarse lifecycle of a fleet run, shown in ``kubectl get``."""

    PENDING = "Pending"
    WAITING = "Waiting"
    WAITING_FOR_APPROVAL = "WaitingForApproval"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class StageState(enum.StrEnum):
    """Progress of one stage of a run."""

    PENDING = "Pending"
    WAITING = "Waiting"
    WAITING_FOR_APPROVAL = "WaitingForApproval"
    PROGRESSING = "Progressing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    NOT_STARTED = "NotStarted"  # the run ended (failed) before this stage began


class MemberState(enum.StrEnum):
    """Progress of one member ScaleSetImage in a run."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class FleetReason(enum.StrEnum):
    """Condition reasons of a fleet."""

    RUN_IN_PROGRESS = "RunInProgress"
    RUN_SUCCEEDED = "RunSucceeded"
    RUN_FAILED = "RunFailed"
    WAITING_BETWEEN_STAGES = "WaitingBetweenStages"
    WAITING_FOR_APPROVAL = "WaitingForApproval"
    WAITING_FOR_VERSION_APPROVAL = "WaitingForVersionApproval"
    PAUSED_BY_USER = "PausedByUser"
    NO_IMAGE = "NoImage"
    INVALID_SPEC = "InvalidSpec"


class FleetEventReason(enum.StrEnum):
    """Reasons of the Events posted on a fleet."""

    RUN_STARTED = "RunStarted"
    RUN_SUCCEEDED = "RunSucceeded"
    RUN_FAILED = "RunFailed"
    STAGE_STARTED = "StageStarted"
    STAGE_SUCCEEDED = "StageSucceeded"
    STAGE_FAILED = "StageFailed"
    APPROVAL_REQUIRED = "ApprovalRequired"
    STAGE_APPROVED = "StageApproved"
    MEMBER_STARTED = "MemberStarted"
    MEMBER_SUCCEEDED = "MemberSucceeded"
    MEMBER_FAILED = "MemberFailed"
    NEW_VERSION_SEEN = "NewVersionSeen"
    VERSION_APPROVED = "VersionApproved"
    MEMBER_OUT_OF_SCOPE = "MemberOutOfScope"
    FLEET_PAUSED = "FleetPaused"
    FLEET_RESUMED = "FleetResumed"


_LABEL_KEYS = CelRule(
    rule=f"self.all(k, size(k) <= 317 && k.matches('{_LABEL_KEY_PATTERN}'))",
    message="matchLabels keys must be label keys ([prefix/]name)",
    check=lambda labels: all(len(k) <= 317 and re.match(_LABEL_KEY_PATTERN, k) for k in labels),
)
LabelValue = Annotated[str, Field(pattern=_LABEL_VALUE_PATTERN, max_length=63)]


class SelectorOperator(enum.StrEnum):
    """How a ``matchExpressions`` requirement compares a label (Kubernetes LabelSelector operators)."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


_WITH_VALUES: Final = (SelectorOperator.IN, SelectorOperator.NOT_IN)
_VALUES_FOR_OPERATOR = CelRule(
    rule="(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
    message="In and NotIn need at least one value; Exists and DoesNotExist take none",
    check=lambda req: (req.operator in _WITH_VALUES) == bool(req.values),
)


class LabelSelectorRequirement(Model):
    """One matchExpressions entry: a label key, an operator and, for In and NotIn, the values."""

    cel_rules = (_VALUES_FOR_OPERATOR,)

    key: str = Field(pattern=_LABEL_KEY_PATTERN, max_length=317, description="The label key.")
    operator: SelectorOperator = Field(
        description=(
            "In: the label is one of values. NotIn: the label is absent or not one of values. Exists: the"
            " label is present. DoesNotExist: it is absent."
        )
    )
    values: Annotated[tuple[LabelValue, ...], ListType("set")] = Field(
        default=(), max_length=64, description="Values for In and NotIn (at least one); empty for the others."
    )

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator == SelectorOperator.IN:
            return value is not None and value in self.values
        if self.operator == SelectorOperator.NOT_IN:
            return value is None or value not in self.values
        if self.operator == SelectorOperator.EXISTS:
            return value is not None
        return value is None

    def as_query(self) -> str:
        """This requirement in the ``labelSelector`` query syntax (``k in (a,b)``, ``k notin (a)``, ``k``, ``!k``)."""
        values = ",".join(sorted(self.values))
        if self.operator == SelectorOperator.IN:
            return f"{self.key} in ({values})"
        if self.operator == SelectorOperator.NOT_IN:
            return f"{self.key} notin ({values})"
        if self.operator == SelectorOperator.EXISTS:
            return self.key
        return f"!{self.key}"


class LabelSelector(Model):
    """Labels a ScaleSetImage must carry (Kubernetes LabelSelector: ``matchLabels`` and ``matchExpressions``,
    all ANDed)."""

    match_labels: Annotated[dict[str, LabelValue], _LABEL_KEYS] = Field(
        default_factory=dict,
        description="Every label here must be on the ScaleSetImage with this value.",
    )
    match_expressions: tuple[LabelSelectorRequirement, ...] = Field(
        default=(),
        max_length=32,
        description=(
            "Requirements (In, NotIn, Exists, DoesNotExist) the ScaleSetImage's labels must all meet, in addition"
            " to matchLabels. A selector with neither selects all."
        ),
    )

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match_labels.items()) and all(
            req.matches(labels) for req in self.match_expressions
        )

    def as_query(self) -> str:
        """The ``labelSelector`` query parameter of a Kubernetes list (the API server filters the same way)."""
        terms = [f"{key}={value}" for key, value in sorted(self.match_labels.items())]
        return ",".join([*terms, *(req.as_query() for req in self.match_expressions)])


_REPRESENTABLE_WAIT = CelRule(
    rule="duration(self) >= duration('0s')",
    message="waitBefore must be a duration Kubernetes can represent (under 292 years)",
    check=lambda wait: parse_duration(wait) >= 0,
)


class StageSpec(Model):
    """One stage: the selected members whose labels also match ``selector``, rolled ``maxParallel`` at a time."""

    name: str = Field(description="Stage name, a DNS label, unique in the fleet.", pattern=_NAME_PATTERN, max_length=63)
    selector: LabelSelector = Field(
        default_factory=LabelSelector,
        description=(
            "Labels that pick this stage's members among the fleet's; a member goes to the first stage it"
            " matches, so a last stage with an empty selector takes the rest."
        ),
        json_schema_extra={"default": {}},
    )
    max_parallel: int = Field(
        default=1, ge=1, le=1000, description="How many members of this stage roll at the same time."
    )
    wait_before: Annotated[str, Field(pattern=DURATION_PATTERN, max_length=32), _REPRESENTABLE_WAIT] = Field(
        default="0s", description="How long to wait after the previous stage ended before this one starts."
    )
    approval: bool = Field(
        default=False,
        description=(
            "When true, this stage starts only once approved: status.pendingApproval names the token to add to"
            " spec.approvals (or to the imagerollout.dev/approve annotation, comma-separated)."
        ),
    )

    @property
    def wait_before_seconds(self) -> float:
        return parse_duration(self.wait_before)


_MARKETPLACE_NEEDS_WHERE = CelRule(
    rule="!has(self.marketplace) || (has(self.subscriptionId) && size(self.regions) > 0)",
    message="following a Marketplace SKU needs subscriptionId and at least one region",
    check=lambda follow: follow.marketplace is None or (follow.subscription_id is not None and bool(follow.regions)),
)


class FollowSpec(ImageFollow):
    """Follow the newest version of a gallery image or a Marketplace SKU: each new version is a new run."""

    cel_rules = (ONE_FOLLOWED, _MARKETPLACE_NEEDS_WHERE)

    regions: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=64)], ...], ListType("set")] = Field(
        default=(),
        description=(
            "Azure regions of the fleet's scale sets. A gallery version counts once replicated to all of them"
            " and to the region of every member scale set the operator has read; Marketplace versions are listed"
            " in the first (required for marketplace)."
        ),
    )
    subscription_id: str | None = Field(
        default=None,
        pattern=GUID_PATTERN,
        description="Subscription to list Marketplace versions in (required for marketplace).",
    )
    cloud: str | None = Field(
        default=None,
        pattern=CLOUD_NAME_PATTERN,
        max_length=63,
        description="Cloud profile of the operator configuration to ask (default: its defaultCloud).",
    )

    def image_for(self, version: str) -> ImageSource:
        """The exact image of ``version`` of what is followed."""
        return followed_image(self, version)


_IMAGE_OR_FOLLOW = CelRule(
    rule="[has(self.image), has(self.follow)].filter(x, x).size() == 1",
    message="set exactly one of image or follow",
    check=lambda spec: (spec.image is None) != (spec.follow is None),
)

NamespaceName = Annotated[str, Field(pattern=_NAME_PATTERN, max_length=63)]


class ScaleSetImageRolloutSpec(Model):
    """Which ScaleSetImages, in which stages, to which image, and what to do on failure."""

    cel_rules = (_IMAGE_OR_FOLLOW,)

    selector: LabelSelector = Field(description="Labels that select the member ScaleSetImages.")
    namespaces: Annotated[tuple[NamespaceName, ...], ListType("set")] = Field(
        default=(),
        description=(
            "Namespaces to select members in (default: the fleet's own). A member in another namespace is"
            " taken only when the operator's scopePolicy lets the fleet's namespace target its scale set."
        ),
    )
    image: ImageSource | None = Field(
        default=None,
        description="The image every member gets, stage by stage. Changing it starts a new run at once.",
    )
    follow: FollowSpec | None = Field(
        default=None,
        description="Follow the newest version of a gallery image or Marketplace SKU instead of naming one image.",
    )
    stages: Annotated[tuple[StageSpec, ...], ListType("map", ("name",))] = Field(
        min_length=1, max_length=50, description="The stages, in order; each starts after the previous ended."
    )
    failure_policy: FailurePolicy = Field(
        default=FailurePolicy.STOP_RUN,
        description=(
            "StopRun: after a member fails no other member starts, and later stages never start."
            " ContinueOtherGroups: the other members and stages go on; the run ends Failed."
        ),
    )
    paused: bool = Field(
        default=False,
        description=(
            "True pauses the run as a whole: no member or stage starts, and members rolling now are paused"
            " (spec.rollout.paused) before their next domain. False resumes them."
        ),
    )
    approvals: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=128)], ...], ListType("set")] = Field(
        default=(),
        description="Approval tokens (status.pendingApproval shows the one awaited, e.g. prod@run-2).",
    )

    def stage(self, name: str) -> StageSpec | None:
        return next((stage for stage in self.stages if stage.name == name), None)


class RunStatus(Model):
    """One run: the image every member gets, stage by stage."""

    number: int = Field(ge=1, description="Runs counted from 1; approval tokens name it.")
    image: ImageSource = Field(description="The image of this run.")
    image_summary: str = Field(description="Short form of the image.", max_length=1024)
    started_at: Timestamp = Field(description="When the run started.")
    finished_at: Timestamp | None = Field(default=None, description="When the run ended.")
    paused: bool = Field(default=False, description="Whether the members in flight were last told to pause.")


class StageStatus(Model):
    """Progress of one stage of the run."""

    name: str = Field(description="Stage name.", max_length=63)
    state: StageState = Field(default=StageState.PENDING, description="Stage state.")
    members: int = Field(default=0, ge=0, description="Members in this stage.")
    succeeded: int = Field(default=0, ge=0, description="Members that succeeded.")
    failed: int = Field(default=0, ge=0, description="Members that failed.")
    not_before: Timestamp | None = Field(default=None, description="When the wait before this stage ends.")
    approved_at: Timestamp | None = Field(default=None, description="When this stage was approved.")
    started_at: Timestamp | None = Field(default=None, description="When this stage started.")
    finished_at: Timestamp | None = Field(default=None, description="When this stage ended.")


class MemberStatus(Model):
    """One member ScaleSetImage in the run."""

    namespace: str = Field(max_length=63, description="Namespace of the ScaleSetImage.")
    name: str = Field(max_length=253, description="Name of the ScaleSetImage.")
    stage: str = Field(max_length=63, description="The stage it belongs to.")
    state: MemberState = Field(default=MemberState.PENDING, description="Pending, Progressing, Succeeded, Failed.")
    generation: int | None = Field(
        default=None, ge=0, description="metadata.generation of the member once the run's image was set."
    )
    phase: str | None = Field(default=None, max_length=64, description="The member's own phase, as last seen.")
    domains: str | None = Field(default=None, max_length=64, description="The member's domain progress.")
    started_at: Timestamp | None = Field(default=None, description="When the fleet set the image.")
    finished_at: Timestamp | None = Field(default=None, description="When the member succeeded or failed.")
    message: str | None = Field(default=None, max_length=4096, description="Why it failed.")

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


class ScaleSetImageRolloutStatus(Model):
    """Everything needed to show and resume a fleet run."""

    observed_generation: int | None = Field(default=None, ge=0, description="Generation last acted on.")
    phase: FleetPhase = Field(default=FleetPhase.PENDING, description="Phase of the current run.")
    run: RunStatus | None = Field(default=None, description="The current (or last) run.")
    follow: FollowStatus | None = Field(default=None, description="What following found and what was approved.")
    pending_approval: str | None = Field(
        default=None, max_length=128, description="The approval token the run waits for; add it to spec.approvals."
    )
    current_stage: str | None = Field(default=None, max_length=63, description="The stage in progress or waited for.")
    stages: Annotated[tuple[StageStatus, ...], ListType("map", ("name",))] = Field(
        default=(), description="Each stage of the run, in order."
    )
    members: Annotated[tuple[MemberStatus, ...], ListType("map", ("namespace", "name"))] = Field(
        default=(), description="Each member of the run, by stage order."
    )
    excluded: tuple[Annotated[str, Field(max_length=1024)], ...] = Field(
        default=(), description="Selected ScaleSetImages left out, and why (out of scope, in no stage)."
    )
    conditions: Annotated[tuple[Condition, ...], ListType("map", ("type",))] = Field(
        default=(), description="Ready, Reconciling and Stalled (kstatus)."
    )

    @computed_field(description="Stages ended out of all, e.g. 1/3 (derived).")  # type: ignore[prop-decorator]
    @property
    def stage_progress(self) -> str:
        done = sum(s.state in (StageState.SUCCEEDED, StageState.FAILED) for s in self.stages)
        return f"{done}/{len(self.stages)}"

    @computed_field(description="Members succeeded out of all, e.g. 4/6 (derived).")  # type: ignore[prop-decorator]
    @property
    def member_progress(self) -> str:
        done = sum(m.state == MemberState.SUCCEEDED for m in self.members)
        return f"{done}/{len(self.members)}"

    def condition(self, type_: str) -> Condition | None:
        return next((cond for cond in self.conditions if cond.type == type_), None)

    def member(self, namespace: str, name: str) -> MemberStatus | None:
        return next((m for m in self.members if m.namespace == namespace and m.name == name), None)


class ScaleSetImageRollout(Model):
    """ScaleSetImageRollout rolls one image across many ScaleSetImages (scale sets, regions) in stages, with a
    wait or an approval between stages; it can follow the newest version of a gallery image or Marketplace SKU."""

    api_version: str = Field(default=f"{GROUP}/{VERSION}", description="Versioned schema of this object.")
    kind: str = Field(default=FLEET_KIND, description="Kind of the object: ScaleSetImageRollout.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")
    spec: ScaleSetImageRolloutSpec = Field(description="Desired state: members, stages, image.")
    status: ScaleSetImageRolloutStatus = Field(
        default_factory=ScaleSetImageRolloutStatus, description="Observed state, written by the operator."
    )


FLEET_PRINTER_COLUMNS: Final[tuple[dict[str, Any], ...]] = (
    {"name": "Image", "type": "string", "description": "The run's image.", "jsonPath": ".status.run.imageSummary"},
    {"name": "Phase", "type": "string", "description": "Phase of the run.", "jsonPath": ".status.phase"},
    {"name": "Stage", "type": "string", "description": "The stage in progress.", "jsonPath": ".status.currentStage"},
    {"name": "Stages", "type": "string", "description": "Stages ended / all.", "jsonPath": ".status.stageProgress"},
    {"name": "Members", "type": "string", "description": "Members done / all.", "jsonPath": ".status.memberProgress"},
    {
        "name": "Approval",
        "type": "string",
        "description": "The approval token awaited.",
        "jsonPath": ".status.pendingApproval",
        "priority": 1,
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)
