"""Event pages: `/events/{id}`, one server-rendered page per event and language, linked from every push.

A page shows the event's current state and level (words from geo.wording), what to do, its areas
as a list and a small inline-SVG map, its version history with times, and its source and
provenance (with the events merged with it as the same hazard, geo/same_hazard). No script.

Pages are cached like the list page (a Representation per page: strong ETag, Last-Modified, 304,
gzip and brotli built once, rendered once however many ask at once) and invalidated by the change feed: a follower of
the process's read model (service/current_events.py) bumps an event's generation when it changes (for warnings merged by hazard, any change of a merged kind
bumps them all, since `same_as` may change). A page asked for once is also written, with its
encodings, under `<data_dir>/static` for nginx and kept current by the same follower:

    /events/sediment:17201 (cookie lang=en) -> events/sediment:17201/index.en.html (+ .gz, .br)

Only ids made of safe characters get files (`FILE_SAFE_ID`); others are served by the app alone.
Files of an earlier run are removed at start, so nginx never serves a page older than the store.
"""
from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog

from geo.model import Event, utcnow
from geo.same_hazard import MERGED_KINDS, hazard_of, same_as
from geo.store.base import Store, StoreError
from publishers.event_page_view import WORDS, RegionMap, page_context
from publishers.http_cache import Representation, write_representation
from publishers.portal import i18n
from publishers.portal.page_cache import HTML_CONTENT_TYPE, PAGE_CACHE_CONTROL, PageCache
from publishers.portal.state import Portal
from service.cancel import cancel_and_wait
from service.current_events import CurrentEvents

log = structlog.get_logger(__name__)

TASK_NAME = "event-pages"
DEBOUNCE_S = 0.2
STATUS_TICK_S = 15.0  # how soon a source turning stale (or recovering) reaches the pages
MAX_ID_LENGTH = 200
# What an event id may look like: "{kind}:{natural key}", no control characters, no slash.
EVENT_ID = re.compile(r"[a-z_]{1,32}:[^\x00-\x1f\x7f/\\]{1,%d}" % MAX_ID_LENGTH)
# Ids that may name a file and a directory for nginx: ASCII, no dot first, never "." or "..".
FILE_SAFE_ID = re.compile(r"[a-z_]{1,32}:[A-Za-z0-9_-][A-Za-z0-9_.:-]{0,%d}" % MAX_ID_LENGTH)


def event_url(base_url: str, event_id: str, lang: str | None = None) -> str:
    """The absolute link of an event's page, in the form publishers/rules.py puts in every push."""
    url = f"{base_url.rstrip('/')}/events/{quote(event_id, safe=':')}"
    return f"{url}?lang={lang}" if lang else url


def page_file(event_id: str, lang: str) -> str | None:
    """Relative path of an event page's static file, or None when the id is not safe as a file name."""
    if not FILE_SAFE_ID.fullmatch(event_id) or ".." in event_id:
        return None
    return f"events/{event_id}/index.{lang}.html"


class EventPages:
    """The rendered event pages: cached per (id, language), invalidated and rewritten from the change feed."""

    def __init__(self, store: Store, current: CurrentEvents, portal: Portal, static_dir: Path | None,
                 clock: Callable[[], datetime] = utcnow, debounce_s: float = DEBOUNCE_S,
                 status_tick_s: float = STATUS_TICK_S) -> None:
        self.store = store
        self.current_events = current
        self.portal = portal
        self.static_dir = static_dir
        self.clock = clock
        self.debounce_s = debounce_s
        self.status_tick_s = status_tick_s
        self.region = RegionMap(portal.region.boundaries)
        self._pages = PageCache()  # (event id, lang) -> the page of the newest version asked for, rendered once
        self.following = False  # versions are trusted only while the feed is followed
        self.epoch = 0  # bumped on (re)start and when sources turn late or recover: every page anew
        self.generations: dict[str, int] = {}
        self.merged_generation = 0
        self.late: frozenset[str] = frozenset()
        self.written: dict[str, bool] = {}  # ids whose static files exist (kept current) -> merged by hazard
        self.seen_seq = 0
        self.built_seq = -1
        self._seen_generation = -1  # the read model's generation last seen
        self._changed: set[str] = set()
        self._dirty = asyncio.Event()
        self._built = asyncio.Condition()
        self._writing = asyncio.Lock()

    def _stamp(self, event_id: str) -> Any:
        """What the feed has said of `event_id` so far; taken *before* reading the event, so a change
        landing during the read is never filed under a version that already counts it."""
        if not self.following:
            return None  # versions cannot be trusted: rendered afresh until the feed is followed again
        return (self.epoch, self.generations.get(event_id, 0), self.merged_generation)

    @staticmethod
    def _version(stamp: Any, event: Event) -> Any:
        if stamp is None:
            return object()  # equal to nothing
        epoch, generation, merged_generation = stamp
        # Only warnings merged by hazard depend on other events (their `same_as`).
        return (epoch, generation, merged_generation if hazard_of(event) is not None else 0)

    async def page(self, event_id: str, lang: str) -> Representation | None:
        """The page of `event_id` in `lang`, from the cache or rendered once; None for an unknown id."""
        stamp = self._stamp(event_id)
        event = await self.store.get(event_id)
        if event is None:
            return None
        page = await self._cached(event, lang, stamp)
        path = page_file(event_id, lang)
        if path is not None and event_id not in self.written and self.static_dir is not None and self.following:
            self.written[event_id] = hazard_of(event) is not None
            await self._write_files(event_id)
        return page

    async def _cached(self, event: Event, lang: str, stamp: Any) -> Representation:
        """The page of `event` (read after `stamp` was taken) in `lang`, rendered at most once per version."""
        return await self._pages.once((event.id, lang), self._version(stamp, event), lambda: self.render(event, lang))

    async def render(self, event: Event, lang: str) -> Representation:
        """One event's page in one language, with its history and merged hazards as the store has them now."""
        history = await self.store.history(event.id)
        others = await self._same_as(event)
        stale = event.source.source_id in self.late
        context = page_context(event, history, others, self.portal.region.codes, self.region, self.portal.zone,
                               lang, stale)
        modified = max([event.received_at, *(v.received_at for v in history)])

        def build() -> Representation:
            body = self._render_template("event.html", lang, context)
            return Representation(body, HTML_CONTENT_TYPE, modified, PAGE_CACHE_CONTROL).precompress()

        # Rendering, hashing and compressing hold the CPU, not the event loop.
        return await asyncio.to_thread(build)

    def _render_template(self, template: str, lang: str, context: dict[str, Any]) -> bytes:
        return (
            self.portal.environments[lang].get_template(template).render(
                language=i18n.LANGUAGES[lang], languages=list(i18n.LANGUAGES.values()),
                prefecture=self.portal.prefecture_name(lang), assets=self.portal.manifest, selected_area=None,
                **context,
            ).encode()
        )

    def missing_page(self, event_id: str, lang: str) -> bytes:
        """The 404 page for an unknown or malformed id (the id shown escaped, never trusted)."""
        shown = event_id if len(event_id) <= MAX_ID_LENGTH else event_id[:MAX_ID_LENGTH] + "…"
        return self._render_template("event_missing.html", lang, {"t": WORDS[lang], "event_id": shown})

    async def _same_as(self, event: Event) -> list[str]:
        if event.ended or hazard_of(event) is None or not event.areas:
            return []
        near = await self.store.query(kinds=MERGED_KINDS, areas=event.areas, include_exercise=True)
        return same_as([event, *(e for e in near if e.id != event.id)]).get(event.id, [])

    async def _write_files(self, event_id: str) -> None:
        """Render the page in every language and write it (with .gz and .br) for nginx."""
        async with self._writing:
            stamp = self._stamp(event_id)
            event = await self.store.get(event_id)
            if event is None:
                return
            reps = {lang: await self._cached(event, lang, stamp) for lang in i18n.LANGUAGES}
            await asyncio.to_thread(self._write, event_id, reps)

    def _write(self, event_id: str, reps: dict[str, Representation]) -> None:
        assert self.static_dir is not None
        for lang, rep in reps.items():
            path = page_file(event_id, lang)
            if path is None:
                continue
            write_representation(self.static_dir / path, rep)

    async def wait_built(self, seq: int, timeout_s: float = 10) -> None:
        """Wait until every page a feed entry up to `seq` concerns is invalidated and its files rewritten."""
        async with self._built:
            async with asyncio.timeout(timeout_s):  # not wait_for: see service/cancel.py
                await self._built.wait_for(lambda: self.built_seq >= seq)

    async def run(self) -> None:
        """Follow the read model, invalidating and rewriting the pages of changed events, until cancelled."""
        model = self.current_events
        await model.refresh()
        self._seen_generation, self.seen_seq = model.generation, model.seq
        self.epoch += 1
        self.written, self._changed = {}, set()
        self._dirty.clear()
        self.late = _late(await self.store.source_statuses())
        if self.static_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self.static_dir / "events", True)
        self.following = True
        async with self._built:
            self.built_seq = self.seen_seq
            self._built.notify_all()
        tasks = [asyncio.create_task(part) for part in (self._follow(), self._loop(), self._statuses())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise RuntimeError("the event pages' loop ended")
        finally:
            self.following = False
            await cancel_and_wait(tasks)

    async def _follow(self) -> None:
        model = self.current_events
        while True:
            await model.wait_moved(self._seen_generation)  # raises while the feed cannot be followed
            changed = model.changed_since(self._seen_generation)
            self._seen_generation, self.seen_seq = model.generation, model.seq
            if changed is None:  # further behind than the model remembers: every page anew
                self.epoch += 1
                changed = dict.fromkeys(self.written)
            # Invalidate at once, so no request is answered from a page older than the feed it saw.
            for event_id in changed:
                self.generations[event_id] = self.generations.get(event_id, 0) + 1
            self._changed.update(changed)
            self._dirty.set()

    async def _loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce_s)
            self._dirty.clear()
            seq, changed = self.seen_seq, self._changed
            self._changed = set()
            try:
                fresh = self.current_events.get_many(changed)
                rewrite = changed & set(self.written)
                if any(hazard_of(e) is not None for e in fresh.values()):
                    self.merged_generation += 1  # another warning of the same hazard may list or drop it
                    rewrite |= {i for i, merged in self.written.items() if merged}
                for event_id in sorted(rewrite):
                    await self._write_files(event_id)
            except StoreError as exc:
                log.warning("event_pages_failed", error=str(exc), retryable=exc.retryable)
                self._changed |= changed
                await asyncio.sleep(1)
                self._dirty.set()
                continue
            async with self._built:
                self.built_seq = max(self.built_seq, seq)
                self._built.notify_all()

    async def _statuses(self) -> None:
        while True:
            await asyncio.sleep(self.status_tick_s)
            try:
                late = _late(await self.store.source_statuses())
            except StoreError:
                continue
            if late != self.late:
                self.late = late
                self.epoch += 1  # the "not updating" note appears or goes on the pages of those sources
                for event_id in sorted(self.written):
                    await self._write_files(event_id)


def _late(statuses: Any) -> frozenset[str]:
    return frozenset(s.source_id for s in statuses if s.state.value in ("failing", "stale"))
