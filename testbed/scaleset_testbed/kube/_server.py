"""Serving the emulator over loopback HTTP, and pointing clients at it with a kubeconfig.

Why separate from the emulator: tests and the demo both need "an API server on a port" with a clean
stop, while the emulator itself is a request handler. The server is a plain ``aiohttp.web`` server
(not kmock's test server) so that several emulators, or this one and another kmock-based emulator,
can be started and stopped in any order. The emulator has no authentication, so it only ever binds
to loopback addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp.web
import yaml

from scaleset_testbed.kube._emulator import KubeEmulator

_SHUTDOWN_TIMEOUT = 2.0  # seconds to let in-flight requests finish when stopping


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"The Kubernetes emulator has no authentication; it binds to loopback only, not {host!r}")


class RunningKubeEmulator:
    """A :class:`KubeEmulator` served over HTTP; stop it with :meth:`stop` or ``async with``.

    ``url`` is what a client (kopf's login handler, a kubeconfig) should use. The stored objects and
    events are read through the helpers below, or through :attr:`emulator` for everything kmock offers.
    """

    def __init__(self, emulator: KubeEmulator, runner: aiohttp.web.ServerRunner, url: str) -> None:
        self.emulator = emulator
        self.url = url
        self._runner: aiohttp.web.ServerRunner | None = runner
        self._errors_at_stop: list[Exception] = []

    async def stop(self) -> None:
        """Close the watch streams, stop serving, and release the port (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.emulator.close_watches()
        try:
            await runner.cleanup()
        finally:
            self._errors_at_stop = list(self.emulator.errors)
            await self.emulator.__aexit__(None, None, None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def errors(self) -> list[Exception]:
        """Unexpected failures while serving requests (a healthy run has none; API refusals are not errors)."""
        return list(self.emulator.errors) if self._runner is not None else list(self._errors_at_stop)

    def get_object(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """A copy of one stored object, or ``None``; ``resource`` like ``"example.com/v1/widgets"``."""
        return self.emulator.get_object(resource, name, namespace)

    def list_objects(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored objects of a resource."""
        return self.emulator.list_objects(resource, namespace)

    def create_object(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object as a client would; raises ``KubeApiError`` if the API server would refuse it."""
        return self.emulator.create_object(body)

    def events(self, *, namespace: str | None = None, involved_name: str | None = None) -> list[dict[str, Any]]:
        """The Kubernetes Events posted so far, oldest first."""
        return self.emulator.events(namespace=namespace, involved_name=involved_name)


async def start_kube_emulator(
    crd_paths: Iterable[str | Path] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    crds: Iterable[Mapping[str, Any]] = (),
    emulator: KubeEmulator | None = None,
    namespaces: Iterable[str] = (),
    namespace_auto_provision: bool = True,
) -> RunningKubeEmulator:
    """Start an emulated Kubernetes API server on a loopback port (``port=0`` picks a free one).

    CRDs come from YAML files or directories (``crd_paths``, e.g. the project's ``crds/``) and/or
    as dicts (``crds``); pass a pre-built ``emulator`` instead to configure it further first.
    ``namespaces`` are created at start. ``namespace_auto_provision`` creates a namespace on the first
    write into it (kube-apiserver's NamespaceAutoProvision admission plugin). It is on here because
    callers such as the demo post into namespaces they never create; pass ``False`` for what a cluster
    with the default admission plugins does (404 ``namespaces "x" not found``), as a
    :class:`KubeEmulator` built directly does.
    """
    _check_loopback(host)
    if emulator is None:
        emulator = KubeEmulator(
            crds=crds,
            crd_paths=crd_paths or (),
            namespaces=namespaces,
            namespace_auto_provision=namespace_auto_provision,
        )
    elif crd_paths or crds or namespaces:
        raise TypeError("Pass either a ready emulator or CRDs and namespaces to build one, not both.")
    await emulator.__aenter__()

    async def handle(request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        response = await emulator(request)
        # No idle keep-alive connections: kopf.operator(), when it stops, waits 5 s for (and then
        # cancels) every task created while it ran, and with the emulator in the same event loop
        # the server's idle connections would be among them.
        if not response.prepared:
            response.force_close()
        return response

    # handler_cancellation: a client that goes away ends its watch stream instead of leaving it parked.
    server = aiohttp.web.Server(handle, handler_cancellation=True)
    runner = aiohttp.web.ServerRunner(server, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT)
    try:
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        await emulator.__aexit__(None, None, None)
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    return RunningKubeEmulator(emulator, runner, f"http://{url_host}:{bound_port}")


def write_kubeconfig(url: str, path: str | Path, *, namespace: str = "default", context: str = "kube-emulator") -> Path:
    """Write a kubeconfig for ``url`` (TLS verification off, a dummy bearer token); return its path.

    For tools that only speak kubeconfig (kubectl, a kopf subprocess with ``KUBECONFIG``).
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": url, "insecure-skip-tls-verify": True}}],
        "users": [{"name": context, "user": {"token": "kube-emulator-dummy-token"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target
