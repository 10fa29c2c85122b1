"""One monotonic clock for the whole emulator, with an adjustable time scale.

Simulated durations (an instance upgrade taking 2 s, a rolling-upgrade pause) are expressed in
*scenario seconds*. The time scale says how many scenario seconds pass per real second, so a demo or a
test can run a 5-domain rollout in a fraction of its real length. Audit times are scenario seconds since
the emulator started, so they compare directly with the scenario's timing. Throttling, which is about the
client's request rate, deliberately uses real seconds (see ``throttle.py``).
"""

from __future__ import annotations

import time


class Clock:
    """Scenario time that advances ``scale`` times faster than the monotonic wall clock."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("time scale must be > 0")
        self._scale = scale
        self._base_real = time.monotonic()
        self._base_sim = 0.0

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        """Change the speed from now on without making scenario time jump."""
        if scale <= 0:
            raise ValueError("time scale must be > 0")
        now = self.now()
        self._base_real = time.monotonic()
        self._base_sim = now
        self._scale = scale

    def now(self) -> float:
        """Scenario seconds since the emulator started."""
        return self._base_sim + (time.monotonic() - self._base_real) * self._scale

    def real_seconds_until(self, sim_time: float) -> float:
        """How long to sleep in real time until scenario time reaches ``sim_time``."""
        return max(0.0, (sim_time - self.now()) / self._scale)
