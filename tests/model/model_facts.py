"""What each model field declares, read from pydantic's own field metadata.

The schema tests compare these facts with the generated CRD, the validation tests collect the CEL
rules from them, so both check the CRD against the model rather than against the generator.
"""

import dataclasses
import enum
import types
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from controller.resource import CelRule, ListType, Model

INT_OR_STRING: Any = int | str
MISSING: Any = PydanticUndefined


@dataclasses.dataclass(frozen=True)
class Facts:
    """One field (or derived, computed field) of a model class."""

    name: str
    wire: str
    hint: Any
    optional: bool
    required: bool
    derived: bool
    default: Any
    description: str | None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    format: str | None = None
    rules: tuple[CelRule, ...] = ()
    list_type: ListType | None = None


def is_model(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Model)


def is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.StrEnum)


def tuple_item(hint: Any) -> Any | None:
    """The item type of a ``tuple[X, ...]`` hint, else None."""
    args = get_args(hint)
    return args[0] if get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis else None


def _unwrap(hint: Any, metadata: list[Any]) -> tuple[Any, bool, list[Any]]:
    """The bare type of ``hint``, whether it is optional, and all metadata from every ``Annotated`` layer."""
    optional = False
    while True:
        if get_origin(hint) is Annotated:
            hint, *more = get_args(hint)
            metadata = [*more, *metadata]
        elif get_origin(hint) in (Union, types.UnionType):
            options = [arg for arg in get_args(hint) if arg is not type(None)]
            optional = optional or len(options) != len(get_args(hint))
            if len(options) == 1:
                hint = options[0]
                continue
            bare = [_unwrap(option, []) for option in options]
            assert {b[0] for b in bare} == {int, str}, hint
            return INT_OR_STRING, optional, [*metadata, *(m for b in bare for m in b[2])]
        else:
            return hint, optional, metadata


def _flatten(metadata: list[Any]) -> list[Any]:
    out = []
    for item in metadata:
        out += _flatten(item.metadata) if isinstance(item, FieldInfo) else [item]
    return out


def _facts(name: str, wire: str, hint: Any, metadata: list[Any], **known: Any) -> Facts:
    hint, optional, found = _unwrap(hint, metadata)
    found = _flatten(found)
    extra = known.pop("extra", None) or {}
    pick: dict[str, Any] = {
        "pattern": next((m.pattern for m in found if getattr(m, "pattern", None)), None),
        "min_length": next((m.min_length for m in found if isinstance(m, annotated_types.MinLen)), None),
        "max_length": next((m.max_length for m in found if isinstance(m, annotated_types.MaxLen)), None),
        "minimum": next((m.ge for m in found if isinstance(m, annotated_types.Ge)), extra.get("minimum")),
        "maximum": next((m.le for m in found if isinstance(m, annotated_types.Le)), None),
    }
    return Facts(
        name=name,
        wire=wire,
        hint=hint,
        optional=optional,
        format=extra.get("format"),
        rules=tuple(m for m in found if isinstance(m, CelRule)),
        list_type=next((m for m in found if isinstance(m, ListType)), None),
        **pick,
        **known,
    )


def fields_of(cls: type[BaseModel]) -> list[Facts]:
    """The fields of a model class in declaration order, then its derived (computed) fields."""
    out = []
    for name, info in cls.model_fields.items():
        default = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
        out.append(
            _facts(
                name,
                info.alias or name,
                info.annotation,
                list(info.metadata),
                required=info.is_required(),
                derived=False,
                default=default,
                description=info.description,
                extra=info.json_schema_extra if isinstance(info.json_schema_extra, dict) else None,
            )
        )
    for name, computed in cls.model_computed_fields.items():
        out.append(
            _facts(
                name,
                computed.alias or name,
                computed.return_type,
                [],
                required=False,
                derived=True,
                default=MISSING,
                description=computed.description,
                extra=computed.json_schema_extra if isinstance(computed.json_schema_extra, dict) else None,
            )
        )
    return out


def model_classes(root: type[Model]) -> list[type[Model]]:
    """``root`` and every model class reachable from its fields."""
    seen: list[type[Model]] = []

    def visit(cls: type[Model]) -> None:
        if cls in seen:
            return
        seen.append(cls)
        for facts in fields_of(cls):
            hint = tuple_item(facts.hint) or facts.hint
            if is_model(hint):
                visit(hint)

    visit(root)
    return seen


__all__ = ["INT_OR_STRING", "MISSING", "Facts", "fields_of", "is_enum", "is_model", "model_classes", "tuple_item"]
