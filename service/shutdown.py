"""One time budget for the whole stop of the service.

On SIGTERM the service stops accepting requests, waits for open connections, lets in-flight polls
finish and stops the push dispatchers. Each step takes what is left of one budget
(`service.shutdown_timeout_s`), not a fresh timeout of its own, so a container's stop grace period
can be set from the config. Whatever still runs when the budget and a short margin are spent is
named in the log and the process exits anyway (service/web/serve.py): every write is one transaction
and every push is leased, so a cut-short stop loses nothing a `kill -9` would not.
"""
from __future__ import annotations

import time


class ShutdownBudget:
    """Seconds left for the stop, counted from `start()` (the full budget until then)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline: float | None = None

    def start(self) -> None:
        """Start counting; a second call keeps the first deadline."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.seconds

    def remaining(self) -> float:
        if self._deadline is None:
            return self.seconds
        return max(0.0, self._deadline - time.monotonic())
