"""One GET of a ScaleSetImage from the Kubernetes API, right before an Azure write goes out on its behalf.

kopf serializes the work on one object: a deletion (or a new spec) arriving while a pass is at work waits in
that object's queue until the pass ends, so what the watch stream told this process can be a few milliseconds
to a few seconds behind. An Azure write is the one thing that cannot be taken back, so before each one the
object is read from the API server itself: gone, being deleted, re-created or given a new spec means the
write is withdrawn. That costs one Kubernetes GET per Azure write (a handful per rollout).

The connection is the one kopf logged in with (``kopf.ConnectionInfo``), so the credentials are the same.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import kopf

from controller.resource import GROUP, PLURAL, VERSION

_TIMEOUT_SECONDS = 5.0
StatusWrite = Literal["written", "conflict", "gone"]


@dataclass(frozen=True)
class LiveMeta:
    """What the API server holds for a name now: None fields when there is no such object."""

    uid: str | None
    generation: int | None
    deleting: bool
    status: dict[str, Any] | None = field(default=None, compare=False)  # what is read is not who it is


class LiveObjects:
    """Reads ScaleSetImage metadata from the API server with the operator's own credentials."""

    def __init__(self, info: kopf.ConnectionInfo) -> None:
        self._info = info
        self._session: aiohttp.ClientSession | None = None
        self._files: list[str] = []

    async def meta(self, namespace: str, name: str) -> LiveMeta:
        """The object's uid, generation and deletion mark now; raises ``LiveReadError`` when it cannot tell."""
        url = f"{self.server}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"
        try:
            async with self.session().get(url, headers=self.headers()) as response:
                if response.status == 404:
                    return LiveMeta(uid=None, generation=None, deleting=False, status=None)
                if response.status != 200:
                    raise LiveReadError(f"the Kubernetes API answered {response.status} for {namespace}/{name}")
                body: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LiveReadError(f"the Kubernetes API could not be read: {exc!r}") from exc
        meta = body.get("metadata") or {} if isinstance(body, dict) else {}
        generation = meta.get("generation")
        status = body.get("status") if isinstance(body, dict) else None
        return LiveMeta(
            uid=meta.get("uid"),
            generation=generation if isinstance(generation, int) else None,
            deleting=bool(meta.get("deletionTimestamp")),
            status=status if isinstance(status, dict) else {},
        )

    async def patch_status(self, plural: str, namespace: str, name: str, ops: list[dict[str, Any]]) -> StatusWrite:
        """Send a JSON patch to the status subresource: "written", "conflict" (a ``test`` failed: the status
        moved since it was read; nothing was written) or "gone"; raises ``LiveReadError`` when it cannot tell."""
        url = f"{self.server}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status"
        headers = {**self.headers(), "Content-Type": "application/json-patch+json"}
        try:
            async with self.session().patch(url, data=json.dumps(ops), headers=headers) as response:
                if response.status == 200:
                    return "written"
                if response.status == 404:
                    return "gone"
                text = await response.text()
                # A failed ``test`` is a 422 whose cause says so ("testing value /status/x failed"); any other
                # 422 is the object refused (a status the schema does not allow): an error, not a race.
                if response.status == 409 or (response.status == 422 and "testing value" in text.lower()):
                    return "conflict"
                raise LiveReadError(
                    f"writing the status of {namespace}/{name}: the Kubernetes API answered {response.status}: "
                    f"{text[:300]}"
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LiveReadError(f"the status of {namespace}/{name} could not be written: {exc!r}") from exc

    async def secret_value(self, namespace: str, name: str, key: str) -> str:
        """One key of a Secret, decoded; raises ``LiveReadError`` saying why it cannot be had."""
        url = f"{self.server}/api/v1/namespaces/{namespace}/secrets/{name}"
        try:
            async with self.session().get(url, headers=self.headers()) as response:
                if response.status != 200:
                    raise LiveReadError(f"Secret {namespace}/{name}: the Kubernetes API answered {response.status}")
                body: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LiveReadError(f"Secret {namespace}/{name} could not be read: {exc!r}") from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get(key), str):
            raise LiveReadError(f"Secret {namespace}/{name} has no key {key!r}")
        try:
            return base64.b64decode(data[key], validate=True).decode("utf-8").strip()
        except (ValueError, UnicodeDecodeError) as exc:
            raise LiveReadError(f"Secret {namespace}/{name} key {key!r} is not base64 UTF-8 text") from exc

    async def drop_finalizer(self, plural: str, namespace: str, name: str, read: list[str], drop: str) -> bool:
        """Remove one finalizer if the list is still ``read`` (a JSON patch that tests it first); True if done."""
        url = f"{self.server}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}"
        ops = [
            {"op": "test", "path": "/metadata/finalizers", "value": read},
            {"op": "replace", "path": "/metadata/finalizers", "value": [f for f in read if f != drop]},
        ]
        headers = {**self.headers(), "Content-Type": "application/json-patch+json"}
        try:
            async with self.session().patch(url, data=json.dumps(ops), headers=headers) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False  # the next watch event of the resource tries again

    @property
    def server(self) -> str:
        """The API server's base URL, without a trailing slash."""
        return self._info.server.rstrip("/")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        for path in self._files:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._files.clear()

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session with the operator's TLS settings (other reads and writes share it)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=_TIMEOUT_SECONDS),
                connector=aiohttp.TCPConnector(ssl=self._ssl()),
            )
        return self._session

    def headers(self) -> dict[str, str]:
        """The Authorization header of the operator's credentials."""
        info = self._info
        if info.token:
            return {"Authorization": f"{info.scheme or 'Bearer'} {info.token}"}
        if info.username and info.password:
            pair = base64.b64encode(f"{info.username}:{info.password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}

    def _ssl(self) -> ssl.SSLContext | bool:
        info = self._info
        if info.insecure:
            return False
        context = ssl.create_default_context(
            cafile=os.fsdecode(info.ca_path) if info.ca_path else None,
            cadata=_text(info.ca_data) if info.ca_data else None,
        )
        certificate = os.fsdecode(info.certificate_path) if info.certificate_path else None
        key = os.fsdecode(info.private_key_path) if info.private_key_path else None
        if info.certificate_data:
            certificate = self._file(info.certificate_data)
        if info.private_key_data:
            key = self._file(info.private_key_data)
        if certificate:
            context.load_cert_chain(certificate, key)
        return context

    def _file(self, data: str | bytes) -> str:
        handle, path = tempfile.mkstemp(prefix="scaleset-image-")  # mode 0600
        with os.fdopen(handle, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        self._files.append(path)
        return path


class LiveReadError(Exception):
    """The API server could not say whether the object is still there."""


def _text(data: str | bytes) -> str:
    return data.decode() if isinstance(data, bytes) else data
