"""The api-versions Azure publishes for the Microsoft.Compute operations the emulator serves.

Taken from the folder names of Azure/azure-rest-api-specs
(``specification/compute/resource-manager/Microsoft.Compute/{stable}``): ``ComputeRP`` versions for scale
sets, scale-set VMs, rolling upgrades, images and marketplace images; ``GalleryRP`` versions for gallery
image versions. Azure Stack Hub's 2020-09-01-hybrid profile pins Microsoft.Compute to 2020-06-01.
"""

from __future__ import annotations

from typing import Literal

ApiFamily = Literal["compute", "gallery"]

COMPUTE_API_VERSIONS: tuple[str, ...] = (
    "2015-06-15",
    "2016-03-30",
    "2016-04-30-preview",
    "2017-03-30",
    "2017-12-01",
    "2018-04-01",
    "2018-06-01",
    "2018-10-01",
    "2019-03-01",
    "2019-07-01",
    "2019-12-01",
    "2020-06-01",
    "2020-12-01",
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-03-01",
    "2026-04-01",
)

GALLERY_API_VERSIONS: tuple[str, ...] = (
    "2018-06-01",
    "2019-03-01",
    "2019-07-01",
    "2019-12-01",
    "2020-09-30",
    "2021-07-01",
    "2021-10-01",
    "2022-01-03",
    "2022-03-03",
    "2022-08-03",
    "2023-07-03",
    "2024-03-03",
    "2025-03-03",
    "2025-12-03",
    "2026-03-03",
)

AZURE_STACK_API_VERSION = "2020-06-01"

# Which fields each api-version defines: ``api_fields`` (generated from the REST spec).

# Query options of VirtualMachines_List (GET .../resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines):
# $filter ('virtualMachineScaleSet/id' eq '<id>') from 2021-11-01, $expand=instanceView from 2023-03-01.
VM_LIST_QUERY_INTRODUCED: dict[str, str] = {"$filter": "2021-11-01", "$expand": "2023-03-01"}


def supported_versions(family: ApiFamily, profile: str) -> tuple[str, ...]:
    if profile == "azurestack":
        return (AZURE_STACK_API_VERSION,)
    return COMPUTE_API_VERSIONS if family == "compute" else GALLERY_API_VERSIONS


def field_visible(field: str, api_version: str, table: dict[str, str]) -> bool:
    introduced = table.get(field)
    return introduced is None or api_version[:10] >= introduced
