"""One subscription to the change feed per app, passed on to every SSE stream."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from geo.store.base import FeedEntry, Store


class Listener:
    """What one reader of the fan-out receives: feed entries, then None if it fell `limit` behind."""

    def __init__(self, limit: int) -> None:
        self.queue: asyncio.Queue[FeedEntry | None] = asyncio.Queue()
        self.limit = limit
        self.overrun = False

    def put(self, entry: FeedEntry) -> bool:
        """Pass an entry on; False (and a final None queued) once the reader is `limit` entries behind."""
        if self.queue.qsize() >= self.limit:
            self.overrun = True
            self.queue.put_nowait(None)
            return False
        self.queue.put_nowait(entry)
        return True


class FeedFanout:
    """One subscription to the change feed, passed on to every listener (the open SSE streams).

    A subscription per stream held, on Redis, one pooled connection blocked in XREAD per open
    stream: a hundred streams used up redis-py's pool and every other store read failed. `run` is
    supervised by the app; a restart (after the store was unreachable) resumes after the last
    entry passed on, so listeners see every entry once and in order across it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seq: int | None = None  # the newest entry passed on; None until the first run read the head
        self._listeners: set[Listener] = set()

    async def run(self) -> None:
        """Follow the feed from where the last run stopped (the head, the first time) until cancelled."""
        if self.seq is None:
            head = await self.store.feed_head()
            self.seq = head.seq if head is not None else 0
        async for entry in self.store.subscribe(self.seq):
            self.seq = entry.seq
            for listener in list(self._listeners):
                if not listener.put(entry):
                    self._listeners.discard(listener)

    @contextlib.contextmanager
    def listen(self, limit: int) -> Iterator[Listener]:
        """A listener receiving every entry the fan-out reads from now on, until the block ends."""
        listener = Listener(limit)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
