"""The embedded store: one SQLite file (WAL, synchronous=FULL) with an R*Tree bbox index.

Every write runs on one dedicated worker thread and its connection, so the event loop never waits
on disk and writes never race. Reads run on their own threads, each with its own connection (WAL
lets readers and the writer proceed together): a write (an ingest, a dispatcher's claim) never
queues behind a long read such as the portal snapshot's query of every event, and a small read
(the change feed) does not wait for one either.
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from geo.model import ENDED_STATES, Event, Kind, Observation, Status, utcnow
from geo.store import sqlite_schema as sql
from geo.store import sqlite_writes as writes
from geo.store.base import (
    AuditEntry,
    Batch,
    BBox,
    ChangeOp,
    FeedEntry,
    SourceStatus,
    StoreCorrupt,
    StoreUnavailable,
)
from geo.store.rows import (
    check_bbox,
    dumps,
    event_from_json,
    from_us,
    source_status_from_json,
    source_status_json,
    to_us,
)
from geo.store.sqlite_outbox import SQLiteOutbox

T = TypeVar("T")
_ENDED = tuple(s.value for s in ENDED_STATES)


def _feed_entry(seq: int, op: str, event_id: str, kind: str, version: int, at: int) -> FeedEntry:
    return FeedEntry(seq, ChangeOp(op), event_id, Kind(kind), version, from_us(at))


class SQLiteStore(SQLiteOutbox):
    """Store protocol over a single SQLite file."""

    shared_writers = False  # embedded: one service process writes the file

    def __init__(
        self,
        path: str | Path,
        clock: Callable[[], datetime] = utcnow,
        busy_timeout_s: float = 5.0,
        poll_s: float = 1.0,
        cache_kib: int = 65536,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.busy_timeout_s = busy_timeout_s
        self.cache_kib = cache_kib
        self.poll_s = poll_s  # subscribers re-read the feed this often, for writers in other processes
        self._conn: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._read_pool: ThreadPoolExecutor | None = None
        self._local = threading.local()  # each reader thread's connection
        self._readers: list[sqlite3.Connection] = []
        self._cond = asyncio.Condition()
        self._head = 0

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read on a reader thread (its own connection)."""
        if self._read_pool is None:
            raise StoreUnavailable(f"SQLite store {self.path} is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._read_pool, fn, *args)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from exc

    def _reader(self) -> sqlite3.Connection:
        """This reader thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute(f"PRAGMA cache_size=-{self.cache_kib // 4}")
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    def _translate(self, exc: sqlite3.DatabaseError) -> Exception:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and any(
            word in text for word in ("locked", "busy", "unable to open", "disk I/O")
        ):
            return StoreUnavailable(f"SQLite store {self.path}: {text}")
        if any(word in text for word in ("not a database", "malformed", "no such table", "no such column")):
            return StoreCorrupt(f"SQLite store {self.path} is unreadable: {text}")
        return exc

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one write transaction (taken up front, so version checks cannot race)."""
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def open(self) -> None:
        """Create the file and schema if needed; StoreCorrupt/StoreUnavailable name the file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"SQLite store {self.path}: cannot create directory: {exc}") from exc
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            await self._run(self._open_sync)
        except BaseException:
            self._pool.shutdown(wait=False)
            self._pool = None
            raise
        self._head = max(self._head, await self._run(self._last_seq))
        # two: a long read (a snapshot's every event) leaves one free for the feed and small reads
        self._read_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sqlite-read")

    def _open_sync(self) -> None:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=FULL")
            # A snapshot of thousands of events is one transaction: a larger page cache keeps it
            # from spilling into the WAL before commit (measured: roughly halves the write time).
            conn.execute(f"PRAGMA cache_size=-{self.cache_kib}")
            conn.execute("PRAGMA foreign_keys=ON")
            (tables,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if tables == 0:
                conn.executescript(sql.SCHEMA)
                conn.execute(f"PRAGMA user_version={sql.SCHEMA_VERSION}")
            elif version in sql.MIGRATIONS:
                for step in range(version, sql.SCHEMA_VERSION):
                    conn.executescript(sql.MIGRATIONS[step])
                conn.execute(f"PRAGMA user_version={sql.SCHEMA_VERSION}")
            elif version != sql.SCHEMA_VERSION:
                raise StoreCorrupt(
                    f"SQLite store {self.path} has schema version {version}, expected {sql.SCHEMA_VERSION}"
                )
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _last_seq(self) -> int:
        return writes.last_seq(self._conn)

    async def close(self) -> None:
        """Close the connection; committed data is durable."""
        if self._pool is None:
            return
        if self._read_pool is not None:
            pool, self._read_pool = self._read_pool, None
            await asyncio.to_thread(pool.shutdown)  # running reads finish first, the loop keeps going
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._local = threading.local()
        if self._conn is not None:
            await self._run(self._conn.close)
            self._conn = None
        self._pool.shutdown(wait=True)
        self._pool = None

    # -- events -----------------------------------------------------------------------------

    async def apply(self, batch: Batch) -> list[FeedEntry]:
        """Commit events, history, observations, outbox rows and feed entries in one transaction."""
        entries = await self._run(self._tx, lambda conn: writes.apply_batch(conn, batch, self.clock()))
        if entries:
            self._head = max(self._head, entries[-1].seq)
            async with self._cond:
                self._cond.notify_all()
        return entries


    async def get(self, event_id: str) -> Event | None:
        """The current version of an event."""
        found = await self.get_many([event_id])
        return found.get(event_id)

    async def get_many(self, event_ids: Iterable[str]) -> dict[str, Event]:
        """Current versions of several events, by id (missing ids absent)."""
        ids = dumps(sorted(set(event_ids)))
        events = await self._read(
            self._fetch_events, "SELECT data FROM events WHERE id IN (SELECT value FROM json_each(?))", (ids,)
        )
        return {e.id: e for e in events}

    def _fetch(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._reader().execute(query, params).fetchall()

    def _fetch_events(self, query: str, params: tuple[Any, ...] = ()) -> list[Event]:
        # Decoded in the store's thread: a full query is thousands of events, and decoding them on
        # the event loop would hold up every request for that long.
        return [event_from_json(row[0]) for row in self._reader().execute(query, params)]

    async def history(self, event_id: str) -> list[Event]:
        """Every stored version of an event, oldest first."""
        return await self._read(
            self._fetch_events, "SELECT data FROM event_versions WHERE id = ? ORDER BY version", (event_id,)
        )

    async def query(
        self,
        kinds: Iterable[Kind] | None = None,
        bbox: BBox | None = None,
        areas: Iterable[str] | None = None,
        min_level: int | None = None,
        include_exercise: bool = False,
        include_ended: bool = False,
    ) -> list[Event]:
        """Current events matching every given filter, ordered by id."""
        where, params = [], []
        if kinds is not None:
            where.append("e.kind IN (SELECT value FROM json_each(?))")
            params.append(dumps([Kind(k).value for k in kinds]))
        if bbox is not None:
            x0, y0, x1, y1 = check_bbox(bbox)
            # The R*Tree stores 32-bit floats rounded outwards, so recheck on the exact columns.
            where.append(
                "e.rid IN (SELECT rid FROM event_bbox WHERE min_lon <= ? AND max_lon >= ? "
                "AND min_lat <= ? AND max_lat >= ?) "
                "AND e.min_lon <= ? AND e.max_lon >= ? AND e.min_lat <= ? AND e.max_lat >= ?"
            )
            params += [x1, x0, y1, y0] * 2
        if areas is not None:
            where.append("e.rid IN (SELECT rid FROM event_areas WHERE area IN (SELECT value FROM json_each(?)))")
            params.append(dumps(list(areas)))
        if min_level is not None:
            where.append("e.level >= ?")
            params.append(min_level)
        if not include_exercise:
            where.append("e.status = ?")
            params.append(Status.ACTUAL.value)
        if not include_ended:
            where.append(f"e.state NOT IN ({','.join('?' * len(_ENDED))})")
            params += _ENDED
        query = "SELECT e.data FROM events e"
        if where:
            query += " WHERE " + " AND ".join(where)
        return await self._read(self._fetch_events, query + " ORDER BY e.id", tuple(params))

    async def events_by_source(self, source_id: str, include_ended: bool = False) -> list[Event]:
        """Current events last written by a source (for snapshot diffs)."""
        query = "SELECT data FROM events WHERE source_id = ?"
        params: list[Any] = [source_id]
        if not include_ended:
            query += f" AND state NOT IN ({','.join('?' * len(_ENDED))})"
            params += _ENDED
        return await self._read(self._fetch_events, query + " ORDER BY id", tuple(params))

    async def observations(
        self, station: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[Observation]:
        """A station's readings in [since, until], oldest first."""
        query = "SELECT t, value, quality FROM observations WHERE station = ?"
        params: list[Any] = [station]
        if since is not None:
            query += " AND t >= ?"
            params.append(to_us(since))
        if until is not None:
            query += " AND t <= ?"
            params.append(to_us(until))
        rows = await self._read(self._fetch, query + " ORDER BY t", tuple(params))
        return [Observation(station, from_us(t), value, quality) for t, value, quality in rows]

    # -- source status ----------------------------------------------------------------------

    async def set_source_status(self, status: SourceStatus) -> None:
        """Replace a source's health record."""
        await self._run(
            self._tx,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO source_status (source_id, data) VALUES (?, ?)",
                (status.source_id, source_status_json(status)),
            ),
        )

    async def source_status(self, source_id: str) -> SourceStatus | None:
        """A source's health record."""
        rows = await self._read(self._fetch, "SELECT data FROM source_status WHERE source_id = ?", (source_id,))
        return source_status_from_json(rows[0][0]) if rows else None

    async def source_statuses(self) -> list[SourceStatus]:
        """Every source's health record, by id."""
        rows = await self._read(self._fetch, "SELECT data FROM source_status ORDER BY source_id")
        return [source_status_from_json(r[0]) for r in rows]

    # -- change feed ------------------------------------------------------------------------

    async def feed_since(self, seq: int, limit: int = 1000) -> list[FeedEntry]:
        """Feed entries with seq > `seq`, in order."""
        rows = await self._read(
            self._fetch,
            "SELECT seq, op, event_id, kind, version, at FROM feed WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [_feed_entry(*row) for row in rows]

    async def feed_head(self) -> FeedEntry | None:
        """The newest feed entry (None while the feed is empty), in one read."""
        rows = await self._read(
            self._fetch, "SELECT seq, op, event_id, kind, version, at FROM feed ORDER BY seq DESC LIMIT 1"
        )
        return _feed_entry(*rows[0]) if rows else None

    async def subscribe(self, after_seq: int = 0) -> AsyncIterator[FeedEntry]:
        """Every feed entry after `after_seq`, once and in order, waiting for new ones forever."""
        seq = after_seq
        while True:
            entries = await self.feed_since(seq)
            for entry in entries:
                seq = entry.seq
                yield entry
            if entries:
                continue
            async with self._cond:
                if self._head > seq:
                    continue  # committed in this process between our read and taking the lock
                try:
                    # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancellation that
                    # comes in the turn a commit wakes it, and the follower would read on for ever
                    async with asyncio.timeout(self.poll_s):
                        await self._cond.wait()
                except TimeoutError:
                    pass  # another process may have written: read the feed again

    # -- audit ------------------------------------------------------------------------------

    async def audit_append(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> AuditEntry:
        """Append to the audit log."""
        at = self.clock()
        seq = await self._run(
            self._tx,
            lambda c: c.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (to_us(at), actor, action, target, dumps(detail)),
            ).lastrowid,
        )
        return AuditEntry(seq, at, actor, action, target, detail)

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries, newest first."""
        rows = await self._read(
            self._fetch,
            "SELECT seq, at, actor, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [AuditEntry(s, from_us(at), a, act, t, json.loads(d)) for s, at, a, act, t, d in rows]
