"""Shelter Wi-Fi pages: one small static page per shelter and language, and an index per municipality.

People inside a shelter read its page over a congested link on weak phones: every page is plain
HTML under 30 KB with its styles inline, no JavaScript, readable in a text browser. It shows the
shelter (name, address, hazards it is designated for, status and head count), the municipality's
orders in force, the JMA information in force with levels and actions, the nearest gauges with
level and trend, road closures nearby, the time of the newest change shown and a note naming any
source that is late.

The pages follow the process's read model of the current events (service/current_events.py,
fed by the change feed), as the portal snapshot does (not through the outbox): after it moves on
(debounced) only the pages the changed events concern are
rendered again — a shelter's own status, its municipality's orders and warnings, gauges within
10 km, closures within 5 km — and written atomically under `<data_dir>/static`:

    /shelters/{共通ID}/?lang=en      -> shelters/{共通ID}/index.en.html   (ja, en, easy)
    /shelters/area/{JIS}/?lang=ja    -> shelters/area/{JIS}/index.ja.html
    /shelters/area/{JIS}/places/     -> shelters/area/{JIS}/places/index.ja.html (the 避難場所 not shelters)

A page's files are written on its first request (nginx falls back to the app until they exist) or,
with `prewrite`, for every shelter in the background at start, a share of the time at a time; from
then on every change that concerns the page rewrites them. Files of an earlier run are removed at
start, so nginx never serves a page older than the store.
"""
from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape

from geo.atomic_file import write_atomic
from geo.geometry import positions
from geo.model import Event, Kind, Status, utcnow
from geo.region import Region
from geo.store.base import Store, StoreError
from publishers.shelter_page_view import (
    GAUGE_RADIUS_M,
    INFORMATION_KINDS,
    ROAD_RADIUS_M,
    Surroundings,
    index_context,
    page_context,
)
from service.cancel import cancel_and_wait
from service.current_events import CurrentEvents

log = structlog.get_logger(__name__)

LANGS = ("ja", "en", "easy")
TEMPLATES = Path(__file__).parent / "templates"
DEBOUNCE_S = 0.2
STATUS_TICK_S = 15.0  # how soon a source turning stale (or recovering) reaches the pages
BACKGROUND_DUTY = 0.3  # the first full write may take this share of the time
CHUNK = 40  # sites per background step
CACHE_CONTROL = "public, max-age=10"
AREA_KINDS = INFORMATION_KINDS | {Kind.EVACUATION}
TASK_NAME = "shelter-pages"


def page_file(site_id: str, lang: str) -> str:
    """Relative path of a shelter page's static file."""
    return f"shelters/{site_id}/index.{lang}.html"


PARTS = ("index", "places")  # a municipality's list: its shelters, and its other evacuation sites


def index_file(code: str, lang: str, part: str = "index") -> str:
    """Relative path of a municipality index's static file (`part` "places": its other evacuation sites)."""
    return f"shelters/area/{code}/{'' if part == 'index' else part + '/'}index.{lang}.html"


class ShelterPages:
    """The events and source statuses the pages show, and the pages rendered from them."""

    def __init__(self, store: Store, current: CurrentEvents, geo: Region, static_dir: Path | None,
                 clock: Callable[[], datetime] = utcnow, debounce_s: float = DEBOUNCE_S,
                 status_tick_s: float = STATUS_TICK_S) -> None:
        self.store = store
        self.current_events = current
        self.geo = geo
        self.static_dir = static_dir
        self.clock = clock
        self.debounce_s = debounce_s
        self.status_tick_s = status_tick_s
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)
        self.sites = list(geo.shelters.items)
        self.index = {site_id: n for n, site in enumerate(self.sites) for site_id in site.ids}
        self.by_town: dict[str, list[int]] = {}
        for n, site in enumerate(self.sites):
            if site.municipality:
                self.by_town.setdefault(site.municipality, []).append(n)
        self.world = Surroundings({}, (), None)
        self.pages: dict[str, bytes] = {}  # file path -> the bytes written there (served by the app too)
        self.seen_seq = 0
        self.built_seq = -1
        self._seen_generation = -1  # the read model's generation last seen, and last applied to `world`
        self._applied_generation = -1
        self._dirty = asyncio.Event()
        self._built = asyncio.Condition()
        self._background: list[int] = []  # sites not yet written since start (with `prewrite`)
        # Sites and municipalities whose files exist: kept current on every change that concerns them.
        self.written_sites: set[int] = set()
        self.written_towns: set[str] = set()
        # Write every page at start (a share of the time at a time); off, a page's file is written on its
        # first request (nginx falls back to the app until then) and kept current from then on.
        self.prewrite = False
        # One writer at a time: a render started before a change must not land after the change's own.
        self._writing = asyncio.Lock()
        self.background_duty = BACKGROUND_DUTY

    async def wait_built(self, seq: int, timeout_s: float = 10) -> None:
        """Wait until every page a feed entry up to `seq` concerns has been rendered and written."""
        async with self._built:
            async with asyncio.timeout(timeout_s):  # not wait_for: see service/cancel.py
                await self._built.wait_for(lambda: self.built_seq >= seq)

    async def run(self) -> None:
        """Take the current events, then follow the read model, re-rendering the pages changes concern.

        Raises when following fails (the store unreachable); the app's supervisor runs it again,
        which reloads everything and writes every page anew.
        """
        # Under the writers' lock: a page being written for a first request never has its folder
        # removed under it, and a page written before the reset is written again after it.
        async with self._writing:
            self.pages = {}  # everything is read and written anew
            self.written_sites, self.written_towns = set(), set()
            self._dirty.clear()
            if self.static_dir is not None:
                await asyncio.to_thread(shutil.rmtree, self.static_dir / "shelters", True)
        model = self.current_events
        await model.refresh()
        self._seen_generation = self._applied_generation = model.generation
        self.seen_seq = model.seq
        self.world = Surroundings({e.id: e for e in model.active() if _shown(e)},
                                  tuple(await self.store.source_statuses()), model.at)
        self._background = list(range(len(self.sites))) if self.prewrite else []
        async with self._built:
            self.built_seq = self.seen_seq
            self._built.notify_all()
        parts = [self._follow(), self._statuses(), self._loop()]
        tasks = [asyncio.create_task(part) for part in parts]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the failure that stopped it, raised to the supervisor (which runs us again)
            raise RuntimeError("the shelter pages' loop ended")
        finally:
            await cancel_and_wait(tasks)

    async def _loop(self) -> None:
        while True:
            if not self._background:
                await self._dirty.wait()
            elif not self._dirty.is_set():
                await self._write_background()
                continue
            await asyncio.sleep(self.debounce_s)
            self._dirty.clear()
            try:
                await self._apply_changes()
            except StoreError as exc:
                log.warning("shelter_pages_failed", error=str(exc), retryable=exc.retryable)
                await asyncio.sleep(1)
                self._dirty.set()

    async def _follow(self) -> None:
        model = self.current_events
        while True:
            await model.wait_moved(self._seen_generation)  # raises while the feed cannot be followed
            self._seen_generation, self.seen_seq = model.generation, model.seq
            self._dirty.set()

    async def _statuses(self) -> None:
        while True:
            await asyncio.sleep(self.status_tick_s)
            try:
                statuses = tuple(await self.store.source_statuses())
            except StoreError:
                continue
            if _late(statuses) != _late(self.world.statuses):
                self.world = Surroundings(self.world.events, statuses, self.world.changed_at)
                await self._render_and_write(range(len(self.sites)), set(self.by_town), only_written=True)
            else:
                self.world = Surroundings(self.world.events, statuses, self.world.changed_at)

    async def _apply_changes(self) -> None:
        model = self.current_events
        seq, generation = model.seq, model.generation
        changed = model.changed_since(self._applied_generation)
        self._applied_generation = generation
        events = dict(self.world.events)
        if changed is None:  # further behind than the model remembers: every event may have changed
            changed = dict.fromkeys(events.keys() | {e.id for e in model.active()})
        fresh = model.get_many(changed)
        before = [events[i] for i in changed if i in events]
        for event_id in changed:
            event = fresh.get(event_id)
            if event is not None and _shown(event):
                events[event_id] = event
            else:
                events.pop(event_id, None)
        newest = max((e.received_at for e in fresh.values()), default=self.world.changed_at)
        self.world = Surroundings(events, self.world.statuses, newest)
        sites, towns = self.concerned([*before, *fresh.values()])
        await self._render_and_write(sites, towns, only_written=True)
        async with self._built:
            self.built_seq = max(self.built_seq, seq)
            self._built.notify_all()

    def concerned(self, events: Iterable[Event]) -> tuple[set[int], set[str]]:
        """Indexes of the sites, and the municipalities, whose pages show something of `events`."""
        sites: set[int] = set()
        towns: set[str] = set()
        shelters = self.geo.shelters
        for event in events:
            if event.kind == Kind.SHELTER:
                n = self.index.get(event.id.split(":", 1)[1])
                if n is not None:
                    sites.add(n)
                    towns.add(self.sites[n].municipality or "")
            elif event.kind in AREA_KINDS:
                for code in event.areas:
                    sites.update(self.by_town.get(code, ()))
                    towns.add(code)
            elif event.kind in (Kind.GAUGE, Kind.ROAD_CLOSURE) and event.geometry:
                radius = GAUGE_RADIUS_M if event.kind == Kind.GAUGE else ROAD_RADIUS_M
                for lon, lat in positions(event.geometry.get("coordinates")):
                    near = shelters.metric.geodesic_m(lon, lat, shelters.lon, shelters.lat) <= radius
                    sites.update(int(n) for n in np.flatnonzero(near))
        towns.discard("")
        return sites, towns

    async def _write_background(self) -> None:
        chunk, self._background = self._background[:CHUNK], self._background[CHUNK:]
        started = time.monotonic()
        towns = set(self.by_town) if not self._background else set()  # the indexes once, at the end
        await self._render_and_write(chunk, towns)
        await asyncio.sleep((time.monotonic() - started) * (1 / self.background_duty - 1))

    async def _render_and_write(self, sites: Iterable[int], towns: Iterable[str],
                                only_written: bool = False) -> dict[str, bytes]:
        async with self._writing:
            sites, towns = set(sites), set(towns)
            if only_written:  # the others are rendered when first asked for, from the same read model
                sites, towns = sites & self.written_sites, towns & self.written_towns
            rendered = await asyncio.to_thread(self._render, sorted(sites), sorted(towns))
            pages = {path: body for path, body in rendered.items() if self.pages.get(path) != body}  # changed only
            self.pages.update(pages)
            self.written_sites |= sites
            self.written_towns |= towns
            if self.static_dir is not None:
                await asyncio.to_thread(self._write, pages)
            return rendered

    def _render(self, sites: list[int], towns: list[str]) -> dict[str, bytes]:
        out = {}
        for n in sites:
            for lang in LANGS:
                out[page_file(self.sites[n].id, lang)] = self.render_page(n, lang)
        for code in towns:
            for lang in LANGS:
                for part in PARTS:
                    out[index_file(code, lang, part)] = self.render_index(code, lang, part)
        return out

    def _town(self, code: str | None, lang: str) -> str:
        if code is None or code not in self.geo.codes:
            return ""
        m = self.geo.codes.municipality(code)
        return m.name_en if lang == "en" else m.name

    def render_page(self, n: int, lang: str) -> bytes:
        """One shelter's page in one language, from the current read model."""
        site = self.sites[n]
        context = page_context(site, self._town(site.municipality, lang), self.world, lang)
        return self.env.get_template("shelter.html").render(**context).encode()

    def render_index(self, code: str, lang: str, part: str = "index") -> bytes:
        """One municipality's shelter list (or its other evacuation sites) in one language."""
        sites = [self.sites[n] for n in self.by_town.get(code, ())]
        context = index_context(code, self._town(code, lang), sites, self.world, lang, part)
        return self.env.get_template("shelter_index.html").render(**context).encode()

    def _write(self, pages: dict[str, bytes]) -> None:
        assert self.static_dir is not None
        for path, body in pages.items():
            write_atomic(self.static_dir / path, body, durable=False)

    async def site_page(self, n: int, lang: str) -> bytes:
        """A shelter page's bytes, written (with its other languages) on its first request."""
        path = page_file(self.sites[n].id, lang)
        if path not in self.pages:
            # what was rendered, not self.pages: run() (re)starting meanwhile empties that
            return (await self._render_and_write([n], []))[path]
        return self.pages[path]

    async def town_page(self, code: str, lang: str, part: str = "index") -> bytes:
        """A municipality index's bytes (both parts written on the first request of either)."""
        path = index_file(code, lang, part)
        if path not in self.pages:
            return (await self._render_and_write([], [code]))[path]
        return self.pages[path]


def _shown(event: Event) -> bool:
    return event.status is Status.ACTUAL and not event.ended


def _late(statuses: Iterable) -> frozenset[str]:
    return frozenset(s.source_id for s in statuses if s.state.value in ("failing", "stale"))
