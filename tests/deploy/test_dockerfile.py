"""The Dockerfile and requirements.lock, checked statically (no Docker engine needed).

Covers: a multi-stage build from a pinned Python slim image (no `latest`, no remote ADD); runtime
dependencies installed only from requirements.lock; a final stage running as a numeric non-root user with
PYTHONDONTWRITEBYTECODE; the exec-form entrypoint `scaleset-image run` whose default arguments the CLI
accepts; exposed ports matching the manifests; .dockerignore keeping what the build copies and only the
operator (no testbed, tests, bench or deploy files in the build context); the lock
pinning every runtime dependency of pyproject.toml within its declared range, and nothing dev-only.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from controller.cli import build_parser

from .support import DEPLOY, ROOT, container_of, kustomize_build, only

DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    stage: int  # index of the FROM this instruction follows; -1 before the first FROM


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, value.strip(), stage))
    assert not pending, "the Dockerfile ends with a continuation"
    return out


def build_args() -> dict[str, str]:
    """ARG defaults declared before the first FROM (the ones FROM lines may use)."""
    args: dict[str, str] = {}
    for ins in instructions():
        if ins.keyword == "ARG" and ins.stage == -1 and "=" in ins.value:
            name, _, default = ins.value.partition("=")
            args[name] = default
    return args


def stages() -> list[tuple[str, str | None]]:
    """(image, stage name) of each FROM, with ARG defaults substituted."""
    out: list[tuple[str, str | None]] = []
    for ins in (i for i in instructions() if i.keyword == "FROM"):
        words = [w for w in ins.value.split() if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: build_args()[m.group(1)], words[0])
        out.append((image, words[2] if len(words) >= 3 and words[1].upper() == "AS" else None))
    return out


def final(keyword: str) -> list[str]:
    last = len(stages()) - 1
    return [i.value for i in instructions() if i.keyword == keyword and i.stage == last]


def test_build_is_multi_stage_from_a_pinned_python_slim_image() -> None:
    built = stages()
    assert len(built) >= 2
    names = {name for _, name in built if name}
    for image, _ in built:
        if image in names:
            continue
        repository, _, tag = image.partition(":")
        assert repository == "python"
        assert re.fullmatch(r"3\.11\.\d+-slim(-[a-z]+)?", tag), f"{image} is not a pinned Python 3.11 slim tag"
    assert any(i.value.startswith(f"--from={built[0][1]} ") for i in instructions() if i.keyword == "COPY")
    assert final("COPY")
    assert all(v.startswith("--from=") for v in final("COPY"))


def test_no_latest_tags_and_no_remote_add() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not re.search(r":latest\b", text)
    for ins in instructions():
        if ins.keyword == "ADD":
            assert not re.search(r"https?://|git@", ins.value), f"ADD of a remote source: {ins.value}"


def test_dependencies_are_installed_from_the_lock_only() -> None:
    runs = [i.value for i in instructions() if i.keyword == "RUN"]
    copies = [i.value.split() for i in instructions() if i.keyword == "COPY"]
    assert any("requirements.lock" in words for words in copies)
    installs = [r for r in runs if re.search(r"\bpip install\b", r)]
    assert installs
    for command in installs:
        assert "--no-deps" in command, f"pip may resolve dependencies outside the lock: {command}"
    assert any("-r requirements.lock" in r for r in installs)
    assert any("pip check" in r for r in runs)


def test_final_stage_runs_as_numeric_non_root_user() -> None:
    users = final("USER")
    assert users, "the final stage sets no USER"
    user = users[-1]
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER {user} is not numeric (runAsNonRoot cannot verify it)"
    assert int(user.split(":")[0]) != 0
    assert all(int(part) != 0 for part in user.split(":"))


def test_final_stage_writes_no_bytecode() -> None:
    env = " ".join(final("ENV"))
    assert re.search(r"\bPYTHONDONTWRITEBYTECODE=1\b", env)


def test_entrypoint_is_scaleset_image_run_in_exec_form() -> None:
    (entrypoint,) = final("ENTRYPOINT")
    assert json.loads(entrypoint) == ["scaleset-image", "run"], "exec form: no shell needed at runtime"
    assert PYPROJECT["project"]["scripts"]["scaleset-image"] == "controller.cli:main"
    (cmd,) = final("CMD")
    default_args = json.loads(cmd)
    parsed = build_parser().parse_args(["run", *default_args])
    assert parsed.all_namespaces or parsed.namespace


def test_exposed_ports_are_the_ones_the_manifests_use() -> None:
    exposed = {int(p) for value in final("EXPOSE") for p in value.split()}
    container = container_of(only(kustomize_build(DEPLOY / "base"), "Deployment"))
    assert exposed == {p["containerPort"] for p in container["ports"]}


# What the image is built from: the operator and its pins, nothing of the testbed, tests, bench or deploy/.
OPERATOR_SOURCES = {"requirements.lock", "pyproject.toml", "README.md", "controller"}


def dockerignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def ignored(name: str) -> bool:
    """Whether .dockerignore keeps ``name`` (a path relative to the build context) out of the context."""
    result = False
    for pattern in dockerignore_patterns():
        negated = pattern.startswith("!")
        if fnmatch.fnmatch(name, pattern.lstrip("!").rstrip("/")):
            result = not negated
    return result


def copied_sources() -> list[str]:
    """The build-context paths COPY instructions name (``COPY --from`` copies between stages)."""
    return [
        word
        for ins in instructions()
        if ins.keyword == "COPY" and not ins.value.startswith("--from")
        for word in shlex.split(ins.value)[:-1]
    ]


def test_dockerignore_keeps_what_the_build_copies() -> None:
    sources = copied_sources()
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not ignored(source), f"COPY {source} is excluded by .dockerignore"
    assert ignored(".venv")
    assert ignored("tests")


def test_image_is_built_from_the_operator_only() -> None:
    assert set(copied_sources()) == OPERATOR_SOURCES
    top_level = {p.name for p in ROOT.iterdir() if p.name != ".git"}
    assert {"testbed", "tests", "bench", "deploy", "helm"} <= top_level
    in_context = {name for name in top_level if not ignored(name)}
    assert in_context == OPERATOR_SOURCES, f"in the build context besides the operator: {in_context - OPERATOR_SOURCES}"


def lock_pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)", line)
        assert match, f"requirements.lock: {line!r} is not an exact pin"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"requirements.lock pins {name} twice"
        pins[name] = Version(match.group(2))
    return pins


def test_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = lock_pins()
    for spec in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is a runtime dependency missing from requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}"
        )


def test_lock_holds_no_dev_only_packages() -> None:
    runtime = {canonicalize_name(Requirement(s).name) for s in PYPROJECT["project"]["dependencies"]}
    dev_only = {
        canonicalize_name(Requirement(s).name)
        for extra in PYPROJECT["project"]["optional-dependencies"].values()
        for s in extra
    } - runtime
    assert dev_only
    assert not dev_only & set(lock_pins()), f"dev-only packages in requirements.lock: {dev_only & set(lock_pins())}"
    assert "scaleset-image-operator" not in lock_pins()
