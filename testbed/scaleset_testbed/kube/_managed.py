"""Field ownership (``metadata.managedFields``) and server-side apply, after structured-merge-diff.

Why: Flux, Argo CD and ``kubectl apply --server-side`` send ``application/apply-patch+yaml`` and rely on
the API server to merge their configuration, to remember which manager set which field, to refuse
(409) an apply that would silently take a field another manager set, and to let ``force=true`` take it.
The rules follow sigs.k8s.io/structured-merge-diff as the API server uses it:

* a field set is the set of paths a value touches (``f:`` fields, ``k:`` items of map-lists keyed by
  their keys, ``v:`` items of sets, ``i:`` items of ordered lists); lists without a list type are atomic,
  as in CRD schemas;
* an *update* (create, PUT, merge or JSON patch) gives its manager the fields it added or changed and
  takes them from everyone else;
* an *apply* gives its manager exactly the fields of its configuration, removes the fields it applied
  before and no longer applies (unless someone else owns them), and conflicts with other managers on
  fields whose value it would change.

Not emulated: the 10-manager cap (ancient-changes), version conversion of field sets, unions.
"""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from scaleset_testbed.kube._schema import SchemaNode, StructuralSchema

Path = tuple[str, ...]
FieldSet = set[Path]

# Fields the API server never tracks (its "stripMeta" set) and that appliers may not own.
_STRIPPED: frozenset[Path] = frozenset(
    {
        ("f:apiVersion",),
        ("f:kind",),
        ("f:metadata",),
        *(
            ("f:metadata", f"f:{name}")
            for name in (
                "name",
                "namespace",
                "creationTimestamp",
                "selfLink",
                "uid",
                "generation",
                "managedFields",
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            )
        ),
    }
)

_METADATA = StructuralSchema(
    {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "ownerReferences": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["uid"],
            },
            "managedFields": {"type": "array", "items": {"type": "object"}},
        },
    }
).root


def _child(node: SchemaNode | None, key: str) -> tuple[SchemaNode | None, bool]:
    """The node of an object's field, and whether the field is declared (a struct field, not a map entry)."""
    if node is None:
        return None, False
    if key in node.properties:
        return node.properties[key], True
    return node.additional, False


def _granular_map(node: SchemaNode | None, value: Any) -> bool:
    return isinstance(value, dict) and (node is None or node.map_type != "atomic")


def _granular_list(node: SchemaNode | None, value: Any) -> bool:
    return isinstance(value, list) and node is not None and node.list_type in ("set", "map")


def _element(node: SchemaNode, index: int, item: Any) -> str:
    if node.list_type == "map":
        keys = {key: item.get(key) for key in node.list_map_keys if isinstance(item, dict) and key in item}
        return "k:" + json.dumps(keys, separators=(",", ":"), sort_keys=True)
    if node.list_type == "set":
        return "v:" + json.dumps(item, separators=(",", ":"), sort_keys=True)
    return f"i:{index}"


def _items(node: SchemaNode, items: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, item in enumerate(items):
        out.setdefault(_element(node, index, item), item)  # a duplicate key: the first one counts
    return out


def _root(schema: StructuralSchema | None) -> SchemaNode | None:
    if schema is None:
        return None
    return schema.root


def _node_for(node: SchemaNode | None, path: Path, key: str) -> tuple[SchemaNode | None, bool]:
    if path == () and key == "metadata":
        return _METADATA, True
    return _child(node, key)


# --- field sets ----------------------------------------------------------------------------------


def _walk_set(node: SchemaNode | None, value: Any, path: Path, out: FieldSet) -> None:
    if _granular_map(node, value):
        for key, sub in value.items():
            child, declared = _node_for(node, path, key)
            child_path = (*path, f"f:{key}")
            _walk_set(child, sub, child_path, out)
            if sub is None or sub == {} or not declared:
                out.add(child_path)
    elif _granular_list(node, value):
        assert node is not None
        for element, item in _items(node, value).items():
            item_path = (*path, element)
            _walk_set(node.items, item, item_path, out)
            out.add(item_path)
    elif path:
        out.add(path)


def field_set(schema: StructuralSchema | None, obj: Mapping[str, Any]) -> FieldSet:
    """The paths ``obj`` sets (structured-merge-diff's ``ToFieldSet``), without the untracked metadata."""
    out: FieldSet = set()
    _walk_set(_root(schema), obj, (), out)
    return {path for path in out if path not in _STRIPPED}


@dataclass
class Comparison:
    added: FieldSet = field(default_factory=set)
    modified: FieldSet = field(default_factory=set)
    removed: FieldSet = field(default_factory=set)

    @property
    def changed(self) -> FieldSet:
        return self.added | self.modified


_ABSENT: Any = object()


def _walk_compare(node: SchemaNode | None, old: Any, new: Any, path: Path, out: Comparison) -> None:
    if old is _ABSENT and new is _ABSENT:
        return
    granular_map = _granular_map(node, new if new is not _ABSENT else old)
    granular_list = _granular_list(node, new if new is not _ABSENT else old)
    kinds_match = old is _ABSENT or new is _ABSENT or type(old) is type(new)
    if (granular_map or granular_list) and kinds_match:
        if path:
            if old is _ABSENT:
                out.added.add(path)
            elif new is _ABSENT:
                out.removed.add(path)
        if granular_map:
            olds = old if isinstance(old, dict) else {}
            news = new if isinstance(new, dict) else {}
            for key in [*olds, *(k for k in news if k not in olds)]:
                child, _ = _node_for(node, path, key)
                _walk_compare(child, olds.get(key, _ABSENT), news.get(key, _ABSENT), (*path, f"f:{key}"), out)
        else:
            assert node is not None
            olds = _items(node, old) if isinstance(old, list) else {}
            news = _items(node, new) if isinstance(new, list) else {}
            for element in [*olds, *(e for e in news if e not in olds)]:
                _walk_compare(node.items, olds.get(element, _ABSENT), news.get(element, _ABSENT), (*path, element), out)
        return
    if old is _ABSENT:
        out.added.add(path)
    elif new is _ABSENT:
        out.removed.add(path)
    elif old != new or type(old) is not type(new):
        out.modified.add(path)


def compare(schema: StructuralSchema | None, old: Mapping[str, Any], new: Mapping[str, Any]) -> Comparison:
    """What changed from ``old`` to ``new``, as paths (structured-merge-diff's ``Compare``)."""
    out = Comparison()
    _walk_compare(_root(schema), old, new, (), out)
    for paths in (out.added, out.modified, out.removed):
        paths.difference_update(_STRIPPED)
    return out


# --- merging (apply) -----------------------------------------------------------------------------


def _merge(node: SchemaNode | None, live: Any, config: Any, path: Path) -> Any:
    if _granular_map(node, config) and isinstance(live, dict):
        merged = dict(live)
        for key, value in config.items():
            child, _ = _node_for(node, path, key)
            merged[key] = _merge(child, live.get(key, _ABSENT), value, (*path, f"f:{key}"))
        return merged
    if _granular_list(node, config) and isinstance(live, list):
        assert node is not None
        live_items, config_items = _items(node, live), _items(node, config)
        result = [
            _merge(node.items, item, config_items[element], (*path, element)) if element in config_items else item
            for element, item in live_items.items()
        ]
        result.extend(item for element, item in config_items.items() if element not in live_items)
        return result
    return copy.deepcopy(config)


def merge(schema: StructuralSchema | None, live: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` merged into ``live``: maps and keyed lists field by field, everything else replaced."""
    merged = _merge(_root(schema), dict(live), dict(config), ())
    assert isinstance(merged, dict)
    return merged


def _remove(node: SchemaNode | None, value: Any, path: Path, target: Path) -> Any:
    """``value`` without the field at ``target`` (a path below ``path``)."""
    element = target[len(path)]
    if _granular_map(node, value) and element.startswith("f:"):
        key = element[2:]
        if key not in value:
            return value
        if len(target) == len(path) + 1:
            return {k: v for k, v in value.items() if k != key}
        child, _ = _node_for(node, path, key)
        return {**value, key: _remove(child, value[key], (*path, element), target)}
    if _granular_list(node, value):
        assert node is not None
        result = []
        for index, item in enumerate(value):
            if _element(node, index, item) != element:
                result.append(item)
            elif len(target) > len(path) + 1:
                result.append(_remove(node.items, item, (*path, element), target))
        return result
    return value


def remove_fields(schema: StructuralSchema | None, obj: dict[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """``obj`` without the given fields (deepest first, so that a parent goes after its children)."""
    for path in sorted(paths, key=len, reverse=True):
        if path:
            obj = _remove(_root(schema), obj, (), path)
    return obj


# --- fieldsV1 and managedFields entries ----------------------------------------------------------


def encode(paths: FieldSet) -> dict[str, Any]:
    """A field set as ``fieldsV1`` (nested ``f:``/``k:``/``v:``/``i:`` keys; ``.`` marks an owned parent)."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
        node.setdefault(".", None)
    return _finish(tree)


def _finish(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, child in sorted(node.items()):
        if key == ".":
            continue
        finished = _finish(child)
        if "." in child and finished:
            finished = {".": {}, **finished}
        out[key] = finished
    return out


def decode(tree: Any, prefix: Path = ()) -> FieldSet:
    """The field set of a ``fieldsV1`` tree."""
    out: FieldSet = set()
    if not isinstance(tree, dict):
        return out
    for key, child in tree.items():
        if key == ".":
            out.add(prefix)
        elif isinstance(child, dict) and child:
            out |= decode(child, (*prefix, key))
        else:
            out.add((*prefix, key))
    return out


def path_text(path: Path) -> str:
    """A path the way structured-merge-diff prints it in conflicts (``.spec.items[name="a"].image``)."""
    text = ""
    for element in path:
        kind, value = element[:2], element[2:]
        if kind == "f:":
            text += f".{value}"
        elif kind == "k:":
            keys = json.loads(value)
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif kind == "v:":
            text += f"[={value}]"
        else:
            text += f"[{value}]"
    return text


@dataclass
class Manager:
    """One ``managedFields`` entry: who, how (Apply/Update), through which subresource, and what."""

    manager: str
    operation: str
    api_version: str
    fields: FieldSet
    subresource: str = ""
    time: str = ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        # Appliers are one manager whatever version they apply; updaters are one per version.
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, self.subresource, version)

    def describe(self) -> str:
        """How a conflict names the manager (``"kubectl-edit" using v1 at 2024-...``)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}" + (f" at {self.time}" if self.time else "")
        return text

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode(self.fields),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def read_managers(entries: Any) -> list[Manager]:
    """Parse ``metadata.managedFields`` (entries that do not parse are dropped, as the API server does)."""
    managers = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or not entry.get("manager") or entry.get("operation") not in ("Apply", "Update"):
            continue
        managers.append(
            Manager(
                manager=str(entry["manager"]),
                operation=str(entry["operation"]),
                api_version=str(entry.get("apiVersion") or ""),
                fields=decode(entry.get("fieldsV1") or {}),
                subresource=str(entry.get("subresource") or ""),
                time=str(entry.get("time") or ""),
            )
        )
    return managers


def write_managers(managers: Iterable[Manager]) -> list[dict[str, Any]]:
    """``metadata.managedFields``: appliers first, then updaters, oldest first; empty sets dropped."""
    kept = [m for m in managers if m.fields]
    kept.sort(key=lambda m: (m.operation != "Apply", m.time, m.manager))
    return [m.entry() for m in kept]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(managers: list[Manager], identity: tuple[str, str, str, str]) -> Manager | None:
    return next((m for m in managers if m.identity == identity), None)


def others(managers: list[Manager], identity: tuple[str, str, str, str]) -> Iterator[Manager]:
    return (m for m in managers if m.identity != identity)
