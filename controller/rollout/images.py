"""Images: pin a declaration to one exact version, and compare it with what a scale set model names."""

from __future__ import annotations

from dataclasses import dataclass

from controller.observed import (
    GalleryVersion,
    ImageFacts,
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


def image_from_model(observed: ObservedScaleSet) -> ImageSource | None:
    """The image the scale set model names now, as an :class:`ImageSource` (None if unrecognized)."""
    ref = observed.image_reference
    try:
        if observed.vhd_uri:
            return ImageSource(vhd_uri=observed.vhd_uri)
        if ref.get("publisher"):
            return ImageSource(
                marketplace=MarketplaceImage(
                    publisher=ref["publisher"],
                    offer=ref.get("offer", ""),
                    sku=ref.get("sku", ""),
                    version=ref.get("version", "latest"),
                )
            )
        image_id = ref.get("id", "")
        if "/galleries/" in image_id.lower():
            return ImageSource(gallery_image_version_id=image_id)
        if image_id:
            return ImageSource(managed_image_id=image_id)
    except ValueError:
        return None
    return None


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
