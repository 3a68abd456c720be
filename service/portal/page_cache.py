"""Rendered portal pages, rebuilt only when what they show has changed.

A page is a function of the stored events (the change feed's head), the sources' statuses, the
minute shown as "as of", the language and the chosen municipality. A request costs two small store
reads (is there a feed entry past the head we rendered at; the source statuses) instead of a query
of every event and a render, and many requests arriving together for a changed page render it once.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from geo.store.base import SourceStatus, Store
from service.change_feed import feed_head

GZIP_LEVEL = 6  # pages change often: a fast level; the static assets carry the best-ratio files


@dataclass(frozen=True, slots=True)
class Rendered:
    """One page's bytes, its gzip encoding and strong ETag."""

    body: bytes
    gz: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Rendered:
        """Hash and compress a rendered page."""
        return cls(body, gzip.compress(body, GZIP_LEVEL), '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def statuses_fingerprint(statuses: list[SourceStatus]) -> Hashable:
    """What of the source statuses a page shows: state and data time per source."""
    return tuple((s.source_id, s.state.value, s.content_time, s.last_success) for s in statuses)


class PageCache:
    """The newest rendering per page slot (template, language, area), keyed by what it depends on."""

    def __init__(self) -> None:
        self.head: int | None = None  # feed seq the cached pages include; None until first read
        self._slots: dict[Hashable, tuple[Hashable, asyncio.Future[Rendered]]] = {}
        self._advancing: asyncio.Lock = asyncio.Lock()

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

    async def get(self, slot: Hashable, version: Hashable, render: Callable[[], Awaitable[bytes]]) -> Rendered:
        """The page for `slot` at `version`, rendered at most once however many ask at once."""
        cached = self._slots.get(slot)
        if cached is not None and cached[0] == version:
            return await asyncio.shield(cached[1])
        future: asyncio.Future[Rendered] = asyncio.ensure_future(self._render(render))
        self._slots[slot] = (version, future)
        try:
            return await asyncio.shield(future)
        except Exception:
            if self._slots.get(slot, (None, None))[1] is future:
                del self._slots[slot]  # never keep a failure: the next request tries again
            raise

    @staticmethod
    async def _render(render: Callable[[], Awaitable[bytes]]) -> Rendered:
        return Rendered.of(await render())
