"""``ModelError``, the one error of the resource API, and its translation from pydantic's ``ValidationError``.

Callers (the operator's handlers, ``plan``, the tests) want one exception with the wire path of the
problem (``spec.rollout.batchSize``) and a message in the words the API server uses, not pydantic's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails


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

    def under(self, *prefix: str | int) -> ModelError:
        """The same error, located under ``prefix``."""
        return ModelError(self.message, (*prefix, *self.path))


INTEGER_TAG: Final = "integer"
STRING_TAG: Final = "string"
"""Tags of the two branches of an int-or-string union; pydantic puts them in error locations."""

_JSON_TYPES: Final = {
    "int_type": "integer",
    "int_from_float": "integer",
    "string_type": "string",
    "bool_type": "boolean",
    "datetime_type": "string",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "tuple_type": "array",
    "list_type": "array",
    "union_tag_not_found": "integer or string",
    "union_tag_invalid": "integer or string",
}


def _message(error: ErrorDetails) -> tuple[str, tuple[str | int, ...]]:
    """The message of one pydantic error, in the API server's words, and any path below the error's own."""
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    cause = ctx.get("error")
    if isinstance(cause, ModelError):
        return cause.message, cause.path
    if isinstance(cause, Exception):
        return str(cause), ()
    if kind == "missing":
        return "required value is missing", ()
    if kind in _JSON_TYPES:
        return f"must be of type {_JSON_TYPES[kind]}, got {value!r}", ()
    if kind == "enum":
        return f"unsupported value {value!r}: must be one of {ctx['expected']}", ()
    if kind == "is_instance_of":
        return f"must be a {ctx['class']} member, got {value!r}", ()
    if kind == "string_pattern_mismatch":
        return f"{value!r} should match {ctx['pattern']}", ()
    if kind == "string_too_short":
        return f"should be at least {ctx['min_length']} characters long", ()
    if kind == "string_too_long":
        return f"should be at most {ctx['max_length']} characters long", ()
    if kind == "greater_than_equal":
        return f"should be greater than or equal to {ctx['ge']}, got {value!r}", ()
    if kind == "less_than_equal":
        return f"should be less than or equal to {ctx['le']}, got {value!r}", ()
    return error["msg"], ()


def model_error(err: ValidationError) -> ModelError:
    """The first problem pydantic found, as a ``ModelError`` located by wire names."""
    first = err.errors(include_url=False)[0]
    message, below = _message(first)
    path: list[Any] = [part for part in first["loc"] if part not in (INTEGER_TAG, STRING_TAG)]
    return ModelError(message, (*path, *below))
