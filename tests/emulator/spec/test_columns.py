"""The field-table columns built from definitions-only folders that hold only the definitions read from their
version (Compute 2024-11-01, 2025-04-01, 2025-11-01; ``partial.json``, README.md): every path whose presence those
versions could change is decided by a definition read from them, and the emulator dates such paths by them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scaleset_testbed.azure import api_fields
from scaleset_testbed.worlds import vmss_path

from ..conftest import raw_request
from .extract import PARTIAL, folder_definitions
from .fields import KINDS, deciding_definition, property_paths

HERE = Path(__file__).parent
INDEX = json.loads((HERE / "fields.json").read_text())


def partial_folders() -> list[str]:
    return sorted(p.name for p in HERE.iterdir() if (p / PARTIAL).exists())


def older_whole_folder(folder: str) -> str:
    """The newest folder of the same family, older than ``folder``, whose definitions were read whole."""
    family, version = folder.split("-", 1)
    whole = [
        p.name
        for p in HERE.iterdir()
        if p.name.startswith(family + "-")
        and p.name.split("-", 1)[1] < version
        and (p / "definitions.json").exists()
        and not (p / PARTIAL).exists()
    ]
    return max(whole)


def test_the_three_published_compute_versions_are_partial_folders() -> None:
    assert partial_folders() == ["compute-2024-11-01", "compute-2025-04-01", "compute-2025-11-01"]


@pytest.mark.parametrize("folder", partial_folders())
def test_every_path_in_doubt_is_decided_by_a_definition_read(folder: str) -> None:
    """A path the next folder defines and the older whole version does not (or the reverse) is in doubt: the
    definition that declares it, or the one on its way that lacks it, must be one read from this version (or a
    common-types one its swagger takes from the shared file)."""
    partial = json.loads((HERE / folder / PARTIAL).read_text())
    read = set(json.loads((HERE / folder / "definitions.json").read_text())) | set(partial["shared"])
    merged = folder_definitions(HERE, folder)
    newer = folder_definitions(HERE, partial["over"])
    older = folder_definitions(HERE, older_whole_folder(folder))
    undecided: list[str] = []
    checked = 0
    for kind, (family, root) in KINDS.items():
        if not folder.startswith(family + "-"):
            continue
        doubt = property_paths(newer, root) ^ property_paths(older, root)
        for path in sorted(doubt):
            checked += 1
            decided_by = deciding_definition(merged, root, path)
            if decided_by not in read:
                undecided.append(f"{kind} {path}: {decided_by}")
    assert checked > 0
    assert undecided == []


def test_a_partial_folder_reads_over_the_newer_one() -> None:
    own = json.loads((HERE / "compute-2024-11-01" / "definitions.json").read_text())
    merged = folder_definitions(HERE, "compute-2024-11-01")
    assert "VirtualMachineScaleSetVMProfile" not in own
    assert "VirtualMachineScaleSetVMProfile" in merged
    assert merged["ScaleInPolicy"] == own["ScaleInPolicy"]  # what was read wins


VMSS_PATHS = "virtualMachineScaleSets", "virtualMachineScaleSetUpdate"


@pytest.mark.parametrize(
    ("kinds", "path", "first", "older"),
    [
        (VMSS_PATHS, "properties.scaleInPolicy.prioritizeUnhealthyVMs", "2024-11-01", "2024-07-01"),
        (VMSS_PATHS, "properties.skuProfile.vmSizes[].rank", "2024-11-01", "2024-07-01"),
        (VMSS_PATHS, "properties.resiliencyPolicy.automaticZoneRebalancingPolicy", "2024-11-01", "2024-07-01"),
        (("virtualMachines",), "placement", "2024-11-01", "2024-07-01"),
        (("virtualMachineScaleSets", "virtualMachines", "images"), "systemData", "2024-11-01", "2024-07-01"),
        (("virtualMachineScaleSets",), "placement", "2025-04-01", "2024-11-01"),
        (VMSS_PATHS, "properties.additionalCapabilities.enableFips1403Encryption", "2025-04-01", "2024-11-01"),
        (VMSS_PATHS, "properties.resiliencyPolicy.zoneAllocationPolicy", "2025-04-01", "2024-11-01"),
        (("virtualMachineScaleSetUpdate",), "placement", "2025-11-01", "2025-04-01"),
        (VMSS_PATHS, "properties.lifecycleHooksProfile", "2025-11-01", "2025-04-01"),
        (("virtualMachineScaleSetVMs",), "properties.virtualMachineResourceId", "2025-11-01", "2025-04-01"),
    ],
)
def test_paths_are_dated_by_the_version_that_defines_them(
    kinds: tuple[str, ...], path: str, first: str, older: str
) -> None:
    for kind in kinds:
        assert api_fields.introduced(kind, path) == (first, None), kind
        assert api_fields.visible(kind, path, first)
        assert not api_fields.visible(kind, path, older)


@pytest.mark.parametrize(
    ("body", "member", "first", "older"),
    [
        (
            {"properties": {"scaleInPolicy": {"prioritizeUnhealthyVMs": True}}},
            "prioritizeUnhealthyVMs",
            "2024-11-01",
            "2024-07-01",
        ),
        (
            {"properties": {"additionalCapabilities": {"enableFips1403Encryption": False}}},
            "enableFips1403Encryption",
            "2025-04-01",
            "2024-11-01",
        ),
        ({"placement": {"zonePlacementPolicy": "Auto"}}, "placement", "2025-11-01", "2025-04-01"),
    ],
)
def test_a_request_field_is_accepted_from_the_version_that_defines_it(
    emulator_thread: Any, body: dict[str, Any], member: str, first: str, older: str
) -> None:
    emu = emulator_thread()
    refused = raw_request(f"{emu.url}{vmss_path()}?api-version={older}", "PATCH", body)
    assert refused.status == 400
    assert refused.json()["error"]["code"] == "InvalidRequestFormat"
    assert member in refused.json()["error"]["details"][0]["message"]
    accepted = raw_request(f"{emu.url}{vmss_path()}?api-version={first}", "PATCH", body)
    assert accepted.status in (200, 202), accepted.json()
