"""The current events: one read model of every event's current version, fed by the change feed.

Each process holds one `CurrentEvents`. It loads every current version once (ended events and
exercises too: the pipeline diffs against them), then advances by reading the change-feed entries
past its cursor and fetching only the ids they name. When the feed has moved on by more than
`RELOAD_PAST` entries, or no longer holds the entries just past the cursor (trimmed, or a Redis
restarted from an older save), one full query replaces the lot: the one reload threshold.

On SQLite and on Redis alike it follows the store's feed, so with several processes on one Redis
every process's model sees every process's writes; the pipeline hands it its own commits at once
(`committed`), so the next diff never reads back what this process just wrote. The pipeline, the
portal snapshot, the portal's page cache, the shelter pages and the event pages read it; none keeps
a copy of its own. Read it on the event loop: it changes between awaits.
"""
from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

import structlog

from geo.model import Event, Kind, Status
from geo.store.base import FeedEntry, Store, StoreUnavailable

log = structlog.get_logger(__name__)

RELOAD_PAST = 1000  # feed entries past the cursor beyond which one full query beats reading them by id
# What `changed_since` remembers: this many advances, holding at most LOG_IDS replaced versions in
# all (a 1,000-gauge poll replaces 1,000); a reader further behind than that redoes everything.
LOG_GENERATIONS = 256
LOG_IDS = 4 * RELOAD_PAST


class CurrentEvents:
    """Every event's current version by id, as of change-feed entry `seq`."""

    def __init__(self, store: Store, reload_past: int = RELOAD_PAST, remember: int = LOG_GENERATIONS,
                 remember_ids: int = LOG_IDS) -> None:
        self.store = store
        self.reload_past = reload_past
        self.remember, self.remember_ids = remember, remember_ids
        self.loaded = False
        self.seq = 0  # the newest feed entry included
        self.at: datetime | None = None  # that entry's commit time
        self.generation = 0  # bumped by every advance that moved `seq` or changed an event
        self.reloads = 0  # full queries so far (the first load included)
        self._events: dict[str, Event] = {}
        self._order: list[str] = []  # ids in the store's query order (code point order)
        self._ordered: tuple[int, list[Event], list[Event]] | None = None  # generation, all, active
        self._kinds: tuple[int, dict[Kind, list[Event]]] | None = None  # generation, active by kind
        # (generation, {id: version before that advance, None if new}) for readers catching up
        self._log: deque[tuple[int, dict[str, Event | None]]] = deque()
        self._logged = 0  # versions held in the log
        self._lock = asyncio.Lock()  # one advance at a time
        self._started = 0  # advances begun, so callers arriving during one can share the next
        self._moved = asyncio.Event()
        # Why following the feed stopped (the store unreachable), until an advance succeeds again:
        # readers waiting for changes fail with it, so their tasks show down while the feed does.
        self.failure: BaseException | None = None

    # -- reading ----------------------------------------------------------------------------

    @property
    def events(self) -> Mapping[str, Event]:
        """Every current version by id (read-only view)."""
        return MappingProxyType(self._events)

    def get(self, event_id: str) -> Event | None:
        """An event's current version."""
        return self._events.get(event_id)

    def get_many(self, event_ids: Iterable[str]) -> dict[str, Event]:
        """Current versions of several events, by id (unknown ids absent)."""
        return {i: e for i in event_ids if (e := self._events.get(i)) is not None}

    def ordered(self) -> list[Event]:
        """Every current version, ordered by id (as `store.query(include_ended, include_exercise)`)."""
        return self._lists()[0]

    def active(self) -> list[Event]:
        """The events in force, not exercises, ordered by id (as `store.query()` gives them)."""
        return self._lists()[1]

    def _lists(self) -> tuple[list[Event], list[Event]]:
        if self._ordered is None or self._ordered[0] != self.generation:
            every = [self._events[i] for i in self._order]
            self._ordered = (self.generation, every, [e for e in every if not e.ended and e.status is Status.ACTUAL])
        return self._ordered[1], self._ordered[2]

    def active_of(self, kind: Kind) -> list[Event]:
        """The events of one kind in force, not exercises, ordered by id (as `store.query(kinds=[kind])`)."""
        if self._kinds is None or self._kinds[0] != self.generation:
            grouped: dict[Kind, list[Event]] = {}
            for event in self.active():
                grouped.setdefault(event.kind, []).append(event)
            self._kinds = (self.generation, grouped)
        return self._kinds[1].get(kind, [])

    def changed_since(self, generation: int) -> dict[str, Event | None] | None:
        """Ids changed after `generation`, each with its version as of then (None: it is new).

        None when that is further back than the model remembers: the reader redoes everything.
        """
        if generation >= self.generation:
            return {}
        if not self._log or self._log[0][0] > generation + 1:
            return None
        changed: dict[str, Event | None] = {}
        for gen, befores in self._log:
            if gen > generation:
                for event_id, before in befores.items():
                    changed.setdefault(event_id, before)
        return changed

    async def wait_moved(self, generation: int) -> None:
        """Return once the model is past `generation`; StoreUnavailable while the feed cannot be followed."""
        while self.generation <= generation:
            if self.failure is not None:
                raise StoreUnavailable(f"the change feed is not being followed: {self.failure}") from self.failure
            await self._moved.wait()

    # -- advancing --------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Include every feed entry committed before the call (shared with callers arriving meanwhile)."""
        asked = self._started
        async with self._lock:
            if self._started > asked:
                return  # an advance began after we asked and has finished: it read what we need
            await self._advance()

    async def committed(self, entries: Sequence[FeedEntry], events: Sequence[Event]) -> None:
        """This process's own commit (feed `entries` of the versions `events`): included at once.

        Next in the feed, they are applied as they are, with nothing read back; after another
        writer's entries the feed is read instead.
        """
        if not entries:
            return
        async with self._lock:
            if self.loaded and entries[0].seq == self.seq + 1:
                self._started += 1
                self._apply({e.id: e for e in events}, entries[-1])
            else:
                await self._advance()

    async def reload(self) -> None:
        """Replace everything with one query of the store."""
        async with self._lock:
            self._started += 1
            await self._reload()

    async def run(self) -> None:
        """Follow the change feed until cancelled (supervised: a run after an outage resumes).

        A feed whose head is behind the cursor lost entries (a Redis restarted from an older
        save): what changed is unknown, so everything is read again.
        """
        try:
            head = await self.store.feed_head()
            if self.loaded and (head.seq if head is not None else 0) < self.seq:
                log.warning("change_feed_went_back", seen=self.seq, head=head.seq if head else 0)
                await self.reload()
            await self.refresh()
            async for entry in self.store.subscribe(self.seq):
                if entry.seq > self.seq:
                    await self.refresh()
        except Exception as exc:
            self.failure = exc
            self._wake()
            raise

    async def _advance(self) -> None:
        self._started += 1
        if not self.loaded:
            await self._reload()
            return
        entries = await self.store.feed_since(self.seq, limit=self.reload_past)
        self.failure = None  # the feed answers again
        if not entries:
            return
        if entries[0].seq != self.seq + 1 or len(entries) >= self.reload_past:
            # Entries past the cursor are gone (trimmed), or too many to read one by one.
            await self._reload()
            return
        fresh = await self.store.get_many({entry.event_id for entry in entries})
        self._apply(fresh, entries[-1])

    async def _reload(self) -> None:
        head = await self.store.feed_head()  # first: a change committed during the query is read again later
        fresh = {e.id: e for e in await self.store.query(include_ended=True, include_exercise=True)}
        befores: dict[str, Event | None] = {
            i: old for i, old in self._events.items() if i not in fresh or fresh[i].version_ref != old.version_ref
        }
        befores.update((i, None) for i in fresh.keys() - self._events.keys())
        self._events = fresh
        self._order = sorted(fresh)
        self.seq, self.at = (head.seq, head.at) if head is not None else (0, None)
        self.loaded = True
        self.reloads += 1
        self.failure = None
        self._moved_on(befores)
        log.info("current_events_loaded", events=len(fresh), seq=self.seq)

    def _apply(self, fresh: Mapping[str, Event], last: FeedEntry) -> None:
        befores: dict[str, Event | None] = {}
        for event_id, event in fresh.items():
            old = self._events.get(event_id)
            if old is not None and old.version >= event.version:
                continue  # already held (read ahead of its feed entry), or older than held
            befores[event_id] = old
            self._events[event_id] = event
            if old is None:
                bisect.insort(self._order, event_id)
        self.seq, self.at = last.seq, last.at
        self._moved_on(befores)

    def _moved_on(self, befores: dict[str, Event | None]) -> None:
        self.generation += 1
        self._log.append((self.generation, befores))
        self._logged += len(befores)
        while len(self._log) > self.remember or (self._logged > self.remember_ids and len(self._log) > 1):
            self._logged -= len(self._log.popleft()[1])
        self._wake()

    def _wake(self) -> None:
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()
