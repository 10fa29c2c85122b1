"""The kopf glue: load the resource, observe Azure, plan one step, do it, write status. Nothing else.

Each ``ScaleSetImage`` gets a kopf timer that ticks often (``tick`` seconds) but reconciles only when the
planner's requested delay has passed or the resource changed; a spec change also nudges it at once. A
reconcile pass costs at most: one scale-set GET and one paged VM listing, one image look-up when the target
must be (re)resolved, one poll of the operation in flight, and one Azure write. Status is written as a
JSON merge patch computed from the old and new status, so fields the planner cleared are removed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from controller.azure.gateway import AzureCallError, AzureComputeGateway, ComputeGateway, RequestHook
from controller.azure.trust import continuation_token_operation_id, trusted_continuation_token
from controller.config import CloudProfile, OperatorConfig
from controller.observed import ObservedScaleSet, OperationKind, OperationState, ScaleSetRef
from controller.resource import (
    GROUP,
    PLURAL,
    VERSION,
    Condition,
    ConditionStatus,
    ConditionType,
    ErrorStatus,
    ImageSource,
    ModelError,
    Phase,
    Reason,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    evolve,
)
from controller.rollout import (
    ImageFacts,
    Observation,
    Plan,
    Timings,
    UpdateModel,
    UpgradeInstances,
    plan_next_step,
    record_operation,
    same_declaration,
)

logger = logging.getLogger("scaleset_image.operator")
GatewayFactory = Callable[[CloudProfile], ComputeGateway]


@dataclass
class OperatorContext:
    """What the handlers share: configuration, one gateway per cloud profile, and per-resource clocks."""

    config: OperatorConfig
    gateway_factory: GatewayFactory | None = None
    request_hook: RequestHook | None = None
    tick: float = 1.0
    reconcile_hook: Callable[[str, str, float, str], None] | None = None
    status_hook: Callable[[str, str, dict[str, Any]], None] | None = None
    forget_hook: Callable[[str, str], None] | None = None
    _gateways: dict[str, ComputeGateway] = field(default_factory=dict)
    _due: dict[tuple[str, str], float] = field(default_factory=dict)
    seen: dict[tuple[str, str], SeenScaleSet] = field(default_factory=dict)

    def gateway(self, profile: CloudProfile) -> ComputeGateway:
        gateway = self._gateways.get(profile.name)
        if gateway is None:
            if self.gateway_factory is not None:
                gateway = self.gateway_factory(profile)
            else:
                gateway = AzureComputeGateway(profile, request_hook=self.request_hook, budget=self.config.budget)
            self._gateways[profile.name] = gateway
        return gateway

    async def close(self) -> None:
        for gateway in self._gateways.values():
            await gateway.close()
        self._gateways.clear()

    def nudge(self, namespace: str, name: str) -> None:
        self._due[(namespace, name)] = 0.0

    def is_due(self, namespace: str, name: str) -> bool:
        return time.monotonic() >= self._due.get((namespace, name), 0.0)

    def schedule(self, namespace: str, name: str, seconds: float) -> None:
        self._due[(namespace, name)] = time.monotonic() + max(0.0, seconds)

    def forget(self, namespace: str, name: str) -> None:
        self._due.pop((namespace, name), None)
        self.seen.pop((namespace, name), None)
        if self.forget_hook is not None:
            self.forget_hook(namespace, name)


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns ``old`` into ``new`` (removed keys become null)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value) if isinstance(value, dict) else value
    return patch


def log_decision(
    namespace: str,
    name: str,
    reason: str,
    message: str,
    *,
    domain: str | None = None,
    operation_id: str | None = None,
    instance_ids: list[str] | None = None,
    warning: bool = False,
) -> None:
    """One log line per decision: readable as text, and with fields for JSON logs (--log-format json)."""
    fields: dict[str, Any] = {"resource": f"{namespace}/{name}", "reason": reason, "domain": domain}
    if operation_id:
        fields["azureOperationId"] = operation_id
    if instance_ids:
        fields["instanceIds"] = instance_ids
    logger.log(
        logging.WARNING if warning else logging.INFO,
        "%s %s: %s",
        fields["resource"],
        reason,
        message,
        extra={"decision": fields},
    )


def merge_apply(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch to a copy of ``target``."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_apply(result.get(key), value)
    return result


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stalled(status: ScaleSetImageStatus, reason: Reason, message: str, generation: int) -> ScaleSetImageStatus:
    now = _now()
    for type_, value in (
        (ConditionType.STALLED, ConditionStatus.TRUE),
        (ConditionType.READY, ConditionStatus.FALSE),
        (ConditionType.RECONCILING, ConditionStatus.FALSE),
    ):
        status = status.with_condition(
            Condition(
                type=type_,
                status=value,
                reason=reason,
                message=message,
                last_transition_time=now,
                observed_generation=generation,
            )
        )
    return evolve(status, observed_generation=generation)


def _needs_image_facts(spec: ScaleSetImageSpec, status: ScaleSetImageStatus) -> bool:
    target = status.target
    if target is None or not same_declaration(spec.image, target.image):
        return True
    # A settled rollout of a 'latest' image looks for a newer version at each resync.
    return not spec.image.is_pinned and status.phase in (Phase.SUCCEEDED, Phase.PENDING)


async def image_facts(gateway: ComputeGateway, image: ImageSource, sub: str, location: str) -> ImageFacts:
    if image.marketplace is not None:
        m = image.marketplace
        versions = await gateway.marketplace_versions(sub, location, m.publisher, m.offer, m.sku)
        return ImageFacts(marketplace_versions=tuple(versions) if versions is not None else None)
    if image.gallery_image_version_id is not None:
        base = image.gallery_image_version_id
        if image.is_pinned:
            base = base[: base.lower().rindex("/versions/")]
        gallery = await gateway.gallery_versions(base)
        return ImageFacts(gallery_versions=tuple(gallery) if gallery is not None else None)
    if image.managed_image_id is not None:
        return ImageFacts(managed_image_exists=await gateway.managed_image_exists(image.managed_image_id))
    return ImageFacts()


@dataclass
class SeenScaleSet:
    """The last scale set read for a resource, kept in memory to skip reads that cannot change a decision."""

    scale_set: ObservedScaleSet
    read_at: float


async def observe(
    gateway: ComputeGateway,
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    arm_endpoint: str,
    seen: SeenScaleSet | None = None,
    max_age: float = 300.0,
) -> tuple[Observation, SeenScaleSet | None]:
    """Everything the planner needs from Azure for one pass, with as few calls as the state allows.

    - An operation in flight is polled first; while it runs, nothing else is read (one request).
    - In the middle of a walk the model cannot have changed by our hand, so the model GET is skipped and
      only the instances are listed; drift is still caught when the cached model is ``max_age`` old.
    - Otherwise (starting, settled, after a model write): the model and the instances.
    The cache is an optimization only: after a restart the first pass reads everything.
    """
    ref = ScaleSetRef(spec.scale_set.subscription_id, spec.scale_set.resource_group, spec.scale_set.name)
    now = time.monotonic()
    fresh = seen is not None and now - seen.read_at < max_age
    try:
        operation = None
        op = status.operation
        # status is writable by others: a token is polled only if all its URLs are on our ARM endpoint.
        token = trusted_continuation_token(op, arm_endpoint) if op is not None else None
        if op is not None and token is not None:
            kind: OperationKind = "ModelUpdate" if op.kind in ("ModelUpdate", "Rollback") else "ManualUpgrade"
            operation = await gateway.poll(ref, kind, token)
            if operation.status == "InProgress" and fresh and seen is not None:
                return Observation(scale_set=seen.scale_set, operation=operation), seen
        elif op is not None:
            # No token, or one naming another host: never poll it; the instances tell what happened.
            operation = OperationState("Succeeded")
        mid_walk = (
            status.phase == Phase.PROGRESSING
            and status.target is not None
            and (op is None or op.kind == "ManualUpgrade")
        )
        if fresh and mid_walk and seen is not None:
            observed = dataclasses.replace(seen.scale_set, instances=await gateway.list_instances(ref))
            seen = SeenScaleSet(observed, seen.read_at)
        else:
            found = await gateway.observe(ref)
            if found is None:
                return Observation(scale_set=None), None
            observed, seen = found, SeenScaleSet(found, now)
        facts = ImageFacts()
        if _needs_image_facts(spec, status):
            facts = await image_facts(gateway, spec.image, ref.subscription_id, observed.location)
        rolling = None
        if observed.upgrade_mode == "Rolling" and status.target is not None:
            rolling = await gateway.rolling_progress(ref)
        return Observation(scale_set=observed, image=facts, operation=operation, rolling=rolling), seen
    except AzureCallError as exc:
        error = ErrorStatus(message=exc.message[:2000], code=exc.code, observed_at=_now())
        return Observation(scale_set=None, azure_error=error), seen


async def reconcile(
    ctx: OperatorContext, body: dict[str, Any], *, post_event: Callable[[str, str, bool], None]
) -> tuple[dict[str, Any], float]:
    """One pass over one resource. Returns (status merge patch, seconds until the next pass)."""
    meta = body.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    old_status_dict = dict(body.get("status") or {})
    try:
        status = ScaleSetImageStatus.from_dict(old_status_dict)
    except ModelError as exc:
        # Never start over from an unreadable status: that could redo finished domains.
        logger.error("status of %s/%s is unreadable: %s", meta.get("namespace"), meta.get("name"), exc)
        return {}, ctx.config.resync_interval
    try:
        spec = ScaleSetImageSpec.from_dict(body.get("spec") or {})
    except ModelError as exc:
        new = _stalled(status, Reason.INVALID_SPEC, f"Invalid spec: {exc}", generation)
        return merge_patch(old_status_dict, new.to_dict()), ctx.config.resync_interval
    profile = ctx.config.cloud(spec.scale_set.cloud)
    if profile is None:
        new = _stalled(
            status,
            Reason.CLOUD_PROFILE_NOT_FOUND,
            f"Cloud profile {spec.scale_set.cloud!r} is not defined in the operator configuration "
            f"(defined: {', '.join(sorted(ctx.config.clouds))}).",
            generation,
        )
        return merge_patch(old_status_dict, new.to_dict()), ctx.config.resync_interval
    gateway = ctx.gateway(profile)
    timings = Timings(poll_interval=ctx.config.poll_interval, resync_interval=ctx.config.resync_interval)
    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
    observation, seen = await observe(
        gateway, spec, status, profile.arm_endpoint, ctx.seen.get(key), ctx.config.resync_interval
    )
    if seen is None:
        ctx.seen.pop(key, None)
    else:
        ctx.seen[key] = seen
    plan = plan_next_step(spec, status, observation, now=_now(), generation=generation, timings=timings)
    new_status = plan.status
    requeue = plan.requeue_after if plan.requeue_after is not None else timings.resync_interval
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    for event in plan.events:
        post_event(str(event.reason), event.message, event.warning)
        log_decision(
            namespace, name, str(event.reason), event.message, domain=new_status.current_domain, warning=event.warning
        )
    if plan.action is not None:
        ref = ScaleSetRef(spec.scale_set.subscription_id, spec.scale_set.resource_group, spec.scale_set.name)
        try:
            if isinstance(plan.action, UpgradeInstances):
                token = await gateway.manual_upgrade(ref, list(plan.action.instance_ids))
            else:
                assert isinstance(plan.action, UpdateModel)
                token = await gateway.update_model_image(
                    ref, plan.action.image_reference, plan.action.vhd_uri, plan.action.etag
                )
            new_status = record_operation(
                new_status, plan.action, token, _now(), operation_id=continuation_token_operation_id(token)
            )
            op = new_status.operation
            operation_id = op.id if op is not None else None
            post_event("AzureOperationStarted", f"{_describe(plan.action)}, Azure operation {operation_id}", False)
            log_decision(
                namespace,
                name,
                "AzureOperationStarted",
                _describe(plan.action),
                domain=new_status.current_domain,
                operation_id=operation_id,
                instance_ids=list(op.instance_ids) if op is not None else [],
            )
            requeue = min(requeue, timings.poll_interval)
        except AzureCallError as exc:
            new_status = _after_failed_call(new_status, plan, exc, generation)
            requeue = (
                exc.retry_after
                if exc.retry_after
                else (0.0 if exc.kind == "PreconditionFailed" else timings.poll_interval)
            )
            failure = f"{_describe(plan.action)} failed: {exc.code}: {exc.message}"
            post_event("AzureOperationFailed", failure, True)
            log_decision(
                namespace, name, "AzureOperationFailed", failure, domain=new_status.current_domain, warning=True
            )
    return merge_patch(old_status_dict, new_status.to_dict()), requeue


def _describe(action: UpdateModel | UpgradeInstances) -> str:
    if isinstance(action, UpgradeInstances):
        return f"manualupgrade of domain {action.domain} (instances {', '.join(action.instance_ids)})"
    return f"{action.kind} of the scale set model"


def _after_failed_call(
    status: ScaleSetImageStatus, plan: Plan, exc: AzureCallError, generation: int
) -> ScaleSetImageStatus:
    """An Azure write that failed: keep the plan's status minus the step that did not happen."""
    status = evolve(
        status, last_error=ErrorStatus(message=exc.message[:2000], code=exc.code, observed_at=_now())
    )
    # A manualupgrade that did not start leaves its domain in flight with no operation: the next pass
    # finds the domain's instances still on the old model and asks again. Throttling, conflicts and 5xx
    # are retried that way; a refusal stops the rollout, since asking again would be refused again.
    if exc.kind == "Rejected":
        message = f"Azure refused {_describe(plan.action) if plan.action else 'the change'}: {exc.code}: {exc.message}"
        status = evolve(status, phase=Phase.FAILED, current_domain=None)
        return _stalled(status, Reason.AZURE_ERROR, message, generation)
    return status


def build_registry(ctx: OperatorContext) -> kopf.OperatorRegistry:
    """A kopf registry with the ScaleSetImage handlers bound to ``ctx``."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = f"{GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 300

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    def _nudge(**kwargs: Any) -> None:
        ctx.nudge(str(kwargs["namespace"]), str(kwargs["name"]))

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, optional=True)
    def _forget(**kwargs: Any) -> None:
        ctx.forget(str(kwargs["namespace"]), str(kwargs["name"]))

    @kopf.timer(GROUP, VERSION, PLURAL, interval=ctx.tick, registry=registry)
    async def _tick(**kwargs: Any) -> None:
        body: kopf.Body = kwargs["body"]
        patch: kopf.Patch = kwargs["patch"]
        namespace, name = str(kwargs["namespace"]), str(kwargs["name"])
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        generation = body.get("metadata", {}).get("generation")
        observed = (body.get("status") or {}).get("observedGeneration")
        if not ctx.is_due(namespace, name) and generation == observed:
            return
        started = time.monotonic()
        plain = _plain(body)

        def post(reason: str, message: str, warning: bool) -> None:
            kopf.event(body, type="Warning" if warning else "Normal", reason=reason, message=message)

        result = "ok"
        try:
            status_patch, requeue = await reconcile(ctx, plain, post_event=post)
        except Exception:
            result = "error"
            logger.exception("reconcile of %s/%s failed", namespace, name)
            ctx.schedule(namespace, name, ctx.config.poll_interval)
            raise kopf.TemporaryError("reconcile failed; retrying", delay=ctx.config.poll_interval) from None
        finally:
            if ctx.reconcile_hook is not None:
                ctx.reconcile_hook(namespace, name, time.monotonic() - started, result)
        ctx.schedule(namespace, name, requeue)
        if status_patch:
            patch["status"] = status_patch
        if ctx.status_hook is not None:
            ctx.status_hook(namespace, name, merge_apply(plain["status"], status_patch))

    return registry


def _plain(body: kopf.Body) -> dict[str, Any]:
    return {
        "metadata": dict(body.get("metadata") or {}),
        "spec": _deep(body.get("spec") or {}),
        "status": _deep(body.get("status") or {}),
    }


def _deep(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep(v) for v in value]
    return value


def _default_login(registry: kopf.OperatorRegistry) -> None:
    """In-cluster service account first, then the kubeconfig (kopf's own client; no kubernetes library)."""

    @kopf.on.login(registry=registry)
    def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


async def run_operator(
    ctx: OperatorContext,
    *,
    namespaces: list[str],
    liveness_endpoint: str | None = None,
    stop_flag: Any = None,
    ready_flag: Any = None,
    extra: Callable[[kopf.OperatorRegistry], None] | None = None,
) -> None:
    """Run kopf with our handlers until stopped. ``extra`` may add handlers (tests add a login handler)."""
    registry = build_registry(ctx)
    if extra is not None:
        extra(registry)
    else:
        _default_login(registry)
    try:
        await kopf.operator(
            registry=registry,
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,
            liveness_endpoint=liveness_endpoint,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        await ctx.close()
