"""Hypothesis strategies for valid model objects, derived from the model's own (pydantic) field metadata."""

from datetime import UTC, datetime
from typing import Any, Literal, get_args, get_origin

from hypothesis import strategies as st

from controller import resource as model
from controller.resource import Model
from controller.resource.follow import FollowedMarketplace, ImageFollow

from . import samples
from .model_facts import INT_OR_STRING, Facts, fields_of, is_enum, is_model, tuple_item

_TIMES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


def _string(info: Facts) -> st.SearchStrategy[str]:
    text = st.from_regex(info.pattern, fullmatch=True) if info.pattern is not None else st.text(max_size=40)
    low, high = info.min_length or 0, info.max_length
    text = text.filter(lambda value: len(value) >= low and (high is None or len(value) <= high))
    checks = [rule.check for rule in info.rules if rule.check is not None]
    return text.filter(lambda value: _passes(checks, value))


def _passes(checks: list[Any], value: Any) -> bool:
    try:
        return all(check(value) for check in checks)
    except model.ModelError:
        return False


def _value(info: Facts, hint: Any) -> st.SearchStrategy[Any]:
    if is_model(hint):
        return strategy_for(hint)
    if is_enum(hint):
        return st.sampled_from(list(hint))
    if get_origin(hint) is Literal:
        return st.sampled_from(get_args(hint))
    if hint is datetime:
        return _TIMES
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(min_value=info.minimum, max_value=info.maximum if info.maximum is not None else 10**9)
    if hint is str:
        return _string(info)
    if hint is INT_OR_STRING:
        return st.integers(min_value=info.minimum, max_value=10**6) | _string(info)
    item = tuple_item(hint)
    if item is not None:
        elements = _value(info, item) if not is_model(item) else strategy_for(item)
        if item is str:
            elements = st.text(min_size=1, max_size=8)
        list_type = info.list_type
        if list_type is not None and list_type.kind == "map":
            wire_to_name = {field.wire: field.name for field in fields_of(item)}
            keys = [wire_to_name[key] for key in list_type.map_keys]
            lists = st.lists(elements, max_size=4, unique_by=lambda e: tuple(getattr(e, k) for k in keys))
        else:
            lists = st.lists(elements, max_size=4, unique=list_type is not None and list_type.kind == "set")
        return lists.map(tuple)
    if get_origin(hint) is dict:
        return st.fixed_dictionaries(
            {"name": st.from_regex("^[a-z][a-z0-9-]{0,20}$", fullmatch=True)},
            optional={"generation": st.integers(min_value=1, max_value=10**6)},
        )
    raise TypeError(f"no strategy for {hint!r}")


def _marketplace(version: st.SearchStrategy[str]) -> st.SearchStrategy[model.MarketplaceImage]:
    name = st.from_regex(model.MARKETPLACE_NAME_PATTERN, fullmatch=True).filter(lambda v: len(v) <= 128)
    return st.builds(model.MarketplaceImage, publisher=name, offer=name, sku=name, version=version)


_EXACT = st.from_regex("^[0-9]{1,4}\\.[0-9]{1,4}\\.[0-9]{1,10}$", fullmatch=True)


def _images(pinned: bool) -> st.SearchStrategy[model.ImageSource]:
    """Exactly one source, as the model demands (a generic strategy would mostly miss that)."""
    gallery = st.from_regex(model.GALLERY_IMAGE_ID_PATTERN, fullmatch=True).filter(lambda v: len(v) <= 1024)
    if pinned:
        gallery = gallery.filter(lambda v: "/versions/" in v.lower())
    return st.one_of(
        st.builds(model.ImageSource, marketplace=_marketplace(_EXACT if pinned else _EXACT | st.just("latest"))),
        st.builds(model.ImageSource, gallery_image_version_id=gallery),
        st.builds(
            model.ImageSource,
            managed_image_id=st.from_regex(model.MANAGED_IMAGE_ID_PATTERN, fullmatch=True).filter(
                lambda v: len(v) <= 1024
            ),
        ),
        st.builds(
            model.ImageSource,
            vhd_uri=st.from_regex(model.VHD_URI_PATTERN, fullmatch=True).filter(lambda v: len(v) <= 2048),
        ),
    )


def _rollouts() -> st.SearchStrategy[model.RolloutSpec]:
    generic = _generic(model.RolloutSpec, skip={"domain_kind", "batch_size"})
    batch = st.integers(min_value=1, max_value=1000) | st.from_regex(model.POSITIVE_PERCENT_PATTERN, fullmatch=True)
    coupled = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "domain_kind": st.sampled_from(
                    [model.DomainKind.UPDATE_DOMAIN, model.DomainKind.FAULT_DOMAIN, model.DomainKind.ZONE]
                )
            },
        ),
        st.fixed_dictionaries({"domain_kind": st.just(model.DomainKind.BATCH), "batch_size": batch}),
    )
    return st.tuples(generic, coupled).map(lambda parts: model.RolloutSpec(**parts[0], **parts[1]))


def _resolved() -> st.SearchStrategy[model.ResolvedImage]:
    return st.builds(
        model.ResolvedImage,
        image=_images(pinned=True),
        generation=st.integers(min_value=0, max_value=10**9),
        resolved_at=st.none() | _TIMES,
    )


def _follows() -> st.SearchStrategy[ImageFollow]:
    """Exactly one followed source (the class rule), the rest of the fields generic."""
    gallery = st.sampled_from([samples.GALLERY_IMAGE, samples.GALLERY_IMAGE.replace("images/", "images/other-")])
    rest = _generic(ImageFollow, skip={"gallery_image_id", "marketplace"})
    market = st.builds(FollowedMarketplace, publisher=st.just("Canonical"), offer=st.just("o"), sku=st.just("s"))
    return st.one_of(
        st.tuples(rest, gallery).map(lambda r: ImageFollow(**r[0], gallery_image_id=r[1])),
        st.tuples(rest, market).map(lambda r: ImageFollow(**r[0], marketplace=r[1])),
    )


def _generic(cls: type[Model], skip: frozenset[str] | set[str] = frozenset()) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for info in fields_of(cls):
        if info.derived or info.name in skip:
            continue
        (required if info.required else optional)[info.name] = _value(info, info.hint)
    return st.fixed_dictionaries(required, optional=optional)


_OVERRIDES: dict[type[Model], st.SearchStrategy[Any]] = {}


def strategy_for(cls: type[Model]) -> st.SearchStrategy[Any]:
    """Valid instances of ``cls``; fields left out take their defaults."""
    if not _OVERRIDES:
        _OVERRIDES.update(
            {
                model.ImageSource: _images(pinned=False),
                model.RolloutSpec: _rollouts(),
                model.ResolvedImage: _resolved(),
                ImageFollow: _follows(),
            }
        )
    if cls in _OVERRIDES:
        return _OVERRIDES[cls]
    return st.deferred(lambda: _generic(cls).map(lambda kwargs: cls(**kwargs)))


def resources() -> st.SearchStrategy[model.ScaleSetImage]:
    return strategy_for(model.ScaleSetImage)


__all__ = ["resources", "samples", "strategy_for"]
