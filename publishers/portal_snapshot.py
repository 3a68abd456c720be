"""Portal snapshots: the hot documents, serialised and compressed once per change.

On every change-feed entry (debounced) the unfiltered events GeoJSON, one GeoJSON per municipality
and the CAP Atom feeds are rebuilt from one store query, encoded as identity, gzip and brotli, held
in memory with their ETag (the API serves them without touching the store) and written atomically
under `<data_dir>/static`, mirroring URL paths, with .gz/.br siblings for nginx's gzip_static:

    /api/v1/events              -> api/v1/events.geojson
    /api/v1/events?area=17201   -> api/v1/events/area/17201.geojson
    /feeds/cap.atom             -> feeds/cap.atom
    /feeds/cap/17201.atom       -> feeds/cap/17201.atom
    /list?lang=en               -> list/index.en.html   (one per language: ja, en, easy)

The events come from the process's read model (service/current_events.py), which follows the
change feed; a build runs after it moved on, and a new version's predecessor for the CAP feeds is
the version the model says it replaced. The portal's pages render from the same model.

The list page also shows each source's "as of HH:MM" and a stale banner, which change without a
feed entry, so besides after every rebuild the pages are re-checked every `page_tick_s`; they are
rendered through the portal's page cache (versioned by feed head, source statuses and the minute
shown), so an unchanged page costs two small store reads and the app serves the same bytes.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import structlog

from geo.codes import AreaCodes
from geo.model import Event, utcnow
from geo.store.base import Store, StoreError
from publishers.cap import ATOM_CONTENT_TYPE, CapContext, atom_entry_bytes, atom_feed, in_feed, previous_version
from publishers.http_cache import Representation, write_representation
from service.cancel import cancel_and_wait
from service.current_events import CurrentEvents

log = structlog.get_logger(__name__)

GEOJSON_CONTENT_TYPE = "application/geo+json"
DEBOUNCE_S = 0.25
# Serialising and compressing the documents takes CPU that serving them needs too: during a storm
# of changes builds may take at most this share of the time (a 1 s build, then 1 s without one).
# A slower build, on a machine busy answering residents, spaces the builds out further by itself.
BUILD_DUTY = 0.5
PAGE_TICK_S = 1.0  # how soon a source turning stale, or the next minute, reaches the list page files
# Page renders (Jinja, in a worker thread but holding the GIL most of the time) compete with the
# requests: under a stream of changes they may take at most this share of the time, so a page is
# re-rendered at most every (render time / PAGE_DUTY) seconds, and never later than
# PAGE_MAX_INTERVAL_S, the list page's max-age, after a change.
PAGE_DUTY = 0.1
PAGE_MAX_INTERVAL_S = 10.0
LIST_TEMPLATE = "list.html"

PageRenderer = Callable[[], Awaitable[Representation]]


class Paths:
    """URL keys of the snapshot documents and their files under the static directory."""

    events = "/api/v1/events"

    @staticmethod
    def area_events(code: str) -> str:
        """Key of one municipality's GeoJSON (the query the API answers from it)."""
        return f"/api/v1/events?area={code}"

    @staticmethod
    def area_feed(code: str) -> str:
        """Path of one municipality's CAP Atom feed."""
        return f"/feeds/cap/{code}.atom"

    @staticmethod
    def list_page(lang: str) -> str:
        """Key of the list page in one language (nginx picks its file by the `lang` cookie)."""
        return f"/list?lang={lang}"

    @staticmethod
    def file_for(key: str) -> str:
        """Relative file path of a snapshot key."""
        if key == "/api/v1/events":
            return "api/v1/events.geojson"
        if key.startswith("/api/v1/events?area="):
            return f"api/v1/events/area/{key.rsplit('=', 1)[1]}.geojson"
        if key.startswith("/list?lang="):
            return f"list/index.{key.rsplit('=', 1)[1]}.html"
        return key.lstrip("/")


FEED_PATH = "/feeds/cap.atom"


def feature_bytes(event: Event) -> bytes:
    """One event's GeoJSON Feature, compact UTF-8 (a version's bytes never change)."""
    return json.dumps(event.to_feature(), ensure_ascii=False, separators=(",", ":")).encode()


def assemble(features: list[bytes]) -> bytes:
    """A FeatureCollection from serialised features: byte-identical to dumping the whole collection."""
    return b'{"type":"FeatureCollection","features":[' + b",".join(features) + b"]}"


def events_body(events: list[Event]) -> bytes:
    """The GeoJSON bytes the API sends for a list of events (one serialisation for every path)."""
    return assemble([feature_bytes(e) for e in events])


class PortalSnapshot:
    """The materialised hot documents, rebuilt after changes at most once per `debounce_s`, and
    never more often than lets builds take `build_duty` of the time."""

    def __init__(
        self,
        store: Store,
        current: CurrentEvents,
        codes: AreaCodes,
        cap: CapContext,
        static_dir: Path | None,
        debounce_s: float = DEBOUNCE_S,
        clock: Callable[[], datetime] = utcnow,
        pages: dict[str, PageRenderer] | None = None,
        page_tick_s: float = PAGE_TICK_S,
    ) -> None:
        self.store = store
        self.current_events = current
        self.codes = codes
        self.cap = cap
        self.static_dir = static_dir
        self.debounce_s = debounce_s
        # The pauses of the debounce and the duty cycles, and the time they are measured in; tests
        # drive them (tests/service_client.py's VirtualPacing) so that no test sleeps through them.
        self.monotonic: Callable[[], float] = time.monotonic
        self.pause: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.build_duty = BUILD_DUTY
        self._build_due = 0.0  # monotonic time before which the data documents are not rebuilt
        self.clock = clock
        self.pages: dict[str, PageRenderer] = pages or {}  # key -> its renderer (the portal's page cache)
        self.page_tick_s = page_tick_s
        self._pages_lock = asyncio.Lock()  # one writer of the page files at a time
        self.page_duty = PAGE_DUTY
        self._pages_due = 0.0  # monotonic time before which the pages are not rendered again
        self.documents: dict[str, Representation] = {}
        self.seen_seq = 0  # newest feed entry the read model has included
        self.built_seq = -1  # newest feed entry the documents include
        self._seen_generation = -1  # the read model's generation last seen, and last built
        self._built_generation = -1
        self.last_modified: datetime | None = None  # time of the newest change seen
        self.builds = 0
        self._dirty = asyncio.Event()
        self._built = asyncio.Condition()
        self._previous: dict[str, Event] = {}  # "{id}@{version}" -> superseded version (immutable)
        # Per-version caches: a rebuild serialises only the events that changed since the last one.
        self._features: dict[str, bytes] = {}
        self._entries: dict[str, bytes] = {}

    @property
    def current(self) -> bool:
        """False while a change seen on the feed is not yet in the documents."""
        return not self._dirty.is_set() and self.built_seq >= self.seen_seq

    def get(self, key: str) -> Representation | None:
        """A snapshot document by URL key, or None before the first build.

        While a rebuild is due the previous documents are served: they trail the store by at most
        the debounce or the pause between builds, plus one build, well inside the max-age every
        client may cache them for; answering from the store instead would cost the event loop a
        full serialisation per request.
        """
        return self.documents.get(key)

    async def wait_built(self, seq: int, timeout_s: float | None = None) -> None:
        """Wait until the documents include feed entry `seq` (without `timeout_s`, for as long as it takes)."""
        async with self._built:
            async with asyncio.timeout(timeout_s):  # not wait_for: see service/cancel.py
                await self._built.wait_for(lambda: self.built_seq >= seq)

    async def run(self) -> None:
        """Build, then follow the change feed and rebuild (debounced) until cancelled.

        Raises when following fails (the store unreachable): the app supervises it and runs it
        again, and a run after the first resumes after the last feed entry seen.
        """
        model = self.current_events
        await model.refresh()  # loaded, and past every commit so far (a restart after an outage: past it)
        self._seen(model)
        if self.builds == 0:
            await self.rebuild()
        elif self._built_generation < model.generation:
            self._dirty.set()  # changed while stopped, or the last run stopped before building what it had seen
        parts = [self._follow(), self._build_loop()] + ([self._tick()] if self.pages else [])
        tasks = [asyncio.create_task(part) for part in parts]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the failure that stopped it, raised to the supervisor
            raise RuntimeError("the portal snapshot's loop ended")
        finally:
            await cancel_and_wait(tasks)

    async def _build_loop(self) -> None:
        while True:
            await self._dirty.wait()
            # Let a burst of changes land in one build, and leave the CPU its share between builds.
            await self.pause(max(self.debounce_s, self._build_due - self.monotonic()))
            self._dirty.clear()
            started = time.monotonic()
            try:
                await self.rebuild()
            except StoreError as exc:
                # Keep serving the last good documents; the next change (or this retry) rebuilds.
                log.warning("portal_snapshot_failed", error=str(exc), retryable=exc.retryable)
                await asyncio.sleep(1)
                self._dirty.set()
                continue
            except BaseException:
                self._dirty.set()  # stopped mid-build: the next run builds it
                raise
            log.debug("portal_snapshot_built", seq=self.built_seq, ms=round((time.monotonic() - started) * 1e3))

    def _seen(self, model: CurrentEvents) -> None:
        self._seen_generation, self.seen_seq = model.generation, model.seq
        if model.at is not None and (self.last_modified is None or model.at > self.last_modified):
            self.last_modified = model.at

    async def _follow(self) -> None:
        model = self.current_events
        while True:
            await model.wait_moved(self._seen_generation)  # raises while the feed cannot be followed
            self._seen(model)
            self._dirty.set()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.page_tick_s)
            if self._dirty.is_set() or self.monotonic() < self._pages_due:
                continue  # a rebuild is due and refreshes the pages itself, or they were rendered just now
            try:
                await self.refresh_pages()
            except StoreError as exc:
                log.warning("portal_pages_failed", error=str(exc), retryable=exc.retryable)

    async def refresh_pages(self) -> None:
        """Render (or find in the page cache) every materialised page; publish and write the changed ones."""
        async with self._pages_lock:
            started = self.monotonic()
            changed: dict[str, Representation] = {}
            for key, render in self.pages.items():
                try:
                    page = await render()
                except StoreError:
                    raise
                except Exception:  # noqa: BLE001 - a broken template must not stop the data snapshots
                    log.exception("portal_page_render_failed", key=key)
                    continue
                old = self.documents.get(key)
                if old is None or old.etag_hash != page.etag_hash:
                    changed[key] = page
            spent = self.monotonic() - started  # small when the page cache held every page
            self._pages_due = started + min(spent / self.page_duty, PAGE_MAX_INTERVAL_S)
            if not changed:
                return
            self.documents = {**self.documents, **changed}
            if self.static_dir is not None:
                await asyncio.to_thread(self._write, changed)

    async def rebuild(self) -> None:
        """Take the current events from the read model; serialise, compress, publish and write every hot document."""
        model = self.current_events
        self._seen(model)  # what is built: the model as it is now
        seq, modified, generation = self.seen_seq, self.last_modified, self._seen_generation
        now = self.clock()
        self._note_previous(model.changed_since(self._built_generation), model)
        current, active = model.ordered(), model.active()
        feed_events = [e for e in current if in_feed(e, now)]
        previous = await self._previous_versions(feed_events)
        started = self.monotonic()
        docs = await asyncio.to_thread(self._render, active, feed_events, previous, modified, now)
        # An unchanged document is the object already held (see _document): only new ones are written.
        changed = {k: rep for k, rep in docs.items() if self.documents.get(k) is not rep}
        pages = {k: rep for k, rep in self.documents.items() if k in self.pages}
        self.documents = docs | pages
        if self.static_dir is not None and changed:
            await asyncio.to_thread(self._write, changed)
        self._build_due = started + (self.monotonic() - started) / self.build_duty
        if (wait := self._pages_due - self.monotonic()) > 0:
            await self.pause(wait)  # the data documents are out; the pages wait for their share of the loop
        await self.refresh_pages()
        self.builds += 1
        self._built_generation = generation
        async with self._built:
            self.built_seq = seq
            self._built.notify_all()

    def _note_previous(self, changed: dict[str, Event | None] | None, model: CurrentEvents) -> None:
        """Remember the version each changed event's new version supersedes (no history read for it)."""
        for event_id, before in (changed or {}).items():
            event = model.get(event_id)
            if before is not None and event is not None and event.version == before.version + 1:
                self._previous[event.version_ref] = before

    async def _previous_versions(self, events: list[Event]) -> dict[str, Event | None]:
        found: dict[str, Event | None] = {}
        for event in events:
            if event.version == 1:
                found[event.id] = None
            elif event.version_ref in self._previous:
                found[event.id] = self._previous[event.version_ref]
            else:
                before = previous_version(await self.store.history(event.id), event)
                if before is not None:
                    self._previous[event.version_ref] = before
                found[event.id] = before
        shown = {event.version_ref for event in events}
        self._previous = {ref: old for ref, old in self._previous.items() if ref in shown}  # versions still shown
        return found

    def _cached(self, cache: dict, events: list[Event], make) -> dict:
        fresh = {}
        for event in events:
            ref = event.version_ref
            fresh[ref] = cache[ref] if ref in cache else make(event)
        cache.clear()
        cache.update(fresh)  # versions no longer shown are dropped
        return fresh

    def _document(self, key: str, body: bytes, content_type: str, modified: datetime | None) -> Representation:
        """The representation of `body` under `key`: the one already held when the bytes are the same
        (not compressed again; its Last-Modified stays the time it changed), else a new one compressed now."""
        rep = Representation(body, content_type, modified)
        old = self.documents.get(key)
        if old is not None and old.etag_hash == rep.etag_hash and old.content_type == content_type:
            return old
        return rep.precompress()

    def _render(self, active, feed_events, previous, modified, now) -> dict[str, Representation]:
        docs: dict[str, Representation] = {}
        features = self._cached(self._features, active, feature_bytes)
        entries = self._cached(self._entries, feed_events, lambda e: atom_entry_bytes(e, self.cap, previous.get(e.id)))
        docs[Paths.events] = self._document(
            Paths.events, assemble([features[e.version_ref] for e in active]), GEOJSON_CONTENT_TYPE, modified)
        updated = modified or now
        ordered = sorted(feed_events, key=lambda e: (e.received_at, e.id), reverse=True)
        title = f"{self.codes.prefecture_name} 防災情報 (CAP)"
        feed = atom_feed([entries[e.version_ref] for e in ordered], self.cap, path=FEED_PATH, title=title,
                         updated=updated)
        docs[FEED_PATH] = self._document(FEED_PATH, feed, ATOM_CONTENT_TYPE, modified)
        for code, municipality in self.codes.municipalities.items():
            key = Paths.area_events(code)
            mine = [features[e.version_ref] for e in active if code in e.areas]
            docs[key] = self._document(key, assemble(mine), GEOJSON_CONTENT_TYPE, modified)
            path = Paths.area_feed(code)
            body = atom_feed([entries[e.version_ref] for e in ordered if code in e.areas], self.cap, path=path,
                             title=f"{municipality.name} 防災情報 (CAP)", updated=updated)
            docs[path] = self._document(path, body, ATOM_CONTENT_TYPE, modified)
        return docs

    def _write(self, docs: dict[str, Representation]) -> None:
        assert self.static_dir is not None
        for key, rep in docs.items():
            write_representation(self.static_dir / Paths.file_for(key), rep)
