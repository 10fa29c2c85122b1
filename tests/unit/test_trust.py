"""Which URLs the operator sends its Azure token to: only its cloud profile's ARM endpoint.

Aspects: Azure-AsyncOperation URLs and SDK continuation tokens read from status (which others can write)
are trusted only on exactly the ARM endpoint's scheme, host and port; a token that cannot be read is not.
"""

from datetime import UTC, datetime

import pytest
from scaleset_testbed.worlds import ARM_ENDPOINT

from controller import resource as model
from controller.azure import trust
from tests.model import samples

T0 = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)

ARM = ARM_ENDPOINT
STACK = "https://management.local.azurestack.external"


def azure_token(request_url: str | None, **headers: str) -> str:
    """A continuation token in azure-core's own encoding, as its pollers produce and read them."""
    from azure.core.polling._utils import _encode_continuation_token

    request = None if request_url is None else {"method": "PATCH", "url": request_url, "headers": {}}
    response = {"status_code": 202, "headers": headers, "content": ""}
    token: str = _encode_continuation_token({"request": request, "response": response, "context": {}})
    return token


VMSS_URL = (
    f"{ARM}subscriptions/{samples.SUBSCRIPTION}/resourceGroups/web-rg"
    "/providers/Microsoft.Compute/virtualMachineScaleSets/web-vmss"
)


@pytest.mark.parametrize(
    ("token", "trusted"),
    [
        (azure_token(VMSS_URL), True),
        (azure_token(VMSS_URL, **{"Azure-AsyncOperation": f"{ARM}operations/1", "Location": f"{ARM}results/1"}), True),
        (azure_token(VMSS_URL, **{"Azure-AsyncOperation": "https://evil.example/operations/1"}), False),
        (azure_token(VMSS_URL, location="https://management.azure.com.evil.example/x"), False),
        (azure_token("https://evil.example/vmss", **{"Azure-AsyncOperation": f"{ARM}operations/1"}), False),
        (azure_token(None), False),  # nothing to check against: not trusted
        ("bm90IGpzb24=", False),  # base64 of "not json"
        ("gASVAAAAAAAAAACMBHBpY2tsZZQu", False),  # an old pickle-format token
    ],
)
def test_only_continuation_tokens_polling_the_arm_endpoint_are_trusted(token: str, trusted: bool) -> None:
    operation = model.Operation(kind=model.OperationKind.MODEL_UPDATE, started_at=T0, continuation_token=token)
    assert trust.trusted_continuation_token(operation, ARM) == (token if trusted else None)


@pytest.mark.parametrize(
    ("url", "endpoint", "same"),
    [
        ("http://127.0.0.1:8080/ops/1", "http://127.0.0.1:8080", True),  # a loopback emulator profile
        ("http://127.0.0.1:8081/ops/1", "http://127.0.0.1:8080", False),
        ("https://127.0.0.1:8080/ops/1", "http://127.0.0.1:8080", False),
        ("ftp://management.azure.com/x", "https://management.azure.com", False),
        ("https://management.azure.com:notaport/x", "https://management.azure.com", False),
    ],
)
def test_same_endpoint(url: str, endpoint: str, same: bool) -> None:
    assert trust.same_endpoint(url, endpoint) is same
