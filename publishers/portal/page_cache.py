"""Rendered portal pages, rebuilt only when what they show has changed.

A page is a function of the stored events (the change feed's head), the sources' statuses, the
minute shown as "as of", the language and the chosen municipality. A request costs two small store
reads (is there a feed entry past the head we rendered at; the source statuses) instead of a query
of every event and a render, and many requests arriving together for a changed page render it once.
The portal snapshot (publishers/portal_snapshot.py) renders the hot pages through the same cache
after every change, so a resident's request usually finds its page rendered and compressed.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable

from geo.model import Event, Status
from geo.store.base import SourceStatus, Store
from publishers.http_cache import Representation

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
# Revalidate every time: the ETag makes that cheap, and warnings must be current.
PAGE_CACHE_CONTROL = "no-cache"
ADVANCE_LIMIT = 1000  # feed entries past the known events beyond which a full query is cheaper


def page_representation(body: bytes, cache_control: str = PAGE_CACHE_CONTROL) -> Representation:
    """A rendered page with its strong ETag and its gzip and brotli encodings, built once."""
    return Representation(body, HTML_CONTENT_TYPE, cache_control=cache_control).precompress()


def statuses_fingerprint(statuses: list[SourceStatus]) -> Hashable:
    """What of the source statuses a page shows: state and data time per source."""
    return tuple((s.source_id, s.state.value, s.content_time, s.last_success) for s in statuses)


async def _advance(store: Store, seq: int, events: list[Event]) -> list[Event]:
    """What store.query() gives now, from the events it gave at feed seq `seq`: only changed ids are read."""
    entries = await store.feed_since(seq, limit=ADVANCE_LIMIT)
    if len(entries) >= ADVANCE_LIMIT:
        return await store.query()  # far behind: one query beats many lookups
    current = {event.id: event for event in events}
    for event_id, event in (await store.get_many({entry.event_id for entry in entries})).items():
        if not event.ended and event.status is Status.ACTUAL:
            current[event_id] = event
        else:
            current.pop(event_id, None)  # ended or not actual: store.query() leaves it out
    return [current[event_id] for event_id in sorted(current)]  # the store orders by id


class PageCache:
    """The newest rendering per page slot (template, language, area), keyed by what it depends on."""

    def __init__(self) -> None:
        self.head: int | None = None  # feed seq the cached pages include; None until first read
        self._slots: dict[Hashable, tuple[Hashable, asyncio.Future[Representation]]] = {}
        self._advancing: asyncio.Lock = asyncio.Lock()
        self._events: tuple[int, asyncio.Future[list[Event]]] | None = None
        # The current events as of a feed seq, set by the portal snapshot after each build: pages
        # rendered at that head use them instead of querying and decoding every event again.
        self.known_events: tuple[int, list[Event]] | None = None

    async def current_head(self, store: Store) -> int:
        """The change feed's head, advanced from the last known one (cheap when nothing changed)."""
        if self.head is not None and not await store.feed_since(self.head, limit=1):
            return self.head
        async with self._advancing:
            if self.head is None:
                entry = await store.feed_head()
                self.head = entry.seq if entry else 0
            while batch := await store.feed_since(self.head, limit=1000):
                self.head = batch[-1].seq
            return self.head

    async def current_events(self, store: Store, head: int) -> list[Event]:
        """The current events at feed head `head`, queried once for every page and language rendered at it."""
        known = self.known_events
        if known is not None and known[0] == head:
            return known[1]
        if self._events is None or self._events[0] != head:
            load = _advance(store, *known) if known is not None and known[0] < head else store.query()
            self._events = (head, asyncio.ensure_future(load))
        held = self._events
        try:
            return await asyncio.shield(held[1])
        except Exception:
            if self._events is held:
                self._events = None  # never keep a failure
            raise

    async def get(
        self,
        slot: Hashable,
        version: Hashable,
        render: Callable[[], Awaitable[bytes]],
        cache_control: str = PAGE_CACHE_CONTROL,
    ) -> Representation:
        """The page for `slot` at `version`, rendered at most once however many ask at once."""
        cached = self._slots.get(slot)
        if cached is not None and cached[0] == version:
            return await asyncio.shield(cached[1])
        future: asyncio.Future[Representation] = asyncio.ensure_future(self._render(render, cache_control))
        self._slots[slot] = (version, future)
        try:
            return await asyncio.shield(future)
        except Exception:
            if self._slots.get(slot, (None, None))[1] is future:
                del self._slots[slot]  # never keep a failure: the next request tries again
            raise

    @staticmethod
    async def _render(render: Callable[[], Awaitable[bytes]], cache_control: str) -> Representation:
        body = await render()
        # Hashing and compressing a large page releases the GIL: off the event loop it costs no latency.
        return await asyncio.to_thread(page_representation, body, cache_control)
