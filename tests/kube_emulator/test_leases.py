"""Leases (``coordination.k8s.io/v1``): what leader election needs from the API server.

Covered: a Lease is created once (a second create is 409 AlreadyExists, so two candidates racing to create
it cannot both win); an update carrying a stale resourceVersion is 409 Conflict (so two candidates racing to
take an expired lease cannot both win); the spec is admitted by the built-in schema (a MicroTime that is not
a time is refused); discovery lists the resource, and the real kubectl reads it.
"""

from __future__ import annotations

import json
from typing import Any

from .kubectl import Kubectl
from .support import Api

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def lease(holder: str = "a", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "op", "namespace": "default"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-12-06T03:00:00.000000Z",
            "renewTime": "2026-12-06T03:00:00.000000Z",
            "leaseTransitions": 0,
            **spec,
        },
    }


async def test_only_one_create_of_a_lease_wins(api: Api) -> None:
    first = await api.create(lease("a"), LEASES)
    second = await api.create(lease("b"), LEASES)
    assert first.status == 201
    assert (second.status, second.body["reason"]) == (409, "AlreadyExists")
    assert (await api.get(f"{LEASES}/op")).body["spec"]["holderIdentity"] == "a"


async def test_an_update_with_a_stale_resource_version_loses(api: Api) -> None:
    created = (await api.create(lease("a"), LEASES)).body
    taken = {**created, "spec": {**created["spec"], "holderIdentity": "b", "leaseTransitions": 1}}
    late = {**created, "spec": {**created["spec"], "holderIdentity": "c", "leaseTransitions": 1}}
    assert (await api.put(f"{LEASES}/op", taken)).status == 200
    reply = await api.put(f"{LEASES}/op", late)
    assert (reply.status, reply.body["reason"]) == (409, "Conflict")
    stored = (await api.get(f"{LEASES}/op")).body
    assert stored["spec"]["holderIdentity"] == "b"
    assert int(stored["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


async def test_a_lease_spec_is_checked_against_the_built_in_schema(api: Api) -> None:
    reply = await api.create(lease("a", leaseDurationSeconds="fifteen"), LEASES)
    assert reply.status == 422
    assert "leaseDurationSeconds" in str(reply.body["message"])


async def test_discovery_lists_leases(api: Api) -> None:
    body = (await api.get("/apis/coordination.k8s.io/v1")).body
    assert [(r["name"], r["kind"], r["namespaced"]) for r in body["resources"]] == [("leases", "Lease", True)]


async def test_kubectl_reads_a_lease(kubectl: Kubectl) -> None:
    (await kubectl("create", "-f", "-", stdin=json.dumps(lease("replica-1")))).ok()
    out = (await kubectl("get", "lease", "op", "-o", "jsonpath={.spec.holderIdentity}")).ok()
    assert out.out == "replica-1"
