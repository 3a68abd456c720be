"""The service's one clock: the wall clock, switched once to the simulator's scenario clock in the demo."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any


class ClockRef:
    """A clock whose source can be switched once at start-up (wall clock -> scenario clock)."""

    def __init__(self, source: Callable[[], datetime]) -> None:
        self.source = source
        self.speed = 1.0  # clock seconds per real second (a scenario clock's speed in the demo)

    def __call__(self) -> datetime:
        return self.source().astimezone(timezone.utc)

    def use(self, clock: Any) -> None:
        """Follow a scenario clock (anything with now() and speed) from now on."""
        self.source = clock.now
        self.speed = float(getattr(clock, "speed", 1.0))
