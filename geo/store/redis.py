"""The shared store: Redis 7 (standalone or Sentinel) via redis.asyncio.

Events and versions are hashes, Point geometries sit in a GEO index and other shapes in a set that
bbox queries scan, gauge readings are per-station sorted sets, the change feed is a stream with
ids "{seq}-0". `apply` WATCHes the feed sequence key (which every apply rewrites), reads what it
must check, then commits everything in one MULTI/EXEC; outbox leases are Lua scripts.
"""
from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from geo.model import Event, Kind, Observation, utcnow
from geo.store import redis_scripts as lua
from geo.store.base import (
    AuditEntry,
    Batch,
    BBox,
    FeedEntry,
    SourceStatus,
    StoreUnavailable,
)
from geo.store.redis_connect import block_ms, client_from_url, safe_url, socket_timeout_of
from geo.store.redis_keys import RedisKeys
from geo.store.redis_outbox import OPERATIONS as OUTBOX_OPERATIONS
from geo.store.redis_outbox import RedisOutbox
from geo.store.redis_writes import WritePlan, feed_entry, queue_observations, queue_outbox
from geo.store.rows import (
    bbox_intersects,
    check_bbox,
    check_versions,
    dumps,
    event_from_json,
    from_us,
    source_status_from_json,
    source_status_json,
    to_us,
    visible,
)

EARTH_RADIUS_M = 6372797.560856  # the radius Redis uses for GEO distances


def _unavailable(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(self: RedisStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreUnavailable(f"Redis store at {safe_url(self.url)} unreachable: {exc}") from exc

    return wrapper


class RedisStore(RedisOutbox):
    """Store protocol over Redis."""

    shared_writers = True  # several service processes write the same keys

    def __init__(
        self,
        url: str,
        clock: Callable[[], datetime] = utcnow,
        prefix: str = "bosai",
        connect_timeout_s: float = 5.0,
        block_s: float = 5.0,
        socket_timeout_s: float | None = 10.0,
    ) -> None:
        self.url = url
        self.clock = clock
        self.keys = RedisKeys(prefix)
        self.connect_timeout_s = connect_timeout_s
        self.socket_timeout_s = socket_timeout_s  # a dead or hung server is noticed within this
        self.block_s = block_s  # how long one XREAD waits before the subscriber loops
        self._block_ms = block_ms(block_s, socket_timeout_s)  # kept below the socket timeout in effect
        self._r: aioredis.Redis | None = None

    def __repr__(self) -> str:
        return f"RedisStore({safe_url(self.url)!r}, prefix={self.keys.prefix!r})"

    @_unavailable
    async def open(self) -> None:
        """Connect and check the server answers; StoreUnavailable names the URL (no password)."""
        self._r = client_from_url(self.url, self.connect_timeout_s, self.socket_timeout_s)
        self._block_ms = block_ms(self.block_s, socket_timeout_of(self._r))
        try:
            await self._r.ping()
        except BaseException:
            await self._r.aclose()
            self._r = None
            raise
        self._claim = self._r.register_script(lua.CLAIM)
        self._settle = self._r.register_script(lua.SETTLE)
        self._reclaim = self._r.register_script(lua.RECLAIM)
        self._sending = self._r.register_script(lua.SENDING)
        self._begin_send = self._r.register_script(lua.BEGIN_SEND)
        self._move = self._r.register_script(lua.MOVE)
        self._audit = self._r.register_script(lua.AUDIT_APPEND)

    async def close(self) -> None:
        """Release connections; Redis keeps the data."""
        if self._r is not None:
            await self._r.aclose()
            self._r = None

    @property
    def redis(self) -> aioredis.Redis:
        """The open client."""
        if self._r is None:
            raise StoreUnavailable(f"Redis store at {safe_url(self.url)} is not open")
        return self._r

    # -- events -----------------------------------------------------------------------------

    @_unavailable
    async def apply(self, batch: Batch) -> list[FeedEntry]:
        """Commit events, history, observations, outbox rows and feed entries in one MULTI/EXEC."""
        k = self.keys
        ids = list(dict.fromkeys(c.event.id for c in batch.changes))
        msg_ids = list(dict.fromkeys(m.id for m in batch.outbox))
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(k.feed_seq)
                    reads = self.redis.pipeline(transaction=False)
                    reads.get(k.feed_seq)
                    reads.get(k.outbox_order)
                    reads.hmget(k.meta, ids or ["-"])
                    reads.hmget(k.outbox_messages, msg_ids or ["-"])
                    seq_s, order_s, metas, present = await reads.execute()
                    old = {i: json.loads(m) if m else None for i, m in zip(ids, metas)}
                    check_versions(batch.changes, {i: m["v"] for i, m in old.items() if m})
                    existing = {i for i, p in zip(msg_ids, present) if p}
                    seq, at = int(seq_s or 0), self.clock()
                    at_us, plan, entries = to_us(at), WritePlan(k, old), []
                    for change in batch.changes:
                        seq += 1
                        plan.add_change(seq, change.op.value, change.event, at_us)
                        e = change.event
                        entries.append(FeedEntry(seq, change.op, e.id, e.kind, e.version, at))
                    fresh = []
                    for m in batch.outbox:
                        if m.id not in existing:
                            existing.add(m.id)
                            fresh.append(m)
                    pipe.multi()
                    plan.queue(pipe)
                    queue_observations(pipe, k, batch)
                    order = queue_outbox(pipe, k, fresh, int(order_s or 0))
                    if fresh:
                        pipe.set(k.outbox_order, order)
                    pipe.set(k.feed_seq, seq)  # always written: concurrent applies' WATCH must fire
                    await pipe.execute()
                    return entries
                except WatchError:
                    continue  # another apply committed after our reads: check again

    @_unavailable
    async def get(self, event_id: str) -> Event | None:
        """The current version of an event."""
        data = await self.redis.hget(self.keys.events, event_id)
        return event_from_json(data) if data else None

    @_unavailable
    async def get_many(self, event_ids: Iterable[str]) -> dict[str, Event]:
        """Current versions of several events, by id (missing ids absent)."""
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        rows = await self.redis.hmget(self.keys.events, ids)
        return {i: event_from_json(d) for i, d in zip(ids, rows) if d}

    @_unavailable
    async def history(self, event_id: str) -> list[Event]:
        """Every stored version of an event, oldest first."""
        rows = await self.redis.hgetall(self.keys.versions(event_id))
        return [event_from_json(rows[v]) for v in sorted(rows, key=int)]

    @_unavailable
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
        k, r = self.keys, self.redis
        box = check_bbox(bbox) if bbox is not None else None
        candidates: set[str] | None = None
        if kinds is not None:
            keys = [k.kind(Kind(x).value) for x in kinds]
            candidates = set(await r.sunion(keys)) if keys else set()
        if areas is not None:
            keys = [k.area(code) for code in areas]
            found = set(await r.sunion(keys)) if keys else set()
            candidates = found if candidates is None else candidates & found
        if box is not None:
            found = await self._bbox_candidates(box)
            candidates = found if candidates is None else candidates & found
        ids = sorted(candidates) if candidates is not None else sorted(await r.hkeys(k.meta))
        if not ids:
            return []
        keep = []
        for event_id, raw in zip(ids, await r.hmget(k.meta, ids)):
            if raw is None:
                continue
            meta = json.loads(raw)
            if min_level is not None and meta["l"] < min_level:
                continue
            if not visible(meta["st"], meta["s"], include_exercise, include_ended):
                continue
            if box is not None and (meta["b"] is None or not bbox_intersects(box, tuple(meta["b"]))):
                continue
            keep.append(event_id)
        return list((await self.get_many(keep)).values()) if keep else []

    async def _bbox_candidates(self, box: BBox) -> set[str]:
        """Ids whose geometry may touch `box`: GEO points in a covering box, plus every shape."""
        x0, y0, x1, y1 = box
        r = self.redis
        pipe = r.pipeline(transaction=False)
        pipe.smembers(self.keys.shapes)
        if x1 - x0 >= 180 or max(abs(y0), abs(y1)) > 85:
            pipe.zrange(self.keys.geo, 0, -1)  # beyond what a BYBOX search can cover: scan the points
        else:
            # Redis measures a BYBOX width along each point's parallel: size the box for the parallel
            # nearest the equator (the widest), with a margin for GEO's 52-bit coordinate rounding.
            near_equator = 0.0 if y0 <= 0 <= y1 else min(abs(y0), abs(y1))
            width = 2 * EARTH_RADIUS_M * math.cos(math.radians(near_equator)) * math.radians((x1 - x0) / 2)
            height = EARTH_RADIUS_M * math.radians(y1 - y0)
            pipe.geosearch(
                self.keys.geo, longitude=(x0 + x1) / 2, latitude=(y0 + y1) / 2,
                width=width * 1.01 + 20, height=height * 1.01 + 20, unit="m",
            )
        shapes, points = await pipe.execute()
        return set(shapes) | set(points)

    @_unavailable
    async def events_by_source(self, source_id: str, include_ended: bool = False) -> list[Event]:
        """Current events last written by a source (for snapshot diffs)."""
        ids = sorted(await self.redis.smembers(self.keys.source(source_id)))
        events = (await self.get_many(ids)).values()
        return [e for e in events if include_ended or not e.ended]

    @_unavailable
    async def observations(
        self, station: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[Observation]:
        """A station's readings in [since, until], oldest first."""
        lo = to_us(since) if since is not None else "-inf"
        hi = to_us(until) if until is not None else "+inf"
        times = await self.redis.zrangebyscore(self.keys.obs_times(station), lo, hi)
        if not times:
            return []
        values = await self.redis.hmget(self.keys.obs_values(station), times)
        out = []
        for t, raw in zip(times, values):
            value, _, quality = (raw or "|missing").partition("|")
            out.append(Observation(station, from_us(int(t)), float(value) if value else None, quality))
        return out

    # -- source status ----------------------------------------------------------------------

    @_unavailable
    async def set_source_status(self, status: SourceStatus) -> None:
        """Replace a source's health record."""
        await self.redis.hset(self.keys.sources, status.source_id, source_status_json(status))

    @_unavailable
    async def source_status(self, source_id: str) -> SourceStatus | None:
        """A source's health record."""
        raw = await self.redis.hget(self.keys.sources, source_id)
        return source_status_from_json(raw) if raw else None

    @_unavailable
    async def source_statuses(self) -> list[SourceStatus]:
        """Every source's health record, by id."""
        rows = await self.redis.hgetall(self.keys.sources)
        return [source_status_from_json(rows[i]) for i in sorted(rows)]

    # -- change feed ------------------------------------------------------------------------

    @_unavailable
    async def feed_since(self, seq: int, limit: int = 1000) -> list[FeedEntry]:
        """Feed entries with seq > `seq`, in order."""
        rows = await self.redis.xrange(self.keys.feed, min=f"({seq}-0", max="+", count=limit)
        return [feed_entry(i, f) for i, f in rows]

    @_unavailable
    async def feed_head(self) -> FeedEntry | None:
        """The newest feed entry (None while the feed is empty), in one read."""
        rows = await self.redis.xrevrange(self.keys.feed, max="+", min="-", count=1)
        return feed_entry(*rows[0]) if rows else None

    async def subscribe(self, after_seq: int = 0) -> AsyncIterator[FeedEntry]:
        """Every feed entry after `after_seq`, once and in order, waiting for new ones forever.

        Raises StoreUnavailable when Redis cannot be reached; subscribe again after the last entry seen.
        """
        last = f"{after_seq}-0"
        task = asyncio.current_task()
        while True:
            try:
                reply = await self.redis.xread({self.keys.feed: last}, count=1000, block=self._block_ms)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                raise StoreUnavailable(f"Redis store at {safe_url(self.url)} unreachable: {exc}") from exc
            if task is not None and task.cancelling():
                # redis-py sends each command through asyncio.wait_for, which on Python 3.11 loses a
                # cancellation coming as the send completes: the read returns, and here it ends
                raise asyncio.CancelledError
            for _stream, rows in reply or ():
                for stream_id, fields in rows:
                    last = stream_id
                    yield feed_entry(stream_id, fields)

    # -- audit ------------------------------------------------------------------------------

    @_unavailable
    async def audit_append(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> AuditEntry:
        """Append to the audit log."""
        at = self.clock()
        record = dumps({"at": to_us(at), "actor": actor, "action": action, "target": target, "detail": detail})
        seq = await self._audit(keys=[self.keys.audit_seq, self.keys.audit], args=[record])
        return AuditEntry(int(seq), at, actor, action, target, detail)

    @_unavailable
    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries, newest first."""
        rows = await self.redis.xrevrange(self.keys.audit, count=limit)
        out = []
        for stream_id, fields in rows:
            d = json.loads(fields["entry"])
            seq = int(stream_id.split("-", 1)[0])
            out.append(AuditEntry(seq, from_us(d["at"]), d["actor"], d["action"], d["target"], d["detail"]))
        return out


# The outbox operations live in RedisOutbox; a lost connection in any of them is StoreUnavailable too.
for _name in OUTBOX_OPERATIONS:
    setattr(RedisStore, _name, _unavailable(getattr(RedisOutbox, _name)))
