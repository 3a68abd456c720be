"""Scenario time: a fixed start datetime advanced at `speed` times real time, pausable and jumpable."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta


class ScenarioClock:
    """Maps real (monotonic) time to scenario time.

    The scenario starts at `start`; every real second advances `speed` scenario seconds. Jumps and
    pauses rebase the mapping so that scenario time never depends on wall-clock dates, only on how
    long the simulator has run, which keeps content a pure function of scenario time.
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("scenario start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self._speed = float(speed)
        self._monotonic = monotonic
        self._base_offset = 0.0  # scenario seconds since start at _base_real
        self._base_real = monotonic()
        self._paused = False

    @property
    def speed(self) -> float:
        """Scenario seconds per real second."""
        return self._speed

    @property
    def paused(self) -> bool:
        """True while the clock is stopped."""
        return self._paused

    def elapsed_s(self) -> float:
        """Scenario seconds since the scenario start (negative before it)."""
        if self._paused:
            return self._base_offset
        return self._base_offset + (self._monotonic() - self._base_real) * self._speed

    def now(self) -> datetime:
        """The current scenario time (timezone-aware, in the start's zone)."""
        return self.start + timedelta(seconds=self.elapsed_s())

    def _rebase(self, offset_s: float) -> None:
        self._base_offset = offset_s
        self._base_real = self._monotonic()

    def jump(self, to: datetime) -> None:
        """Set scenario time to `to` (may go backwards)."""
        if to.tzinfo is None:
            raise ValueError("jump target must be timezone-aware")
        self._rebase((to - self.start).total_seconds())

    def jump_elapsed(self, hours: float) -> None:
        """Set scenario time to `hours` after the scenario start."""
        self._rebase(hours * 3600.0)

    def pause(self) -> None:
        """Stop scenario time."""
        if not self._paused:
            self._rebase(self.elapsed_s())
            self._paused = True

    def resume(self) -> None:
        """Let scenario time run again from where it was paused."""
        if self._paused:
            self._paused = False
            self._rebase(self._base_offset)

    def set_speed(self, speed: float) -> None:
        """Change the compression factor without moving scenario time."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._rebase(self.elapsed_s())
        self._speed = float(speed)

    def state(self) -> dict:
        """JSON-ready view of the clock."""
        return {
            "start": self.start.isoformat(),
            "now": self.now().isoformat(),
            "elapsed_h": round(self.elapsed_s() / 3600.0, 6),
            "speed": self._speed,
            "paused": self._paused,
        }
