"""The ``Model`` base on pydantic v2, and the Kubernetes facts pydantic has no word for.

Pydantic validates, converts to and from the wire and writes the JSON schema; this module adds what a
CRD needs on top: CEL rules (``x-kubernetes-validations``) with their Python twins, list types
(``x-kubernetes-list-type``) with theirs, RFC 3339 timestamps, and ``ModelError`` instead of
``ValidationError`` so callers see wire paths (``spec.rollout.batchSize``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from .errors import INTEGER_TAG, STRING_TAG, ModelError, model_error
from .values import format_timestamp, parse_timestamp

_VALIDATIONS = "x-kubernetes-validations"


@dataclasses.dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry and its Python twin.

    On a class (``Model.cel_rules``) ``self`` is the object; as ``Annotated`` metadata of a field it is
    the field's value. ``check`` returns whether the rule holds. Transition rules (those reading
    ``oldSelf``) have no twin: the model sees one version of an object at a time.
    """

    rule: str
    message: str
    check: Callable[[Any], bool] | None = None

    @property
    def is_transition(self) -> bool:
        return "oldSelf" in self.rule

    def enforce(self, value: Any) -> Any:
        """``value`` when the twin holds (or there is none); raises ``ModelError`` with the rule's message."""
        if value is not None and self.check is not None and not self.check(value):
            raise ModelError(self.message)
        return value

    def as_schema(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.enforce, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = dict(handler(schema))
        out[_VALIDATIONS] = [*out.get(_VALIDATIONS, []), self.as_schema()]
        return out


@dataclasses.dataclass(frozen=True)
class ListType:
    """``x-kubernetes-list-type`` of a tuple field (``set``, or ``map`` keyed by ``map_keys``) and its twin."""

    kind: Literal["set", "map"]
    map_keys: tuple[str, ...] = ()

    def enforce(self, items: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.kind == "set" and len(set(items)) != len(items):
            raise ModelError("duplicate items: each item must be unique")
        if self.kind == "map":
            keys = [tuple(_by_wire_name(item, key) for key in self.map_keys) for item in items]
            if len(set(keys)) != len(keys):
                raise ModelError(f"duplicate keys: {', '.join(self.map_keys)} must be unique")
        return items

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.enforce, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = dict(handler(schema))
        out["x-kubernetes-list-type"] = self.kind
        if self.map_keys:
            out["x-kubernetes-list-map-keys"] = list(self.map_keys)
        return out


def _by_wire_name(item: Any, wire: str) -> Any:
    name = next(name for name, info in type(item).model_fields.items() if (info.alias or name) == wire)
    return getattr(item, name)


def _timestamp(value: Any, info: ValidationInfo) -> Any:
    """Wire timestamps are RFC 3339 text; Python callers pass aware datetimes."""
    if isinstance(value, str) and info.mode == "json":
        return parse_timestamp(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ModelError("timestamps must be timezone-aware")
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(_timestamp),
    PlainSerializer(format_timestamp, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An aware ``datetime``, written as RFC 3339 in UTC (``2024-05-01T12:00:00Z``)."""


def int_or_string_tag(value: Any) -> str | None:
    """Which branch of an int-or-string union validates ``value`` (booleans are neither)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return INTEGER_TAG
    return STRING_TAG if isinstance(value, str) else None


def _add_class_rules(schema: dict[str, Any], cls: type) -> None:
    rules = [rule.as_schema() for rule in getattr(cls, "cel_rules", ())]
    if rules:
        schema[_VALIDATIONS] = rules


class Model(BaseModel):
    """Base of every model class: frozen, camelCase on the wire, unknown keys ignored (the API server prunes them).

    Construction validates strictly (types, the field constraints, the CEL-rule twins), so an instance is
    always something the API server would accept; ``from_dict`` reads the wire form, where enums and
    times are strings and lists are arrays. Both raise ``ModelError``.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        strict=True,
        json_schema_extra=_add_class_rules,
    )

    cel_rules: ClassVar[tuple[CelRule, ...]] = ()
    """Rules on the object as a whole, emitted as the object's ``x-kubernetes-validations``."""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise model_error(err) from None

    # Only translates errors: pydantic may keep validating nested objects and ``model_validate_json``
    # without calling it (as for its own ``BaseModel.__init__``), so wire strings stay wire strings.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: use evolve() for a changed copy")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: use evolve() for a changed copy")

    @model_validator(mode="after")
    def _check_cel_rules(self) -> Self:
        for rule in self.cel_rules:
            rule.enforce(self)
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build an instance from its wire form; raises ``ModelError`` with the path of the problem.

        Absent and null keys both mean "not set".
        """
        if not isinstance(data, Mapping):
            raise ModelError(f"must be of type object, got {data!r}")
        try:
            return cls.model_validate_json(json.dumps(_without_nulls(data), default=_not_json))
        except ValidationError as err:
            raise model_error(err) from None

    def to_dict(self, *, nulls: bool = False) -> dict[str, Any]:
        """The wire form: camelCase keys, enums and times as strings, unset (None) fields left out.

        With ``nulls=True`` unset fields are written as ``None`` instead, in this object and the
        objects nested in it (not inside lists, which a merge patch replaces whole). Send that as a
        JSON merge patch of ``.status`` so fields the operator cleared, such as a finished
        ``operation``, are removed on the server rather than left behind.
        """
        wire: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=not nulls)
        return _nulls_outside_lists(wire) if nulls else wire


def _not_json(value: Any) -> Any:
    raise ModelError(f"not a JSON value: {value!r}")


def _nulls_outside_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _nulls_outside_lists(element) for key, element in value.items()}
    if isinstance(value, list):
        return [_without_nulls(element) for element in value]
    return value


def _without_nulls(value: Any) -> Any:
    """JSON-like data without null object members (null means absent); list items are kept."""
    if isinstance(value, Mapping):
        return {key: _without_nulls(element) for key, element in value.items() if element is not None}
    if isinstance(value, (list, tuple)):
        return [_without_nulls(element) for element in value]
    return value


_M = TypeVar("_M", bound=Model)


def evolve(obj: _M, **changes: Any) -> _M:
    """A copy of ``obj`` with ``changes`` applied (field names in Python spelling), validated like a new object.

    Derived (computed) fields follow, as they are computed from the fields on every read.
    """
    fields = type(obj).model_fields
    unknown = sorted(changes.keys() - fields.keys())
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {', '.join(unknown)}")
    return type(obj)(**{**{name: getattr(obj, name) for name in fields}, **changes})
