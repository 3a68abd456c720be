"""Rendered portal pages, rebuilt only when what they show has changed.

A page is a function of the current events (the read model's generation, service/current_events.py),
the sources' statuses, the minute shown as "as of", the language and the chosen municipality. A
request costs at most two small store reads (is there a feed entry past the read model, shared by
the requests arriving together; the source statuses) instead of a query of every event and a
render, and many requests arriving together for a changed page render it once.
The portal snapshot (publishers/portal_snapshot.py) renders the hot pages through the same cache
after every change, so a resident's request usually finds its page rendered and compressed.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable

from geo.store.base import SourceStatus
from publishers.http_cache import Representation

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
# Revalidate every time: the ETag makes that cheap, and warnings must be current.
PAGE_CACHE_CONTROL = "no-cache"


def page_representation(body: bytes, cache_control: str = PAGE_CACHE_CONTROL) -> Representation:
    """A rendered page with its strong ETag and its gzip and brotli encodings, built once."""
    return Representation(body, HTML_CONTENT_TYPE, cache_control=cache_control).precompress()


def statuses_fingerprint(statuses: list[SourceStatus]) -> Hashable:
    """What of the source statuses a page shows: state and data time per source."""
    return tuple((s.source_id, s.state.value, s.content_time, s.last_success) for s in statuses)


class PageCache:
    """The newest rendering per page slot (template, language, area), keyed by what it depends on."""

    def __init__(self) -> None:
        self._slots: dict[Hashable, tuple[Hashable, asyncio.Future[Representation]]] = {}

    async def get(
        self,
        slot: Hashable,
        version: Hashable,
        render: Callable[[], Awaitable[bytes]],
        cache_control: str = PAGE_CACHE_CONTROL,
    ) -> Representation:
        """The page for `slot` at `version`, rendered at most once however many ask at once."""
        return await self.once(slot, version, lambda: self._render(render, cache_control))

    async def once(
        self, slot: Hashable, version: Hashable, make: Callable[[], Awaitable[Representation]]
    ) -> Representation:
        """`make()`'s answer for `slot` at `version`, made at most once however many ask at once;
        a newer version replaces the slot's, and a failure is never kept."""
        cached = self._slots.get(slot)
        if cached is not None and cached[0] == version:
            return await asyncio.shield(cached[1])
        future: asyncio.Future[Representation] = asyncio.ensure_future(make())
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
