"""Who owns which field after a write, and server-side apply's merge, pruning and conflicts.

The field-set arithmetic lives in ``_managed``; this module applies it the way the API server's field
manager does for each kind of write (see ``_managed`` for the rules and their source).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from scaleset_testbed.kube import _managed as managed
from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._managed import FieldSet, Manager, Path
from scaleset_testbed.kube._schema import StructuralSchema

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
Tracked = Callable[[Path], bool]


def tracked_paths(has_status: bool, subresource: str | None) -> Tracked:
    """Which paths a write through this endpoint may own: the main resource leaves ``status`` to its
    subresource (when there is one), and the status subresource leaves ``spec`` alone."""
    if subresource == "status":
        return lambda path: not path or path[0] != "f:spec"
    if has_status:
        return lambda path: not path or path[0] != "f:status"
    return lambda path: True


def _only(paths: FieldSet, tracked: Tracked) -> FieldSet:
    return {path for path in paths if tracked(path)}


def track_update(
    schema: StructuralSchema | None,
    entries: Any,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    manager: str,
    api_version: str,
    subresource: str | None,
    tracked: Tracked,
) -> list[dict[str, Any]]:
    """``managedFields`` after a non-apply write: its manager owns what it added or changed."""
    managers = managed.read_managers(entries)
    comparison = managed.compare(schema, old, new)
    changed = _only(comparison.changed, tracked)
    identity = (manager, "Update", subresource or "", api_version)
    for other in managed.others(managers, identity):
        other.fields -= changed
    for entry in managers:
        entry.fields -= comparison.removed
    mine = managed.find(managers, identity)
    if mine is None:
        mine = Manager(manager, "Update", api_version, set(), subresource or "")
        managers.append(mine)
    mine.fields = (mine.fields | changed) - comparison.removed
    if changed:
        mine.time = managed.now()
    return managed.write_managers(managers)


def parse_apply_body(body: bytes) -> dict[str, Any]:
    """An apply patch: a YAML (or JSON) object with apiVersion, kind and metadata.name, no managedFields."""
    try:
        config = yaml.safe_load(body.decode("utf-8")) if body.strip() else None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise status.bad_request(f"error decoding YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise status.bad_request("the apply patch must be an object")
    meta = config.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise status.bad_request("metadata must be an object")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise status.bad_request("metadata.managedFields must be nil")
    for field in ("apiVersion", "kind"):
        if not config.get(field):
            raise status.bad_request(f"{field} must be set")
    return config


class _Conflict:
    def __init__(self, owner: Manager, path: Path) -> None:
        self.owner = owner
        self.path = path


def _conflict_error(conflicts: list[_Conflict]) -> status.KubeApiError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {c.owner.describe()}",
            "field": managed.path_text(c.path),
        }
        for c in conflicts
    ]
    if len(conflicts) == 1:
        only = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {only.owner.describe()}: {managed.path_text(only.path)}"
    else:
        by_owner: dict[str, list[str]] = {}
        for c in conflicts:
            by_owner.setdefault(c.owner.describe(), []).append(managed.path_text(c.path))
        lines = []
        for owner in sorted(by_owner):
            lines.append(f"conflicts with {owner}:")
            lines.extend(f"- {path}" for path in sorted(by_owner[owner]))
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return status.apply_conflict(message, causes)


class Applier:
    """One server-side apply: merge the configuration into the live object, then settle ownership.

    Two steps because admission (pruning, defaults, validation) runs between them, as in the API
    server: :meth:`merged` gives the object to admit, :meth:`settle` the ``managedFields`` of the result
    (or raises 409 for conflicts).
    """

    def __init__(
        self,
        schema: StructuralSchema | None,
        live: Mapping[str, Any],
        config: Mapping[str, Any],
        *,
        manager: str,
        api_version: str,
        subresource: str | None,
        tracked: Tracked,
    ) -> None:
        self.schema = schema
        self.live = dict(live)
        self.manager = manager
        self.api_version = api_version
        self.tracked = tracked
        self.identity = (manager, "Apply", subresource or "", "")
        self.subresource = subresource or ""
        self.managers = managed.read_managers((live.get("metadata") or {}).get("managedFields"))
        config = {key: value for key, value in config.items() if tracked((f"f:{key}",))}
        self.config_set = _only(managed.field_set(schema, config), tracked)
        mine = managed.find(self.managers, self.identity)
        previously = mine.fields if mine is not None else set()
        others_own: FieldSet = set()
        for other in managed.others(self.managers, self.identity):
            others_own |= other.fields
        merged = managed.merge(schema, self.live, config)
        # What this manager applied before and no longer does goes, unless someone else owns it or it still
        # holds fields that are kept (a map whose old key went while another one is still applied).
        kept = self.config_set | others_own
        dropped = {p for p in previously - kept if not any(k[: len(p)] == p for k in kept)}
        self.result = managed.remove_fields(schema, merged, dropped)

    def settle(self, final: Mapping[str, Any], *, force: bool) -> list[dict[str, Any]]:
        """The new ``managedFields``; 409 if another manager owns a field the apply changed (unless forced)."""
        comparison = managed.compare(self.schema, self.live, final)
        changed = _only(comparison.changed, self.tracked)
        conflicts = [
            _Conflict(other, path)
            for other in managed.others(self.managers, self.identity)
            for path in sorted(other.fields & changed)
        ]
        if conflicts and not force:
            allowed = self._upgradable_from_client_side_apply()
            remaining = [c for c in conflicts if c.path not in allowed]
            if remaining:
                raise _conflict_error(remaining)
        for conflict in conflicts:
            conflict.owner.fields.discard(conflict.path)
        for entry in self.managers:
            entry.fields -= comparison.removed
        mine = managed.find(self.managers, self.identity)
        if mine is None:
            mine = Manager(self.manager, "Apply", self.api_version, set(), self.subresource)
            self.managers.append(mine)
        mine.fields = self.config_set - comparison.removed
        mine.api_version = self.api_version
        mine.time = managed.now()
        return managed.write_managers(self.managers)

    def _upgradable_from_client_side_apply(self) -> FieldSet:
        """Fields ``kubectl apply --server-side`` may take over from an earlier client-side apply.

        The API server lets the manager ``kubectl`` take, without conflicts, the fields listed in the
        object's ``last-applied-configuration`` annotation: that is how kubectl moves an object from
        client-side to server-side apply.
        """
        if self.manager != "kubectl":
            return set()
        annotations = (self.live.get("metadata") or {}).get("annotations") or {}
        try:
            last = json.loads(annotations.get(LAST_APPLIED) or "null")
        except ValueError:
            return set()
        return managed.field_set(self.schema, last) if isinstance(last, dict) else set()
