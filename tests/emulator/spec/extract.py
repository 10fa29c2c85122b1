"""Regenerate the spec-driven suite's data, and the emulator's field-introduction table, from a local git
directory of Azure/azure-rest-api-specs::

    python -m tests.emulator.spec.extract --specs /path/to/azure-rest-api-specs/.git [--commit SHA]
    python -m tests.emulator.spec.extract --cache /path/to/saved-files   # newer versions, read file by file
    python -m tests.emulator.spec.extract --examples /path/to/saved-files   # their x-ms-examples, file by file

Writes, for each api-version in ``SUITE_VERSIONS`` that the commit holds:

- ``<family>-<version>/operations.json``: the operations the emulator serves (method, path, parameters,
  responses with their schemas and headers, long-running flag, the names of their x-ms-examples);
- ``<family>-<version>/definitions.json``: every definition those schemas reach, trimmed to the keys the
  validator reads (types, formats, enums, readOnly, properties, allOf, items, additionalProperties);
- ``<family>-<version>/examples.json``: the x-ms-examples of those operations, as published.

and, over every stable api-version of the commit, ``fields.json`` (which property paths each api-version
defines, for the paths that are not in every version) and the emulator's table
``testbed/scaleset_testbed/azure/api_fields.json`` derived from it (see ``fields.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .fields import KINDS, add_version, coercible_types, emulator_table, field_index, property_paths
from .specrepo import DirRepo, SpecRepo, Trimmer

HERE = Path(__file__).parent
TABLE = HERE.parents[2] / "testbed" / "scaleset_testbed" / "azure" / "api_fields.json"

# Every operation the emulator serves (docs/emulator.md, "Operations"), by resource provider family.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "compute": (
        "VirtualMachineScaleSets_Get",
        "VirtualMachineScaleSets_CreateOrUpdate",
        "VirtualMachineScaleSets_Update",
        "VirtualMachineScaleSets_List",
        "VirtualMachineScaleSets_ListAll",
        "VirtualMachineScaleSets_GetInstanceView",
        "VirtualMachineScaleSets_UpdateInstances",
        "VirtualMachineScaleSets_Reimage",
        "VirtualMachineScaleSets_Start",
        "VirtualMachineScaleSets_Restart",
        "VirtualMachineScaleSets_PowerOff",
        "VirtualMachineScaleSets_Deallocate",
        "VirtualMachineScaleSets_DeleteInstances",
        "VirtualMachineScaleSetVMs_List",
        "VirtualMachineScaleSetVMs_Get",
        "VirtualMachineScaleSetVMs_GetInstanceView",
        "VirtualMachineScaleSetVMs_Reimage",
        "VirtualMachines_List",
        "VirtualMachines_Get",
        "VirtualMachines_InstanceView",
        "VirtualMachineScaleSetRollingUpgrades_GetLatest",
        "VirtualMachineScaleSetRollingUpgrades_Cancel",
        "VirtualMachineScaleSetRollingUpgrades_StartOSUpgrade",
        "VirtualMachineImages_List",
        "VirtualMachineImages_Get",
        "Images_Get",
    ),
    "gallery": ("GalleryImageVersions_ListByGalleryImage", "GalleryImageVersions_Get"),
}

# ARM's asynchronous operation status resource (what Azure-AsyncOperation URLs answer).
OPERATION_STATUS = (
    "specification/common-types/resource-management/v5/types.json",
    "/definitions/OperationStatusResult",
)

# The api-versions the suite replays: Azure Stack Hub's 2020-06-01, the 2019-03-01 of old tools, the newest of the
# whole-repository commit (2024-07-01, 2023-07-03) and the newest read file by file (--cache, see README.md).
SUITE_VERSIONS: dict[str, tuple[str, ...]] = {
    "compute": ("2019-03-01", "2020-06-01", "2024-07-01", "2026-03-01"),
    "gallery": ("2019-03-01", "2023-07-03", "2025-12-03"),
}


def operation_json(trimmer: Trimmer, op: Any) -> dict[str, Any]:
    raw = op.raw
    params = [trimmer.parameter(p, op.file) for p in raw.get("parameters") or []]
    responses: dict[str, Any] = {}
    for code, answer in (raw.get("responses") or {}).items():
        if code == "default":
            continue
        entry: dict[str, Any] = {}
        if "schema" in answer:
            entry["schema"] = trimmer.schema(answer["schema"], op.file)
        if answer.get("headers"):
            entry["headers"] = sorted(answer["headers"])
        responses[code] = entry
    out: dict[str, Any] = {
        "method": op.method,
        "path": op.path,
        "source": op.file,
        "parameters": params,
        "responses": responses,
        "longRunning": bool(raw.get("x-ms-long-running-operation")),
        "examples": sorted(raw.get("x-ms-examples") or {}),
    }
    options = raw.get("x-ms-long-running-operation-options") or {}
    if "final-state-via" in options:
        out["finalStateVia"] = options["final-state-via"]
    return out


def extract_version(repo: SpecRepo, family: str, version: str, out_dir: Path) -> None:
    ops = repo.operations(family, version)
    trimmer = Trimmer(repo)
    operations: dict[str, Any] = {}
    examples: dict[str, Any] = {}
    for op_id in OPERATIONS[family]:
        if op_id not in ops:
            continue
        op = ops[op_id]
        operations[op_id] = operation_json(trimmer, op)
        for name, ref in sorted((op.raw.get("x-ms-examples") or {}).items()):
            try:
                file, _, example = repo.resolve(ref["$ref"], op.file)
            except FileNotFoundError:
                if not isinstance(repo, DirRepo):
                    raise
                continue  # an example not saved (README.md, "Gaps")
            examples.setdefault(op_id, {})[name] = {"source": file, "example": example}
    folder = out_dir / f"{family}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(repo, DirRepo):  # files read one by one, each at its own commit
        used = {op["source"] for op in operations.values()}
        used |= {entry["source"] for by_name in examples.values() for entry in by_name.values()}
        _write(folder / "sources.json", {f: repo.sources.get(f) for f in sorted(used | set(repo.sources))})
    _write(folder / "operations.json", operations)
    _write(folder / "definitions.json", dict(sorted(trimmer.definitions.items())))
    _write(folder / "examples.json", examples)


def extract_fields(repo: SpecRepo) -> dict[str, Any]:
    """Property paths per kind and api-version, over every stable version of the commit."""
    paths: dict[str, dict[str, set[str]]] = {}
    versions: dict[str, list[str]] = {}
    for kind, (family, root) in KINDS.items():
        for version in repo.versions(family):
            trimmer = Trimmer(repo)
            found = _find_definition(repo, trimmer, family, version, root)
            if found is None:
                continue
            versions.setdefault(family, [])
            if version not in versions[family]:
                versions[family].append(version)
            paths.setdefault(kind, {})[version] = property_paths(trimmer.definitions, found)
    return field_index(paths, {f: sorted(v) for f, v in versions.items()})


def request_types(repo: SpecRepo) -> dict[str, dict[str, str]]:
    """Integer and boolean paths of the scale-set request bodies, at the newest compute version of the commit."""
    newest = repo.versions("compute")[-1]
    out: dict[str, dict[str, str]] = {}
    for kind in ("virtualMachineScaleSets", "virtualMachineScaleSetUpdate"):
        trimmer = Trimmer(repo)
        root = _find_definition(repo, trimmer, "compute", newest, KINDS[kind][1])
        if root is not None:
            out[kind] = coercible_types(trimmer.definitions, root)
    return out


def merge_fields(repo: SpecRepo, out: Path) -> dict[str, Any]:
    """``fields.json`` with the versions ``repo`` holds appended (each newer than the index's newest)."""
    index: dict[str, Any] = json.loads((out / "fields.json").read_text())
    for kind, (family, root) in KINDS.items():
        newest = index["versions"][kind][-1]
        known = json.loads((out / f"{family}-{newest}" / "definitions.json").read_text())
        newest_known = property_paths(known, root)
        for version in repo.versions(family):
            if version <= newest:
                continue
            trimmer = Trimmer(repo)
            found = _find_definition(repo, trimmer, family, version, root)
            if found is not None:
                add_version(index, kind, version, property_paths(trimmer.definitions, found), newest_known)
                index.setdefault("added", {})[f"{family} {version}"] = repo.commit
    return index


def attach_examples(root: Path, out: Path) -> dict[str, list[str]]:
    """The x-ms-examples saved one file at a time under ``root`` (at their repository paths, ``SOURCES.json``
    naming each file's commit), written into the ``examples.json`` of the stored versions they belong to.

    An example file of the TypeSpec-generated versions names its operation and its x-ms-examples name
    (``operationId``, ``title``); a file counts for a stored version when both match one of the names its
    ``operations.json`` lists. Returns, per folder, the example names still missing."""
    sources: dict[str, str] = json.loads((root / "SOURCES.json").read_text())
    missing: dict[str, list[str]] = {}
    for family, versions in SUITE_VERSIONS.items():
        marker = "/GalleryRP/" if family == "gallery" else "/Microsoft.Compute/Compute"
        for version in versions:
            folder = out / f"{family}-{version}"
            if not (folder / "operations.json").exists():
                continue
            operations: dict[str, Any] = json.loads((folder / "operations.json").read_text())
            wanted = {(op_id, name) for op_id, op in operations.items() for name in op["examples"]}
            found: dict[str, dict[str, Any]] = {}
            used: dict[str, str] = {}
            for path, commit in sorted(sources.items()):
                if marker not in path or f"/stable/{version}/examples/" not in path:
                    continue
                example = json.loads((root / path).read_text())
                key = (example.get("operationId"), example.get("title"))
                if key in wanted:
                    found.setdefault(key[0], {})[key[1]] = {"source": path, "example": example}
                    used[path] = commit
            if not used:
                continue
            ordered = {op: dict(sorted(found[op].items())) for op in operations if op in found}
            _write(folder / "examples.json", ordered)
            recorded = folder / "sources.json"
            known: dict[str, str] = json.loads(recorded.read_text()) if recorded.exists() else {}
            _write(recorded, dict(sorted({**known, **used}.items())))
            have = {(op, name) for op, by_name in found.items() for name in by_name}
            missing[folder.name] = sorted(f"{op}: {name}" for op, name in wanted - have)
    return missing


def append_stored_versions(out: Path) -> list[str]:
    """Columns for the stored folders newer than every version ``fields.json`` holds for their kinds, from the
    folders' own (trimmed) definitions; ``fields.json`` and the emulator's table are rewritten. Returns the
    ``"<kind> <version>"`` columns added."""
    index: dict[str, Any] = json.loads((out / "fields.json").read_text())
    added: list[str] = []
    for folder in sorted(p for p in out.iterdir() if (p / "definitions.json").exists()):
        family, version = folder.name.split("-", 1)
        definitions = json.loads((folder / "definitions.json").read_text())
        for kind, (kind_family, root) in KINDS.items():
            versions = index["versions"][kind]
            if kind_family != family or root not in definitions or version <= versions[-1]:
                continue
            known = json.loads((out / f"{family}-{versions[-1]}" / "definitions.json").read_text())
            add_version(index, kind, version, property_paths(definitions, root), property_paths(known, root))
            sources = json.loads((folder / "sources.json").read_text())
            commits = sorted({c for path, c in sources.items() if "/examples/" not in path})
            index.setdefault("added", {})[f"{family} {version}"] = ", ".join(commits)
            added.append(f"{kind} {version}")
    _write(out / "fields.json", index)
    newest = max(p.name for p in out.iterdir() if p.name.startswith("compute-") and p.is_dir())
    definitions = json.loads((out / newest / "definitions.json").read_text())
    types = {
        kind: coercible_types(definitions, KINDS[kind][1])
        for kind in ("virtualMachineScaleSets", "virtualMachineScaleSetUpdate")
    }
    _write(TABLE, emulator_table(index, types))
    return added


def _find_definition(repo: SpecRepo, trimmer: Trimmer, family: str, version: str, name: str) -> str | None:
    for file in repo.swagger_files(family, version):
        if name in (repo.load(file).get("definitions") or {}):
            return trimmer.name_for(file, "/definitions/" + name)
    return None


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--specs", help="git directory of Azure/azure-rest-api-specs")
    source.add_argument("--cache", help="a directory of single files saved at their repository paths, SOURCES.json")
    source.add_argument("--examples", help="like --cache, holding example files: fill the stored examples.json")
    source.add_argument(
        "--stored", action="store_true", help="append the stored folders newer than fields.json as its columns"
    )
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.cache:
        return main_cache(DirRepo(args.cache), out)
    if args.stored:
        print("columns added:", *append_stored_versions(out), sep="\n  ")
        return 0
    if args.examples:
        for folder, names in attach_examples(Path(args.examples), out).items():
            print(f"{folder}: examples stored; missing {len(names)}", *names, sep="\n  ")
        return 0
    repo = SpecRepo(args.specs, args.commit)
    for family, versions in SUITE_VERSIONS.items():
        for version in versions:
            extract_version(repo, family, version, out)
    common = Trimmer(repo)
    status = common.name_for(OPERATION_STATUS[0], OPERATION_STATUS[1])
    _write(
        out / "common.json", {"operationStatus": {"$ref": "#/definitions/" + status}, "definitions": common.definitions}
    )
    index = extract_fields(repo)
    index["commit"] = repo.commit
    _write(out / "fields.json", index)
    _write(TABLE, emulator_table(index, request_types(repo)))
    print(f"spec data from {repo.commit} written to {out} and {TABLE}")
    return 0


def main_cache(repo: DirRepo, out: Path) -> int:
    """The versions a directory of saved files holds: their folders, and their columns in the field tables."""
    for family, versions in SUITE_VERSIONS.items():
        for version in versions:
            if repo.version_dir(family, version) is not None:
                extract_version(repo, family, version, out)
    index = merge_fields(repo, out)
    _write(out / "fields.json", index)
    _write(TABLE, emulator_table(index, request_types(repo)))
    print(f"spec data from saved files ({repo.commit}) written to {out} and {TABLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
