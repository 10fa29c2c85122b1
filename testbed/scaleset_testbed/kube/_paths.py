"""What a request asks for: the resource URL it names, its write options, and its selectors.

Why our own parser: kmock 0.8 cannot parse the URLs of the namespaces resource itself (it reads
``/api/v1/namespaces/x`` as the start of a namespaced path), and the emulator needs the query options
that change a write (``dryRun``, ``fieldManager``, ``fieldValidation``, ``force``) checked the way the API
server checks them, before anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kmock

from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._schema import NOT_SUPPORTED, TOO_LONG, FieldError, forbidden, go_value, required

_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class Target:
    """The resource URL of a request: ``/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]``."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def resource(self) -> kmock.resource:
        """The kmock resource (what test reactions filter on)."""
        return kmock.resource(self.group, self.version, self.plural)


def parse_target(path: str) -> Target | None:
    """The resource a URL names, or ``None`` for anything else (discovery, OpenAPI, health, unknown)."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if group == "" and rest[0] == "namespaces" and (len(rest) <= 2 or rest[2] in _NAMESPACE_SUBRESOURCES):
        # The namespaces resource itself: /api/v1/namespaces[/<name>[/status|finalize]].
        if len(rest) > 3:
            return None
        return Target(group, version, "namespaces", None, *[*rest[1:], None, None][:2])
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    return Target(group, version, rest[0], namespace, name, subresource)


def kmock_action(method: str, target: Target | None, params: Mapping[str, str]) -> kmock.action | None:
    """kmock's name for what the request does (test reactions can filter on it)."""
    if target is None:
        return None
    if method == "GET":
        if params.get("watch") in ("true", "1"):
            return kmock.action.WATCH
        return kmock.action.FETCH if target.name else kmock.action.LIST
    if method == "POST" and not target.name:
        return kmock.action.CREATE
    if method == "PATCH" and target.name:
        return kmock.action.UPDATE
    if method == "DELETE" and target.name:
        return kmock.action.DELETE
    return None


# --- write options ---------------------------------------------------------------------------------

FIELD_VALIDATIONS = ("Ignore", "Warn", "Strict")
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class WriteOptions:
    """The query parameters of a write (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions)."""

    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"
    force: bool = False
    duplicates: tuple[str, ...] = ()  # paths of fields the request body had twice


def write_options(params: Mapping[str, str], kind: str, *, patch_type: str = "", user_agent: str = "") -> WriteOptions:
    """Parse and check a write's options as the API server does: 422 naming ``<kind>.meta.k8s.io``.

    ``kind`` is the options type (``CreateOptions``, ``UpdateOptions``, ``PatchOptions``, ``DeleteOptions``).
    Without a ``fieldManager`` the manager is the first part of the User-Agent, as the API server does.
    """
    errors: list[FieldError] = []
    dry_run = params.get("dryRun", "")
    if dry_run not in ("", "All"):
        errors.append(FieldError(NOT_SUPPORTED, "dryRun", f'Unsupported value: ["{dry_run}"]: supported values: "All"'))
    validation = params.get("fieldValidation", "") or "Warn"
    if kind != "DeleteOptions" and validation not in FIELD_VALIDATIONS:
        supported = ", ".join(f'"{value}"' for value in sorted(FIELD_VALIDATIONS))
        errors.append(
            FieldError(
                NOT_SUPPORTED,
                "fieldValidation",
                f"Unsupported value: {go_value(validation)}: supported values: {supported}",
            )
        )
    manager = params.get("fieldManager", "")
    if len(manager) > 128:
        errors.append(FieldError(TOO_LONG, "fieldManager", "Too long: must have at most 128 bytes"))
    force = params.get("force", "") == "true"
    apply = patch_type == APPLY_PATCH
    if apply and not manager:
        errors.append(required("fieldManager", "is required for apply patch"))
    if force and not apply:
        errors.append(forbidden("force", "may not be specified for non-apply patch"))
    if errors:
        raise status.invalid_options(kind, errors)
    if not manager:
        manager = user_agent.split("/", 1)[0] or "unknown"
    return WriteOptions(dry_run=dry_run == "All", field_manager=manager, field_validation=validation, force=force)


# --- selectors -------------------------------------------------------------------------------------


def _split_selector(text: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def _parse_label_term(term: str) -> tuple[str, str, frozenset[str]]:
    if match := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", term):
        return match[1], match[2], frozenset(v.strip() for v in match[3].split(","))
    if match := re.fullmatch(r"(\S+?)\s*(==|!=|=)\s*(\S*)", term):
        return match[1], "notin" if match[2] == "!=" else "in", frozenset({match[3]})
    if term.startswith("!"):
        return term[1:].strip(), "absent", frozenset()
    return term, "present", frozenset()


def label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """Compile a label selector (``a=b,c!=d,e in (f,g),!h,i``) into a predicate over labels."""
    terms = [_parse_label_term(term) for term in _split_selector(text)]

    def matches(labels: Mapping[str, str]) -> bool:
        for key, op, values in terms:
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and labels.get(key) in values:
                return False
            if op == "absent" and key in labels:
                return False
            if op == "present" and key not in labels:
                return False
        return True

    return matches


def field_selector(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a field selector (``metadata.name=x,involvedObject.kind!=Pod``) into a predicate."""
    terms: list[tuple[list[str], bool, str]] = []
    for term in _split_selector(text):
        match = re.fullmatch(r"([^=!]+?)\s*(==|!=|=)\s*(.*)", term)
        if match is None:
            raise status.bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        terms.append((match[1].split("."), match[2] != "!=", match[3]))

    def matches(obj: Mapping[str, Any]) -> bool:
        for path, equal, expected in terms:
            node: Any = obj
            for part in path:
                node = node.get(part) if isinstance(node, Mapping) else None
            if (("" if node is None else str(node)) == expected) != equal:
                return False
        return True

    return matches


def selectors(params: Mapping[str, str], name: str | None = None) -> Callable[[Mapping[str, Any]], bool]:
    """The label and field selectors of a list or watch (a watch on one object's URL selects by name)."""
    labels = label_selector(params.get("labelSelector", ""))
    selector = params.get("fieldSelector", "")
    if name:
        selector = f"{selector},metadata.name={name}" if selector else f"metadata.name={name}"
    fields = field_selector(selector)
    return lambda obj: labels(obj.get("metadata", {}).get("labels") or {}) and fields(obj)
