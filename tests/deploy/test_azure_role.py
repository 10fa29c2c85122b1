"""docs/azure-role.json: the Azure custom role holds exactly the actions the operator's Azure calls need.

Covers: the role's shape (what `az role definition create --role-definition @docs/azure-role.json` takes);
no wildcard and no data-plane action; and, for each action, the SDK call in controller/azure/ that
needs it, so that a call removed there fails here and an action without a call cannot creep in.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .support import ROOT

ROLE: dict[str, Any] = json.loads((ROOT / "docs" / "azure-role.json").read_text(encoding="utf-8"))
ADAPTER = "".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "controller" / "azure").glob("*.py")))

# Action -> the code in controller/azure/ whose request needs it.
NEEDED_BY = {
    # GET {vmss}
    "Microsoft.Compute/virtualMachineScaleSets/read": "virtual_machine_scale_sets.get(",
    # PATCH {vmss} with the new image (and a linked read of a gallery or managed image it names)
    "Microsoft.Compute/virtualMachineScaleSets/write": "begin_update(",
    # POST {vmss}/manualupgrade
    "Microsoft.Compute/virtualMachineScaleSets/manualUpgrade/action": "begin_update_instances(",
    # GET {vmss}/virtualMachines, paged (the SDK's own request builder, pages read as JSON)
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read": "vms_list_request(",
    # ... with $expand=instanceView: update and fault domains, power, provisioning and health states
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read": 'expand="instanceView"',
    # GET {vmss}/rollingUpgrades/latest
    "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/read": "rolling_upgrades.get_latest(",
    # GET .../locations/{loc}/operations/{id}: polling the long-running PATCH and manualupgrade
    "Microsoft.Compute/locations/operations/read": "update_status()",
    # GET .../publishers/{p}/artifacttypes/vmimage/offers/{o}/skus/{s}/versions
    "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read": "virtual_machine_images.list(",
    # GET .../galleries/{g}/images/{i}/versions
    "Microsoft.Compute/galleries/images/versions/read": "gallery_image_versions.list_by_gallery_image(",
    # GET .../images/{name}
    "Microsoft.Compute/images/read": ".images.get(",
}


def test_role_has_the_shape_az_role_definition_create_takes() -> None:
    assert ROLE["IsCustom"] is True
    assert ROLE["Name"]
    assert ROLE["Description"]
    assert ROLE["NotActions"] == []
    # Data-plane actions: none (and the keys are left out: older Azure Stack Hub APIs do not know them).
    assert "DataActions" not in ROLE
    assert "NotDataActions" not in ROLE
    assert ROLE["AssignableScopes"]
    assert all(scope.startswith("/subscriptions/") for scope in ROLE["AssignableScopes"])


def test_role_holds_exactly_the_actions_the_operator_uses() -> None:
    assert len(ROLE["Actions"]) == len(set(ROLE["Actions"]))
    assert set(ROLE["Actions"]) == set(NEEDED_BY)
    for action in ROLE["Actions"]:
        assert "*" not in action
        assert action.startswith("Microsoft.Compute/")
        assert action.endswith(("/read", "/write", "/action"))


@pytest.mark.parametrize("action", sorted(NEEDED_BY))
def test_each_action_is_needed_by_a_call_in_the_azure_adapter(action: str) -> None:
    assert NEEDED_BY[action] in ADAPTER, f"{action}: controller/azure/ no longer calls {NEEDED_BY[action]}"
