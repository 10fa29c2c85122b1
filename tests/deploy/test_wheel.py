"""The wheels hold what their distributions promise: the operator's only the operator (its ``controller``
modules and package data, and the ``scaleset-image`` command), the testbed's only the testbed (emulators and
demo, no ``controller``). Both are built for real (``pip wheel --no-deps --no-build-isolation``, with the
setuptools and wheel of the dev extras) from a copy of the working tree, so the build leaves nothing behind
in the repository."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .support import ROOT

# Never part of a build: local environments, caches, build output.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)
PACKAGE_DATA = {".py", ".typed", ".yaml", ".json"}  # modules, the py.typed marker, package data (yaml, json)


class Wheel:
    def __init__(self, path: Path) -> None:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            (self.info,) = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
            entry_points = configparser.ConfigParser()
            if f"{self.info}/entry_points.txt" in names:
                entry_points.read_string(archive.read(f"{self.info}/entry_points.txt").decode())
        self.files = sorted(n for n in names if not n.startswith(self.info + "/"))
        self.scripts = dict(entry_points["console_scripts"]) if entry_points.has_section("console_scripts") else {}


def _build(source: Path, out: Path) -> Wheel:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    result = subprocess.run([*command, "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = out.glob("*.whl")
    return Wheel(path)


def _package_files(package: Path) -> set[str]:
    """A source package's modules and package data as wheel names (``controller/cli.py`` ...)."""
    return {
        p.relative_to(package.parent).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix in PACKAGE_DATA and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("tree") / "repo"
    shutil.copytree(ROOT, copy, ignore=NOT_SOURCES)
    return copy


@pytest.fixture(scope="module")
def operator_wheel(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    return _build(tree, tmp_path_factory.mktemp("operator-wheel"))


@pytest.fixture(scope="module")
def testbed_wheel(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    return _build(tree / "testbed", tmp_path_factory.mktemp("testbed-wheel"))


def test_operator_wheel_holds_exactly_the_controller_package(operator_wheel: Wheel) -> None:
    assert operator_wheel.info.startswith("scaleset_image_operator-")
    assert [n for n in operator_wheel.files if not n.startswith("controller/")] == []
    assert set(operator_wheel.files) == _package_files(ROOT / "controller")
    assert "controller/py.typed" in operator_wheel.files


def test_operator_wheel_has_no_testbed_tests_bench_demo_or_emulator(operator_wheel: Wheel) -> None:
    unwanted = {"scaleset_testbed", "testbed", "tests", "bench", "demo", "emulator", "emulators", "kube"}
    found = [n for n in operator_wheel.files if unwanted & {Path(part).stem for part in n.split("/")}]
    assert found == []


def test_operator_wheel_installs_the_scaleset_image_command_and_the_kubectl_plugin(operator_wheel: Wheel) -> None:
    assert operator_wheel.scripts == {
        "scaleset-image": "controller.cli:main",
        "kubectl-ssi": "controller.cli:kubectl_ssi",
    }


def test_testbed_wheel_holds_only_the_testbed(testbed_wheel: Wheel) -> None:
    assert testbed_wheel.info.startswith("scaleset_image_testbed-")
    assert [n for n in testbed_wheel.files if "controller" in n.split("/")] == []
    assert set(testbed_wheel.files) == _package_files(ROOT / "testbed" / "scaleset_testbed")
    assert testbed_wheel.scripts == {"scaleset-image-testbed": "scaleset_testbed.cli:main"}
