"""Names of the ScaleSetImage resource: its API identity, and the enums every layer spells the same way."""

from __future__ import annotations

import enum
from typing import Final

# --------------------------------------------------------------------------------------------------
# Identity of the resource
# --------------------------------------------------------------------------------------------------

GROUP: Final = "imagerollout.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "ScaleSetImage"
LIST_KIND: Final = "ScaleSetImageList"
PLURAL: Final = "scalesetimages"
SINGULAR: Final = "scalesetimage"
SHORT_NAMES: Final = ("ssi",)
CATEGORIES: Final = ("imagerollout",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"


# --------------------------------------------------------------------------------------------------
# Enumerations and names used as constants (phases, conditions, reasons, events)
# --------------------------------------------------------------------------------------------------


class Phase(enum.StrEnum):
    """Coarse lifecycle of a ScaleSetImage, shown in ``kubectl get``."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class DomainKind(enum.StrEnum):
    """How instances are grouped into the domains the rollout walks one at a time."""

    UPDATE_DOMAIN = "UpdateDomain"
    FAULT_DOMAIN = "FaultDomain"
    ZONE = "Zone"
    BATCH = "Batch"


class OrchestrationMode(enum.StrEnum):
    """A scale set's orchestration mode."""

    UNIFORM = "Uniform"
    FLEXIBLE = "Flexible"


class OnFailure(enum.StrEnum):
    """What the operator does when a domain fails."""

    PAUSE = "Pause"
    ROLLBACK = "Rollback"


class DomainState(enum.StrEnum):
    """Progress of one domain of the rollout."""

    PENDING = "Pending"
    UPGRADING = "Upgrading"
    VERIFYING = "Verifying"
    SUCCEEDED = "Succeeded"
    SKIPPED = "Skipped"
    FAILED = "Failed"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"


DOMAIN_DONE_STATES: Final = frozenset({DomainState.SUCCEEDED, DomainState.SKIPPED})
"""Domain states counted as completed in ``status.domainsCompleted``."""


class OperationKind(enum.StrEnum):
    """The kind of long-running Azure operation recorded in ``status.operation``."""

    MODEL_UPDATE = "ModelUpdate"
    MANUAL_UPGRADE = "ManualUpgrade"
    ROLLBACK = "Rollback"


class UpgradeMode(enum.StrEnum):
    """Azure's ``upgradePolicy.mode`` of a scale set, as Azure spells it."""

    MANUAL = "Manual"
    AUTOMATIC = "Automatic"
    ROLLING = "Rolling"


class ImageSourceKind(enum.StrEnum):
    """Which of the mutually exclusive image sources an ``ImageSource`` uses."""

    MARKETPLACE = "Marketplace"
    GALLERY = "Gallery"
    MANAGED_IMAGE = "ManagedImage"
    VHD = "Vhd"


class ConditionStatus(enum.StrEnum):
    """The three values of a Kubernetes condition's ``status``."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(enum.StrEnum):
    """Condition types the operator maintains: the kstatus trio plus four diagnostic ones."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    IMAGE_AVAILABLE = "ImageAvailable"
    SCALE_SET_FOUND = "ScaleSetFound"
    UPGRADE_POLICY_COMPATIBLE = "UpgradePolicyCompatible"
    MODEL_IN_SYNC = "ModelInSync"


class Reason(enum.StrEnum):
    """Condition reasons (CamelCase, as ``metav1.Condition`` requires)."""

    # Ready / Reconciling / Stalled
    PENDING = "Pending"
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    WAITING_FOR_AZURE_OPERATION = "WaitingForAzureOperation"
    VERIFYING_DOMAIN = "VerifyingDomain"
    PAUSING_BETWEEN_DOMAINS = "PausingBetweenDomains"
    WAITING_FOR_OTHER_UPDATES = "WaitingForOtherUpdates"
    WAITING_FOR_AZURE_BUDGET = "WaitingForAzureBudget"
    PAUSED_BY_USER = "PausedByUser"
    ABORTED = "Aborted"
    ROLLOUT_SUCCEEDED = "RolloutSucceeded"
    ROLLOUT_FAILED = "RolloutFailed"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    ROLLBACK_FAILED = "RollbackFailed"
    DOMAIN_TIMED_OUT = "DomainTimedOut"
    TOO_MANY_UNHEALTHY_INSTANCES = "TooManyUnhealthyInstances"
    AZURE_ERROR = "AzureError"
    CLOUD_PROFILE_NOT_FOUND = "CloudProfileNotFound"
    SCOPE_FORBIDDEN = "ScopeForbidden"
    INVALID_SPEC = "InvalidSpec"
    # ImageAvailable
    IMAGE_FOUND = "ImageFound"
    IMAGE_NOT_FOUND = "ImageNotFound"
    # ScaleSetFound
    SCALE_SET_EXISTS = "ScaleSetExists"
    SCALE_SET_NOT_FOUND = "ScaleSetNotFound"
    # UpgradePolicyCompatible
    MANUAL_UPGRADE_POLICY = "ManualUpgradePolicy"
    ROLLING_UPGRADE_POLICY = "RollingUpgradePolicy"
    ORCHESTRATION_MODE_UNSUPPORTED = "OrchestrationModeUnsupported"
    # ModelInSync
    MODEL_NAMES_TARGET = "ModelNamesTarget"
    MODEL_CHANGED_OUTSIDE_OPERATOR = "ModelChangedOutsideOperator"
    AUTOMATIC_UPGRADE_POLICY = "AutomaticUpgradePolicy"
    # Progressive delivery gates (Reconciling while they hold, Stalled when they stop the rollout)
    ANALYSIS_RUNNING = "AnalysisRunning"
    ANALYSIS_FAILED = "AnalysisFailed"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    ANALYSIS_UNAVAILABLE = "AnalysisUnavailable"
    OUTSIDE_MAINTENANCE_WINDOW = "OutsideMaintenanceWindow"
    WAITING_FOR_APPROVAL = "WaitingForApproval"
    WAITING_FOR_HOOKS = "WaitingForHooks"


class EventReason(enum.StrEnum):
    """Reasons of the Kubernetes Events the operator emits on a ScaleSetImage."""

    IMAGE_RESOLVED = "ImageResolved"
    IMAGE_NOT_FOUND = "ImageNotFound"
    SCALE_SET_NOT_FOUND = "ScaleSetNotFound"
    DOMAIN_KIND_FALLBACK = "DomainKindFallback"
    ROLLOUT_STARTED = "RolloutStarted"
    DOMAIN_STARTED = "DomainStarted"
    DOMAIN_SUCCEEDED = "DomainSucceeded"
    DOMAIN_FAILED = "DomainFailed"
    DOMAIN_TIMED_OUT = "DomainTimedOut"
    AZURE_OPERATION_STARTED = "AzureOperationStarted"
    AZURE_OPERATION_FAILED = "AzureOperationFailed"
    ROLLOUT_PAUSED = "RolloutPaused"
    ROLLOUT_RESUMED = "RolloutResumed"
    ROLLOUT_ABORTED = "RolloutAborted"
    ROLLOUT_SUCCEEDED = "RolloutSucceeded"
    ROLLOUT_FAILED = "RolloutFailed"
    ROLLBACK_STARTED = "RollbackStarted"
    ROLLBACK_SUCCEEDED = "RollbackSucceeded"
    ROLLBACK_FAILED = "RollbackFailed"
    MODEL_CHANGED_OUTSIDE_OPERATOR = "ModelChangedOutsideOperator"
    SCOPE_FORBIDDEN = "ScopeForbidden"
    ANALYSIS_STARTED = "AnalysisStarted"
    ANALYSIS_MEASURED = "AnalysisMeasured"
    ANALYSIS_SUCCEEDED = "AnalysisSucceeded"
    ANALYSIS_FAILED = "AnalysisFailed"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    WAITING_FOR_MAINTENANCE_WINDOW = "WaitingForMaintenanceWindow"
    APPROVAL_REQUESTED = "ApprovalRequested"
    APPROVED = "Approved"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"
    HOOK_REFUSED = "HookRefused"


class AnalysisPhase(enum.StrEnum):
    """Where the analysis of a domain stands (``status.analysis.phase``)."""

    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


class MeasurementPhase(enum.StrEnum):
    """The verdict of one query in one round of an analysis."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


class Weekday(enum.StrEnum):
    """Days of a weekly maintenance window, as three-letter English names."""

    MON = "Mon"
    TUE = "Tue"
    WED = "Wed"
    THU = "Thu"
    FRI = "Fri"
    SAT = "Sat"
    SUN = "Sun"


class HookType(enum.StrEnum):
    """When a webhook is called. Confirm hooks block until they answer 200; the others notify."""

    CONFIRM_ROLLOUT = "ConfirmRollout"
    PRE_ROLLOUT = "PreRollout"
    CONFIRM_DOMAIN = "ConfirmDomain"
    PRE_DOMAIN = "PreDomain"
    POST_DOMAIN = "PostDomain"
    ROLLBACK = "Rollback"


CONFIRM_HOOKS: Final = frozenset({HookType.CONFIRM_ROLLOUT, HookType.CONFIRM_DOMAIN})
"""Hook types that hold the rollout until they answer 200."""


class HookPhase(enum.StrEnum):
    """Where one call of a hook stands (``status.hooks[].phase``)."""

    PENDING = "Pending"
    WAITING = "Waiting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ApprovalMode(enum.StrEnum):
    """When a person (or a pipeline) must approve before domains start (``spec.rollout.approval``)."""

    NEVER = "Never"
    BEFORE_FIRST_DOMAIN = "BeforeFirstDomain"
    BEFORE_EACH_DOMAIN = "BeforeEachDomain"


APPROVE_ANNOTATION: Final = f"{GROUP}/approve"
"""The annotation a person or pipeline sets to ``status.approval.token`` to let the waiting domain start."""
