"""What a write does: the API server's registry semantics for create, update, patch, apply and delete.

Why here and not in kmock: kmock merges whatever it is sent into its store. An operator under test
needs what it meets in a cluster: resourceVersion and generation that move as kopf and the operator's
``observedGeneration`` logic expect, a status subresource kept apart from spec writes, 409 on stale
writes, 422 with causes for invalid objects, pruning and defaults from the CRD schema, finalizers that
hold a deletion, field ownership, dry runs that change nothing, namespaces that must exist.

Every write returns a :class:`Outcome` (the object as the API server answers it, the HTTP code, and
the ``Warning`` headers); with ``dryRun=All`` nothing is stored and no watch event is sent.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from scaleset_testbed.kube import _status as status
from scaleset_testbed.kube._apply import Applier, Tracked, parse_apply_body, track_update, tracked_paths
from scaleset_testbed.kube._lifecycle import Lifecycle, Outcome
from scaleset_testbed.kube._managed import now
from scaleset_testbed.kube._metadata import finalizer_warnings, validate_metadata
from scaleset_testbed.kube._models import CRDS, NAMESPACES, ResourceModel
from scaleset_testbed.kube._patching import PatchFailed, PatchMalformed, json_patch, loads_checked, merge_patch
from scaleset_testbed.kube._paths import APPLY_PATCH, WriteOptions
from scaleset_testbed.kube._schema import FieldError, Part, forbidden, invalid
from scaleset_testbed.kube._store import Store

_SYSTEM_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what the API server uses for generateName suffixes
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
Settle = Callable[[dict[str, Any]], list[dict[str, Any]]]


def _strip_directives(patch: Any) -> Any:
    """A strategic merge patch read as a merge patch: its ``$`` directives dropped."""
    if isinstance(patch, dict):
        return {k: _strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    return patch


class Registry(Lifecycle):
    """The write semantics of every served resource, over a :class:`Store`."""

    def __init__(self, store: Store, *, namespace_auto_provision: bool) -> None:
        super().__init__(store)
        self.namespace_auto_provision = namespace_auto_provision

    # --- create ----------------------------------------------------------------------------------

    def create(
        self,
        model: ResourceModel,
        url_namespace: str | None,
        body: Any,
        opts: WriteOptions,
        *,
        settle: Settle | None = None,
    ) -> Outcome:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise status.bad_request("the object must be a JSON object with an object in metadata")
        obj = copy.deepcopy(body)
        self._check_type_meta(model, obj)
        meta = obj.setdefault("metadata", {})
        if model.namespaced:
            if url_namespace and meta.get("namespace") and meta["namespace"] != url_namespace:
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = url_namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = str(meta["generateName"]) + "".join(random.choices(_NAME_ALPHABET, k=5))
        name = str(meta.get("name") or "")
        if model.namespaced:
            self._require_namespace(model, name, meta["namespace"], opts)
        errors = validate_metadata(meta, namespaced=model.namespaced, label_names=model is NAMESPACES)
        if errors:
            raise status.invalid(model, name, errors)
        key = self.store.key(model, meta.get("namespace"), name)
        for system_field in (*_SYSTEM_METADATA, "resourceVersion", "managedFields"):
            meta.pop(system_field, None)
        if "status" in model.subresources:
            obj.pop("status", None)  # status is only written through its subresource
        warnings = self._admit(model, obj, None, "main" if "status" in model.subresources else "all", opts)
        crd_models = self._crd_models(obj, name) if model is CRDS else []
        if self.store.current(key) is not None:
            raise status.already_exists(model, name)
        if model is NAMESPACES:
            obj["spec"] = {**(obj.get("spec") or {}), "finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        if model is CRDS:
            obj["status"] = self._crd_status(obj)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if model.tracks_generation:
            meta["generation"] = 1
        head = {"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), "metadata": obj.pop("metadata")}
        obj = {**head, **obj}
        tracked = tracked_paths("status" in model.subresources, None)
        blank = {"apiVersion": head["apiVersion"], "kind": head["kind"]}
        entries = settle(obj) if settle else self._track(model, [], blank, obj, opts, None, tracked)
        meta["managedFields"] = entries
        warnings += finalizer_warnings(meta) if model.custom else []
        if opts.dry_run:
            meta.pop("resourceVersion", None)
            return Outcome(self.store.present(model, obj), 201, warnings)
        stored = self.store.commit(model, key, obj, "ADDED")
        for crd_model in crd_models:
            self.store.register(crd_model)
        return Outcome(self.store.present(model, stored), 201, warnings)

    def _require_namespace(self, model: ResourceModel, name: str, namespace: str, opts: WriteOptions) -> None:
        current = self.store.current(self.store.key(NAMESPACES, None, namespace))
        if current is None:
            if not self.namespace_auto_provision:
                raise status.not_found(NAMESPACES, namespace)
            if not opts.dry_run:
                self.create(
                    NAMESPACES, None, {"metadata": {"name": namespace}}, WriteOptions(field_manager="kube-apiserver")
                )
        elif current["metadata"].get("deletionTimestamp"):
            raise status.namespace_terminating(model, name, namespace)

    # --- update, patch, apply --------------------------------------------------------------------

    def replace(
        self,
        model: ResourceModel,
        namespace: str | None,
        name: str,
        subresource: str | None,
        body: Any,
        opts: WriteOptions,
    ) -> Outcome:
        current = self._existing(model, namespace, name)
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise status.bad_request("the object must be a JSON object with an object in metadata")
        body_name = body.get("metadata", {}).get("name")
        if body_name != name:
            raise status.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        if model.requires_resource_version_on_put and not body["metadata"].get("resourceVersion"):
            raise status.invalid(
                model, name, [invalid("metadata.resourceVersion", 0, "must be specified for an update")]
            )
        self._check_type_meta(model, body)
        return self._update(model, name, current, copy.deepcopy(body), subresource, opts)

    def patch(
        self,
        model: ResourceModel,
        namespace: str | None,
        name: str,
        subresource: str | None,
        content_type: str,
        raw: bytes,
        opts: WriteOptions,
    ) -> Outcome:
        accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
        if not model.custom:
            accepted.insert(2, STRATEGIC_PATCH)  # built-in kinds; read here as a merge patch
        if content_type not in accepted:
            raise status.unsupported_media_type(accepted)
        if content_type == APPLY_PATCH:
            return self._apply(model, namespace, name, subresource, parse_apply_body(raw), opts)
        current = self._existing(model, namespace, name)
        try:
            patch, duplicates = loads_checked(raw) if raw.strip() else (None, [])
            if content_type != JSON_PATCH:
                opts = dataclasses.replace(opts, duplicates=tuple(duplicates))
        except ValueError as exc:
            raise status.bad_request(f"error decoding patch: {exc}") from exc
        try:
            if content_type == JSON_PATCH:
                candidate = json_patch(current, patch)
            else:
                if not isinstance(patch, dict):
                    raise PatchMalformed("a merge patch must be a JSON object")
                candidate = merge_patch(copy.deepcopy(current), _strip_directives(patch))
        except PatchMalformed as exc:
            raise status.bad_request(str(exc)) from exc
        except PatchFailed as exc:
            raise status.patch_not_applicable(str(exc)) from exc
        return self._update(model, name, current, candidate, subresource, opts, patch=True)

    def _apply(
        self,
        model: ResourceModel,
        namespace: str | None,
        name: str,
        subresource: str | None,
        config: dict[str, Any],
        opts: WriteOptions,
    ) -> Outcome:
        meta = config.setdefault("metadata", {})
        if meta.get("name") != name:
            raise status.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        tracked = tracked_paths("status" in model.subresources, subresource)
        current = self.store.current(self.store.key(model, namespace, name))
        live = current if current is not None else {}
        applier = Applier(
            model.schema,
            live,
            config,
            manager=opts.field_manager,
            api_version=model.api_version,
            subresource=subresource,
            tracked=tracked,
        )

        def settle(final: dict[str, Any]) -> list[dict[str, Any]]:
            return applier.settle(final, force=opts.force)

        if current is None:
            if subresource:
                raise status.not_found(model, name)
            return self.create(model, namespace, applier.result, opts, settle=settle)
        return self._update(model, name, current, applier.result, subresource, opts, patch=True, settle=settle)

    def _update(
        self,
        model: ResourceModel,
        name: str,
        current: dict[str, Any],
        candidate: Any,
        subresource: str | None,
        opts: WriteOptions,
        *,
        patch: bool = False,
        settle: Settle | None = None,
    ) -> Outcome:
        """The common part of PUT, PATCH and apply: concurrency, status isolation, admission, bookkeeping."""
        if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata"), dict):
            raise status.bad_request("the patched object must be a JSON object with an object in metadata")
        meta, old_meta = candidate["metadata"], current["metadata"]
        rv = meta.get("resourceVersion")
        if rv not in (None, "") and str(rv) != old_meta["resourceVersion"]:
            raise status.conflict(model, name)
        if meta.get("uid") not in (None, "", old_meta.get("uid")):
            raise status.conflict(
                model,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object meta: {old_meta.get('uid')}",
            )
        sent_managed = meta.get("managedFields")
        has_status = "status" in model.subresources
        if subresource == "status":
            new = copy.deepcopy(current)  # only .status may change through the subresource
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = candidate
            if has_status:  # .status may not change through the main endpoint
                if "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                else:
                    new.pop("status", None)
            new["apiVersion"], new["kind"] = current["apiVersion"], current["kind"]
            for system_field in (*_SYSTEM_METADATA, "name", "namespace"):
                if system_field in old_meta:
                    meta[system_field] = copy.deepcopy(old_meta[system_field])
                else:
                    meta.pop(system_field, None)
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        new["metadata"]["managedFields"] = copy.deepcopy(old_meta.get("managedFields") or [])
        errors: list[FieldError] = validate_metadata(
            new["metadata"], namespaced=model.namespaced, label_names=model is NAMESPACES
        )
        if old_meta.get("deletionTimestamp"):
            added = [f for f in new["metadata"].get("finalizers") or () if f not in old_meta.get("finalizers") or ()]
            if added:
                quoted = ", ".join(json.dumps(f) for f in added)
                why = (
                    f"no new finalizers can be added if the object is being deleted, found new finalizers "
                    f"[]string{{{quoted}}}"
                )
                errors.append(forbidden("metadata.finalizers", why))
        if errors:
            raise status.invalid(model, name, errors)
        part: Part = "status" if subresource == "status" else ("main" if has_status else "all")
        warnings = self._admit(model, new, current, part, opts, patch=patch)
        crd_models = self._crd_models(new, name) if model is CRDS and subresource is None else None
        if model.tracks_generation and self._spec_of(model, new) != self._spec_of(model, current):
            new["metadata"]["generation"] = int(old_meta.get("generation") or 0) + 1
        tracked = tracked_paths(has_status, subresource)
        base = (
            sent_managed if sent_managed not in (None, old_meta.get("managedFields")) else old_meta.get("managedFields")
        )
        entries = settle(new) if settle else self._track(model, base, current, new, opts, subresource, tracked)
        if _same(new, current) and _same_ownership(entries, old_meta.get("managedFields")):
            return Outcome(self.store.present(model, current), 200, warnings)  # no change: no write, no event
        new["metadata"]["managedFields"] = entries
        warnings += finalizer_warnings(new["metadata"]) if model.custom else []
        if opts.dry_run:
            return Outcome(self.store.present(model, new), 200, warnings)
        key = self.store.key(model, old_meta.get("namespace"), name)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return Outcome(self.store.present(model, self._finish_deletion(model, key, new)), 200, warnings)
        stored = self.store.commit(model, key, new, "MODIFIED")
        if crd_models is not None:
            self.store.unregister(str(current["spec"]["group"]), str(current["spec"]["names"]["plural"]))
            for crd_model in crd_models:
                self.store.register(crd_model)
        return Outcome(self.store.present(model, stored), 200, warnings)

    def _track(
        self,
        model: ResourceModel,
        base: Any,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        opts: WriteOptions,
        subresource: str | None,
        tracked: Tracked,
    ) -> list[dict[str, Any]]:
        return track_update(
            model.schema,
            base,
            old,
            new,
            manager=opts.field_manager,
            api_version=model.api_version,
            subresource=subresource,
            tracked=tracked,
        )

    def _admit(
        self,
        model: ResourceModel,
        obj: dict[str, Any],
        old: Mapping[str, Any] | None,
        part: Part,
        opts: WriteOptions,
        *,
        patch: bool = False,
    ) -> list[str]:
        """Prune, default and validate; unknown fields are warnings, or a 400 under strict field validation."""
        if model.schema is None:
            return []
        pruned: list[str] = []
        errors = model.schema.admit(obj, old, part, pruned)
        unknown = [f"unknown field {json.dumps(path)}" for path in pruned]
        unknown += [f"duplicate field {json.dumps(path)}" for path in opts.duplicates]
        if unknown and opts.field_validation == "Strict":
            raise status.strict_decoding(model, unknown, patch=patch)
        if errors:
            raise status.invalid(model, str(obj["metadata"].get("name") or ""), errors)
        return unknown if opts.field_validation == "Warn" else []

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _check_type_meta(model: ResourceModel, obj: dict[str, Any]) -> None:
        # Clients may leave apiVersion/kind out (kopf does for Events); if given, they must fit the URL.
        api_version, kind = obj.setdefault("apiVersion", model.api_version), obj.setdefault("kind", model.kind)
        if api_version != model.api_version or kind != model.kind:
            raise status.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({model.api_version})"
                if api_version != model.api_version
                else f"the kind in the data ({kind}) does not match the expected kind ({model.kind})"
            )
        obj["apiVersion"] = model.storage_api_version

    @staticmethod
    def _spec_of(model: ResourceModel, obj: Mapping[str, Any]) -> dict[str, Any]:
        ignored = {"metadata", "apiVersion", "kind"} | ({"status"} if "status" in model.subresources else set())
        return {key: value for key, value in obj.items() if key not in ignored}


def _same(new: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    strip = ("managedFields",)
    return {**new, "metadata": {k: v for k, v in new["metadata"].items() if k not in strip}} == {
        **current,
        "metadata": {k: v for k, v in current["metadata"].items() if k not in strip},
    }


def _same_ownership(entries: list[dict[str, Any]], old: Any) -> bool:
    def timeless(items: Any) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "time"} for e in items or () if isinstance(e, dict)]

    return timeless(entries) == timeless(old)
