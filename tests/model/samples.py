"""Sample ScaleSetImage objects in wire form, shared by the model tests."""

import copy
from typing import Any

SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
GALLERY_IMAGE = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/images-rg/providers/Microsoft.Compute"
    "/galleries/corp_gallery/images/ubuntu-hardened"
)
MANAGED_IMAGE = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/images-rg/providers/Microsoft.Compute/images/web-2024"
VHD = "https://corpimages.blob.core.windows.net/vhds/web-2024-05.vhd"

MINIMAL: dict[str, Any] = {
    "apiVersion": "imagerollout.dev/v1alpha1",
    "kind": "ScaleSetImage",
    "metadata": {"name": "web", "namespace": "fleet", "generation": 3},
    "spec": {
        "scaleSet": {"subscriptionId": SUBSCRIPTION, "resourceGroup": "web-rg", "name": "web-vmss"},
        "image": {
            "marketplace": {
                "publisher": "Canonical",
                "offer": "ubuntu-24_04-lts",
                "sku": "server",
                "version": "24.04.202405010",
            }
        },
    },
}

MID_ROLLOUT_STATUS: dict[str, Any] = {
    "observedGeneration": 3,
    "phase": "Progressing",
    "target": {
        "image": {
            "marketplace": {
                "publisher": "Canonical",
                "offer": "ubuntu-24_04-lts",
                "sku": "server",
                "version": "24.04.202405010",
            }
        },
        "generation": 3,
        "resolvedAt": "2024-05-02T09:00:00Z",
    },
    "previousImage": {
        "marketplace": {
            "publisher": "Canonical",
            "offer": "ubuntu-24_04-lts",
            "sku": "server",
            "version": "24.04.202404150",
        }
    },
    "upgradePolicyMode": "Manual",
    "domainKind": "FaultDomain",
    "domainKindReason": "all 50 instances report platform update domain 0 (Azure Stack Hub); using fault domains",
    "domains": [
        {
            "id": "0",
            "instanceIds": [str(n) for n in range(0, 10)],
            "state": "Succeeded",
            "startedAt": "2024-05-02T09:00:05Z",
            "finishedAt": "2024-05-02T09:12:40Z",
        },
        {
            "id": "1",
            "instanceIds": [str(n) for n in range(10, 20)],
            "state": "Succeeded",
            "startedAt": "2024-05-02T09:17:40Z",
            "finishedAt": "2024-05-02T09:29:02Z",
        },
        {
            "id": "2",
            "instanceIds": [str(n) for n in range(20, 30)],
            "state": "Upgrading",
            "startedAt": "2024-05-02T09:34:02Z",
        },
        {"id": "3", "instanceIds": [str(n) for n in range(30, 40)], "state": "Pending"},
        {"id": "4", "instanceIds": [str(n) for n in range(40, 50)], "state": "Pending"},
    ],
    "currentDomain": "2",
    "instances": {"total": 50, "updated": 27, "healthy": 48, "unhealthy": 2},
    "operation": {
        "kind": "ManualUpgrade",
        "id": "5d2c1a3e-7f55-4b8e-9a56-0c1f5e3a9b21",
        "azureAsyncOperation": (
            "https://management.azure.com/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/providers"
            "/Microsoft.Compute/locations/westeurope/operations/5d2c1a3e-7f55-4b8e-9a56-0c1f5e3a9b21"
            "?api-version=2024-07-01"
        ),
        "domain": "2",
        "instanceIds": [str(n) for n in range(20, 30)],
        "startedAt": "2024-05-02T09:34:03Z",
    },
    "rolloutStartedAt": "2024-05-02T09:00:00Z",
    "lastSucceededAt": "2024-04-16T10:20:00Z",
    "conditions": [
        {
            "type": "Ready",
            "status": "False",
            "reason": "RolloutInProgress",
            "message": "upgrading fault domain 2 of 5",
            "lastTransitionTime": "2024-05-02T09:00:00Z",
            "observedGeneration": 3,
        },
        {
            "type": "Reconciling",
            "status": "True",
            "reason": "WaitingForAzureOperation",
            "message": "manual upgrade of 10 instances in domain 2",
            "lastTransitionTime": "2024-05-02T09:00:00Z",
            "observedGeneration": 3,
        },
        {
            "type": "Stalled",
            "status": "False",
            "reason": "RolloutInProgress",
            "message": "",
            "lastTransitionTime": "2024-05-02T09:00:00Z",
            "observedGeneration": 3,
        },
        {
            "type": "ImageAvailable",
            "status": "True",
            "reason": "ImageFound",
            "message": "Canonical:ubuntu-24_04-lts:server:24.04.202405010",
            "lastTransitionTime": "2024-05-02T09:00:00Z",
            "observedGeneration": 3,
        },
        {
            "type": "ScaleSetFound",
            "status": "True",
            "reason": "ScaleSetExists",
            "message": "",
            "lastTransitionTime": "2024-05-02T09:00:00Z",
            "observedGeneration": 3,
        },
        {
            "type": "UpgradePolicyCompatible",
            "status": "True",
            "reason": "ManualUpgradePolicy",
            "message": "",
            "lastTransitionTime": "2024-05-02T09:00:00Z",
            "observedGeneration": 3,
        },
    ],
}


def minimal() -> dict[str, Any]:
    """A fresh deep copy of the minimal valid resource."""
    return copy.deepcopy(MINIMAL)


def mid_rollout() -> dict[str, Any]:
    """The minimal resource with the mid-rollout status."""
    body = minimal()
    body["status"] = copy.deepcopy(MID_ROLLOUT_STATUS)
    return body


def edit(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the dotted ``path`` set to ``value`` (intermediate objects created)."""
    out = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return out


def drop(body: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``body`` without the dotted ``path``."""
    out = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    del node[last]
    return out
