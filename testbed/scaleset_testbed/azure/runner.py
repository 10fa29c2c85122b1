"""Ways to run the emulator: the ``scaleset-image-testbed emulator`` command, and a background thread."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from typing import TextIO

from .scenario import Scenario
from .server import AzureEmulator


async def run_emulator(
    scenario: Scenario,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    profile: str = "azure",
    time_scale: float = 1.0,
    out: TextIO = sys.stdout,
) -> None:
    """Serve until SIGINT/SIGTERM. The first line printed is the base URL, so scripts can read it."""
    emulator = AzureEmulator(scenario, profile=profile, time_scale=time_scale)
    url = await emulator.start(host, port)
    print(url, file=out, flush=True)
    print(
        f"azure compute emulator: profile={profile} time-scale={time_scale} scale-sets={len(scenario.scale_sets)}; "
        f"audit at {url}/_emulator/audit",
        file=out,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


class EmulatorThread:
    """An emulator served from its own event loop in a daemon thread; use as a context manager."""

    def __init__(self, scenario: Scenario, *, profile: str = "azure", time_scale: float = 1.0) -> None:
        self._scenario = scenario
        self._profile = profile
        self._time_scale = time_scale
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="azure-emulator", daemon=True)
        self.emulator: AzureEmulator | None = None
        self.url = ""

    def start(self) -> str:
        self._thread.start()

        async def boot() -> str:
            self.emulator = AzureEmulator(self._scenario, profile=self._profile, time_scale=self._time_scale)
            return await self.emulator.start()

        self.url = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=30)
        return self.url

    def stop(self) -> None:
        if self.emulator is not None:
            asyncio.run_coroutine_threadsafe(self.emulator.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> EmulatorThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
