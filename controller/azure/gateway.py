"""The one module that talks to Azure: azure-mgmt-compute (aio) behind a narrow, typed interface.

Everything above this module sees plain dataclasses (:class:`ObservedScaleSet`, :class:`OperationState`)
and :class:`AzureCallError`, never SDK models or exceptions. Long-running operations are never awaited
here: a call starts the operation and returns the SDK's continuation token, which the caller keeps in
``.status``; :meth:`ComputeGateway.poll` later asks Azure once how that operation is doing. That is what
lets a rollout survive an operator restart in the middle of an operation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    map_error,
)
from azure.core.polling.base_polling import BadResponse, BadStatus, OperationFailed
from azure.core.rest import HttpRequest
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.compute.operations._operations import (
    build_virtual_machine_scale_set_vms_list_request,
    build_virtual_machines_list_request,
)
from azure.mgmt.core.exceptions import ARMErrorFormat

from controller.azure.budget import SubscriptionBudget, compute_policy
from controller.azure.errors import AzureCallError, classify_error, monitor_error, polling_error
from controller.azure.instances import flexible_filter, flexible_instance, uniform_instance
from controller.azure.instances import image_reference as image_reference_fields
from controller.azure.pipeline import (
    ApiVersionPin,
    BudgetWaitHook,
    LastMomentCheck,
    PlainHttpForLoopback,
    RequestHook,
    RequestRecorder,
    SpendBudget,
    StaticToken,
    WriteCheck,
    fenced_writes,
)
from controller.config import BudgetConfig, CloudProfile, RequestClass, static_token
from controller.observed import (
    GalleryVersion,
    ObservedInstance,
    ObservedScaleSet,
    OperationState,
    RollingProgress,
    instance_order,
)
from controller.resource import OperationKind, ScaleSetRef, UpgradeMode


class ComputeGateway(Protocol):
    """What the operator needs from Azure; :class:`AzureComputeGateway` is the real one."""

    async def observe(self, ref: ScaleSetRef) -> ObservedScaleSet | None: ...
    async def get_model(self, ref: ScaleSetRef) -> ObservedScaleSet | None: ...
    async def list_instances(self, ref: ScaleSetRef, *, flexible: bool = False) -> tuple[ObservedInstance, ...]: ...
    async def marketplace_versions(
        self, sub: str, location: str, publisher: str, offer: str, sku: str
    ) -> list[str] | None: ...
    async def gallery_versions(self, image_id: str) -> list[GalleryVersion] | None: ...
    async def managed_image_exists(self, image_id: str) -> bool: ...
    async def update_model_image(
        self, ref: ScaleSetRef, image_reference: dict[str, str] | None, vhd_uri: str | None, etag: str | None
    ) -> str: ...
    async def manual_upgrade(self, ref: ScaleSetRef, instance_ids: list[str]) -> str: ...
    async def poll(self, ref: ScaleSetRef, kind: OperationKind, token: str) -> OperationState: ...
    async def rolling_progress(self, ref: ScaleSetRef) -> RollingProgress | None: ...
    def budget_wait(self, ref: ScaleSetRef, request_class: RequestClass) -> tuple[float, str]: ...
    async def close(self) -> None: ...


@dataclass
class AzureComputeGateway:
    """Builds one aio ComputeManagementClient per subscription for a cloud profile."""

    profile: CloudProfile
    request_hook: RequestHook | None = None
    budget_wait_hook: BudgetWaitHook | None = None
    polling_interval: float = 5.0
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    budgets: dict[str, SubscriptionBudget] = field(default_factory=dict)
    write_fence: WriteCheck | None = None  # leader election: asked right before each write leaves, after auth
    user_agent: str | None = None  # put before the SDK's own User-Agent (which replica sent a request)
    _credential: Any = None
    _clients: dict[str, ComputeManagementClient] = field(default_factory=dict)

    def _client(self, subscription_id: str) -> ComputeManagementClient:
        client = self._clients.get(subscription_id)
        if client is not None:
            return client
        if self._credential is None:
            if self.profile.credential == "static-token":
                self._credential = StaticToken(static_token(self.profile))
            else:
                from azure.identity.aio import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
        policies: list[Any] = []
        if self.profile.allow_http:
            policies.append(PlainHttpForLoopback())
        if self.profile.api_version:
            policies.append(ApiVersionPin(self.profile.api_version))
        if self.request_hook is not None:
            policies.append(RequestRecorder(self.request_hook))
        budget = self.budgets.setdefault(subscription_id, SubscriptionBudget(self.budget))
        policies.append(SpendBudget(budget, self.budget_wait_hook))
        policies.append(LastMomentCheck())
        extra: dict[str, Any] = {}
        if self.user_agent:
            extra["user_agent"] = self.user_agent
        if self.write_fence is not None:
            # The SDK's custom hook runs after authentication (which may have waited for a token): the last
            # moment before the request leaves, where a replica that lost its Lease must stop.
            extra["raw_request_hook"] = fenced_writes(self.write_fence)
        client = ComputeManagementClient(
            self._credential,
            subscription_id,
            base_url=self.profile.arm_endpoint,
            credential_scopes=[self.profile.credential_scope],
            per_call_policies=policies,
            polling_interval=self.polling_interval,
            **extra,
        )
        self._clients[subscription_id] = client
        return client

    def budget_wait(self, ref: ScaleSetRef, request_class: RequestClass) -> tuple[float, str]:
        """How long a request of this class would wait for the operator's budget now, and which limit."""
        budget = self.budgets.get(ref.subscription_id)
        if budget is None:
            return 0.0, ""
        path = (
            f"/subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
            f"/providers/Microsoft.Compute/virtualMachineScaleSets/{ref.name}"
        )
        method, suffix = {
            "scale_set_get": ("GET", ""),
            "vm_list": ("GET", "/virtualMachines"),
            "write": ("POST", "/manualupgrade"),
        }.get(request_class, ("GET", "/operations"))
        return budget.pending_wait(request_class, compute_policy(method, path + suffix))

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        if self._credential is not None:
            await self._credential.close()
            self._credential = None

    async def observe(self, ref: ScaleSetRef) -> ObservedScaleSet | None:
        """The scale set model and all its instances: one GET and one paged, instance-view listing."""
        model = await self.get_model(ref)
        if model is None:
            return None
        if model.flexible and model.api_cannot_list_flexible:
            return model  # the planner refuses it, saying which api-version it needs
        try:
            instances = await self.list_instances(ref, flexible=model.flexible)
        except AzureCallError as exc:
            if model.api_hides_orchestration and exc.kind == "Rejected" and "is not allowed on" in exc.message:
                # An api-version without orchestrationMode cannot show a Flexible set, but Azure refuses to list
                # its VMs with instance views as scale-set VMs ("Operation ... is not allowed on ...").
                return dataclasses.replace(model, orchestration_mode="Flexible")
            raise
        if model.api_hides_orchestration and model.capacity > 0 and not instances:
            # Or it lists none of them (a Uniform set lists the instances being created too).
            return dataclasses.replace(model, orchestration_mode="Flexible")
        return dataclasses.replace(model, instances=instances)

    async def list_instances(self, ref: ScaleSetRef, *, flexible: bool = False) -> tuple[ObservedInstance, ...]:
        """Every instance with its instance view, in one paged listing (no per-instance GETs).

        Uniform: the scale-set VM list. Flexible: the resource group's VM list filtered on the scale set.
        The requests are the SDK operation's own (its request builder, its client pipeline: credential,
        retries, api-version pin, budget, recorder); only the pages are read as JSON rather than models.
        """
        client = self._client(ref.subscription_id)
        if flexible:
            request = build_virtual_machines_list_request(
                ref.resource_group, ref.subscription_id, filter=flexible_filter(ref), expand="instanceView"
            )
        else:
            request = build_virtual_machine_scale_set_vms_list_request(
                ref.resource_group, ref.name, ref.subscription_id, expand="instanceView"
            )
        read = flexible_instance if flexible else uniform_instance
        try:
            instances = [read(item) async for item in _page_items(client, request)]
        except AzureError as exc:
            raise classify_error(exc) from exc
        return tuple(sorted(instances, key=lambda i: instance_order(i.instance_id)))

    async def get_model(self, ref: ScaleSetRef) -> ObservedScaleSet | None:
        """The scale set model alone (one GET); ``instances`` is left empty."""
        client = self._client(ref.subscription_id)
        try:
            vmss = await client.virtual_machine_scale_sets.get(ref.resource_group, ref.name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise classify_error(exc) from exc
        profile = vmss.virtual_machine_profile
        storage = profile.storage_profile if profile else None
        ref_model = storage.image_reference if storage else None
        image_reference = image_reference_fields(ref_model)
        vhd = None
        if storage is not None and storage.os_disk is not None and storage.os_disk.image is not None:
            vhd = storage.os_disk.image.uri
        extensions = (profile.extension_profile.extensions or []) if profile and profile.extension_profile else []
        has_health = any(
            str((e.properties.type if e.properties else None) or "").startswith("ApplicationHealth") for e in extensions
        )
        policy = vmss.upgrade_policy
        mode = _enum_text(policy.mode) if policy and policy.mode else UpgradeMode.MANUAL  # Azure's default
        return ObservedScaleSet(
            ref=ref,
            location=str(vmss.location),
            etag=vmss.etag,
            upgrade_mode=str(mode),
            image_reference=image_reference,
            vhd_uri=vhd,
            has_health_extension=has_health,
            capacity=int(vmss.sku.capacity or 0) if vmss.sku else 0,
            provisioning_state=str(vmss.provisioning_state or "Unknown"),
            orchestration_mode=_enum_text(vmss.orchestration_mode) if vmss.orchestration_mode else "Uniform",
            fault_domain_count=vmss.platform_fault_domain_count,
            zones=tuple(str(z) for z in vmss.zones or ()),
            api_version=self.profile.api_version,
        )

    async def marketplace_versions(
        self, sub: str, location: str, publisher: str, offer: str, sku: str
    ) -> list[str] | None:
        try:
            items = await self._client(sub).virtual_machine_images.list(location, publisher, offer, sku)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise classify_error(exc) from exc
        return [str(i.name) for i in items]

    async def gallery_versions(self, image_id: str) -> list[GalleryVersion] | None:
        parts = image_id.strip("/").split("/")
        # subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{g}/images/{i}
        try:
            sub, rg, gallery, image = parts[1], parts[3], parts[7], parts[9]
        except IndexError as exc:
            raise AzureCallError("Rejected", "InvalidImageId", f"{image_id} is not a gallery image id") from exc
        out: list[GalleryVersion] = []
        try:
            async for v in self._client(sub).gallery_image_versions.list_by_gallery_image(rg, gallery, image):
                publishing = v.publishing_profile
                regions = tuple(str(r.name) for r in (publishing.target_regions or [])) if publishing else ()
                exclude = bool(publishing.exclude_from_latest) if publishing else False
                out.append(GalleryVersion(name=str(v.name), exclude_from_latest=exclude, regions=regions))
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise classify_error(exc) from exc
        return out

    async def managed_image_exists(self, image_id: str) -> bool:
        parts = image_id.strip("/").split("/")
        try:
            sub, rg, name = parts[1], parts[3], parts[7]
        except IndexError as exc:
            raise AzureCallError("Rejected", "InvalidImageId", f"{image_id} is not a managed image id") from exc
        try:
            await self._client(sub).images.get(rg, name)
        except ResourceNotFoundError:
            return False
        except AzureError as exc:
            raise classify_error(exc) from exc
        return True

    async def update_model_image(
        self, ref: ScaleSetRef, image_reference: dict[str, str] | None, vhd_uri: str | None, etag: str | None
    ) -> str:
        """PATCH only the image in the scale set model, guarded by If-Match; return the operation's token.

        Sent once: a write is never retried inside the SDK, where a backoff would send it later on a decision
        that may no longer hold. The caller decides again on what Azure shows next.
        """
        storage: dict[str, Any] = {}
        if vhd_uri is not None:
            storage["osDisk"] = {"image": {"uri": vhd_uri}}
        else:
            ref_body: dict[str, Any] = dict(image_reference or {})
            # A merge patch: clear the fields of the other image kind so the two never mix.
            for key in ("publisher", "offer", "sku", "version", "id"):
                ref_body.setdefault(key, None)
            storage["imageReference"] = ref_body
        body = {"properties": {"virtualMachineProfile": {"storageProfile": storage}}}
        kwargs: dict[str, Any] = {}
        if etag:
            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            # Raw dicts go out unchanged (wire names), which a merge patch with nulls needs.
            operations: Any = self._client(ref.subscription_id).virtual_machine_scale_sets
            poller = await operations.begin_update(ref.resource_group, ref.name, body, retry_total=0, **kwargs)
        except AzureError as exc:
            raise classify_error(exc) from exc
        return str(poller.continuation_token())

    async def manual_upgrade(self, ref: ScaleSetRef, instance_ids: list[str]) -> str:
        """One ``manualupgrade`` call for these instances (sent once, see above); return the operation's token."""
        try:
            poller = await self._client(ref.subscription_id).virtual_machine_scale_sets.begin_update_instances(
                ref.resource_group, ref.name, {"instanceIds": list(instance_ids)}, retry_total=0
            )
        except AzureError as exc:
            raise classify_error(exc) from exc
        return str(poller.continuation_token())

    async def poll(self, ref: ScaleSetRef, kind: OperationKind, token: str) -> OperationState:
        """Ask Azure once how an operation started earlier (maybe by another process) is doing."""
        operations: Any = self._client(ref.subscription_id).virtual_machine_scale_sets
        model_write = kind in (OperationKind.MODEL_UPDATE, OperationKind.ROLLBACK)
        begin = operations.begin_update if model_write else operations.begin_update_instances
        method: Any = None
        try:
            poller = await begin(ref.resource_group, ref.name, None, continuation_token=token)
            method = poller.polling_method()
            await method.update_status()
            status = str(method.status())
        except HttpResponseError as exc:
            classified = classify_error(exc)
            if classified.kind in ("Transient", "Throttled"):
                raise classified from exc
            return OperationState("Failed", classified.code, classified.message)
        except AzureError as exc:
            raise classify_error(exc) from exc
        except (BadStatus, BadResponse, OperationFailed) as exc:
            # azure-core's polling raises these, not AzureError, for an unexpected status answer (a 429 or
            # 5xx on the status URL among them): the same contract, Throttled or Transient, as any other read.
            raise polling_error(exc, getattr(method, "_pipeline_response", None) if method else None) from exc
        except ValueError as exc:  # a token this SDK version cannot read
            raise AzureCallError("Rejected", "InvalidContinuationToken", str(exc)) from exc
        normalized = status.lower()
        if normalized == "succeeded":
            return OperationState("Succeeded")
        if normalized in ("failed", "canceled", "cancelled"):
            error = getattr(getattr(method, "_pipeline_response", None), "http_response", None)
            code, message = monitor_error(error)
            return OperationState("Failed" if normalized == "failed" else "Canceled", code, message)
        return OperationState("InProgress", retry_after=_retry_after(method))

    async def rolling_progress(self, ref: ScaleSetRef) -> RollingProgress | None:
        try:
            status = await self._client(ref.subscription_id).virtual_machine_scale_set_rolling_upgrades.get_latest(
                ref.resource_group, ref.name
            )
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise classify_error(exc) from exc
        running = status.running_status
        progress = status.progress
        error = status.error
        return RollingProgress(
            code=_enum_text(running.code) if running and running.code else "Unknown",
            successful=int(progress.successful_instance_count or 0) if progress else 0,
            failed=int(progress.failed_instance_count or 0) if progress else 0,
            in_progress=int(progress.in_progress_instance_count or 0) if progress else 0,
            pending=int(progress.pending_instance_count or 0) if progress else 0,
            error_code=str(error.code) if error and error.code else None,
            error_message=str(error.message) if error and error.message else None,
        )


_READ_ERRORS: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}
"""The SDK operations' mapping of a read's HTTP status to an exception (the rest: HttpResponseError)."""


async def _page_items(client: ComputeManagementClient, request: HttpRequest) -> AsyncIterator[dict[str, Any]]:
    """The items of a paged listing as Azure sent them, page by page through the SDK client's pipeline.

    What the SDK's paged operation does, minus turning every item into models: at 100 instances with their
    instance views a page, that costs about 50 ms of CPU; the JSON is read in well under one, and only once.
    """
    while True:
        # As a stream: the pipeline's content policy would read the JSON once more, into nothing we use.
        response = await client.send_request(request, stream=True)
        try:
            await response.read()
        finally:
            await response.close()
        if response.status_code != 200:
            map_error(status_code=response.status_code, response=response, error_map=_READ_ERRORS)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        page = response.json()
        page = page if isinstance(page, dict) else {}
        for item in page.get("value") or ():
            if isinstance(item, dict):
                yield item
        next_link = page.get("nextLink")
        if not next_link:
            return
        request = HttpRequest("GET", str(next_link), headers={"Accept": "application/json"})


def _enum_text(value: Any) -> str:
    """The wire text of an SDK enum member (``str()`` of one gives ``UpgradeMode.AUTOMATIC``)."""
    return str(getattr(value, "value", value))


def _retry_after(method: Any) -> float | None:
    """The status answer's ``Retry-After`` in seconds (whole seconds, as ARM sends it), if any."""
    response = getattr(getattr(method, "_pipeline_response", None), "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date is not sent by ARM for operations; poll at the usual interval
    return seconds if seconds is not None and seconds > 0 else None
