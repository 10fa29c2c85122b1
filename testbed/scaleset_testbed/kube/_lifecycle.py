"""How objects end: deletion with finalizers, namespaces that take their contents along, and CRDs.

Split from ``_registry`` (the writes that create and change objects); ``Registry`` builds on this.
A namespace being deleted turns Terminating, its objects are deleted at once (the namespace
controller's work, without its delay), and it disappears when the last of them is gone; nothing may
be created in it meanwhile (403).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._managed import now
from scaleset_testbed.kube._models import CRD_KIND, CRDS, NAMESPACES, ResourceModel, models_from_crd
from scaleset_testbed.kube._paths import WriteOptions
from scaleset_testbed.kube._schema import SchemaError, invalid
from scaleset_testbed.kube._store import Store


@dataclass
class Outcome:
    """A write's answer: the object (as stored, or as it would be for a dry run), code and warnings."""

    obj: dict[str, Any]
    code: int = 200
    warnings: list[str] = field(default_factory=list)


class Lifecycle:
    """Deletion and the helpers every write needs (the object as stored, CRD facts)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- delete ----------------------------------------------------------------------------------

    def delete(
        self, model: ResourceModel, namespace: str | None, name: str, options: Any, opts: WriteOptions
    ) -> Outcome:
        current = self._existing(model, namespace, name)
        meta = current["metadata"]
        preconditions = (options.get("preconditions") if isinstance(options, dict) else None) or {}
        for precondition, label in (("resourceVersion", "ResourceVersion"), ("uid", "UID")):
            expected = preconditions.get(precondition)
            if expected and expected != meta.get(precondition):
                raise status.conflict(
                    model,
                    name,
                    f"Precondition failed: {label} in precondition: {expected}, "
                    f"{label} in object meta: {meta.get(precondition)}",
                )
        key = self.store.key(model, meta.get("namespace"), name)
        if meta.get("deletionTimestamp"):
            return Outcome(self.store.present(model, current), 200)  # already being deleted: nothing changes
        if meta.get("finalizers") or model is NAMESPACES:
            new = copy.deepcopy(current)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if model.tracks_generation:
                new["metadata"]["generation"] = int(meta.get("generation") or 0) + 1
            if model is NAMESPACES:
                new["status"] = {"phase": "Terminating"}
            if opts.dry_run:
                return Outcome(self.store.present(model, new), 200)
            stored = self.store.commit(model, key, new, "MODIFIED")
            if model is NAMESPACES:
                self._empty_namespace(name)
            return Outcome(self.store.present(model, stored), 200)
        if opts.dry_run:
            return Outcome(self.store.present(model, current), 200)
        return Outcome(self.store.present(model, self._finish_deletion(model, key, copy.deepcopy(current))), 200)

    def _finish_deletion(self, model: ResourceModel, key: Any, obj: dict[str, Any]) -> dict[str, Any]:
        if model is CRDS and obj.get("kind") == CRD_KIND:
            spec = obj.get("spec") or {}
            self.store.unregister(str(spec.get("group")), str((spec.get("names") or {}).get("plural")))
        stored = self.store.commit(model, key, obj, "DELETED")
        namespace = obj["metadata"].get("namespace")
        if namespace:
            self._finalize_namespace_if_done(namespace)
        return stored

    def _empty_namespace(self, namespace: str) -> None:
        """The namespace controller's work, done at once: delete everything in a terminating namespace."""
        for model in {m.storage_resource: m for m in self.store.models.values() if m.namespaced}.values():
            for obj in list(self.store.select(model, namespace)):
                self.delete(model, namespace, obj["metadata"]["name"], None, WriteOptions())
        self._finalize_namespace_if_done(namespace)

    def _finalize_namespace_if_done(self, namespace: str) -> None:
        key = self.store.key(NAMESPACES, None, namespace)
        current = self.store.current(key)
        if current is None or not current["metadata"].get("deletionTimestamp"):
            return
        if self.store.count_in_namespace(namespace) == 0:
            self.store.commit(NAMESPACES, key, copy.deepcopy(current), "DELETED")

    def _existing(self, model: ResourceModel, namespace: str | None, name: str) -> dict[str, Any]:
        current = self.store.current(self.store.key(model, namespace, name))
        if current is None:
            raise status.not_found(model, name)
        return current

    @staticmethod
    def _crd_models(crd: Mapping[str, Any], name: str) -> list[ResourceModel]:
        try:
            return models_from_crd(crd)
        except (SchemaError, ValueError) as exc:
            raise status.invalid(CRDS, name, [invalid("spec", "object", str(exc))]) from exc

    @staticmethod
    def _crd_status(crd: Mapping[str, Any]) -> dict[str, Any]:
        spec = crd.get("spec") or {}
        when = now()
        conditions = [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": when,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": when,
            },
        ]
        stored = [v.get("name") for v in spec.get("versions") or () if isinstance(v, Mapping) and v.get("storage")]
        return {
            "acceptedNames": copy.deepcopy(spec.get("names") or {}),
            "conditions": conditions,
            "storedVersions": stored,
        }
