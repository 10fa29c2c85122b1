"""``spec.scaleSet.cloud`` is optional and has no schema default, so the operator's ``defaultCloud`` applies.

Covers: the model (no cloud reads as None), the CRD (no default the API server would fill in), and one
reconcile pass choosing the cloud profile (and so the gateway) from the configuration or the resource.
"""

from typing import Any

import pytest

from controller.config import OperatorConfig, parse_config
from controller.observed import ObservedScaleSet
from controller.operator import OperatorContext
from controller.operator.reconcile import reconcile
from controller.resource import ScaleSetImageSpec
from controller.resource.crd import build_crd
from controller.resource.spec import ScaleSetRef
from tests.model.samples import SUBSCRIPTION

CONFIG: dict[str, Any] = {
    "clouds": {
        "azure-public": {},
        "stack-west": {"armEndpoint": "https://management.west.stack.example", "credentialScope": "https://x/.default"},
        "stack-east": {"armEndpoint": "https://management.east.stack.example", "credentialScope": "https://y/.default"},
    },
    "defaultCloud": "stack-west",
}


def body(cloud: str | None) -> dict[str, Any]:
    scale_set = {"subscriptionId": SUBSCRIPTION, "resourceGroup": "web-rg", "name": "web-vmss"}
    if cloud is not None:
        scale_set["cloud"] = cloud
    return {
        "apiVersion": "imagerollout.dev/v1alpha1",
        "kind": "ScaleSetImage",
        "metadata": {"name": "web", "namespace": "fleet", "generation": 1},
        "spec": {
            "scaleSet": scale_set,
            "image": {
                "marketplace": {"publisher": "Canonical", "offer": "ubuntu", "sku": "server", "version": "1.2.3"}
            },
        },
    }


class NoScaleSet:
    """A gateway that finds no scale set: enough for one reconcile pass to pick a cloud and stop."""

    async def observe(self, ref: ScaleSetRef) -> ObservedScaleSet | None:
        return None

    def budget_wait(self, ref: Any, request_class: str) -> tuple[float, str]:
        return 0.0, ""

    async def close(self) -> None:
        pass


async def profile_used(config: OperatorConfig, cloud: str | None) -> str:
    used: list[str] = []

    def factory(profile: Any) -> Any:
        used.append(profile.name)
        return NoScaleSet()

    ctx = OperatorContext(config=config, gateway_factory=factory)
    await reconcile(ctx, body(cloud), post_event=lambda *args: None)
    [name] = used
    return name


def test_a_resource_without_cloud_reads_as_none() -> None:
    assert ScaleSetImageSpec.from_dict(body(None)["spec"]).scale_set.cloud is None


def test_the_crd_has_no_default_for_cloud() -> None:
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    cloud = schema["properties"]["spec"]["properties"]["scaleSet"]["properties"]["cloud"]
    assert "default" not in cloud
    assert "cloud" not in schema["properties"]["spec"]["properties"]["scaleSet"].get("required", [])


def test_none_resolves_to_the_configured_default_profile() -> None:
    config = parse_config(CONFIG)
    assert config.cloud(None) is config.clouds["stack-west"]


@pytest.mark.parametrize(
    ("cloud", "expected"), [(None, "stack-west"), ("stack-east", "stack-east"), ("azure-public", "azure-public")]
)
async def test_reconcile_uses_the_default_profile_unless_the_resource_names_one(
    cloud: str | None, expected: str
) -> None:
    assert await profile_used(parse_config(CONFIG), cloud) == expected
