"""Patterns of the resource's string fields, anchored and in the common subset of Go RE2 and Python ``re``."""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------------------------------
# Patterns. All are anchored and written in the common subset of Go RE2 (what the API server uses)
# and Python ``re``: ASCII classes instead of \d, \w, \s (which are Unicode-aware in Python).
# --------------------------------------------------------------------------------------------------

_GUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RESOURCE_GROUP = "[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]"
_ARM_NAME = "[A-Za-z0-9][A-Za-z0-9_.-]{0,79}"
_EXACT_VERSION = "[0-9]+\\.[0-9]+\\.[0-9]+"
_COMPUTE_PREFIX = (
    f"/(?i:subscriptions)/{_GUID}/(?i:resourceGroups)/{_RESOURCE_GROUP}/(?i:providers/Microsoft\\.Compute)"
)

GUID_PATTERN: Final = f"^{_GUID}$"
RESOURCE_GROUP_PATTERN: Final = f"^{_RESOURCE_GROUP}$"
SCALE_SET_NAME_PATTERN: Final = "^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$"
CLOUD_NAME_PATTERN: Final = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MARKETPLACE_NAME_PATTERN: Final = "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
IMAGE_VERSION_PATTERN: Final = f"^(latest|{_EXACT_VERSION})$"
GALLERY_IMAGE_ID_PATTERN: Final = (
    f"^{_COMPUTE_PREFIX}/(?i:galleries)/[A-Za-z0-9][A-Za-z0-9_.]{{0,79}}"
    f"/(?i:images)/{_ARM_NAME}(/(?i:versions)/{_EXACT_VERSION})?$"
)
MANAGED_IMAGE_ID_PATTERN: Final = f"^{_COMPUTE_PREFIX}/(?i:images)/{_ARM_NAME}$"
VHD_URI_PATTERN: Final = (
    "^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?/[A-Za-z0-9._~%!$&'()*+,;=:@/-]+\\.(?i:vhd)$"
)
HTTPS_URL_PATTERN: Final = "^https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[!-~]*)?$"
BASE64_PATTERN: Final = "^[A-Za-z0-9+/]+={0,2}$"
DURATION_PATTERN: Final = "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$"
PERCENT_PATTERN: Final = "^([0-9]|[1-9][0-9]|100)%$"
POSITIVE_PERCENT_PATTERN: Final = "^([1-9]|[1-9][0-9]|100)%$"
DOMAIN_ID_PATTERN: Final = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CONDITION_TYPE_PATTERN: Final = (
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN: Final = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
