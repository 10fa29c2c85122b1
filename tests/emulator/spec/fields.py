"""Which property paths each api-version defines, and the emulator's field-introduction table derived from it.

A property path names a field from the root of a resource: ``properties.upgradePolicy.rollingUpgradePolicy.
maxSurge``; ``[]`` stands for the items of an array and ``*`` for the values of a map. ``fields.json`` records,
per kind of resource, the api-versions that define each path (as a string of ``1``/``0`` over the kind's
versions, oldest first), for the paths that are not defined by every version. The emulator's table
(``testbed/scaleset_testbed/azure/api_fields.json``) keeps, per kind, the first api-version of each path that
is younger than the kind's oldest version, without the paths that arrive together with their parent, plus the
integer and boolean paths of the newest version (ARM's JSON reader converts ``"42"`` and ``"false"`` there).
"""

from __future__ import annotations

from typing import Any

# kind -> (resource provider family, swagger definition at its root)
KINDS: dict[str, tuple[str, str]] = {
    "virtualMachineScaleSets": ("compute", "VirtualMachineScaleSet"),
    "virtualMachineScaleSetUpdate": ("compute", "VirtualMachineScaleSetUpdate"),
    "virtualMachineScaleSetVMs": ("compute", "VirtualMachineScaleSetVM"),
    "virtualMachines": ("compute", "VirtualMachine"),
    "virtualMachineScaleSetInstanceView": ("compute", "VirtualMachineScaleSetInstanceView"),
    "virtualMachineScaleSetVMInstanceView": ("compute", "VirtualMachineScaleSetVMInstanceView"),
    "virtualMachineInstanceView": ("compute", "VirtualMachineInstanceView"),
    "rollingUpgradeStatus": ("compute", "RollingUpgradeStatusInfo"),
    "images": ("compute", "Image"),
    "virtualMachineImages": ("compute", "VirtualMachineImage"),
    "galleryImageVersions": ("gallery", "GalleryImageVersion"),
}

MAX_DEPTH = 14


def deref(definitions: dict[str, Any], schema: Any) -> tuple[str | None, dict[str, Any]]:
    """``(definition name or None, schema)`` with one level of ``$ref`` followed."""
    if isinstance(schema, dict) and "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return name, dict(definitions.get(name) or {})
    return None, dict(schema or {}) if isinstance(schema, dict) else {}


def object_properties(definitions: dict[str, Any], schema: Any, seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The properties of an object schema, those of its ``allOf`` parents included."""
    name, body = deref(definitions, schema)
    if name is not None and name in seen:
        return {}
    seen = seen | {name} if name else seen
    props: dict[str, Any] = {}
    for parent in body.get("allOf") or []:
        props.update(object_properties(definitions, parent, seen))
    props.update(body.get("properties") or {})
    return props


def schema_type(definitions: dict[str, Any], schema: Any) -> str | None:
    _, body = deref(definitions, schema)
    if "type" in body:
        return str(body["type"])
    for parent in body.get("allOf") or []:
        found = schema_type(definitions, parent)
        if found is not None:
            return found
    return "object" if body.get("properties") else None


def walk(definitions: dict[str, Any], root: str) -> dict[str, str | None]:
    """Every property path under definition ``root`` -> its type (recursive definitions are cut)."""
    out: dict[str, str | None] = {}

    def visit(schema: Any, path: str, stack: tuple[str, ...]) -> None:
        name, body = deref(definitions, schema)
        if (name is not None and name in stack) or len(stack) > MAX_DEPTH:
            return
        stack = (*stack, name) if name else stack
        if body.get("items") is not None:
            visit(body["items"], path + "[]", stack)
        for key, prop in object_properties(definitions, schema).items():
            here = f"{path}.{key}" if path else key
            out[here] = schema_type(definitions, prop)
            visit(prop, here, stack)
        extra = body.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            visit(extra, path + ".*", stack)

    visit({"$ref": "#/definitions/" + root}, "", ())
    return out


def property_paths(definitions: dict[str, Any], root: str) -> set[str]:
    return set(walk(definitions, root))


def field_index(paths: dict[str, dict[str, set[str]]], versions: dict[str, list[str]]) -> dict[str, Any]:
    """``{"versions": {kind: [...]}, "paths": {kind: {path: "0011…"}}}`` for the paths some version lacks."""
    kinds: dict[str, list[str]] = {}
    table: dict[str, dict[str, str]] = {}
    for kind, by_version in paths.items():
        kind_versions = sorted(by_version)
        kinds[kind] = kind_versions
        every = set().union(*by_version.values())
        table[kind] = {
            path: bits
            for path in sorted(every)
            if "0" in (bits := "".join("1" if path in by_version[v] else "0" for v in kind_versions))
        }
    return {"versions": kinds, "paths": table}


def introductions(index: dict[str, Any], kind: str) -> dict[str, tuple[str, str | None]]:
    """path -> (first api-version that defines it, first later api-version that no longer does, or None)."""
    versions = index["versions"][kind]
    out: dict[str, tuple[str, str | None]] = {}
    for path, bits in index["paths"][kind].items():
        first = bits.index("1")
        gone = bits.find("0", first)
        out[path] = (versions[first], versions[gone] if gone >= 0 else None)
    return out


def _parent_paths(path: str) -> list[str]:
    parts: list[str] = []
    current = ""
    for segment in path.replace("[]", ".[]").split("."):
        current = f"{current}.{segment}" if current else segment
        parts.append(current.replace(".[]", "[]"))
    return parts[:-1]


def emulator_table(index: dict[str, Any], types: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """The emulator's table: ``{"introduced": {kind: {path: version | [version, removedIn]}}, "types": ...}``."""
    introduced: dict[str, dict[str, Any]] = {}
    for kind in index["paths"]:
        intro = introductions(index, kind)
        oldest = index["versions"][kind][0]
        kept: dict[str, Any] = {}
        for path, (first, gone) in sorted(intro.items()):
            if first == oldest and gone is None:
                continue
            inherited = next(
                (intro[p] for p in reversed(_parent_paths(path)) if p in intro and intro[p][0] != oldest), None
            )
            if gone is None and inherited is not None and inherited[0] >= first and inherited[1] is None:
                continue  # arrives with its parent
            kept[path] = first if gone is None else [first, gone]
        introduced[kind] = kept
    return {"source": index.get("commit"), "introduced": introduced, "types": types or {}}


def coercible_types(definitions: dict[str, Any], root: str) -> dict[str, str]:
    """The integer and boolean paths under ``root`` (ARM converts JSON strings to them)."""
    return {p: t for p, t in walk(definitions, root).items() if t in ("integer", "boolean")}


def add_version(index: dict[str, Any], kind: str, version: str, paths: set[str], known: set[str]) -> None:
    """Insert ``version`` as a column of ``kind`` in ``index`` (in place, at its place among the kind's versions),
    given every path it defines and every path of some version already in the index (a path listed nowhere is
    defined by every version so far, so ``known`` holds it)."""
    versions: list[str] = index["versions"][kind]
    if version in versions:
        raise ValueError(f"{kind}: {version} is already a column")
    at = sum(1 for v in versions if v < version)
    table: dict[str, str] = index["paths"][kind]
    count = len(versions)
    grown = {path: bits[:at] + ("1" if path in paths else "0") + bits[at:] for path, bits in table.items()}
    for path in paths - table.keys() - known:
        grown[path] = "0" * at + "1" + "0" * (count - at)
    for path in known - table.keys() - paths:
        grown[path] = "1" * at + "0" + "1" * (count - at)
    versions.insert(at, version)
    index["paths"][kind] = {path: bits for path, bits in sorted(grown.items()) if "0" in bits}


def owner(definitions: dict[str, Any], name: str, key: str, seen: frozenset[str] = frozenset()) -> str | None:
    """The definition that declares property ``key`` of definition ``name``: itself or one of its ``allOf``
    parents (None when none does)."""
    if name in seen:
        return None
    body = definitions.get(name) or {}
    if key in (body.get("properties") or {}):
        return name
    for parent in body.get("allOf") or []:
        found = owner(definitions, str(parent.get("$ref", "")).rsplit("/", 1)[-1], key, seen | {name})
        if found is not None:
            return found
    return None


def deciding_definition(definitions: dict[str, Any], root: str, path: str) -> str | None:
    """The definition whose own text decides whether ``root`` defines ``path``: the one that declares the
    path's last property, or the first one on the way that lacks the next property (its ``allOf`` parents
    included). None when the path runs through a schema that is not a named definition."""
    schema: Any = {"$ref": "#/definitions/" + root}
    segments = path.replace("[]", ".[]").split(".")
    for at, segment in enumerate(segments):
        name, body = deref(definitions, schema)
        if segment == "[]":
            schema = body.get("items")
            continue
        if segment == "*":
            schema = body.get("additionalProperties")
            continue
        if name is None:
            return None
        declared_by = owner(definitions, name, segment)
        if declared_by is None or at == len(segments) - 1:
            return declared_by or name
        schema = definitions[declared_by]["properties"][segment]
    return None
