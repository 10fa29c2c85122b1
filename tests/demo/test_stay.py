"""The demo for a person at a second terminal: a run of its own, the APIs kept up, and clean ends.

Aspects: each run writes its kubeconfig, operator configuration and env file in a directory of its own (not a
path shared between runs) and removes them at the end; with --stay, once everything settled, the APIs stay up
(kubectl through the env file, and the README's plan command against the demo's Azure emulator, work) until
Ctrl-C, which then exits 0; Ctrl-C or SIGTERM before everything settled exits 130 or 143, says so, and prints
no traceback.
"""

from __future__ import annotations

import asyncio
import io
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .support import ROOT, Headless

pytestmark = pytest.mark.slow

PLAN = "scaleset-image plan -f deploy/examples/marketplace-pinned.yaml --config $SCALESET_IMAGE_DEMO/operator.yaml"


def test_stay_keeps_the_apis_up_for_kubectl_and_plan_until_ctrl_c(tmp_path: Path) -> None:
    demo = Headless(["--stay", "--time-scale", "40", "--timeout", "240"], tmp_path)
    try:
        kubeconfig = Path(demo.until("kubeconfig: ").split()[1])
        assert re.fullmatch(r"/.+/scaleset-image-demo-[a-z0-9_]+/kubeconfig", str(kubeconfig)), kubeconfig
        run_dir = kubeconfig.parent
        env_file = run_dir / "env"
        assert {p.name for p in run_dir.iterdir()} >= {"kubeconfig", "operator.yaml", "env"}
        demo.until("all settled after ")
        time.sleep(2)
        assert demo.proc.poll() is None, "--stay: still up after everything settled"
        home = tmp_path / "home"  # kubectl's cache, outside the run directory
        home.mkdir()
        # What the README says to type in another terminal (the env file puts .venv/bin first on PATH).
        shell = f"source {env_file} && kubectl get ssi -A -o name && kubectl ssi status web -n web && {PLAN}"
        tried = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120, cwd=ROOT,
                               env={"PATH": "/usr/bin:/bin", "HOME": str(home)})  # fmt: skip
        assert tried.returncode == 0, tried.stderr + tried.stdout
        assert "scalesetimage.imagerollout.dev/web" in tried.stdout
        assert "web/web  (vmss-web)  Succeeded" in tried.stdout
        assert "web: scale set vmss-web (20 instances, westeurope, upgrade policy Manual)" in tried.stdout
        assert "(model already matches" in tried.stdout
        demo.proc.send_signal(signal.SIGINT)
        code, output = demo.finish()
    finally:
        demo.kill()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output
    assert "interrupted" not in output
    assert not run_dir.exists(), f"headless: nothing is left behind, found {sorted(p.name for p in run_dir.rglob('*'))}"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_before_everything_settled_exits_128_plus_its_number(signum: int, code: int, tmp_path: Path) -> None:
    demo = Headless(["--time-scale", "2"], tmp_path)
    try:
        demo.until("kubeconfig: ")
        demo.until(" phase ", anywhere=True)  # the first phase line of the watch: the operator is running
        demo.proc.send_signal(signum)
        got, output = demo.finish()
    finally:
        demo.kill()
    assert got == code, output[-3000:]
    assert f"interrupted by {signal.Signals(signum).name} before every resource settled" in output
    assert "Traceback" not in output
    assert "done in " in output


async def test_a_signal_kopf_takes_while_it_starts_is_still_told_apart() -> None:
    """Until kopf is ready its own handlers take Ctrl-C and SIGTERM; the line it logs tells the demo which."""
    import logging

    from kopf._core.reactor.running import stop_flag_checker  # the task that logs the line, as kopf runs it
    from scaleset_testbed.demo import Demo, DemoOptions

    demo = Demo(DemoOptions(ui=False), io.StringIO())
    seen = demo._kopf_signals()
    kopf_logger = logging.getLogger("kopf")
    level = kopf_logger.level
    kopf_logger.addHandler(seen)
    kopf_logger.setLevel(logging.INFO)
    try:
        flag: asyncio.Future[signal.Signals] = asyncio.get_running_loop().create_future()
        flag.set_result(signal.SIGTERM)
        await stop_flag_checker(signal_flag=flag, stop_flag=None)
    finally:
        kopf_logger.removeHandler(seen)
        kopf_logger.setLevel(level)
    assert demo.signal == signal.SIGTERM
