"""The Kubernetes API for the commands people type (``scaleset-image status``, ``kubectl ssi``).

Finds the cluster as kubectl does (``--kubeconfig``, then ``$KUBECONFIG``, then ``~/.kube/config``; in a pod,
the service account), and turns every expected failure into a :class:`KubeError` whose message says what
was looked for and what to do: no configuration, an unknown context, a server that cannot be reached,
credentials refused, the CRD missing, a resource not found. Nothing here prints or exits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from controller.resource import GROUP, PLURAL, VERSION

T = TypeVar("T")
REQUEST_TIMEOUT = 15.0
"""Seconds for one API call: a person waits for it."""
CRD_FILE = "crds/scalesetimages.imagerollout.dev.yaml"


class KubeError(Exception):
    """An expected failure, in words for a person: what happened and what to do."""


@dataclass
class Connection:
    """A client for one cluster, with where it came from (for messages) and the context's namespace."""

    api_client: Any
    namespace: str
    source: str

    @property
    def server(self) -> str:
        return str(self.api_client.configuration.host)

    @property
    def api(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    def call(self, what: Callable[[], T], *, name: str | None = None, namespace: str | None = None) -> T:
        """Run one API call; its failure as a :class:`KubeError` (``name``/``namespace``: what it was about)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return what()
        except ApiException as exc:
            raise self._refusal(exc, name, namespace) from None
        except (HTTPError, OSError) as exc:
            raise KubeError(
                f"cannot reach the Kubernetes API at {self.server} ({self.source}): {_root_cause(exc)}. "
                "Is the cluster running? (The demo's API lives only while the demo runs: use --stay to keep it.)"
            ) from None

    def list_objects(self, group: str, version: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """The objects of one kind in ``namespace`` (None: all), sorted by namespace and name."""
        api = self.api
        if namespace:
            listed = self.call(
                lambda: api.list_namespaced_custom_object(
                    group, version, namespace, plural, _request_timeout=REQUEST_TIMEOUT
                )
            )
        else:
            listed = self.call(
                lambda: api.list_cluster_custom_object(group, version, plural, _request_timeout=REQUEST_TIMEOUT)
            )
        items: list[dict[str, Any]] = listed.get("items") or []
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def _refusal(self, exc: Any, name: str | None, namespace: str | None) -> KubeError:
        status = int(getattr(exc, "status", 0) or 0)
        body = _status_body(getattr(exc, "body", None))
        message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
        details = body.get("details") or {}
        if status == 404 and name is not None and details.get("name") == name:
            return KubeError(f"scalesetimage {name} not found in namespace {namespace}{self._others(namespace)}")
        if status == 404:
            return KubeError(
                f"the Kubernetes API at {self.server} does not serve {PLURAL}.{GROUP}/{VERSION}: install the CRD "
                f"first (kubectl apply -f {CRD_FILE})"
            )
        if status == 401:
            return KubeError(
                f"the Kubernetes API at {self.server} refused the credentials from {self.source} (401 Unauthorized):"
                " log in again, or choose another context with --context"
            )
        if status == 403:
            return KubeError(f"forbidden ({self.source}): {message}")
        return KubeError(f"the Kubernetes API answered {status} {getattr(exc, 'reason', '')}: {message}")

    def _others(self, namespace: str | None) -> str:
        """The names that do exist there, to spot a typo (best effort: a failure here adds nothing)."""
        try:
            listed = self.api.list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT
            )
        except Exception:  # the message is already complete without it
            return ""
        names = sorted(str(o["metadata"]["name"]) for o in listed.get("items") or [])
        return f" (it has: {', '.join(names)})" if names else " (it has no scalesetimages)"


def _status_body(raw: Any) -> dict[str, Any]:
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _root_cause(exc: BaseException) -> str:
    """``Connection refused`` rather than urllib3's nested retry story."""
    seen: BaseException = exc
    reason = getattr(seen, "reason", None)
    while isinstance(reason, BaseException):
        seen = reason
        reason = getattr(seen, "reason", None)
    text = str(seen)
    return text.rsplit(": ", 1)[-1] if "Errno" in text else text


def kubeconfig_files(explicit: str | None) -> list[str]:
    """The kubeconfig files to read, in kubectl's order; empty when there is none (in-cluster is next)."""
    if explicit:
        if not Path(explicit).expanduser().is_file():
            raise KubeError(f"kubeconfig {explicit} (from --kubeconfig) does not exist")
        return [explicit]
    env = os.environ.get("KUBECONFIG", "")
    if env:
        paths = [p for p in env.split(os.pathsep) if p]
        existing = [p for p in paths if Path(p).expanduser().is_file()]
        if not existing:
            raise KubeError(
                f"$KUBECONFIG is {env}, and no such file exists: point it at a kubeconfig "
                "(the demo prints the path of its own), or unset it to use ~/.kube/config"
            )
        return existing
    home = Path("~/.kube/config").expanduser()
    return [str(home)] if home.is_file() else []


def connect(kubeconfig: str | None = None, context: str | None = None, *, has_flag: bool = True) -> Connection:
    """A client for the cluster kubectl would talk to with the same --kubeconfig and --context.

    ``has_flag``: the command takes --kubeconfig (the messages offer it only then)."""
    from kubernetes import client, config

    files = kubeconfig_files(kubeconfig)
    if not files:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
            except config.ConfigException as exc:
                raise KubeError(f"in-cluster configuration: {exc}") from None
            namespace_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
            return Connection(client.ApiClient(), namespace, "the pod's service account")
        raise KubeError(
            "no Kubernetes configuration found: "
            + ("no --kubeconfig was given, " if has_flag else "")
            + f"$KUBECONFIG is not set, {Path('~/.kube/config').expanduser()} does not exist, and this is not a"
            " pod ($KUBERNETES_SERVICE_HOST is not set). Point to a cluster with "
            + ("--kubeconfig FILE or " if has_flag else "")
            + "export KUBECONFIG=FILE (make demo prints the path of its kubeconfig)."
        )
    joined = os.pathsep.join(files)
    source = f"kubeconfig {joined}"
    try:
        contexts, active = config.list_kube_config_contexts(config_file=joined)  # type: ignore[no-untyped-call]
    except config.ConfigException as exc:
        raise KubeError(f"{source}: {exc}") from None
    names = [str(c.get("name")) for c in contexts or []]
    if context is not None and context not in names:
        raise KubeError(f"context {context} is not in {source} (it has: {', '.join(names) or 'none'})")
    chosen = next((c for c in contexts or [] if c.get("name") == context), None) if context else active
    if not chosen:
        raise KubeError(f"{source} has no current-context: pick one with --context ({', '.join(names) or 'none'})")
    try:
        api_client = config.new_client_from_config(config_file=joined, context=context)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, ValueError) as exc:
        raise KubeError(f"{source}: {exc}") from None
    namespace = str((chosen.get("context") or {}).get("namespace") or "default")
    return Connection(api_client, namespace, source + (f", context {context}" if context else ""))
