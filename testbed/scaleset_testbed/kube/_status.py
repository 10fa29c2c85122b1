"""Kubernetes ``Status`` failures, worded the way the API server words them.

Why: clients branch on ``code`` and ``reason`` (kopf treats 404, 409 and 422 differently) and humans
read ``message``; an emulator that answers with the right code but a different shape teaches tests
the wrong thing. Each helper mirrors one constructor of apimachinery's ``errors`` package.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scaleset_testbed.kube._models import ResourceModel
from scaleset_testbed.kube._schema import FieldError, aggregate


class KubeApiError(Exception):
    """A request the emulated API server refuses; ``status`` is the ``Status`` object it answers with."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    @property
    def status(self) -> dict[str, Any]:
        """The ``v1/Status`` body of the error response."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(model: ResourceModel, name: str, kind: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind or model.plural}
    if model.group:
        details["group"] = model.group
    return details


def not_found(model: ResourceModel, name: str) -> KubeApiError:
    """404 for a missing object."""
    return KubeApiError(404, "NotFound", f'{model.group_resource} "{name}" not found', _details(model, name))


def no_such_resource() -> KubeApiError:
    """404 for a URL that names no served resource or subresource."""
    return KubeApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(model: ResourceModel, name: str) -> KubeApiError:
    """409 for creating an object whose name is taken."""
    return KubeApiError(409, "AlreadyExists", f'{model.group_resource} "{name}" already exists', _details(model, name))


def conflict(model: ResourceModel, name: str, why: str | None = None) -> KubeApiError:
    """409 for a write that carries a stale ``resourceVersion`` (or a failed precondition)."""
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return KubeApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {model.group_resource} "{name}": {why}',
        _details(model, name),
    )


def invalid(model: ResourceModel, name: str, errors: Iterable[FieldError]) -> KubeApiError:
    """422 listing every field that failed validation, one cause each."""
    errors = list(errors)
    details = _details(model, name, kind=model.kind)
    details["causes"] = [error.as_cause() for error in errors]
    return KubeApiError(422, "Invalid", f'{model.qualified_kind} "{name}" is invalid: {aggregate(errors)}', details)


def patch_not_applicable(why: str) -> KubeApiError:
    """422 for a JSON patch that does not apply (a failed ``test`` operation included).

    The API server's message is generic; the patch library's reason comes as a cause (as the API server's
    ``NewGenericServerResponse`` puts it).
    """
    return KubeApiError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": why}]},
    )


def bad_request(message: str) -> KubeApiError:
    """400 for a request body that cannot be understood at all."""
    return KubeApiError(400, "BadRequest", message)


def unsupported_media_type(accepted: Iterable[str]) -> KubeApiError:
    """415 for a PATCH whose content type is not a patch format this resource accepts."""
    return KubeApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}",
    )


def method_not_allowed() -> KubeApiError:
    """405 for a verb the emulator does not support on this URL."""
    return KubeApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def expired(resource_version: str) -> KubeApiError:
    """410 for a watch that starts from a resourceVersion older than the kept history."""
    return KubeApiError(410, "Expired", f"too old resource version: {resource_version}")


def invalid_options(kind: str, errors: Iterable[FieldError]) -> KubeApiError:
    """422 for query options that fail validation (``PatchOptions.meta.k8s.io "" is invalid: ...``)."""
    errors = list(errors)
    details = {"group": "meta.k8s.io", "kind": kind, "causes": [error.as_cause() for error in errors]}
    return KubeApiError(422, "Invalid", f'{kind}.meta.k8s.io "" is invalid: {aggregate(errors)}', details)


def strict_decoding(model: ResourceModel, problems: Iterable[str], *, patch: bool = False) -> KubeApiError:
    """400 for unknown or duplicate fields under ``fieldValidation=Strict``."""
    message = "strict decoding error: " + ", ".join(problems)
    if not patch:
        message = f'{model.kind} in version "{model.version}" cannot be handled as a {model.kind}: {message}'
    return KubeApiError(400, "BadRequest", message)


def apply_conflict(message: str, causes: list[dict[str, str]]) -> KubeApiError:
    """409 for a server-side apply that would take fields other managers own."""
    return KubeApiError(409, "Conflict", message, {"causes": causes})


def not_acceptable(accepted: Iterable[str]) -> KubeApiError:
    """406 when the Accept header names nothing the server can produce."""
    return KubeApiError(406, "NotAcceptable", f"only the following media types are accepted: {', '.join(accepted)}")


def namespace_terminating(model: ResourceModel, name: str, namespace: str) -> KubeApiError:
    """403 for creating something in a namespace that is being deleted."""
    message = (
        f'{model.group_resource} "{name}" is forbidden: unable to create new content in namespace '
        f"{namespace} because it is being terminated"
    )
    details = _details(model, name)
    details["causes"] = [
        {
            "reason": "NamespaceTerminating",
            "message": f"namespace {namespace} is being terminated",
            "field": "metadata.namespace",
        }
    ]
    return KubeApiError(403, "Forbidden", message, details)


def internal_error(why: str) -> KubeApiError:
    """500 for a failure of the emulator itself (the message never carries a traceback)."""
    return KubeApiError(500, "InternalError", f"Internal error occurred: {why}", {"causes": [{"message": why}]})
