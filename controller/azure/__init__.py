"""The Azure side: the only package that talks to Azure (azure-mgmt-compute aio, azure-identity aio).

``gateway`` owns the SDK behind a narrow interface; ``observe`` gathers one planning pass's worth of
Azure state with as few calls as the rollout's state allows; ``budget`` keeps the operator under Azure's
throttling limits; ``trust`` decides which URLs the operator's token may be sent to; ``errors`` and
``pipeline`` are the gateway's error classification and SDK pipeline policies.
"""

from controller.azure.errors import AzureCallError
from controller.azure.gateway import AzureComputeGateway, ComputeGateway
from controller.azure.observe import SeenScaleSet, image_facts, observe, reread_model
from controller.azure.pipeline import RequestHook

__all__ = [
    "AzureCallError",
    "AzureComputeGateway",
    "ComputeGateway",
    "RequestHook",
    "SeenScaleSet",
    "image_facts",
    "observe",
    "reread_model",
]
