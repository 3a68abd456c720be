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
from typing import Any

from geo.model import Event
from geo.store.base import SourceStatus, Store
from service.change_feed import feed_head
from service.http_cache import Representation

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
# Revalidate every time: the ETag makes that cheap, and warnings must be current.
PAGE_CACHE_CONTROL = "no-cache"


def page_representation(body: bytes) -> Representation:
    """A rendered page with its strong ETag and its gzip and brotli encodings, built once."""
    return Representation(body, HTML_CONTENT_TYPE, cache_control=PAGE_CACHE_CONTROL).precompress()


def statuses_fingerprint(statuses: list[SourceStatus]) -> Hashable:
    """What of the source statuses a page shows: state and data time per source."""
    return tuple((s.source_id, s.state.value, s.content_time, s.last_success) for s in statuses)


class CurrentEvents:
    """The store as a page render reads it: the current events given, every other read passed through."""

    def __init__(self, store: Store, events: list[Event]) -> None:
        self._store = store
        self._events = events

    async def query(self, **filters: Any) -> list[Event]:
        """The current events (unfiltered: the ones given; filtered: from the store)."""
        return self._events if not filters else await self._store.query(**filters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class PageCache:
    """The newest rendering per page slot (template, language, area), keyed by what it depends on."""

    def __init__(self) -> None:
        self.head: int | None = None  # feed seq the cached pages include; None until first read
        self._slots: dict[Hashable, tuple[Hashable, asyncio.Future[Representation]]] = {}
        self._advancing: asyncio.Lock = asyncio.Lock()
        self._events: tuple[int, asyncio.Future[list[Event]]] | None = None

    async def current_head(self, store: Store) -> int:
        """The change feed's head, advanced from the last known one (cheap when nothing changed)."""
        if self.head is not None and not await store.feed_since(self.head, limit=1):
            return self.head
        async with self._advancing:
            if self.head is None:
                entry = await feed_head(store)
                self.head = entry.seq if entry else 0
            while batch := await store.feed_since(self.head, limit=1000):
                self.head = batch[-1].seq
            return self.head

    async def current_events(self, store: Store, head: int) -> list[Event]:
        """The current events at feed head `head`, queried once for every page and language rendered at it."""
        if self._events is None or self._events[0] != head:
            self._events = (head, asyncio.ensure_future(store.query()))
        held = self._events
        try:
            return await asyncio.shield(held[1])
        except Exception:
            if self._events is held:
                self._events = None  # never keep a failure
            raise

    async def get(
        self, slot: Hashable, version: Hashable, render: Callable[[], Awaitable[bytes]]
    ) -> Representation:
        """The page for `slot` at `version`, rendered at most once however many ask at once."""
        cached = self._slots.get(slot)
        if cached is not None and cached[0] == version:
            return await asyncio.shield(cached[1])
        future: asyncio.Future[Representation] = asyncio.ensure_future(self._render(render))
        self._slots[slot] = (version, future)
        try:
            return await asyncio.shield(future)
        except Exception:
            if self._slots.get(slot, (None, None))[1] is future:
                del self._slots[slot]  # never keep a failure: the next request tries again
            raise

    @staticmethod
    async def _render(render: Callable[[], Awaitable[bytes]]) -> Representation:
        return page_representation(await render())
