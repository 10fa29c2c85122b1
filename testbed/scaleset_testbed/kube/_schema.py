"""Structural-schema admission for custom resources: prune, default, validate, and CEL rules.

Why this exists: kmock stores whatever it is sent. A real API server prunes fields the CRD does not
declare, fills in defaults, and rejects invalid objects with 422 and one cause per field. An operator
that forgets to declare a status field, or relies on a default, behaves differently against a bare
mock than against a cluster. This module reproduces the parts of apiextensions-apiserver that a
client can observe, in the same order (prune -> default -> validate -> CEL) and with the same wording
of the messages, so that tests fail where a cluster would fail.

Not covered: ratcheting of unchanged invalid values, ``x-kubernetes-list-type`` uniqueness,
CEL cost limits and the Kubernetes-specific CEL libraries (quantity, url, ip, ...), correlation of
``oldSelf`` through list items, ``optionalOldSelf``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import celpy
from celpy.adapter import json_to_cel
from celpy.celtypes import BoolType

Part = Literal["all", "main", "status"]
"""Which top-level part of an object a write may change: everything, all but status, or only status."""

_MISSING: Any = object()
_ROOT_KEYS = frozenset({"apiVersion", "kind", "metadata"})
_OLD_SELF = re.compile(r"\boldSelf\b")

# Cause types as the API server names them in Status.details.causes[].reason.
INVALID = "FieldValueInvalid"
TYPE_INVALID = "FieldValueTypeInvalid"
REQUIRED = "FieldValueRequired"
NOT_SUPPORTED = "FieldValueNotSupported"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
DUPLICATE = "FieldValueDuplicate"

# Errors of these kinds make the API server skip the CEL rules (the object is too broken to evaluate).
_BLOCKING = frozenset({TYPE_INVALID, NOT_SUPPORTED})


@dataclass(frozen=True)
class FieldError:
    """One failed check, shaped like a Go ``field.Error``.

    ``field`` is the dotted path (``spec.items[0].name``; ``<nil>`` for the object itself) and
    ``detail`` is the error body (``Invalid value: "x": ...``), exactly what goes into a Status cause.
    """

    reason: str
    field: str
    detail: str

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"

    def as_cause(self) -> dict[str, str]:
        """The ``details.causes[]`` entry of a Status."""
        return {"reason": self.reason, "message": self.detail, "field": self.field}


def go_value(value: Any) -> str:
    """Render a bad value roughly the way Go's field errors print it (``"abc"``, ``5``, ``true``)."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def invalid(path: str, value: Any, detail: str, reason: str = INVALID) -> FieldError:
    """``<path>: Invalid value: <value>: <detail>``."""
    return FieldError(reason, path or "<nil>", f"Invalid value: {go_value(value)}: {detail}")


def required(path: str, detail: str = "") -> FieldError:
    """``<path>: Required value[: <detail>]``."""
    return FieldError(REQUIRED, path or "<nil>", f"Required value: {detail}" if detail else "Required value")


def forbidden(path: str, detail: str) -> FieldError:
    """``<path>: Forbidden: <detail>``."""
    return FieldError(FORBIDDEN, path or "<nil>", f"Forbidden: {detail}")


def json_type(value: Any) -> str:
    """The JSON-schema type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values where ``true`` is not ``1`` (Python would say it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) and a == b) or (isinstance(a, int | float) and isinstance(b, int | float) and a == b)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- formats -------------------------------------------------------------------------------------

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$|^0$")


def _is_date_time(text: str) -> bool:
    if not _DATE_TIME.match(text):
        return False
    try:
        datetime.datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_hostname(text: str) -> bool:
    return len(text) <= 253 and bool(_DNS1123_SUBDOMAIN.match(text.lower()))


_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _is_date_time,
    "datetime": _is_date_time,
    "date": _is_date,
    "uuid": _is_uuid,
    "uuid3": _is_uuid,
    "uuid4": _is_uuid,
    "uuid5": _is_uuid,
    "ipv4": lambda text: _is_ip(text, 4),
    "ipv6": lambda text: _is_ip(text, 6),
    "cidr": _is_cidr,
    "byte": _is_base64,
    "hostname": _is_hostname,
    "email": lambda text: bool(_EMAIL.match(text)),
    "duration": lambda text: bool(_GO_DURATION.match(text)),
}


# --- compiled schema -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    text: str
    program: Any
    message: str | None
    message_program: Any | None
    reason: str
    field_path: str
    transition: bool


@dataclass
class _Node:
    """One schema node, pre-digested: sub-nodes compiled, patterns and CEL rules compiled."""

    type: str | None = None
    nullable: bool = False
    default: Any = _MISSING
    properties: dict[str, _Node] = field(default_factory=dict)
    additional: _Node | None = None
    additional_any: bool = False
    items: _Node | None = None
    required: tuple[str, ...] = ()
    preserve_unknown: bool = False
    int_or_string: bool = False
    embedded: bool = False
    enum: list[Any] | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    format: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    multiple_of: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    all_of: list[_Node] = field(default_factory=list)
    any_of: list[_Node] = field(default_factory=list)
    one_of: list[_Node] = field(default_factory=list)
    not_: _Node | None = None
    rules: list[_Rule] = field(default_factory=list)
    list_type: str = "atomic"  # x-kubernetes-list-type: how server-side apply merges and owns list items
    list_map_keys: tuple[str, ...] = ()
    map_type: str = "granular"  # x-kubernetes-map-type


SchemaNode = _Node
"""A compiled schema node (read by server-side apply to learn list and map types)."""


class SchemaError(ValueError):
    """The schema itself is unusable (bad pattern, CEL rule that does not compile, ...)."""


def _compile_rule(env: Any, raw: Mapping[str, Any], where: str) -> _Rule:
    text = raw.get("rule")
    if not isinstance(text, str) or not text.strip():
        raise SchemaError(f"{where}: x-kubernetes-validations entry without a rule")
    try:
        program = env.program(env.compile(text))
        message_expression = raw.get("messageExpression")
        message_program = env.program(env.compile(message_expression)) if message_expression else None
    except Exception as exc:  # celpy raises its own parse errors; any failure means a broken CRD
        raise SchemaError(f"{where}: CEL rule {text!r} does not compile: {exc}") from exc
    return _Rule(
        text=text,
        program=program,
        message=raw.get("message") or None,
        message_program=message_program,
        reason=str(raw.get("reason") or INVALID),
        field_path=str(raw.get("fieldPath") or ""),
        transition=bool(_OLD_SELF.search(text)),
    )


def _number(raw: Mapping[str, Any], key: str) -> float | None:
    value = raw.get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _compile(env: Any, raw: Mapping[str, Any], where: str) -> _Node:
    if not isinstance(raw, Mapping):
        raise SchemaError(f"{where}: a schema must be an object, got {json_type(raw)}")
    node = _Node(
        type=raw.get("type") if isinstance(raw.get("type"), str) else None,
        nullable=bool(raw.get("nullable", False)),
        default=copy.deepcopy(raw["default"]) if "default" in raw else _MISSING,
        required=tuple(raw.get("required") or ()),
        preserve_unknown=bool(raw.get("x-kubernetes-preserve-unknown-fields", False)),
        int_or_string=bool(raw.get("x-kubernetes-int-or-string", False)),
        embedded=bool(raw.get("x-kubernetes-embedded-resource", False)),
        enum=list(raw["enum"]) if isinstance(raw.get("enum"), list) else None,
        format=raw.get("format") if isinstance(raw.get("format"), str) else None,
        minimum=_number(raw, "minimum"),
        maximum=_number(raw, "maximum"),
        exclusive_minimum=bool(raw.get("exclusiveMinimum", False)),
        exclusive_maximum=bool(raw.get("exclusiveMaximum", False)),
        multiple_of=_number(raw, "multipleOf"),
        min_length=_int(raw, "minLength"),
        max_length=_int(raw, "maxLength"),
        min_items=_int(raw, "minItems"),
        max_items=_int(raw, "maxItems"),
        min_properties=_int(raw, "minProperties"),
        max_properties=_int(raw, "maxProperties"),
        list_type=str(raw.get("x-kubernetes-list-type") or "atomic"),
        list_map_keys=tuple(raw.get("x-kubernetes-list-map-keys") or ()),
        map_type=str(raw.get("x-kubernetes-map-type") or "granular"),
    )
    if isinstance(raw.get("pattern"), str):
        node.pattern_text = raw["pattern"]
        try:
            node.pattern = re.compile(node.pattern_text)
        except re.error as exc:
            raise SchemaError(f"{where}: pattern {node.pattern_text!r} does not compile: {exc}") from exc
    for key, sub in (raw.get("properties") or {}).items():
        node.properties[key] = _compile(env, sub, _child(where, key))
    additional = raw.get("additionalProperties")
    if isinstance(additional, Mapping):
        node.additional = _compile(env, additional, f"{where}.additionalProperties")
    elif additional is True:
        node.additional_any = True
    if isinstance(raw.get("items"), Mapping):
        node.items = _compile(env, raw["items"], f"{where}.items")
    for name, target in (("allOf", node.all_of), ("anyOf", node.any_of), ("oneOf", node.one_of)):
        for index, sub in enumerate(raw.get(name) or ()):
            target.append(_compile(env, sub, f"{where}.{name}[{index}]"))
    if isinstance(raw.get("not"), Mapping):
        node.not_ = _compile(env, raw["not"], f"{where}.not")
    for index, rule in enumerate(raw.get("x-kubernetes-validations") or ()):
        node.rules.append(_compile_rule(env, rule, f"{where}.x-kubernetes-validations[{index}]"))
    return node


# --- the walk ------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """A CEL rule due for evaluation once the structural checks are done."""

    rule: _Rule
    node: _Node
    value: Any
    old: Any
    path: str


class _Walker:
    """One admission pass: mutates the object (prune, default) and collects errors."""

    def __init__(self, *, run_rules: bool = True) -> None:
        self.errors: list[FieldError] = []
        self.pruned: list[str] = []  # paths of the undeclared fields that were dropped
        self.pending: list[_Pending] = []
        self.run_rules = run_rules

    # Values are checked top-down; containers are mutated in place.
    def visit(self, node: _Node, value: Any, old: Any, path: str) -> None:
        if value is None:
            if not node.nullable:
                self._type_error(node, value, path)
            return
        if not self._type_ok(node, value):
            self._type_error(node, value, path)
            return
        if isinstance(value, dict):
            self._visit_object(node, value, old if isinstance(old, dict) else None, path)
        elif isinstance(value, list):
            self._visit_array(node, value, path)
        elif isinstance(value, str):
            self._check_string(node, value, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self._check_number(node, value, path)
        self._check_enum(node, value, path)
        self._check_combinators(node, value, path)
        if self.run_rules:
            for rule in node.rules:
                self.pending.append(_Pending(rule, node, value, old, path))

    def visit_root(self, node: _Node, obj: dict[str, Any], old: dict[str, Any] | None, part: Part) -> None:
        def selected(key: str) -> bool:
            if key in _ROOT_KEYS:
                return False  # apiVersion/kind/metadata are the API server's business, not the schema's
            if part == "main":
                return key != "status"
            if part == "status":
                return key == "status"
            return True

        self._visit_object(node, obj, old, "", selected=selected)
        if part != "status" and self.run_rules:
            for rule in node.rules:
                self.pending.append(_Pending(rule, node, obj, old, ""))

    def _type_ok(self, node: _Node, value: Any) -> bool:
        if node.int_or_string:
            return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        match node.type:
            case None:
                return True
            case "object":
                return isinstance(value, dict)
            case "array":
                return isinstance(value, list)
            case "string":
                return isinstance(value, str)
            case "boolean":
                return isinstance(value, bool)
            case "integer":
                if isinstance(value, float):
                    return value.is_integer()
                return isinstance(value, int) and not isinstance(value, bool)
            case "number":
                return isinstance(value, int | float) and not isinstance(value, bool)
        return True

    def _type_error(self, node: _Node, value: Any, path: str) -> None:
        expected = "integer-or-string" if node.int_or_string else (node.type or "object")
        actual = json_type(value)
        self.errors.append(
            invalid(path, actual, f"{path} in body must be of type {expected}: {go_value(actual)}", TYPE_INVALID)
        )

    def _visit_object(
        self,
        node: _Node,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        path: str,
        *,
        selected: Callable[[str], bool] = lambda key: True,
    ) -> None:
        # Nulls in non-nullable fields are dropped, or replaced by the default if there is one.
        for key in [k for k, v in obj.items() if v is None and selected(k)]:
            sub = node.properties.get(key, node.additional)
            if sub is not None and not sub.nullable:
                if sub.default is not _MISSING:
                    obj[key] = copy.deepcopy(sub.default)
                else:
                    del obj[key]
        # Defaults fill absent fields, at this level only; the recursion below reaches nested ones.
        for key, sub in node.properties.items():
            if key not in obj and sub.default is not _MISSING and selected(key):
                obj[key] = copy.deepcopy(sub.default)
        # Pruning of undeclared fields.
        keeps_unknown = node.preserve_unknown or node.additional is not None or node.additional_any
        if not keeps_unknown:
            for key in [k for k in obj if k not in node.properties and selected(k)]:
                if node.embedded and key in _ROOT_KEYS:
                    continue
                del obj[key]
                self.pruned.append(_child(path, key))
        for key, value in obj.items():
            if not selected(key):
                continue
            sub = node.properties.get(key, node.additional)
            if sub is None:
                continue
            self.visit(sub, value, old.get(key, _MISSING) if old is not None else _MISSING, _child(path, key))
        for key in node.required:
            if key not in obj and selected(key):
                self.errors.append(required(_child(path, key)))
        if node.min_properties is not None and len(obj) < node.min_properties:
            self.errors.append(
                invalid(path, len(obj), f"{path} in body should have at least {node.min_properties} properties")
            )
        if node.max_properties is not None and len(obj) > node.max_properties:
            self.errors.append(
                FieldError(
                    TOO_MANY, path or "<nil>", f"Too many: {len(obj)}: must have at most {node.max_properties} items"
                )
            )

    def _visit_array(self, node: _Node, items: list[Any], path: str) -> None:
        if node.items is not None:
            for index, item in enumerate(items):
                # List items are not correlated with the old list: transition rules do not run there.
                self.visit(node.items, item, _MISSING, f"{path}[{index}]")
        if node.min_items is not None and len(items) < node.min_items:
            self.errors.append(invalid(path, len(items), f"{path} in body should have at least {node.min_items} items"))
        if node.max_items is not None and len(items) > node.max_items:
            self.errors.append(
                FieldError(TOO_MANY, path, f"Too many: {len(items)}: must have at most {node.max_items} items")
            )

    def _check_string(self, node: _Node, text: str, path: str) -> None:
        if node.min_length is not None and len(text) < node.min_length:
            self.errors.append(invalid(path, text, f"{path} in body should be at least {node.min_length} chars long"))
        if node.max_length is not None and len(text) > node.max_length:
            self.errors.append(FieldError(TOO_LONG, path, f"Too long: may not be more than {node.max_length} bytes"))
        if node.pattern is not None and not node.pattern.search(text):
            self.errors.append(invalid(path, text, f"{path} in body should match '{node.pattern_text}'"))
        checker = _FORMATS.get(node.format or "")
        if checker is not None and not checker(text):
            self.errors.append(invalid(path, text, f"{path} in body must be of type {node.format}: {go_value(text)}"))

    def _check_number(self, node: _Node, number: float, path: str) -> None:
        if node.minimum is not None:
            if node.exclusive_minimum and number <= node.minimum:
                self.errors.append(
                    invalid(path, number, f"{path} in body should be greater than {go_value(node.minimum)}")
                )
            elif number < node.minimum:
                self.errors.append(
                    invalid(path, number, f"{path} in body should be greater than or equal to {go_value(node.minimum)}")
                )
        if node.maximum is not None:
            if node.exclusive_maximum and number >= node.maximum:
                self.errors.append(
                    invalid(path, number, f"{path} in body should be less than {go_value(node.maximum)}")
                )
            elif number > node.maximum:
                self.errors.append(
                    invalid(path, number, f"{path} in body should be less than or equal to {go_value(node.maximum)}")
                )
        if node.multiple_of:
            quotient = number / node.multiple_of
            if not math.isclose(quotient, round(quotient), abs_tol=1e-9):
                self.errors.append(
                    invalid(path, number, f"{path} in body should be a multiple of {go_value(node.multiple_of)}")
                )

    def _check_enum(self, node: _Node, value: Any, path: str) -> None:
        if node.enum is not None and not any(_json_equal(value, option) for option in node.enum):
            supported = ", ".join(go_value(option) for option in node.enum)
            self.errors.append(
                FieldError(NOT_SUPPORTED, path, f"Unsupported value: {go_value(value)}: supported values: {supported}")
            )

    def _check_combinators(self, node: _Node, value: Any, path: str) -> None:
        if not (node.all_of or node.any_of or node.one_of or node.not_):
            return
        for sub in node.all_of:
            self.errors.extend(_probe(sub, value, path))
        if node.any_of and not any(not _probe(sub, value, path) for sub in node.any_of):
            self.errors.append(invalid(path, value, f"{path} in body must validate at least one schema (anyOf)"))
        if node.one_of and sum(1 for sub in node.one_of if not _probe(sub, value, path)) != 1:
            self.errors.append(invalid(path, value, f"{path} in body must validate one and only one schema (oneOf)"))
        if node.not_ is not None and not _probe(node.not_, value, path):
            self.errors.append(invalid(path, value, f"{path} in body must not validate the schema (not)"))

    # --- CEL ---

    def run_pending(self) -> None:
        if not self.pending:
            return
        if any(error.reason in _BLOCKING for error in self.errors):
            self.errors.append(
                invalid(
                    "",
                    None,
                    "some validation rules were not checked because the object "
                    "was invalid; correct the existing errors to complete "
                    "validation",
                )
            )
            return
        for item in self.pending:
            self._evaluate(item)

    def _evaluate(self, item: _Pending) -> None:
        rule = item.rule
        activation: dict[str, Any] = {"self": json_to_cel(item.value)}
        if rule.transition:
            if item.old is _MISSING or item.old is None:
                return  # transition rules only apply to updates of an existing value
            activation["oldSelf"] = json_to_cel(item.old)
        schema_type = "integer-or-string" if item.node.int_or_string else (item.node.type or "object")
        path = item.path
        if rule.field_path:
            path = _child(path, rule.field_path.lstrip("."))
        try:
            result = rule.program.evaluate(activation)
        except Exception as exc:  # celpy raises CELEvalError (and friends) for runtime failures
            reason = exc.args[0] if exc.args else exc
            self.errors.append(invalid(item.path, schema_type, f"{reason} evaluating rule: {rule.text}"))
            return
        if not isinstance(result, BoolType | bool):
            self.errors.append(invalid(item.path, schema_type, f"rule did not evaluate to bool: {rule.text}"))
            return
        if result:
            return
        message = self._message(rule, activation)
        if rule.reason == FORBIDDEN:
            self.errors.append(forbidden(path, message))
        elif rule.reason == REQUIRED:
            self.errors.append(required(path, message))
        else:
            self.errors.append(invalid(path, schema_type, message, rule.reason))

    @staticmethod
    def _message(rule: _Rule, activation: Mapping[str, Any]) -> str:
        if rule.message_program is not None:
            try:
                text = rule.message_program.evaluate(dict(activation))
            except Exception:  # a failing messageExpression falls back to the static message
                text = None
            if isinstance(text, str) and text.strip():
                return str(text).strip()
        return rule.message or f"failed rule: {rule.text}"


def _probe(node: _Node, value: Any, path: str) -> list[FieldError]:
    """Validate without side effects (for anyOf/oneOf/allOf/not branches)."""
    walker = _Walker(run_rules=False)
    walker.visit(node, copy.deepcopy(value), _MISSING, path)
    return walker.errors


class StructuralSchema:
    """A CRD version's ``openAPIV3Schema``, ready to admit objects.

    Construction compiles the patterns and CEL rules and raises :class:`SchemaError` if any of them
    is unusable, which is where a real API server would reject the CRD.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._root = _compile(celpy.Environment(), schema, "")
        self.raw = copy.deepcopy(dict(schema))

    @property
    def root(self) -> _Node:
        """The compiled root node (its structure also drives server-side apply's field ownership)."""
        return self._root

    def admit(
        self, obj: dict[str, Any], old: Mapping[str, Any] | None, part: Part, pruned: list[str] | None = None
    ) -> list[FieldError]:
        """Prune, default and validate ``obj`` in place; return the failures (empty if valid).

        ``part`` limits the work to what the write may change: ``"main"`` leaves ``status`` alone,
        ``"status"`` touches only ``status``. ``old`` enables the CEL transition rules (``oldSelf``).
        ``pruned`` receives the paths of the undeclared fields that were dropped (``spec.foo``), which
        the API server reports as unknown fields (a warning, or an error under strict field validation).
        """
        walker = _Walker()
        walker.visit_root(self._root, obj, dict(old) if old is not None else None, part)
        walker.run_pending()
        if pruned is not None:
            pruned.extend(walker.pruned)
        return walker.errors


def aggregate(errors: Iterable[FieldError]) -> str:
    """Join errors the way ``utilerrors.NewAggregate`` prints them: one bare, several in brackets."""
    texts = [str(error) for error in errors]
    return texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"


def validate_object_name(name: str, *, label: bool = False) -> str | None:
    """Check a ``metadata.name`` as the API server does; return the error detail or ``None``."""
    if label:
        if len(name) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name):
            return (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
                "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            )
        return None
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
            "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    return None
