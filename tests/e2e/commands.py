"""Running the commands people type (``scaleset-image``, ``kubectl-ssi``, the real ``kubectl``) as subprocesses.

Asynchronous, so a Kubernetes emulator in the test's own event loop keeps answering while they run. The
console scripts are the ones installed beside this interpreter (``.venv/bin``), found on PATH as kubectl finds
its plugins.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent


def command_env(**overrides: str | None) -> dict[str, str]:
    """This environment with ``.venv/bin`` first on PATH; ``None`` removes a variable."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


async def run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``argv[0]`` from ``.venv/bin`` with the rest as arguments: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / argv[0]),
        *argv[1:],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or command_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def interrupt_after(output_marker: str, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Start ``argv``, wait until its stdout shows ``output_marker``, then Ctrl-C (SIGINT) it."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / argv[0]),
        *argv[1:],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env or command_env(),
    )
    assert proc.stdout is not None
    seen = ""
    try:
        while output_marker not in seen:
            chunk = await asyncio.wait_for(proc.stdout.read(4096), timeout=30)
            assert chunk, f"ended before printing {output_marker!r}: {seen[-2000:]}"
            seen += chunk.decode()
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode is not None
    return proc.returncode, seen + out.decode(), err.decode()


def two_context_kubeconfig(url: str, path: Path, namespace: str) -> Path:
    """A kubeconfig with contexts ``main`` (current, namespace default) and ``team`` (namespace ``namespace``)."""
    cluster = {"name": "emu", "cluster": {"server": url, "insecure-skip-tls-verify": True}}
    user = {"name": "emu", "user": {"token": "dummy"}}
    contexts: list[dict[str, Any]] = [
        {"name": "main", "context": {"cluster": "emu", "user": "emu"}},
        {"name": "team", "context": {"cluster": "emu", "user": "emu", "namespace": namespace}},
    ]
    config = {
        "apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user], "contexts": contexts,
        "current-context": "main",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
