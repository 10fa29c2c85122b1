"""The model machinery: field metadata, CEL rules with Python twins, the ``Model`` base class and codec."""

from __future__ import annotations

import dataclasses
import enum
import re
import types
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import (
    Any,
    ClassVar,
    Final,
    Self,
    TypeVar,
    Union,
    cast,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

from .values import ModelError, format_timestamp, parse_timestamp

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


def model_fields(cls: type[Model]) -> tuple[FieldInfo, ...]:
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


_M = TypeVar("_M", bound="Model")


def evolve(obj: _M, **changes: Any) -> _M:
    """A copy of ``obj`` with ``changes`` applied (field names in Python spelling), validated like a new object."""
    return cast(_M, dataclasses.replace(cast(Any, obj), **changes))
