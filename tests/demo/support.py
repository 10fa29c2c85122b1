"""Running the demo as a subprocess: headless with its output as lines, or in a pseudo-terminal of a given size
read through a terminal emulator (pyte), as a person sees it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, "-m", "scaleset_testbed", "demo"]


class Terminal:
    """The demo in a ``columns`` x ``lines`` pseudo-terminal; :meth:`pump` feeds what it drew into a screen."""

    def __init__(self, args: list[str], columns: int, lines: int, tmp: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines), "TMPDIR": str(tmp)}
        self.proc = subprocess.Popen([*DEMO, *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT)
        os.close(slave)
        self.master = master
        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            self.raw += data
            self.stream.feed(data)

    def until(self, check: Callable[[list[str]], bool], within: float) -> list[str]:
        end = time.monotonic() + within
        while time.monotonic() < end and self.proc.poll() is None:
            self.pump(0.2)
            if check(self.screen.display):
                return list(self.screen.display)
        raise AssertionError("the screen never showed it:\n" + "\n".join(self.screen.display))

    def wait(self, within: float) -> int:
        end = time.monotonic() + within
        while self.proc.poll() is None and time.monotonic() < end:
            self.pump(0.2)
        self.pump(0.5)
        return self.proc.wait(timeout=5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@contextlib.contextmanager
def terminal(args: list[str], columns: int, lines: int, tmp: Path) -> Iterator[Terminal]:
    """The demo in a terminal; its run directory (and the operator log kept there) under ``tmp``."""
    term = Terminal(args, columns, lines, tmp)
    try:
        yield term
    finally:
        term.close()


class Headless:
    """The demo with --no-ui, its stdout and stderr as lines."""

    def __init__(self, args: list[str], tmp: Path | None = None) -> None:
        env = {**os.environ, **({"TMPDIR": str(tmp)} if tmp else {})}
        self.proc = subprocess.Popen(
            [*DEMO, "--no-ui", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env
        )
        self.lines: list[str] = []

    def until(self, prefix: str, within: float = 120, *, anywhere: bool = False) -> str:
        """Read lines until one starts with ``prefix`` (or has it ``anywhere``); that line is returned."""
        assert self.proc.stdout is not None
        end = time.monotonic() + within
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith(prefix) or (anywhere and prefix in line):
                return line
            assert time.monotonic() < end, f"no line {prefix!r} in time: {''.join(self.lines)[-3000:]}"
        raise AssertionError(f"ended without a line {prefix!r}: {''.join(self.lines)[-3000:]}")

    def finish(self, within: float = 60) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=within)
        self.lines.append(out)
        return self.proc.returncode, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
