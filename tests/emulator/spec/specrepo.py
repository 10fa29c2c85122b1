"""Reading Azure/azure-rest-api-specs out of a git directory: the swagger files of one Compute or Gallery
api-version, their operations, and schemas with every ``$ref`` followed across files.

Used by ``extract.py`` (which writes the trimmed test data under this folder); nothing at test time reads the
spec repository itself.
"""

from __future__ import annotations

import json
import posixpath
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMPUTE_DIRS = (
    "specification/compute/resource-manager/Microsoft.Compute/Compute/stable",  # TypeSpec-generated, 2025 on
    "specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable",
    "specification/compute/resource-manager/Microsoft.Compute/stable",
)
GALLERY_DIR = "specification/compute/resource-manager/Microsoft.Compute/GalleryRP/stable"

# The schema keys the suite uses; descriptions, titles and client-generation hints are dropped.
KEEP = {
    "type",
    "format",
    "enum",
    "readOnly",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "allOf",
    "x-ms-client-flatten",
    "x-ms-enum",
    "minimum",
    "maximum",
    "x-ms-mutability",
    "x-nullable",
}


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    file: str  # the swagger file that declares it
    raw: dict[str, Any]


class SpecRepo:
    """One commit of a local git directory holding azure-rest-api-specs (a bare mirror is enough)."""

    def __init__(self, git_dir: str, commit: str = "HEAD") -> None:
        self.git_dir = git_dir
        self.commit = subprocess.run(
            ["git", "--git-dir", git_dir, "rev-parse", commit], check=True, capture_output=True, text=True
        ).stdout.strip()
        self._json: dict[str, Any] = {}

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", self.git_dir, *args], check=True, capture_output=True, text=True
        ).stdout

    def listdir(self, folder: str) -> list[str]:
        out = self._git("ls-tree", "--name-only", self.commit, folder.rstrip("/") + "/")
        return [line for line in out.splitlines() if line]

    def load(self, path: str) -> Any:
        if path not in self._json:
            self._json[path] = json.loads(self._git("show", f"{self.commit}:{path}"))
        return self._json[path]

    def version_dir(self, family: str, version: str) -> str | None:
        roots = COMPUTE_DIRS if family == "compute" else (GALLERY_DIR,)
        for root in roots:
            if f"{root}/{version}" in self.listdir(root):
                return f"{root}/{version}"
        return None

    def versions(self, family: str) -> list[str]:
        roots = COMPUTE_DIRS if family == "compute" else (GALLERY_DIR,)
        found = {entry.rsplit("/", 1)[-1] for root in roots for entry in self.listdir(root)}
        return sorted(found)

    def swagger_files(self, family: str, version: str) -> list[str]:
        folder = self.version_dir(family, version)
        if folder is None:
            raise KeyError(f"no {family} api-version {version} at {self.commit}")
        return [p for p in self.listdir(folder) if p.endswith(".json")]

    def operations(self, family: str, version: str) -> dict[str, Operation]:
        ops: dict[str, Operation] = {}
        for file in self.swagger_files(family, version):
            doc = self.load(file)
            for path, methods in (doc.get("paths") or {}).items():
                shared = methods.get("parameters") or []
                for method, op in methods.items():
                    if method == "parameters":
                        continue
                    op = dict(op)
                    op["parameters"] = [*shared, *(op.get("parameters") or [])]
                    ops[op["operationId"]] = Operation(op["operationId"], method.upper(), path, file, op)
        return ops

    # ----------------------------------------------------------------------------------------------- refs
    def resolve(self, ref: str, base_file: str) -> tuple[str, str, Any]:
        """``(file, pointer, target)`` of a ``$ref`` written in ``base_file``."""
        file_part, _, pointer = ref.partition("#")
        file = posixpath.normpath(posixpath.join(posixpath.dirname(base_file), file_part)) if file_part else base_file
        node = self.load(file)
        for part in [p for p in pointer.strip("/").split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return file, pointer, node


class DirRepo(SpecRepo):
    """Files of azure-rest-api-specs saved under a directory at their repository paths (one file at a time, when
    the whole repository cannot be had), with ``SOURCES.json`` naming the commit each file was read at."""

    def __init__(self, root: str) -> None:  # no git directory behind it: SpecRepo's __init__ is not called
        self.root = Path(root)
        self.sources: dict[str, str] = json.loads((self.root / "SOURCES.json").read_text())
        self.commit = ", ".join(sorted(set(self.sources.values())))
        self._json: dict[str, Any] = {}

    def listdir(self, folder: str) -> list[str]:
        base = self.root / folder
        if not base.is_dir():
            return []
        return sorted(f"{folder.rstrip('/')}/{p.name}" for p in base.iterdir())

    def load(self, path: str) -> Any:
        if path not in self._json:
            self._json[path] = json.loads((self.root / path).read_text())
        return self._json[path]


class Trimmer:
    """Copies schemas out of the spec, following ``$ref`` into a flat ``definitions`` table of their own.

    A definition keeps its swagger name; a second, different definition of the same name from another file
    (common-types' ``Resource`` beside Compute's) is named ``<file stem>.<name>``.
    """

    def __init__(self, repo: SpecRepo) -> None:
        self.repo = repo
        self.definitions: dict[str, Any] = {}
        self._names: dict[tuple[str, str], str] = {}

    def name_for(self, file: str, pointer: str) -> str:
        key = (file, pointer)
        if key not in self._names:
            base = pointer.rsplit("/", 1)[-1]
            taken = set(self._names.values())
            name = base if base not in taken else f"{posixpath.basename(file).removesuffix('.json')}.{base}"
            self._names[key] = name
            self.definitions[name] = None  # reserved before recursing: schemas are recursive
            _, _, target = self.repo.resolve("#" + pointer, file)
            self.definitions[name] = self.schema(target, file)
        return self._names[key]

    def schema(self, node: Any, file: str) -> Any:
        if isinstance(node, list):
            return [self.schema(item, file) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target_file, pointer, _ = self.repo.resolve(node["$ref"], file)
            return {"$ref": "#/definitions/" + self.name_for(target_file, pointer)}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in KEEP:
                continue
            if key == "properties":
                out[key] = {name: self.schema(prop, file) for name, prop in value.items()}
            elif key == "x-ms-enum":
                out[key] = {k: v for k, v in value.items() if k in ("name", "modelAsString")}
            elif key in ("items", "additionalProperties", "allOf"):
                out[key] = self.schema(value, file)
            else:
                out[key] = value
        return out

    def parameter(self, node: dict[str, Any], file: str) -> dict[str, Any]:
        if "$ref" in node:
            target_file, _, target = self.repo.resolve(node["$ref"], file)
            return self.parameter(target, target_file)
        out: dict[str, Any] = {k: node[k] for k in ("name", "in", "required", "type", "enum") if k in node}
        if "schema" in node:
            out["schema"] = self.schema(node["schema"], file)
        return out
