"""Stopping tasks for certain: cancel, and cancel again whatever a library let run on.

On Python 3.11 `asyncio.wait_for` returns the result of an inner call that finished in the same
loop turn as the cancellation came, and the cancellation is lost. redis-py sends every command
through it (its socket timeout), so about one cancel in fifty landing on a Redis call is lost and
the task runs on: a follower re-enters its blocking read, a poller sleeps until its next poll.
A shutdown that cancels once and waits would wait for ever.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable

NUDGE_S = 0.5  # how long a cancelled task may take before it is cancelled again


async def cancel_and_wait(tasks: Iterable[asyncio.Future], nudge_s: float = NUDGE_S) -> None:
    """Cancel the tasks and return once every one has ended; their errors are retrieved, not raised."""
    tasks = list(tasks)
    pending = {t for t in tasks if not t.done()}
    for task in pending:
        task.cancel()
    while pending:
        _done, pending = await asyncio.wait(pending, timeout=nudge_s)
        for task in pending:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
