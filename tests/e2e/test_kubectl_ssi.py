"""``kubectl ssi`` (the ``kubectl-ssi`` console script) against the Kubernetes emulator, and through real kubectl.

Aspects: pause/resume patch ``spec.rollout.paused`` and say what follows, or that there is nothing to do
(no write then); abort sets ``spec.rollout.abort``; retry clears it and writes a new ``retryToken``, and does
nothing for a rollout that did not fail; ``.status`` is never written; ``-n``, ``--context`` and
``--kubeconfig`` are honoured, before or after the verb, and the context's namespace is the default; errors
say what to do (unknown name with the names that exist, unknown context, no configuration, an API that cannot
be reached, the CRD missing), with exit code 1 and no traceback; the real kubectl binary finds the plugin on
PATH; ``status -w`` ends on Ctrl-C with 130 and no traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from scaleset_testbed.kube import RunningKubeEmulator, start_kube_emulator, write_kubeconfig
from scaleset_testbed.worlds import CR, resources_path

from controller.resource.crd import build_crd

from .commands import command_env, interrupt_after, run, two_context_kubeconfig
from .harness import resource

pytestmark = pytest.mark.slow


async def _create(kube: RunningKubeEmulator, namespace: str, name: str, **rollout: Any) -> None:
    body = resource(name, **rollout)
    body["metadata"]["namespace"] = namespace
    async with aiohttp.ClientSession() as http:
        # Namespaces must exist on a real API server; an emulator that makes them on write answers 201 or 409 too.
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        async with http.post(f"{kube.url}/api/v1/namespaces", json=ns):
            pass
        async with http.post(kube.url + resources_path(namespace), json=body) as response:
            assert response.status == 201, await response.text()


async def _set_status(kube: RunningKubeEmulator, namespace: str, name: str, status: dict[str, Any]) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.patch(
            f"{kube.url}{resources_path(namespace)}/{name}/status",
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response,
    ):
        assert response.status == 200, await response.text()


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[RunningKubeEmulator]:
    async with await start_kube_emulator(crds=[build_crd()]) as emulator:
        await _create(emulator, "default", "web")
        write_kubeconfig(emulator.url, tmp_path / "kubeconfig")
        yield emulator


def _obj(kube: RunningKubeEmulator, name: str = "web", namespace: str = "default") -> dict[str, Any]:
    obj = kube.get_object(CR, name, namespace)
    assert obj is not None
    return obj


def _rollout(kube: RunningKubeEmulator, name: str = "web", namespace: str = "default") -> dict[str, Any]:
    return dict(_obj(kube, name, namespace)["spec"]["rollout"])


async def test_pause_and_resume_patch_spec_rollout_paused(kube: RunningKubeEmulator, tmp_path: Path) -> None:
    kc = str(tmp_path / "kubeconfig")
    code, out, err = await run("kubectl-ssi", "pause", "web", "--kubeconfig", kc)
    assert (code, err) == (0, "")
    assert out == "scalesetimage.imagerollout.dev/web paused: no new domain starts (kubectl ssi resume web goes on)\n"
    assert _rollout(kube)["paused"] is True
    generation = _obj(kube)["metadata"]["generation"]

    code, out, _ = await run("kubectl-ssi", "--kubeconfig", kc, "pause", "web")
    assert code == 0
    assert "web is already paused" in out
    assert _obj(kube)["metadata"]["generation"] == generation, "nothing to do: no write"

    code, out, _ = await run("kubectl-ssi", "resume", "web", "--kubeconfig", kc)
    assert code == 0
    assert out == "scalesetimage.imagerollout.dev/web resumed\n"
    assert _rollout(kube)["paused"] is False
    code, out, _ = await run("kubectl-ssi", "resume", "web", "--kubeconfig", kc)
    assert (code, "web is not paused" in out) == (0, True)
    assert "status" not in _obj(kube) or not _obj(kube)["status"], "the plugin never writes .status"


async def test_abort_then_retry_write_only_spec(kube: RunningKubeEmulator, tmp_path: Path) -> None:
    kc = str(tmp_path / "kubeconfig")
    await _set_status(kube, "default", "web", {"phase": "Progressing", "currentDomain": "ud-1"})
    code, out, err = await run("kubectl-ssi", "abort", "web", "--kubeconfig", kc)
    assert (code, err) == (0, "")
    assert "web aborted: once the Azure operation in flight ends, the rollout stops as Failed" in out
    assert _rollout(kube)["abort"] is True
    code, out, _ = await run("kubectl-ssi", "abort", "web", "--kubeconfig", kc)
    assert "already aborted" in out

    await _set_status(kube, "default", "web", {"phase": "Failed", "currentDomain": None})
    code, out, err = await run("kubectl-ssi", "retry", "web", "--kubeconfig", kc)
    assert (code, err) == (0, "")
    assert "web retried: going on from the failed domain" in out
    rollout = _rollout(kube)
    assert rollout["abort"] is False
    first = rollout["retryToken"]
    assert first.endswith("Z")
    code, _, _ = await run("kubectl-ssi", "retry", "web", "--kubeconfig", kc)
    assert _rollout(kube)["retryToken"] != first, "each retry is a new token"
    assert _obj(kube)["status"]["phase"] == "Failed", "the plugin never writes .status"

    await _set_status(kube, "default", "web", {"phase": "Succeeded"})
    generation = _obj(kube)["metadata"]["generation"]
    code, out, _ = await run("kubectl-ssi", "retry", "web", "--kubeconfig", kc)
    assert (code, out) == (0, "scalesetimage.imagerollout.dev/web is Succeeded: nothing to retry\n")
    assert _obj(kube)["metadata"]["generation"] == generation


async def test_abort_says_rollback_when_the_spec_says_so(kube: RunningKubeEmulator, tmp_path: Path) -> None:
    await _create(kube, "default", "api", onFailure="Rollback")
    await _set_status(kube, "default", "api", {"phase": "Progressing"})
    code, out, _ = await run("kubectl-ssi", "abort", "api", "--kubeconfig", str(tmp_path / "kubeconfig"))
    assert code == 0
    assert "the previous image is put back (onFailure: Rollback)" in out


async def test_namespace_and_context_are_honoured(kube: RunningKubeEmulator, tmp_path: Path) -> None:
    await _create(kube, "team-a", "web")
    kc = str(two_context_kubeconfig(kube.url, tmp_path / "two", "team-a"))
    code, _, err = await run("kubectl-ssi", "pause", "web", "--kubeconfig", kc, "--context", "team")
    assert (code, err) == (0, "")
    assert _rollout(kube, "web", "team-a")["paused"] is True, "the context's namespace"
    assert _rollout(kube, "web", "default")["paused"] is False
    code, _, _ = await run("kubectl-ssi", "-n", "default", "pause", "web", "--kubeconfig", kc, "--context", "team")
    assert code == 0
    assert _rollout(kube, "web", "default")["paused"] is True, "-n wins over the context's namespace"
    env = command_env(KUBECONFIG=kc)
    code, out, _ = await run("kubectl-ssi", "status", "web", "-n", "team-a", env=env)
    assert code == 0
    assert "team-a/web" in out

    code, _, err = await run("kubectl-ssi", "pause", "web", "--kubeconfig", kc, "--context", "nope")
    assert code == 1
    assert err.startswith("kubectl ssi pause: context nope is not in kubeconfig ")
    assert "(it has: main, team)" in err


async def test_errors_say_what_to_do(kube: RunningKubeEmulator, tmp_path: Path) -> None:
    kc = str(tmp_path / "kubeconfig")
    code, out, err = await run("kubectl-ssi", "pause", "nope", "--kubeconfig", kc)
    assert (code, out) == (1, "")
    assert err == "kubectl ssi pause: scalesetimage nope not found in namespace default (it has: web)\n"
    code, _, err = await run("scaleset-image", "status", "nope", "-n", "elsewhere", "--kubeconfig", kc)
    assert code == 1
    assert err.endswith(": scalesetimage nope not found in namespace elsewhere (it has no scalesetimages)\n")

    env = command_env(KUBECONFIG=None, HOME=str(tmp_path / "home"), KUBERNETES_SERVICE_HOST=None)
    for argv in (("kubectl-ssi", "resume", "web"), ("scaleset-image", "status")):
        code, out, err = await run(*argv, env=env)
        assert code == 1
        assert "no Kubernetes configuration found" in err
        assert f"{tmp_path / 'home' / '.kube' / 'config'} does not exist" in err
        assert "--kubeconfig FILE or export KUBECONFIG=FILE" in err
        assert "Traceback" not in err
    code, _, err = await run("kubectl-ssi", "status", env=command_env(KUBECONFIG=str(tmp_path / "missing")))
    assert code == 1
    assert f"$KUBECONFIG is {tmp_path / 'missing'}, and no such file exists" in err


async def test_an_api_that_cannot_be_reached_or_lacks_the_crd(tmp_path: Path) -> None:
    async with await start_kube_emulator() as bare:
        kc = str(write_kubeconfig(bare.url, tmp_path / "bare"))
        code, _, err = await run("kubectl-ssi", "status", "--kubeconfig", kc)
        assert code == 1
        assert "does not serve scalesetimages.imagerollout.dev/v1alpha1: install the CRD first" in err
        url = bare.url
    code, _, err = await run("kubectl-ssi", "abort", "web", "--kubeconfig", kc)
    assert code == 1
    assert err.startswith(f"kubectl ssi abort: cannot reach the Kubernetes API at {url} (kubeconfig {kc})")
    assert "Traceback" not in err


async def test_real_kubectl_finds_the_plugin_on_path(kube: RunningKubeEmulator, tmp_path: Path) -> None:
    kc = str(tmp_path / "kubeconfig")
    code, out, err = await run("kubectl", "plugin", "list")
    assert code == 0, err
    assert "kubectl-ssi" in out
    code, out, err = await run("kubectl", "ssi", "pause", "web", "--kubeconfig", kc)
    assert (code, err) == (0, "")
    assert "web paused" in out
    assert _rollout(kube)["paused"] is True
    code, out, _ = await run("kubectl", "ssi", "status", "--kubeconfig", kc)
    assert code == 0
    assert "default/web" in out
    code, _, err = await run("kubectl", "ssi", "retry")
    assert code == 2
    assert "the following arguments are required: name" in err


@pytest.mark.parametrize("argv", [("kubectl-ssi", "status", "-w"), ("scaleset-image", "status", "-w")])
async def test_watch_ends_on_ctrl_c_with_130(kube: RunningKubeEmulator, tmp_path: Path, argv: tuple[str, ...]) -> None:
    code, _, err = await interrupt_after("default/web", *argv, "--interval", "0.2", "--kubeconfig",
                                           str(tmp_path / "kubeconfig"))  # fmt: skip
    assert code == 130, err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
