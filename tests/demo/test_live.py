"""The live view as a terminal shows it, read through a terminal emulator (pyte) at 80x24 and 160x50.

Aspects: the header with the run's kubeconfig path stays on the first lines of the screen for the whole run,
the resources fit below it, and the default run ends by itself once everything settled, with exit code 0 and
the final grids left in the scrollback; Ctrl-C in the live view exits 130 without a traceback.
"""

from __future__ import annotations

import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import terminal

pytestmark = pytest.mark.slow


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A run directory parent short enough that the kubeconfig path fits an 80-column header line."""
    path = Path(tempfile.mkdtemp(prefix="d", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


NAMES = ["api/api", "app/app", "batch/batch-workers", "edge/edge-web", "web/frontend", "web/web"]


def _header_ok(screen: list[str]) -> bool:
    return (
        screen[0].startswith("scaleset-image-testbed demo  t=")
        and re.match(r"kubeconfig /.+/scaleset-image-demo-[a-z0-9_]+/kubeconfig", screen[1]) is not None
        and screen[2].startswith("try: source ")
    )


def test_80x24_keeps_the_header_and_every_resource_on_screen_and_ends_by_itself(short_tmp: Path) -> None:
    with terminal(["--time-scale", "40", "--timeout", "240"], 80, 24, short_tmp) as term:
        first = term.until(lambda s: _header_ok(s) and all(n in "\n".join(s) for n in NAMES), within=60)
        samples = [first]
        while term.proc.poll() is None and len(samples) < 40:
            term.pump(0.5)
            screen = list(term.screen.display)
            if "settling" in screen[0]:
                samples.append(screen)
        code = term.wait(within=240)
        output = term.raw.decode(errors="replace")
    assert code == 0, output[-3000:]
    assert len(samples) > 3
    for screen in samples:
        assert _header_ok(screen), "\n".join(screen)
        assert all(name in "\n".join(screen) for name in NAMES), "\n".join(screen)
    assert "done in " in output
    assert "Traceback" not in output
    assert "timed out" not in output
    assert [p.name for p in short_tmp.glob("scaleset-image-demo-*/*")] == ["operator.log"], "only the log is kept"


def test_160x50_shows_full_grids_and_ctrl_c_exits_130(short_tmp: Path) -> None:
    with terminal(["--time-scale", "2"], 160, 50, short_tmp) as term:
        # web/web's full grid: its last update domain on a line of its own, below the header
        screen = term.until(
            lambda s: (
                _header_ok(s)
                and "web/web  (vmss-web)" in "\n".join(s)
                and any(
                    line.strip().startswith("ud-4 Pending")
                    for line in s[s.index(next(x for x in s if x.startswith("web/web"))) :]
                )
            ),
            within=60,
        )
        assert screen[0].startswith("scaleset-image-testbed demo")
        term.proc.send_signal(signal.SIGINT)
        code = term.wait(within=60)
        output = term.raw.decode(errors="replace")
    assert code == 130
    assert "interrupted by SIGINT before every resource settled" in output
    assert "Traceback" not in output
