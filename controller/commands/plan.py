"""``scaleset-image plan``: what the operator would do for a manifest, without changing anything.

It reads the scale set and its instances, resolves the image, and lays out the domains in the order the
operator would walk them, marking which instances already run the target. Only Azure reads are made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

import yaml

from controller.azure import AzureCallError, ComputeGateway
from controller.azure.observe import image_facts
from controller.config import OperatorConfig
from controller.resource import KIND, ModelError, ScaleSetImageSpec
from controller.rollout import ImageProblem, is_on_target, layout_domains, model_matches, resolve_image


def load_manifests(path: str | Path) -> list[dict[str, Any]]:
    """Every ScaleSetImage document in a YAML file (other kinds are ignored); OSError or ValueError if unreadable."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML: {exc}") from None
    return [d for d in documents if isinstance(d, dict) and d.get("kind") == KIND]


async def plan_manifest(doc: dict[str, Any], config: OperatorConfig, gateway_for: Any, out: TextIO) -> bool:
    """Print the plan for one resource; False when it cannot be planned (the reason is printed)."""
    name = (doc.get("metadata") or {}).get("name", "<unnamed>")
    try:
        spec = ScaleSetImageSpec.from_dict(doc.get("spec") or {})
    except ModelError as exc:
        print(f"{name}: invalid spec: {exc}", file=out)
        return False
    profile = config.cloud(spec.scale_set.cloud)
    if profile is None:
        print(f"{name}: cloud profile {spec.scale_set.cloud!r} is not in the operator configuration", file=out)
        return False
    gateway: ComputeGateway = gateway_for(profile)
    ref = spec.scale_set
    try:
        observed = await gateway.observe(ref)
        if observed is None:
            print(f"{name}: scale set {ref.name} not found in resource group {ref.resource_group}", file=out)
            return False
        facts = await image_facts(gateway, spec.image, ref.subscription_id, observed.location)
    except AzureCallError as exc:
        print(f"{name}: Azure error {exc.code}: {exc.message}", file=out)
        return False
    resolved = resolve_image(spec.image, facts, observed.location)
    print(
        f"{name}: scale set {ref.name} ({'Flexible orchestration, ' if observed.flexible else ''}"
        f"{observed.capacity} instances, {observed.location}, "
        f"upgrade policy {observed.upgrade_mode})",
        file=out,
    )
    if isinstance(resolved, ImageProblem):
        print(f"  image: NOT AVAILABLE: {resolved.message}", file=out)
        return False
    print(
        f"  image: {resolved.summary()} (model {'already matches' if model_matches(observed, resolved) else 'changes'}"
        f"; model now: {observed.image_reference or observed.vhd_uri})",
        file=out,
    )
    if observed.upgrade_mode == "Automatic":
        print("  refused: upgrade policy Automatic would take every instance down at once", file=out)
        return False
    kind, reason, layout = layout_domains(spec.rollout.domain_kind, spec.rollout.batch_size, observed.instances)
    print(f"  domains: {len(layout)} by {kind}" + (f" ({reason})" if reason else ""), file=out)
    by_id = {i.instance_id: i for i in observed.instances}
    for index, (domain, ids) in enumerate(layout, 1):
        done = [i for i in ids if is_on_target(by_id[i], observed, resolved)]
        todo = [i for i in ids if i not in done]
        print(
            f"  {index}. {domain}: upgrade {', '.join(todo) or '-'}"
            + (f"; already on target: {', '.join(done)}" if done else ""),
            file=out,
        )
    return True
