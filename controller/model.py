"""The ScaleSetImage custom resource: one model of its spec and status, in code.

Why this module exists: the operator, the CRD schema the API server enforces, and the tests must all
agree on what a ScaleSetImage looks like. Keeping three hand-written descriptions in step does not
work for long, so this module is the single source: frozen dataclasses whose type hints give the wire
types and whose field metadata (see ``prop``) carries the description, the validation (pattern,
bounds, enum, CEL rules) and the default. ``controller.crd`` turns these classes into the CRD's
OpenAPI schema; ``from_dict``/``to_dict`` translate between the classes and the camelCase dicts kopf
hands us.

Every CEL rule placed in the CRD carries a Python twin (``CelRule.check``), so an object built here is
valid exactly when the API server would accept it; the tests evaluate both on the same table.

The status model is complete on purpose: after a restart the operator resumes a rollout from
``.status`` alone (the pinned target image, the image to roll back to, the domain plan and the Azure
operation in flight), never from memory.
"""

import base64
import dataclasses
import enum
import json
import re
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, ClassVar, Final, Self, Union, cast, dataclass_transform, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

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

DEFAULT_CLOUD: Final = "azure-public"
"""Name of the cloud profile used when ``spec.scaleSet.cloud`` is omitted (public Azure)."""


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
    ROLLING_UPGRADE = "RollingUpgrade"
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
    """Condition types the operator maintains: the kstatus trio plus three diagnostic ones."""

    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    IMAGE_AVAILABLE = "ImageAvailable"
    SCALE_SET_FOUND = "ScaleSetFound"
    UPGRADE_POLICY_COMPATIBLE = "UpgradePolicyCompatible"


class Reason(enum.StrEnum):
    """Condition reasons (CamelCase, as ``metav1.Condition`` requires)."""

    # Ready / Reconciling / Stalled
    PENDING = "Pending"
    RESOLVING_IMAGE = "ResolvingImage"
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    WAITING_FOR_AZURE_OPERATION = "WaitingForAzureOperation"
    VERIFYING_DOMAIN = "VerifyingDomain"
    PAUSING_BETWEEN_DOMAINS = "PausingBetweenDomains"
    PAUSED_BY_USER = "PausedByUser"
    ROLLOUT_SUCCEEDED = "RolloutSucceeded"
    ROLLOUT_FAILED = "RolloutFailed"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    ROLLBACK_FAILED = "RollbackFailed"
    DOMAIN_TIMED_OUT = "DomainTimedOut"
    TOO_MANY_UNHEALTHY_INSTANCES = "TooManyUnhealthyInstances"
    AZURE_ERROR = "AzureError"
    CLOUD_PROFILE_NOT_FOUND = "CloudProfileNotFound"
    INVALID_SPEC = "InvalidSpec"
    # ImageAvailable
    IMAGE_FOUND = "ImageFound"
    IMAGE_NOT_FOUND = "ImageNotFound"
    # ScaleSetFound
    SCALE_SET_EXISTS = "ScaleSetExists"
    SCALE_SET_NOT_FOUND = "ScaleSetNotFound"
    ACCESS_DENIED = "AccessDenied"
    # UpgradePolicyCompatible
    MANUAL_UPGRADE_POLICY = "ManualUpgradePolicy"
    ROLLING_UPGRADE_POLICY = "RollingUpgradePolicy"
    AUTOMATIC_UPGRADE_POLICY = "AutomaticUpgradePolicy"
    AUTOMATIC_OS_UPGRADE_ENABLED = "AutomaticOSUpgradeEnabled"
    ZONES_NOT_CONFIGURED = "ZonesNotConfigured"


class EventReason(enum.StrEnum):
    """Reasons of the Kubernetes Events the operator emits on a ScaleSetImage."""

    IMAGE_RESOLVED = "ImageResolved"
    IMAGE_NOT_FOUND = "ImageNotFound"
    SCALE_SET_NOT_FOUND = "ScaleSetNotFound"
    UPGRADE_POLICY_INCOMPATIBLE = "UpgradePolicyIncompatible"
    DOMAIN_KIND_FALLBACK = "DomainKindFallback"
    ROLLOUT_STARTED = "RolloutStarted"
    DOMAIN_STARTED = "DomainStarted"
    DOMAIN_SUCCEEDED = "DomainSucceeded"
    DOMAIN_FAILED = "DomainFailed"
    DOMAIN_TIMED_OUT = "DomainTimedOut"
    UNHEALTHY_INSTANCES = "UnhealthyInstances"
    AZURE_OPERATION_STARTED = "AzureOperationStarted"
    AZURE_OPERATION_FAILED = "AzureOperationFailed"
    ROLLOUT_PAUSED = "RolloutPaused"
    ROLLOUT_RESUMED = "RolloutResumed"
    ROLLOUT_SUCCEEDED = "RolloutSucceeded"
    ROLLOUT_FAILED = "RolloutFailed"
    ROLLBACK_STARTED = "RollbackStarted"
    ROLLBACK_SUCCEEDED = "RollbackSucceeded"
    ROLLBACK_FAILED = "RollbackFailed"


# --------------------------------------------------------------------------------------------------
# Patterns. All are anchored and written in the common subset of Go RE2 (what the API server uses)
# and Python ``re``: ASCII classes instead of \d, \w, \s (which are Unicode-aware in Python).
# --------------------------------------------------------------------------------------------------

_GUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RESOURCE_GROUP = "[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]"
_ARM_NAME = "[A-Za-z0-9][A-Za-z0-9_.-]{0,79}"
_EXACT_VERSION = "[0-9]+\\.[0-9]+\\.[0-9]+"
_COMPUTE_PREFIX = (
    f"/(?i:subscriptions)/{_GUID}/(?i:resourceGroups)/{_RESOURCE_GROUP}/(?i:providers/Microsoft\\.Compute)"
)

GUID_PATTERN: Final = f"^{_GUID}$"
RESOURCE_GROUP_PATTERN: Final = f"^{_RESOURCE_GROUP}$"
SCALE_SET_NAME_PATTERN: Final = "^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$"
CLOUD_NAME_PATTERN: Final = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MARKETPLACE_NAME_PATTERN: Final = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
IMAGE_VERSION_PATTERN: Final = f"^(latest|{_EXACT_VERSION})$"
GALLERY_IMAGE_ID_PATTERN: Final = (
    f"^{_COMPUTE_PREFIX}/(?i:galleries)/[A-Za-z0-9][A-Za-z0-9_.]{{0,79}}"
    f"/(?i:images)/{_ARM_NAME}(/(?i:versions)/{_EXACT_VERSION})?$"
)
MANAGED_IMAGE_ID_PATTERN: Final = f"^{_COMPUTE_PREFIX}/(?i:images)/{_ARM_NAME}$"
VHD_URI_PATTERN: Final = (
    "^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?/[A-Za-z0-9._~%!$&'()*+,;=:@/-]+\\.(?i:vhd)$"
)
HTTPS_URL_PATTERN: Final = "^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[!-~]*)?$"
BASE64_PATTERN: Final = "^[A-Za-z0-9+/]+={0,2}$"
DURATION_PATTERN: Final = "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"
PERCENT_PATTERN: Final = "^([0-9]|[1-9][0-9]|100)%$"
POSITIVE_PERCENT_PATTERN: Final = "^([1-9]|[1-9][0-9]|100)%$"
DOMAIN_ID_PATTERN: Final = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CONDITION_TYPE_PATTERN: Final = (
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN: Final = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


# --------------------------------------------------------------------------------------------------
# Errors, durations, counts, timestamps
# --------------------------------------------------------------------------------------------------


class ModelError(ValueError):
    """A value does not fit the model. ``path`` locates it in wire (camelCase) terms."""

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        self.message = message
        self.path: tuple[str | int, ...] = tuple(path)
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.path else self.message

    @property
    def location(self) -> str:
        """The path as a Kubernetes-style field path, e.g. ``spec.rollout.batchSize`` or ``domains[2].id``."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out

    def under(self, *prefix: str | int) -> "ModelError":
        """The same error, located under ``prefix``."""
        return ModelError(self.message, (*prefix, *self.path))


_NS_PER_UNIT: Final = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_MAX_DURATION_NS: Final = 2**63 - 1
_DURATION_TERM = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a duration written as Kubernetes users write them: ``30s``, ``5m``, ``1h30m``, ``1.5h``.

    The accepted language is ``DURATION_PATTERN``: one or more ``<number><unit>`` terms, units ``h``,
    ``m``, ``s``, ``ms``, ``us``, ``ns``. It is a strict subset of Go's ``time.ParseDuration`` (no sign,
    no bare ``0``, no ``.5h``), so every value accepted here means the same thing to Go and CEL tooling;
    like Go, it refuses durations beyond int64 nanoseconds. Raises ``ModelError`` naming the text.
    """
    if not isinstance(text, str) or re.fullmatch(DURATION_PATTERN, text) is None:
        raise ModelError(
            f"invalid duration {text!r}: write a number followed by a unit (h, m, s, ms, us, ns), "
            "optionally repeated, such as 30s, 5m, 1h30m or 1.5h"
        )
    total_ns = sum(
        (Fraction(number) * _NS_PER_UNIT[unit] for number, unit in _DURATION_TERM.findall(text)), Fraction(0)
    )
    if total_ns > _MAX_DURATION_NS:
        raise ModelError(f"invalid duration {text!r}: longer than the longest Go duration (about 292 years)")
    return float(total_ns / 10**9)


def resolve_count(value: int | str, total: int, *, round_up: bool = False) -> int:
    """Resolve a count-or-percent (``3`` or ``"20%"``) against ``total`` instances.

    An integer is returned as it is. A percentage of ``total`` is rounded down by default (used for
    the unhealthy-instance budget: never allow more than the user asked for) or up with
    ``round_up=True`` (used for batch sizes: never a batch of zero). Raises ``ModelError`` for negative
    numbers, malformed strings and percentages above 100.
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ModelError(f"total must be a non-negative integer, got {total!r}")
    if isinstance(value, bool):
        raise ModelError(f"expected a count or a percentage, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ModelError(f"count must not be negative, got {value}")
        return value
    if isinstance(value, str) and re.fullmatch(PERCENT_PATTERN, value):
        percent = int(value[:-1])
        return -(-percent * total // 100) if round_up else percent * total // 100
    raise ModelError(f"expected a count or a percentage between 0% and 100%, got {value!r}")


def unhealthy_budget(value: int | str, total: int) -> int:
    """How many instances may be unhealthy at once: ``value`` resolved against ``total``, rounded down."""
    return resolve_count(value, total)


def batch_size(value: int | str, total: int) -> int:
    """Instances per batch: ``value`` resolved against ``total``, rounded up, at least 1, at most ``total``."""
    return max(1, min(resolve_count(value, total, round_up=True), total))


_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII)


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp (what Kubernetes writes) as an aware ``datetime``; sub-microseconds dropped."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ModelError(f"invalid timestamp {text!r}: expected RFC 3339, e.g. 2024-05-01T12:00:00Z")
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}{fraction}{zone}")
    except ValueError as err:
        raise ModelError(f"invalid timestamp {text!r}: {err}") from None


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds only when there are any (round-trips ``parse_timestamp``)."""
    if moment.tzinfo is None:
        raise ModelError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


# --------------------------------------------------------------------------------------------------
# The machinery: field metadata, CEL rules with Python twins, the Model base class
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry and its Python twin.

    ``check`` receives what ``self`` is in the rule (the object, or the field's value) and returns
    whether the rule holds. Transition rules (those reading ``oldSelf``) have no twin: the model
    sees one version of an object at a time.
    """

    rule: str
    message: str
    check: Callable[[Any], bool] | None = None

    @property
    def is_transition(self) -> bool:
        return "oldSelf" in self.rule


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """What ``prop`` records about a field: the schema facts that a type hint cannot express."""

    description: str
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    format: str | None = None
    rules: tuple[CelRule, ...] = ()
    list_type: str | None = None
    list_map_keys: tuple[str, ...] = ()
    schema: Mapping[str, Any] | None = None
    emit_defaults: bool | None = None


_META_KEY: Final = "imagerollout.dev/field"


def prop(
    *,
    description: str,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    init: bool = True,
    pattern: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    format: str | None = None,
    rules: Sequence[CelRule] = (),
    list_type: str | None = None,
    list_map_keys: Sequence[str] = (),
    schema: Mapping[str, Any] | None = None,
    emit_defaults: bool | None = None,
) -> Any:
    """A dataclass field carrying its CRD facts.

    ``description`` becomes the schema description (what ``kubectl explain`` prints). ``default`` is
    both the Python default and, in spec, the schema default. ``init=False`` marks a derived field
    that ``_derive`` computes (printer-column strings, counts). ``schema`` replaces the generated
    schema verbatim (only the root ``metadata`` needs it); ``emit_defaults`` switches schema defaults
    on or off for the field's subtree (on for spec, off for status and the root).
    """
    spec = FieldSpec(
        description=description,
        pattern=pattern,
        min_length=min_length,
        max_length=max_length,
        minimum=minimum,
        maximum=maximum,
        format=format,
        rules=tuple(rules),
        list_type=list_type,
        list_map_keys=tuple(list_map_keys),
        schema=schema,
        emit_defaults=emit_defaults,
    )
    metadata = {_META_KEY: spec}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, init=init, metadata=metadata)
    return dataclasses.field(default=default, init=init, metadata=metadata)


INT_OR_STRING: Final = int | str
"""The type hint of Kubernetes int-or-string fields (a count or a percentage)."""


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """A model field as the generator, the codec and the tests see it."""

    name: str
    wire: str
    hint: Any
    optional: bool
    required: bool
    derived: bool
    default: Any
    spec: FieldSpec


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    if get_origin(hint) not in (Union, types.UnionType):
        return hint, False
    args = get_args(hint)
    kept = tuple(arg for arg in args if arg is not type(None))
    optional = len(kept) != len(args)
    if len(kept) == 1:
        return kept[0], optional
    if set(kept) == {int, str}:
        return INT_OR_STRING, optional
    raise TypeError(f"unsupported union in the model: {hint!r}")


_FIELDS_CACHE: dict[type, tuple[FieldInfo, ...]] = {}


def model_fields(cls: type["Model"]) -> tuple[FieldInfo, ...]:
    """The fields of a model class, in declaration order."""
    cached = _FIELDS_CACHE.get(cls)
    if cached is not None:
        return cached
    hints = get_type_hints(cls)
    infos = []
    field_list: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(cast(Any, cls))
    for field in field_list:
        spec = field.metadata.get(_META_KEY)
        if not isinstance(spec, FieldSpec):
            raise TypeError(f"{cls.__name__}.{field.name} must be declared with prop(...)")
        hint, optional = _strip_optional(hints[field.name])
        if field.default is not dataclasses.MISSING:
            default: Any = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = dataclasses.MISSING
        infos.append(
            FieldInfo(
                name=field.name,
                wire=_camel(field.name),
                hint=hint,
                optional=optional,
                required=field.init and default is dataclasses.MISSING,
                derived=not field.init,
                default=default,
                spec=spec,
            )
        )
    _FIELDS_CACHE[cls] = result = tuple(infos)
    return result


def is_model(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Model)


def is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.StrEnum)


def tuple_item(hint: Any) -> Any | None:
    """The item type of a ``tuple[X, ...]`` hint, else None."""
    if get_origin(hint) is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return args[0]
    return None


def is_mapping(hint: Any) -> bool:
    return get_origin(hint) is Mapping or hint is Mapping


def _json_type(hint: Any) -> str:
    if hint is INT_OR_STRING:
        return "integer or string"
    if hint is bool:
        return "boolean"
    if hint is int:
        return "integer"
    if tuple_item(hint) is not None or hint is list:
        return "array"
    if is_model(hint) or is_mapping(hint) or hint is dict:
        return "object"
    return "string"


def _type_error(hint: Any, value: Any) -> ModelError:
    return ModelError(f"must be of type {_json_type(hint)}, got {value!r}")


def _decode(hint: Any, value: Any) -> Any:
    """Turn a wire value into the Python value of ``hint`` (types only; constraints come later)."""
    if is_model(hint):
        if not isinstance(value, Mapping):
            raise _type_error(dict, value)
        return hint.from_dict(value)
    if is_enum(hint):
        if not isinstance(value, str) or value not in hint._value2member_map_:
            allowed = ", ".join(member.value for member in hint)
            raise ModelError(f"unsupported value {value!r}: must be one of {allowed}")
        return hint(value)
    if hint is datetime:
        return parse_timestamp(value)
    item = tuple_item(hint)
    if item is not None:
        if not isinstance(value, (list, tuple)):
            raise _type_error(list, value)
        decoded = []
        for index, element in enumerate(value):
            try:
                decoded.append(_decode(item, element))
            except ModelError as err:
                raise err.under(index) from None
        return tuple(decoded)
    if is_mapping(hint):
        if not isinstance(value, Mapping):
            raise _type_error(dict, value)
        return _plain(value)
    _check_type(hint, value)
    return value


def _check_type(hint: Any, value: Any) -> None:
    """Raise unless ``value`` already is a Python value of ``hint``."""
    if hint is INT_OR_STRING:
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is datetime:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ModelError("timestamps must be timezone-aware")
        ok = isinstance(value, datetime)
    elif tuple_item(hint) is not None:
        ok = isinstance(value, tuple)
        if ok:
            for index, element in enumerate(value):
                try:
                    _check_type(tuple_item(hint), element)
                except ModelError as err:
                    raise err.under(index) from None
    elif is_mapping(hint):
        ok = isinstance(value, Mapping)
    elif is_enum(hint):
        if not isinstance(value, hint):
            allowed = ", ".join(member.value for member in hint)
            raise ModelError(f"must be a {hint.__name__} member ({allowed}), got {value!r}")
        ok = True
    elif isinstance(hint, type):
        ok = isinstance(value, hint)
    else:
        raise TypeError(f"unsupported type in the model: {hint!r}")
    if not ok:
        raise _type_error(hint, value)


def to_wire(value: Any) -> Any:
    """A model value (object, enum, time, tuple, scalar) in its JSON wire form."""
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, (tuple, list)):
        return [to_wire(element) for element in value]
    if isinstance(value, Mapping):
        return _plain(value)
    if isinstance(value, str):
        return str(value)
    return value


def _plain(value: Any) -> Any:
    """A deep copy of JSON-like data made of plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(element) for key, element in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(element) for element in value]
    return value


def _check_constraints(info: FieldInfo, value: Any) -> None:
    """Enforce the schema facts of one field on its Python value (the API server's job, mirrored)."""
    spec = info.spec
    if isinstance(value, str):
        if spec.pattern is not None and re.fullmatch(spec.pattern, value) is None:
            raise ModelError(f"{value!r} should match {spec.pattern}")
        if spec.min_length is not None and len(value) < spec.min_length:
            raise ModelError(f"should be at least {spec.min_length} characters long")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ModelError(f"should be at most {spec.max_length} characters long")
    elif isinstance(value, int) and not isinstance(value, bool):
        if spec.minimum is not None and value < spec.minimum:
            raise ModelError(f"should be greater than or equal to {spec.minimum}, got {value}")
        if spec.maximum is not None and value > spec.maximum:
            raise ModelError(f"should be less than or equal to {spec.maximum}, got {value}")
    elif isinstance(value, tuple):
        if spec.list_type == "set" and len(set(value)) != len(value):
            raise ModelError("duplicate items: each item must be unique")
        if spec.list_type == "map":
            keys = [tuple(getattr(element, _snake(key)) for key in spec.list_map_keys) for element in value]
            if len(set(keys)) != len(keys):
                raise ModelError(f"duplicate keys: {', '.join(spec.list_map_keys)} must be unique")
    for rule in spec.rules:
        if rule.check is not None and not rule.check(value):
            raise ModelError(rule.message)


def _snake(wire: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", lambda match: "_" + match.group(1).lower(), wire)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(prop,))
class Model:
    """Base of every model class: subclasses become frozen, keyword-only dataclasses.

    Construction validates (types, the field constraints, the class's CEL-rule twins), so an
    instance is always something the API server would accept. ``from_dict``/``to_dict`` convert
    from and to the camelCase wire format; absent and null keys both mean "not set", and keys the
    model does not know are ignored, as the API server prunes them.
    """

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()
    """Rules on the object as a whole, emitted as the object's ``x-kubernetes-validations``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, kw_only=True)(cls)

    def __post_init__(self) -> None:
        self._derive()
        for info in model_fields(type(self)):
            value = getattr(self, info.name)
            if value is None:
                if info.required or not info.optional:
                    raise ModelError("required value is missing", (info.wire,))
                continue
            try:
                _check_type(info.hint, value)
                _check_constraints(info, value)
            except ModelError as err:
                raise err.under(info.wire) from None
        for rule in self.cel_rules:
            if rule.check is not None and not rule.check(self):
                raise ModelError(rule.message)

    def _derive(self) -> None:
        """Compute the ``init=False`` fields; classes that have some override this."""

    def _set_derived(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build an instance from its wire form; raises ``ModelError`` with the path of the problem."""
        if not isinstance(data, Mapping):
            raise _type_error(dict, data)
        kwargs: dict[str, Any] = {}
        for info in model_fields(cls):
            if info.derived:
                continue
            value = data.get(info.wire)
            if value is None:
                if info.required:
                    raise ModelError("required value is missing", (info.wire,))
                continue
            try:
                kwargs[info.name] = _decode(info.hint, value)
            except ModelError as err:
                raise err.under(info.wire) from None
        return cls(**kwargs)

    def to_dict(self, *, nulls: bool = False) -> dict[str, Any]:
        """The wire form: camelCase keys, enums and times as strings, unset (None) fields left out.

        With ``nulls=True`` unset fields are written as ``None`` instead, in this object and the
        objects nested in it (not inside lists, which a merge patch replaces whole). Send that as a
        JSON merge patch of ``.status`` so fields the operator cleared, such as a finished
        ``operation``, are removed on the server rather than left behind.
        """
        out: dict[str, Any] = {}
        for info in model_fields(type(self)):
            value = getattr(self, info.name)
            if value is None:
                if nulls:
                    out[info.wire] = None
            elif isinstance(value, Model):
                out[info.wire] = value.to_dict(nulls=nulls)
            else:
                out[info.wire] = to_wire(value)
        return out


# --------------------------------------------------------------------------------------------------
# Spec
# --------------------------------------------------------------------------------------------------

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

    publisher: str = prop(
        description="Publisher of the Marketplace image, e.g. Canonical or MicrosoftWindowsServer.",
        pattern=MARKETPLACE_NAME_PATTERN,
        min_length=1,
        max_length=128,
    )
    offer: str = prop(
        description="Offer of the Marketplace image, e.g. ubuntu-24_04-lts or WindowsServer.",
        pattern=MARKETPLACE_NAME_PATTERN,
        min_length=1,
        max_length=128,
    )
    sku: str = prop(
        description="SKU of the Marketplace image, e.g. server or 2022-datacenter-azure-edition.",
        pattern=MARKETPLACE_NAME_PATTERN,
        min_length=1,
        max_length=128,
    )
    version: str = prop(
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

    marketplace: MarketplaceImage | None = prop(
        default=None,
        description="An Azure Marketplace image. Set exactly one of marketplace, galleryImageVersionId,"
        " managedImageId or vhdUri.",
    )
    gallery_image_version_id: str | None = prop(
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
    managed_image_id: str | None = prop(
        default=None,
        description=(
            "ARM resource id of a managed image"
            " (/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Compute/images/<name>)."
        ),
        pattern=MANAGED_IMAGE_ID_PATTERN,
        max_length=1024,
    )
    vhd_uri: str | None = prop(
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

    subscription_id: str = prop(
        description="Azure subscription id (a GUID) that holds the scale set.",
        pattern=GUID_PATTERN,
        max_length=36,
    )
    resource_group: str = prop(
        description=(
            "Resource group of the scale set: 1-90 letters, digits, underscores, parentheses, hyphens and"
            " periods, not ending in a period."
        ),
        pattern=RESOURCE_GROUP_PATTERN,
        min_length=1,
        max_length=90,
    )
    name: str = prop(
        description=(
            "Name of the scale set: 1-64 letters, digits, underscores, hyphens and periods, starting with"
            " a letter or digit and not ending in a period or hyphen."
        ),
        pattern=SCALE_SET_NAME_PATTERN,
        min_length=1,
        max_length=64,
    )
    cloud: str = prop(
        default=DEFAULT_CLOUD,
        description=(
            "Name of a cloud profile defined in the operator's own configuration (ARM endpoint, credential"
            f" audience, API version). Defaults to {DEFAULT_CLOUD}, public Azure; Azure Stack Hub stamps"
            " get their own profiles. This is a name, never a URL: a resource cannot point the operator,"
            " and its Azure token, at an endpoint of its choosing."
        ),
        pattern=CLOUD_NAME_PATTERN,
        min_length=1,
        max_length=63,
        rules=(_NOT_A_URL,),
    )

    @property
    def resource_id(self) -> str:
        """The scale set's ARM resource id."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{self.name}"
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

_DURATION_WORDS = "written as Kubernetes durations: a number and a unit (h, m, s, ms), e.g. 30s, 5m, 1h30m, 1.5h"


class RolloutSpec(Model):
    """How the new image is rolled across the scale set."""

    cel_rules = (_BATCH_NEEDS_SIZE, _SIZE_NEEDS_BATCH)

    domain_kind: DomainKind = prop(
        default=DomainKind.UPDATE_DOMAIN,
        description=(
            "How instances are grouped into the domains upgraded one at a time: UpdateDomain (Azure's"
            " platform update domains), FaultDomain, Zone (availability zones) or Batch (fixed-size"
            " groups, see batchSize). When every instance reports update domain 0, as on Azure Stack Hub,"
            " UpdateDomain falls back to FaultDomain, else Batch; status.domainKind shows what is used."
        ),
    )
    batch_size: int | str | None = prop(
        default=None,
        description=(
            "Instances per batch when domainKind is Batch, and only then: a count (e.g. 5) or a"
            " percentage of the scale set (e.g. '25%'), rounded up and at least 1."
        ),
        pattern=POSITIVE_PERCENT_PATTERN,
        minimum=1,
    )
    pause_between_domains: str = prop(
        default="0s",
        description=f"How long to wait after a domain succeeds before starting the next, {_DURATION_WORDS}.",
        pattern=DURATION_PATTERN,
        max_length=32,
        rules=(_REPRESENTABLE_DURATION,),
    )
    domain_timeout: str = prop(
        default="30m",
        description=(
            "How long one domain may take, from its upgrade starting to its instances being healthy,"
            f" before it counts as failed; {_DURATION_WORDS}. At least 1s."
        ),
        pattern=DURATION_PATTERN,
        max_length=32,
        rules=(_TIMEOUT_AT_LEAST_1S,),
    )
    max_unhealthy_instances: int | str = prop(
        default="20%",
        description=(
            "How many instances may be unhealthy at once before the rollout stops (see onFailure): a count"
            " (e.g. 1) or a percentage of the scale set (e.g. '20%'), rounded down, so on small scale sets"
            " a percentage can mean zero; write a count there."
        ),
        pattern=PERCENT_PATTERN,
        minimum=0,
    )
    on_failure: OnFailure = prop(
        default=OnFailure.PAUSE,
        description=(
            "What to do when a domain fails or times out: Pause (stop and wait for a person) or Rollback"
            " (put the previous image, status.previousImage, back on the upgraded domains)."
        ),
    )
    paused: bool = prop(
        default=False,
        description="Set to true to stop starting new domains; the domain in progress finishes. False resumes.",
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

    def batch_size_for(self, total: int) -> int:
        """``batchSize`` for ``total`` instances (percentages round up; at least 1, at most ``total``)."""
        if self.batch_size is None:
            raise ModelError("batchSize is only set when domainKind is Batch")
        return batch_size(self.batch_size, total)


class ScaleSetImageSpec(Model):
    """The desired state: which scale set, which image, and how to roll it out."""

    scale_set: ScaleSetRef = prop(
        description="The Azure virtual machine scale set to manage. Immutable once set.",
        rules=(_IMMUTABLE_SCALE_SET,),
    )
    image: ImageSource = prop(
        description=(
            "The OS image the scale set should run. Set exactly one of marketplace, galleryImageVersionId,"
            " managedImageId or vhdUri. Changing it starts a new rollout."
        ),
    )
    rollout: RolloutSpec = prop(
        default_factory=RolloutSpec,
        description="How the image is rolled out, one domain at a time. All fields have defaults.",
    )


# --------------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------------

_PINNED = CelRule(
    rule="!has(self.image.marketplace) || self.image.marketplace.version != 'latest'",
    message="a resolved image names an exact version, never 'latest'",
    check=lambda target: target.image.marketplace is None or target.image.marketplace.version != "latest",
)


class ResolvedImage(Model):
    """The image a rollout installs, resolved to an exact version and pinned for the whole rollout."""

    cel_rules = (_PINNED,)

    image: ImageSource = prop(description="The image with any 'latest' replaced by the exact version it meant.")
    generation: int = prop(
        description="metadata.generation of the spec this image was resolved from.",
        minimum=0,
        format="int64",
    )
    resolved_at: datetime | None = prop(default=None, description="When the image was resolved.")


class DomainStatus(Model):
    """One domain of the rollout plan: a group of instances upgraded together."""

    id: str = prop(
        description=(
            "Domain id: the update or fault domain number ('0', '1'), 'zone-<n>' for a zone or 'batch-<n>' for a batch."
        ),
        pattern=DOMAIN_ID_PATTERN,
        max_length=63,
    )
    instance_ids: tuple[str, ...] = prop(
        default=(),
        description="Scale set instance ids in this domain, fixed when the plan was made.",
        list_type="set",
    )
    state: DomainState = prop(
        default=DomainState.PENDING,
        description=(
            "Pending, Upgrading (image being applied), Verifying (waiting for instances to be healthy),"
            " Succeeded, Skipped (already on the target image), Failed, RollingBack or RolledBack."
        ),
    )
    started_at: datetime | None = prop(default=None, description="When the upgrade of this domain started.")
    finished_at: datetime | None = prop(
        default=None, description="When this domain reached Succeeded, Skipped, Failed or RolledBack."
    )
    message: str | None = prop(default=None, description="Human-readable detail, e.g. why the domain failed.")


class InstanceCounts(Model):
    """Instance counts of the scale set, as last observed."""

    total: int = prop(default=0, description="Instances in the scale set.", minimum=0)
    updated: int = prop(default=0, description="Instances running the target image.", minimum=0)
    healthy: int = prop(default=0, description="Instances reported healthy.", minimum=0)
    unhealthy: int = prop(default=0, description="Instances reported unhealthy.", minimum=0)


class Operation(Model):
    """A long-running Azure operation the operator started and has not yet seen finish."""

    kind: OperationKind = prop(
        description=(
            "ModelUpdate (setting the image on the scale set model), ManualUpgrade (applying the model to"
            " instances), RollingUpgrade (Azure's own rolling upgrade) or Rollback (restoring the"
            " previous image on the model)."
        ),
    )
    id: str | None = prop(default=None, description="Azure's operation id, when Azure reported one.", max_length=256)
    azure_async_operation: str | None = prop(
        default=None,
        description=(
            "The Azure-AsyncOperation URL to poll for the outcome. It is trusted only when its host is"
            " the ARM endpoint of the resource's cloud profile, so writing this field cannot redirect"
            " the operator's Azure token."
        ),
        pattern=HTTPS_URL_PATTERN,
        max_length=4096,
    )
    domain: str | None = prop(default=None, description="Id of the domain the operation works on.", max_length=63)
    instance_ids: tuple[str, ...] = prop(
        default=(), description="Instance ids the operation targets (empty for model updates).", list_type="set"
    )
    continuation_token: str | None = prop(
        default=None,
        description=(
            "The Azure SDK's continuation token for the operation, used to resume polling after a"
            " restart. It is trusted only when every URL inside it is on the ARM endpoint of the"
            " resource's cloud profile (see trusted_continuation_token)."
        ),
        pattern=BASE64_PATTERN,
        max_length=262144,
    )
    started_at: datetime = prop(description="When the operation was started.")

    def trusted_poll_url(self, arm_endpoint: str) -> str | None:
        """``azureAsyncOperation`` if it is safe to poll with a token for ``arm_endpoint``, else None.

        Status can be written by anyone allowed to patch ``scalesetimages/status``, so the URL is only
        trusted on exactly the ARM endpoint's scheme, host and port; anything else would send the
        operator's Azure token to an endpoint of someone else's choosing.
        """
        url = self.azure_async_operation
        return url if url is not None and same_endpoint(url, arm_endpoint) else None

    def trusted_continuation_token(self, arm_endpoint: str) -> str | None:
        """``continuationToken`` if every URL the SDK would call when resuming it is on ``arm_endpoint``.

        An azure-core continuation token carries the initial request's URL and the polling URLs from
        the response headers (Azure-AsyncOperation, Location, Operation-Location); resuming sends the
        Azure token to them. A token that cannot be read, or names any other host, is not trusted.
        """
        token = self.continuation_token
        if token is None:
            return None
        urls = _continuation_token_urls(token)
        if not urls or not all(same_endpoint(url, arm_endpoint) for url in urls):
            return None
        return token


_POLLING_HEADERS: Final = frozenset({"azure-asyncoperation", "location", "operation-location"})


def _continuation_token_urls(token: str) -> list[str] | None:
    """The URLs inside an azure-core (JSON, version 1) continuation token; None if it is not one."""
    try:
        envelope = json.loads(base64.b64decode(token, validate=True))
        data = envelope["data"]
        urls = []
        request = data.get("request")
        if request is not None:
            urls.append(request["url"])
        headers = data.get("response", {}).get("headers", {})
        urls += [value for key, value in headers.items() if key.lower() in _POLLING_HEADERS]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return urls if all(isinstance(url, str) for url in urls) else None


def continuation_token_operation_id(token: str) -> str | None:
    """Azure's operation id (the last segment of ``.../operations/<id>``) inside an SDK continuation token."""
    for url in _continuation_token_urls(token) or []:
        path = urlsplit(url).path.rstrip("/")
        head, _, tail = path.rpartition("/")
        if head.lower().endswith("/operations") and tail:
            return tail[:256]
    return None


def same_endpoint(url: str, endpoint: str) -> bool:
    """Whether ``url`` is on the same scheme, host and port as ``endpoint`` (and carries no user info)."""
    try:
        target, base = urlsplit(url), urlsplit(endpoint)
        default = {"https": 443, "http": 80}
        same_port = (target.port or default.get(target.scheme)) == (base.port or default.get(base.scheme))
    except ValueError:
        return False
    return (
        target.scheme in ("https", "http")
        and target.scheme == base.scheme
        and target.username is None
        and target.hostname is not None
        and target.hostname == base.hostname
        and same_port
    )


class RollingUpgradeProgress(Model):
    """Progress of Azure's own rolling upgrade, for scale sets whose upgrade policy is Rolling."""

    code: str | None = prop(
        default=None,
        description="Azure's runningStatus.code: RollingForward, Cancelled, Completed or Faulted.",
        max_length=64,
    )
    started_at: datetime | None = prop(default=None, description="When Azure started the rolling upgrade.")
    last_action: str | None = prop(
        default=None, description="Azure's runningStatus.lastAction: Start or Cancel.", max_length=64
    )
    last_action_at: datetime | None = prop(default=None, description="When the last action happened.")
    successful_instances: int = prop(default=0, description="Instances upgraded successfully.", minimum=0)
    failed_instances: int = prop(default=0, description="Instances that failed to upgrade.", minimum=0)
    in_progress_instances: int = prop(default=0, description="Instances being upgraded now.", minimum=0)
    pending_instances: int = prop(default=0, description="Instances not yet upgraded.", minimum=0)
    message: str | None = prop(default=None, description="Azure's error message, if the upgrade faulted.")


class RollbackStatus(Model):
    """A rollback to the previous image, under way or finished."""

    in_progress: bool = prop(default=False, description="True while the rollback is running.")
    target: ImageSource = prop(description="The image being restored (status.previousImage when it started).")
    reason: str | None = prop(
        default=None, description="Why the rollback started, e.g. DomainTimedOut.", max_length=1024
    )
    started_at: datetime | None = prop(default=None, description="When the rollback started.")
    finished_at: datetime | None = prop(default=None, description="When the rollback finished.")
    message: str | None = prop(default=None, description="Human-readable detail about the rollback.")


class ErrorStatus(Model):
    """The last error the operator hit while reconciling this resource."""

    message: str = prop(description="What went wrong, in words.", max_length=32768)
    code: str | None = prop(
        default=None, description="Azure's error code (e.g. OperationNotAllowed) when the error came from Azure."
    )
    observed_at: datetime | None = prop(default=None, description="When the error was observed.")


class Condition(Model):
    """A Kubernetes condition (the shape of metav1.Condition), as kstatus reads them."""

    type: str = prop(
        description=(
            "Condition type: Ready, Reconciling, Stalled, ImageAvailable, ScaleSetFound or UpgradePolicyCompatible."
        ),
        pattern=CONDITION_TYPE_PATTERN,
        max_length=316,
    )
    status: ConditionStatus = prop(description="True, False or Unknown.")
    reason: str = prop(
        description="CamelCase reason for the condition's last transition, for programs.",
        pattern=CONDITION_REASON_PATTERN,
        min_length=1,
        max_length=1024,
    )
    message: str = prop(description="Human-readable detail about the last transition.", max_length=32768)
    last_transition_time: datetime = prop(description="When status last changed from one value to another.")
    observed_generation: int | None = prop(
        default=None,
        description="metadata.generation the condition was set for.",
        minimum=0,
        format="int64",
    )


class ScaleSetImageStatus(Model):
    """The observed state: everything needed to show and to resume a rollout."""

    observed_generation: int | None = prop(
        default=None,
        description="metadata.generation of the spec the operator last acted on.",
        minimum=0,
        format="int64",
    )
    phase: Phase = prop(
        default=Phase.PENDING,
        description="Pending, Progressing, Paused, Succeeded or Failed.",
    )
    image_summary: str | None = prop(
        init=False,
        description="Short form of the target image for kubectl get (derived from target).",
    )
    target: ResolvedImage | None = prop(
        default=None,
        description="The image being rolled out, pinned to an exact version, and the spec generation it came from.",
    )
    previous_image: ImageSource | None = prop(
        default=None,
        description=(
            "The image on the scale set model before the operator changed it, as Azure reported it;"
            " the image a rollback restores."
        ),
    )
    upgrade_policy_mode: UpgradeMode | None = prop(
        default=None,
        description="The scale set's upgrade policy mode as last observed: Manual, Automatic or Rolling.",
    )
    domain_kind: DomainKind | None = prop(
        default=None,
        description="The domain kind actually used; differs from spec.rollout.domainKind after a fallback.",
    )
    domain_kind_reason: str | None = prop(
        default=None,
        description=(
            "Why domainKind differs from the requested one, e.g. every instance reports update domain 0"
            " (Azure Stack Hub)."
        ),
        max_length=1024,
    )
    domains: tuple[DomainStatus, ...] = prop(
        default=(),
        description="The rollout plan: the domains in the order they are upgraded, each with its state.",
        list_type="map",
        list_map_keys=("id",),
    )
    current_domain: str | None = prop(
        default=None,
        description="Id of the domain being upgraded or verified, if any.",
        max_length=63,
    )
    domains_completed: int = prop(
        init=False, description="Domains that reached Succeeded or Skipped (derived from domains).", minimum=0
    )
    domains_total: int = prop(init=False, description="Domains in the plan (derived from domains).", minimum=0)
    domain_progress: str = prop(
        init=False, description="domainsCompleted/domainsTotal, e.g. 2/5, for kubectl get (derived)."
    )
    instances: InstanceCounts = prop(
        default_factory=InstanceCounts, description="Instance counts of the scale set, as last observed."
    )
    instance_progress: str = prop(
        init=False, description="instances.updated/instances.total, e.g. 37/50, for kubectl get (derived)."
    )
    operation: Operation | None = prop(
        default=None,
        description="The Azure operation in flight, polled to completion after an operator restart.",
    )
    rolling: RollingUpgradeProgress | None = prop(
        default=None,
        description="Progress of Azure's own rolling upgrade when the scale set's upgrade policy is Rolling.",
    )
    next_domain_at: datetime | None = prop(
        default=None,
        description="When the pause between domains ends and the next domain starts.",
    )
    rollout_started_at: datetime | None = prop(default=None, description="When the current rollout started.")
    last_succeeded_at: datetime | None = prop(default=None, description="When a rollout last succeeded.")
    rollback: RollbackStatus | None = prop(default=None, description="The rollback, if one was started.")
    last_error: ErrorStatus | None = prop(default=None, description="The last error hit while reconciling.")
    conditions: tuple[Condition, ...] = prop(
        default=(),
        description=(
            "Conditions: Ready, Reconciling and Stalled (kstatus), plus ImageAvailable, ScaleSetFound and"
            " UpgradePolicyCompatible."
        ),
        list_type="map",
        list_map_keys=("type",),
    )

    def _derive(self) -> None:
        self._set_derived("image_summary", self.target.image.summary() if self.target is not None else None)
        completed = sum(domain.state in DOMAIN_DONE_STATES for domain in self.domains)
        self._set_derived("domains_completed", completed)
        self._set_derived("domains_total", len(self.domains))
        self._set_derived("domain_progress", f"{completed}/{len(self.domains)}")
        self._set_derived("instance_progress", f"{self.instances.updated}/{self.instances.total}")

    def condition(self, type_: str) -> Condition | None:
        """The condition of the given type, if present."""
        return next((cond for cond in self.conditions if cond.type == type_), None)

    def domain(self, domain_id: str) -> DomainStatus | None:
        """The domain with the given id, if present."""
        return next((domain for domain in self.domains if domain.id == domain_id), None)

    def with_condition(self, condition: Condition) -> Self:
        """A copy with ``condition`` set (see ``set_condition``)."""
        return dataclasses.replace(self, conditions=set_condition(self.conditions, condition))


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
            condition = dataclasses.replace(condition, last_transition_time=existing.last_transition_time)
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

    api_version: str = prop(
        default=API_VERSION,
        description="Versioned schema of this representation of the object.",
    )
    kind: str = prop(default=KIND, description="Kind of the object: ScaleSetImage.")
    metadata: Mapping[str, Any] = prop(
        default_factory=dict,
        description="Standard object metadata.",
        schema={"type": "object"},
    )
    spec: ScaleSetImageSpec = prop(
        description="Desired state: the scale set, the image and how to roll it out.",
        emit_defaults=True,
    )
    status: ScaleSetImageStatus = prop(
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
