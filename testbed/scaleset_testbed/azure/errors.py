"""ARM error responses: ``{"error": {"code", "message", "target", "details"}}`` with an HTTP status."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error the emulator answers with, in ARM's error body format."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def as_operation_error(self) -> dict[str, Any]:
        """The ``error`` object of a failed long-running operation's status monitor."""
        return dict(self.body()["error"])


def not_found(kind: str, name: str, resource_group: str | None = None) -> ArmError:
    if resource_group is not None:
        message = (
            f"The Resource '{kind}/{name}' under resource group '{resource_group}' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        )
    else:
        message = f"The resource '{kind}/{name}' was not found."
    return ArmError(404, "ResourceNotFound", message)


def resource_group_not_found(resource_group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")


def invalid_parameter(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)
