"""The files one demo run writes for a person in another terminal, in a directory of its own.

Each run gets a fresh directory (``/tmp/scaleset-image-demo-XXXXXXXX``), so two demos never share a kubeconfig:
- ``kubeconfig``: the demo's Kubernetes API (or the path given with ``--kubeconfig``);
- ``operator.yaml``: an operator configuration whose cloud profiles point at the demo's Azure emulator, for
  ``scaleset-image plan -f deploy/examples/... --config .../operator.yaml``;
- ``env``: ``source`` it to get ``KUBECONFIG``, the token the profiles send, ``SCALESET_IMAGE_DEMO`` (this
  directory) and the project's ``.venv/bin`` (kubectl, ``kubectl ssi``, ``scaleset-image``) first on PATH;
- ``operator.log``: the operator's log while the live view holds the terminal.
The first three point at ports that die with the demo, so they are removed when it ends; the log is kept.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.config import OperatorConfig

DIRECTORY_PREFIX = "scaleset-image-demo-"


@dataclass(frozen=True)
class RunFiles:
    directory: Path
    kubeconfig: Path
    operator_config: Path
    env: Path
    log: Path

    @classmethod
    def make(cls, kubeconfig: str | None) -> RunFiles:
        directory = Path(tempfile.mkdtemp(prefix=DIRECTORY_PREFIX))
        return cls(
            directory=directory,
            kubeconfig=Path(kubeconfig).absolute() if kubeconfig else directory / "kubeconfig",
            operator_config=directory / "operator.yaml",
            env=directory / "env",
            log=directory / "operator.log",
        )

    def write(self, config: OperatorConfig, token_env: str, token: str) -> None:
        """``operator.yaml`` and ``env`` (the kubeconfig is written by the Kubernetes emulator's helper)."""
        self.operator_config.write_text(
            "# The demo's operator configuration: its cloud profiles point at the demo's Azure emulator.\n"
            f"# scaleset-image plan -f deploy/examples/marketplace-pinned.yaml --config {self.operator_config}\n"
            f"# needs {token_env} set (source {self.env} sets it).\n" + yaml.safe_dump(config_document(config)),
            encoding="utf-8",
        )
        bin_dir = Path(sys.executable).parent
        self.env.write_text(
            f"# source this file in another shell while the demo runs (run directory {self.directory})\n"
            f"export KUBECONFIG={shlex.quote(str(self.kubeconfig))}\n"
            f"export SCALESET_IMAGE_DEMO={shlex.quote(str(self.directory))}\n"
            f"export {token_env}={shlex.quote(token)}\n"
            f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"\n',
            encoding="utf-8",
        )

    def remove(self) -> None:
        """Remove what points at the dead APIs; keep a log that has something in it."""
        for path in (self.operator_config, self.env):
            path.unlink(missing_ok=True)
        if self.kubeconfig.parent == self.directory:
            self.kubeconfig.unlink(missing_ok=True)
        if self.log.exists() and self.log.stat().st_size == 0:
            self.log.unlink()
        if not any(self.directory.iterdir()):
            shutil.rmtree(self.directory, ignore_errors=True)


def config_document(config: OperatorConfig) -> dict[str, Any]:
    """``config`` as the YAML file ``scaleset-image run|plan --config`` reads (``controller.config``)."""
    clouds: dict[str, Any] = {}
    for name, profile in config.clouds.items():
        entry: dict[str, Any] = {"armEndpoint": profile.arm_endpoint, "allowHttp": profile.allow_http,
                                 "credential": profile.credential}  # fmt: skip
        if profile.static_token_env:
            entry["staticTokenEnv"] = profile.static_token_env
        if profile.api_version:
            entry["apiVersion"] = profile.api_version
        clouds[name] = entry
    return {
        "defaultCloud": config.default_cloud,
        "clouds": clouds,
        "pollInterval": config.poll_interval,
        "resyncInterval": config.resync_interval,
    }
