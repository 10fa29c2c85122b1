"""Images: pin a declaration to one exact version, and compare it with what a scale set model names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from controller.observed import (
    GalleryVersion,
    ImageFacts,
    ObservedInstance,
    ObservedScaleSet,
)
from controller.resource import (
    ImageSource,
    MarketplaceImage,
    Phase,
    ScaleSetImageSpec,
    ScaleSetImageStatus,
)


def version_key(version: str) -> tuple[int, ...]:
    """Numeric Major.Minor.Build order ("1.10.0" after "1.9.0")."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


@dataclass(frozen=True)
class ImageProblem:
    message: str


ResolvedImageOrProblem = ImageSource | ImageProblem


def resolve_image(image: ImageSource, facts: ImageFacts, location: str) -> ResolvedImageOrProblem:
    """Pin ``image`` to one exact version, or say in words an operator can act on why it cannot be."""
    if image.marketplace is not None:
        m = image.marketplace
        urn = f"{m.publisher}:{m.offer}:{m.sku}"
        versions = sorted(set(facts.marketplace_versions or ()), key=version_key)
        if not versions:
            return ImageProblem(
                f"Marketplace image {urn} has no versions in {location}. On Azure Stack Hub, download it in "
                "Marketplace management first."
            )
        if m.version == "latest":
            exact = versions[-1]
        elif m.version in versions:
            exact = m.version
        else:
            return ImageProblem(
                f"Marketplace image {urn} version {m.version} is not available in {location} (available: "
                f"{', '.join(versions[-5:])}). On Azure Stack Hub, download version {m.version} in Marketplace "
                "management."
            )
        pinned = MarketplaceImage(publisher=m.publisher, offer=m.offer, sku=m.sku, version=exact)
        return ImageSource(marketplace=pinned)
    if image.gallery_image_version_id is not None:
        image_id = image.gallery_image_version_id
        versions_in_region = [
            v for v in facts.gallery_versions or () if not v.regions or location.lower() in _regions(v)
        ]
        if facts.gallery_versions is None:
            return ImageProblem(f"Gallery image {image_id} does not exist or is not readable.")
        if image.is_pinned:
            wanted = image_id.rsplit("/", 1)[-1]
            if not any(v.name == wanted for v in facts.gallery_versions):
                return ImageProblem(f"Gallery image version {image_id} does not exist.")
            if not any(v.name == wanted for v in versions_in_region):
                return ImageProblem(f"Gallery image version {image_id} is not replicated to {location}.")
            return image
        candidates = [v.name for v in versions_in_region if not v.exclude_from_latest]
        if not candidates:
            return ImageProblem(f"Gallery image {image_id} has no version replicated to {location}.")
        return ImageSource(
            gallery_image_version_id=f"{image_id.rstrip('/')}/versions/{max(candidates, key=version_key)}"
        )
    if image.managed_image_id is not None:
        if not facts.managed_image_exists:
            return ImageProblem(f"Managed image {image.managed_image_id} does not exist.")
        return image
    return image  # a VHD URI is data for Azure; it is checked when the model is updated


def _regions(version: GalleryVersion) -> set[str]:
    return {r.lower().replace(" ", "") for r in version.regions}


def model_image(image: ImageSource) -> tuple[dict[str, str] | None, str | None]:
    """The (imageReference, osDisk.image.uri) a scale set model carries for a resolved image."""
    if image.marketplace is not None:
        m = image.marketplace
        return {"publisher": m.publisher, "offer": m.offer, "sku": m.sku, "version": m.version}, None
    if image.gallery_image_version_id is not None:
        return {"id": image.gallery_image_version_id}, None
    if image.managed_image_id is not None:
        return {"id": image.managed_image_id}, None
    return None, image.vhd_uri


def _image_named(ref: dict[str, str], vhd_uri: str | None, exact_version: str | None = None) -> ImageSource | None:
    """An image reference (wire names) or VHD URI as an :class:`ImageSource`; None if unrecognized."""
    try:
        if vhd_uri:
            return ImageSource(vhd_uri=vhd_uri)
        if ref.get("publisher"):
            version = ref.get("version", "latest")
            return ImageSource(
                marketplace=MarketplaceImage(
                    publisher=ref["publisher"],
                    offer=ref.get("offer", ""),
                    sku=ref.get("sku", ""),
                    version=exact_version if exact_version and version == "latest" else version,
                )
            )
        image_id = ref.get("id", "")
        if "/galleries/" in image_id.lower():
            if exact_version and "/versions/" not in image_id.lower():
                image_id = f"{image_id.rstrip('/')}/versions/{exact_version}"
            return ImageSource(gallery_image_version_id=image_id)
        if image_id:
            return ImageSource(managed_image_id=image_id)
    except ValueError:
        return None
    return None


def image_from_model(observed: ObservedScaleSet) -> ImageSource | None:
    """The image the scale set model names now, as an :class:`ImageSource` (None if unrecognized)."""
    return _image_named(observed.image_reference, observed.vhd_uri)


def image_from_instances(observed: ObservedScaleSet, other_than: ImageSource) -> ImageSource | None:
    """The image most instances run, other than ``other_than`` (what a rollback would go back to); None if none.

    For a scale set whose model already names the target when the operator first sees it, the model
    cannot tell what the instances ran before; the instances can.
    """
    seen: Counter[ImageSource] = Counter()
    for inst in observed.instances:
        if runs_image(inst, other_than) is False:
            image = _image_named(inst.image_reference, inst.vhd_uri, inst.image_version)
            if image is not None and image.is_pinned:
                seen[image] += 1
    return seen.most_common(1)[0][0] if seen else None


def model_matches(observed: ObservedScaleSet, image: ImageSource) -> bool:
    reference, vhd = model_image(image)
    if vhd is not None:
        return (observed.vhd_uri or "") == vhd
    have = {k: v.lower() for k, v in observed.image_reference.items() if v}
    want = {k: v.lower() for k, v in (reference or {}).items()}
    return have == want


def same_declaration(declared: ImageSource, resolved: ImageSource) -> bool:
    """True when ``resolved`` is what ``declared`` meant (a 'latest' matches any exact version)."""
    if declared.marketplace is not None and resolved.marketplace is not None:
        d, r = declared.marketplace, resolved.marketplace
        same_sku = (d.publisher.lower(), d.offer.lower(), d.sku.lower()) == (
            r.publisher.lower(),
            r.offer.lower(),
            r.sku.lower(),
        )
        return same_sku and (d.version == "latest" or d.version == r.version)
    if declared.gallery_image_version_id is not None and resolved.gallery_image_version_id is not None:
        d_id, r_id = declared.gallery_image_version_id.lower(), resolved.gallery_image_version_id.lower()
        return d_id == r_id or (not declared.is_pinned and r_id.startswith(d_id.rstrip("/") + "/versions/"))
    return declared == resolved


def needs_image_facts(spec: ScaleSetImageSpec, status: ScaleSetImageStatus) -> bool:
    """Whether this pass must look the image up in Azure: a new declaration, or a settled 'latest'."""
    target = status.target
    if target is None or not same_declaration(spec.image, target.image):
        return True
    # A settled rollout of a 'latest' image looks for a newer version at each resync.
    return not spec.image.is_pinned and status.phase in (Phase.SUCCEEDED, Phase.PENDING)


def runs_image(inst: ObservedInstance, image: ImageSource) -> bool | None:
    """Whether an instance runs exactly ``image``, from the image Azure reports on it; None when it cannot tell.

    ``latestModelApplied`` only says an instance matches the model as it is now: after another actor changes
    the model it turns false on instances that run the right image, and true on ones about to run a wrong
    one. The instance's own storage profile (with ``exactVersion`` for Marketplace images) says what it runs.
    """
    ref = {k: v.lower() for k, v in inst.image_reference.items()}
    if image.vhd_uri is not None:
        return None if inst.vhd_uri is None else inst.vhd_uri == image.vhd_uri
    if image.marketplace is not None:
        m = image.marketplace
        if not ref.get("publisher"):
            return None if not ref and inst.vhd_uri is None else False
        if (ref.get("publisher"), ref.get("offer"), ref.get("sku")) != (
            m.publisher.lower(),
            m.offer.lower(),
            m.sku.lower(),
        ):
            return False
        version = inst.image_version or (ref.get("version") if ref.get("version") != "latest" else None)
        return None if version is None else version == m.version
    wanted = (image.gallery_image_version_id or image.managed_image_id or "").lower()
    have = ref.get("id")
    if have is None:
        return None if not ref and inst.vhd_uri is None else False
    if "/versions/" not in have and "/galleries/" in have and inst.image_version:
        have = f"{have.rstrip('/')}/versions/{inst.image_version.lower()}"
    return have == wanted
