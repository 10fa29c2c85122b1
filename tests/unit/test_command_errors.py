"""``scaleset-image plan`` and ``run`` as a person runs them, for what goes wrong before anything is answered.

Aspects: a missing manifest, a file that is not YAML, one with no ScaleSetImage, a static-token profile
whose variable is not set, and an Azure endpoint nobody listens on: each one line that says what is wrong,
the right exit code (2 for input, 1 for Azure) and no traceback; ``run`` with no Kubernetes configuration
says where it looked and how to point it (exit 1), before it starts anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "examples" / "marketplace-pinned.yaml"


def _plan(*args: str, env: dict[str, str] | None = None, verb: str = "plan") -> tuple[int, str, str]:
    command = [sys.executable, "-m", "controller", verb, *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env or dict(os.environ))
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc.returncode, proc.stdout, proc.stderr


def _config(tmp_path: Path, endpoint: str) -> Path:
    path = tmp_path / "operator.yaml"
    path.write_text(
        "clouds:\n  azure-public: {armEndpoint: '" + endpoint + "', allowHttp: true, credential: static-token,"
        " staticTokenEnv: PLAN_TEST_TOKEN}\n",
        encoding="utf-8",
    )
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreadable_manifests_are_input_errors(tmp_path: Path) -> None:
    code, _, err = _plan("-f", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert err.startswith(f"scaleset-image plan: cannot read {tmp_path / 'missing.yaml'}: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: [\n", encoding="utf-8")
    code, _, err = _plan("-f", str(bad))
    assert code == 2
    assert "not YAML" in err
    other = tmp_path / "other.yaml"
    other.write_text("kind: ConfigMap\n", encoding="utf-8")
    assert _plan("-f", str(other))[0] == 2


def test_a_token_variable_that_is_not_set_is_named(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PLAN_TEST_TOKEN"}
    code, _, err = _plan("-f", str(MANIFEST), "--config", str(_config(tmp_path, "http://127.0.0.1:1")), env=env)
    assert code == 2
    assert "environment variable PLAN_TEST_TOKEN is empty or unset; export PLAN_TEST_TOKEN=" in err


@pytest.mark.slow
def test_an_azure_endpoint_that_does_not_answer_says_so(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "PLAN_TEST_TOKEN": "t"}
    code, out, _ = _plan("-f", str(MANIFEST), "--config", str(_config(tmp_path, url)), env=env)
    assert code == 1
    assert "Cannot connect to host 127.0.0.1" in out


def test_run_without_a_kubernetes_configuration_says_where_it_looked(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    code, _, err = _plan("-n", "default", env=env, verb="run")
    assert code == 1
    assert err == (
        f"scaleset-image run: no Kubernetes configuration found: $KUBECONFIG is not set, {tmp_path}/.kube/config"
        " does not exist, and this is not a pod ($KUBERNETES_SERVICE_HOST is not set). Point to a cluster with"
        " export KUBECONFIG=FILE (make demo prints the path of its kubeconfig).\n"
    )
