"""API discovery (legacy and aggregated), ``/version`` and the health endpoints, as kube-apiserver serves them.

Why not kmock's: it lists ``scalesetimages/status`` with the parent's short names and categories (so
kubectl warns that ``ssi`` "could also match" the subresource, and ``kubectl get imagerollout`` fails),
it has no aggregated discovery (``apidiscovery.k8s.io/v2``, which kubectl asks for first), and it reports
an old k3s version that makes kubectl warn about version skew.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scaleset_testbed.kube._models import ResourceModel

SERVER_VERSION = "v1.37.0"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_SUBRESOURCE_VERBS = ["get", "patch", "update"]
# Group versions the API server prefers when a group serves several: the newest stable one first.
_ORDER = {"v1": 0, "v1beta2": 1, "v1beta1": 2, "v1alpha2": 3, "v1alpha1": 4}


def version_info(git_version: str = SERVER_VERSION) -> dict[str, Any]:
    """``/version``: which Kubernetes this API claims to be."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(max(0, int(minor) - 1)),
        "gitVersion": f"{git_version}+kube-emulator",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


HEALTH_CHECKS = ("ping", "log", "etcd", "informer-sync", "poststarthook/crd-informer-synced")


def health(path: str, verbose: bool) -> str:
    """``/healthz``, ``/livez``, ``/readyz`` (always healthy: the emulator serves from memory)."""
    if not verbose:
        return "ok"
    name = path.strip("/").split("/")[0]
    lines = [f"[+]{check} ok" for check in HEALTH_CHECKS]
    return "\n".join([*lines, f"{name} check passed", ""])


def _versions(models: Iterable[ResourceModel], group: str) -> list[str]:
    versions = {m.version for m in models if m.group == group}
    return sorted(versions, key=lambda v: (_ORDER.get(v, 9), v))


def _groups(models: Iterable[ResourceModel]) -> list[str]:
    return sorted({m.group for m in models if m.group})


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    }


def _group_entry(models: list[ResourceModel], group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in _versions(models, group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(models: list[ResourceModel]) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(models, group) for group in _groups(models)],
    }


def api_group(models: list[ResourceModel], group: str) -> dict[str, Any] | None:
    if group not in _groups(models):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(models, group)}


def resource_list(models: list[ResourceModel], group: str, version: str) -> dict[str, Any] | None:
    """``/api/v1`` or ``/apis/<group>/<version>``: each resource, then its subresources (no short names)."""
    served = sorted((m for m in models if m.group == group and m.version == version), key=lambda m: m.plural)
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for model in served:
        entry: dict[str, Any] = {
            "name": model.plural,
            "singularName": model.singular,
            "namespaced": model.namespaced,
            "kind": model.kind,
            "verbs": _VERBS,
        }
        if model.short_names:
            entry["shortNames"] = list(model.short_names)
        if model.categories:
            entry["categories"] = list(model.categories)
        resources.append(entry)
        for sub in sorted(model.subresources):
            resources.append(
                {
                    "name": f"{model.plural}/{sub}",
                    "singularName": "",
                    "namespaced": model.namespaced,
                    "kind": model.kind,
                    "verbs": _SUBRESOURCE_VERBS,
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def _aggregated_resource(model: ResourceModel) -> dict[str, Any]:
    kind = {"group": model.group, "version": model.version, "kind": model.kind}
    entry: dict[str, Any] = {
        "resource": model.plural,
        "responseKind": kind,
        "scope": model.scope,
        "singularResource": model.singular,
        "verbs": _VERBS,
    }
    if model.short_names:
        entry["shortNames"] = list(model.short_names)
    if model.categories:
        entry["categories"] = list(model.categories)
    if model.subresources:
        entry["subresources"] = [
            {"subresource": sub, "responseKind": kind, "verbs": _SUBRESOURCE_VERBS}
            for sub in sorted(model.subresources)
        ]
    return entry


def aggregated(models: list[ResourceModel], *, core: bool) -> dict[str, Any]:
    """``/api`` or ``/apis`` as ``apidiscovery.k8s.io/v2`` APIGroupDiscoveryList (what kubectl asks first)."""
    groups = [""] if core else _groups(models)
    items = []
    for group in groups:
        versions = []
        for version in _versions(models, group):
            served = sorted((m for m in models if m.group == group and m.version == version), key=lambda m: m.plural)
            versions.append(
                {"version": version, "resources": [_aggregated_resource(m) for m in served], "freshness": "Current"}
            )
        metadata: dict[str, Any] = {"creationTimestamp": None}
        if group:
            metadata["name"] = group
        items.append({"metadata": metadata, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}


def wants_aggregated(accept: str) -> bool:
    """Whether the Accept header asks for aggregated discovery (v2) before anything else it accepts."""
    for part in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
            if params.get("v") == "v2":
                return True
            continue
        if part.strip():
            return False
    return False


def root_paths(models: list[ResourceModel]) -> dict[str, Any]:
    paths = {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi/v2", "/openapi/v3"}
    for model in models:
        if model.group:
            paths |= {f"/apis/{model.group}", f"/apis/{model.group}/{model.version}"}
    return {"paths": sorted(paths)}
