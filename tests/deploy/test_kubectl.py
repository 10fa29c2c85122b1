"""The real kubectl (the version the dev extras pin, never one from PATH) agrees with the tests' view of the
manifests: ``kubectl kustomize`` renders every kustomization to the objects ``kustomize_build`` returns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .support import KUBECTL_VERSION, Obj, kubectl, kustomizations, kustomize_build


def _key(obj: Obj) -> tuple[str, str, str]:
    return (obj["kind"], obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


def test_kubectl_is_the_pinned_one_from_this_environment() -> None:
    path = kubectl()
    assert Path(path).parent == Path(sys.executable).parent, path
    result = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["clientVersion"]["gitVersion"] == KUBECTL_VERSION


@pytest.mark.parametrize("directory", kustomizations(), ids=lambda d: str(d.name))
def test_kubectl_kustomize_renders_what_the_tests_check(directory: Path) -> None:
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rendered = [obj for obj in yaml.safe_load_all(result.stdout) if obj]
    assert sorted(rendered, key=_key) == sorted(kustomize_build(directory), key=_key)
