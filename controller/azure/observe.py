"""Gathering what Azure shows for one planning pass, with as few calls as the rollout's state allows."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from controller.azure.errors import AzureCallError
from controller.azure.gateway import ComputeGateway
from controller.azure.trust import trusted_continuation_token
from controller.config import DEFAULT_TIMINGS
from controller.observed import ImageFacts, Observation, ObservedScaleSet, OperationState
from controller.resource import (
    ErrorStatus,
    ImageSource,
    Phase,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
    ScaleSetRef,
    UpgradeMode,
)

A = TypeVar("A")
B = TypeVar("B")


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
    listed_in: float | None = None
    """How long the last listing of its instances took (seconds, with the model read alongside it if any)."""


async def observe(
    gateway: ComputeGateway,
    spec: ScaleSetImageSpec,
    status: ScaleSetImageStatus,
    arm_endpoint: str,
    seen: SeenScaleSet | None = None,
    max_age: float = DEFAULT_TIMINGS.resync_interval,
    *,
    image_facts_needed: bool,
    listing_needed: Callable[[OperationState | None], bool] | None = None,
    model_too_wanted: Callable[[OperationState | None], bool] | None = None,
) -> tuple[Observation, SeenScaleSet | None]:
    """Everything the planner needs from Azure for one pass, with as few calls as the state allows.

    - An operation in flight is polled first; while it runs, nothing else is read (one request).
    - In the middle of a walk the model cannot have changed by our hand, so the model GET is skipped and
      only the instances are listed; drift is still caught when the cached model is ``max_age`` old.
    - Otherwise (starting, settled, after a model write): the model and the instances.
    - Except that the instances are not listed when ``listing_needed`` (asked with the outcome of the operation
      in flight, if any) says the walk waits for time alone (a pause between domains, an analysis): the
      cached ones are handed on, marked as not current (``Observation.instances_current``), and the model is
      read only if the cached one is ``max_age`` old.
    - Mid-walk, when ``model_too_wanted`` (asked like ``listing_needed``) says a write likely follows the listing, the
      model is read at the same time as the instances: the write then needs no GET of its own after them.
    The cache is an optimization only: after a restart the first pass reads everything.
    """
    ref = spec.scale_set
    now = time.monotonic()
    fresh = seen is not None and now - seen.read_at < max_age
    try:
        operation = None
        op = status.operation
        # status is writable by others: a token is polled only if all its URLs are on our ARM endpoint.
        token = trusted_continuation_token(op, arm_endpoint) if op is not None else None
        if op is not None and token is not None:
            operation = await gateway.poll(ref, op.kind, token)
            if operation.status == "InProgress" and fresh and seen is not None:
                return Observation(scale_set=seen.scale_set, operation=operation, instances_current=False), seen
        elif op is not None:
            # No token, or one naming another host: never poll it; the instances tell what happened.
            operation = OperationState("Succeeded")
        mid_walk = (
            status.phase == Phase.PROGRESSING
            and status.target is not None
            and (op is None or op.kind == "ManualUpgrade")
        )
        current = True
        if seen is not None and listing_needed is not None and not listing_needed(operation):
            current = False
            if fresh:
                observed = seen.scale_set
            else:
                model = await gateway.get_model(ref)
                if model is None:
                    return Observation(scale_set=None), None
                observed = dataclasses.replace(model, instances=seen.scale_set.instances)
                seen = SeenScaleSet(observed, now, seen.listed_in)
        elif fresh and mid_walk and seen is not None:
            together = model_too_wanted is not None and model_too_wanted(operation)
            listing = gateway.list_instances(ref, flexible=seen.scale_set.flexible)
            listing_started = time.monotonic()
            if together:
                # A write likely follows this listing, and a write goes out only on a model read in its own pass:
                # read the model alongside the instances rather than after them.
                model, instances = await _both(gateway.get_model(ref), listing)
                if model is None:
                    return Observation(scale_set=None), None
                observed = dataclasses.replace(model, instances=instances)
                seen = SeenScaleSet(observed, now, time.monotonic() - listing_started)
            else:
                observed = dataclasses.replace(seen.scale_set, instances=await listing)
                seen = SeenScaleSet(observed, seen.read_at, time.monotonic() - listing_started)
        else:
            reading = time.monotonic()
            found = await gateway.observe(ref)
            if found is None:
                return Observation(scale_set=None), None
            observed, seen = found, SeenScaleSet(found, now, time.monotonic() - reading)
        facts = ImageFacts()
        if image_facts_needed:
            facts = await image_facts(gateway, spec.image, ref.subscription_id, observed.location)
        rolling = None
        if observed.upgrade_mode == UpgradeMode.ROLLING and status.target is not None:
            rolling = await gateway.rolling_progress(ref)
        return (
            Observation(
                scale_set=observed, image=facts, operation=operation, rolling=rolling, instances_current=current
            ),
            seen,
        )
    except AzureCallError as exc:
        error = ErrorStatus(
            message=exc.message[:2000], code=exc.code, observed_at=datetime.now(UTC).replace(microsecond=0)
        )
        return Observation(scale_set=None, azure_error=error), seen


async def _both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Two reads at once; the first error of either is raised once both have ended (none is left running)."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    for result in (a, b):
        if isinstance(result, BaseException):
            raise result
    return a, b  # type: ignore[return-value]


async def reread_model(
    gateway: ComputeGateway, ref: ScaleSetRef, observation: Observation, seen: SeenScaleSet
) -> tuple[Observation, SeenScaleSet | None]:
    """The observation with the scale set model read again (one GET), before a write planned on a cached one.

    Mid-walk passes skip the model GET, but another actor may have changed the model since: a manualupgrade
    then installs their image, and a model PATCH carries a stale If-Match. So no write goes out on a model
    older than the pass that decided it.
    """
    try:
        model = await gateway.get_model(ref)
    except AzureCallError as exc:
        error = ErrorStatus(
            message=exc.message[:2000], code=exc.code, observed_at=datetime.now(UTC).replace(microsecond=0)
        )
        return Observation(scale_set=None, azure_error=error), seen
    if model is None:
        return Observation(scale_set=None), None
    instances = observation.scale_set.instances if observation.scale_set is not None else ()
    observed = dataclasses.replace(model, instances=instances)
    reread = SeenScaleSet(observed, time.monotonic(), seen.listed_in)
    return dataclasses.replace(observation, scale_set=observed), reread
