"""``metadata`` checks every write goes through, with the API server's wording (apimachinery's validation).

Why: a label key with a space or a 300 KiB annotation is refused by any cluster; a test environment that
stores it teaches a client that it works. The messages follow ``k8s.io/apimachinery``'s
``validate/content`` and ``api/validation`` packages, so a client shows what a cluster would show.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from scaleset_testbed.kube._schema import FieldError, invalid, required

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY = re.compile(f"^{_LABEL_KEY_FMT}$")
_LABEL_VALUE = re.compile(f"^({_LABEL_KEY_FMT})?$")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = f"{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*"
_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{_DNS1123_SUBDOMAIN_FMT}$")
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def regex_error(message: str, regex: str, *examples: str) -> str:
    """``<message> (e.g. 'a',  or 'b', regex used for validation is '<regex>')``, as apimachinery words it."""
    if not examples:
        return f"{message} (regex used for validation is '{regex}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{regex}')"


def dns1123_subdomain(value: str) -> list[str]:
    problems = []
    if len(value) > 253:
        problems.append("must be no more than 253 bytes")
    if not _DNS1123_SUBDOMAIN.match(value):
        problems.append(
            regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                "and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return problems


def dns1123_label(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 bytes")
    if not _DNS1123_LABEL.match(value):
        if _DNS1123_SUBDOMAIN.match(value):
            problems.append("must not contain dots")
        else:
            problems.append(
                regex_error(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                    "and must start and end with an alphanumeric character",
                    _DNS1123_LABEL_FMT,
                    "my-name",
                    "123-abc",
                )
            )
    return problems


def label_key(value: str) -> list[str]:
    """``IsLabelKey``: an optional DNS-subdomain prefix and ``/``, then a name of at most 63 characters."""
    problems: list[str] = []
    parts = value.split("/")
    name_message = (
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
        "character"
    )
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend(f"prefix part {problem}" for problem in dns1123_subdomain(prefix))
    else:
        return [
            "a valid label key "
            + regex_error(name_message, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 bytes")
    if not _LABEL_KEY.match(name):
        problems.append("name part " + regex_error(name_message, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc"))
    return problems


def label_value(value: str) -> list[str]:
    problems = []
    if len(value) > 63:
        problems.append("must be no more than 63 bytes")
    if not _LABEL_VALUE.match(value):
        problems.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character",
                f"({_LABEL_KEY_FMT})?",
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return problems


def name_problems(name: str, *, label: bool, prefix: bool = False) -> list[str]:
    """The name rules of a resource: DNS labels for namespaces, DNS subdomains for the rest.

    ``prefix``: a ``generateName``, which may end in ``-`` (the suffix completes it).
    """
    if prefix and name:
        name = name[:-1] + "a" if name.endswith("-") else name
    return dns1123_label(name) if label else dns1123_subdomain(name)


def _string_map(meta: Mapping[str, Any], field: str) -> tuple[dict[str, Any], list[FieldError]]:
    value = meta.get(field)
    if value is None:
        return {}, []
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return {}, [invalid(f"metadata.{field}", value, "must be a map of string keys to string values")]
    return value, []


def validate_metadata(meta: Mapping[str, Any], *, namespaced: bool, label_names: bool) -> list[FieldError]:
    """The checks of ``ValidateObjectMeta`` that a client can trip over, in the API server's order."""
    errors: list[FieldError] = []
    name = meta.get("name")
    generate_name = meta.get("generateName")
    if isinstance(generate_name, str) and generate_name:
        for problem in name_problems(generate_name, label=label_names, prefix=True):
            errors.append(invalid("metadata.generateName", generate_name, problem))
    if not name:
        errors.append(required("metadata.name", "name or generateName is required"))
    else:
        for problem in name_problems(str(name), label=label_names):
            errors.append(invalid("metadata.name", name, problem))
    if namespaced and not meta.get("namespace"):
        errors.append(required("metadata.namespace"))
    labels, problems = _string_map(meta, "labels")
    errors.extend(problems)
    for key, value in labels.items():
        errors.extend(invalid("metadata.labels", key, problem) for problem in label_key(key))
        errors.extend(invalid("metadata.labels", value, problem) for problem in label_value(value))
    annotations, problems = _string_map(meta, "annotations")
    errors.extend(problems)
    for key in annotations:
        errors.extend(invalid("metadata.annotations", key, problem) for problem in label_key(key.lower()))
    size = sum(len(key.encode()) + len(value.encode()) for key, value in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(
            FieldError(
                "FieldValueTooLong",
                "metadata.annotations",
                f"Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
            )
        )
    finalizers = meta.get("finalizers") or []
    if isinstance(finalizers, list):
        for index, finalizer in enumerate(finalizers):
            for problem in label_key(str(finalizer)):
                errors.append(invalid(f"metadata.finalizers[{index}]", finalizer, problem))
    return errors


def finalizer_warnings(meta: Mapping[str, Any]) -> list[str]:
    """The API server's warning for finalizer names that are not domain-qualified (custom resources)."""
    return [
        f"metadata.finalizers: {json.dumps(finalizer)}: prefer a domain-qualified finalizer name including a "
        "path (/) to avoid accidental conflicts with other finalizer writers"
        for finalizer in meta.get("finalizers") or ()
        if isinstance(finalizer, str) and "/" not in finalizer
    ]
