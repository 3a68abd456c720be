"""Store write throughput against the raw engine doing the same writes, measured in the same run.

    python bench/bench_store.py [--runs N]

Workload: one apply of 10,000 gauge observations (2,000 gauges x 5 readings) plus 2,000 event
changes (version 2 of existing gauge events). The reference writes the same rows with the bare
engine: SQLite executemany in one transaction into the same schema; Redis one MULTI pipeline of the
same commands, with every value already serialised. Ratio = reference time / store time (1.0 is
parity; the goal is >= 0.5). Also times a 10,000-gauge-event snapshot (all new) applied on SQLite.
Uses BOSAI_TEST_REDIS_URL if set, else starts a private redis-server on a free port.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.model import Event, Kind, Observation, SourceRef  # noqa: E402
from geo.store import sqlite_schema as sql  # noqa: E402
from geo.store.base import Batch, Change, ChangeOp  # noqa: E402
from geo.store.redis import RedisStore  # noqa: E402
from geo.store.redis_keys import RedisKeys  # noqa: E402
from geo.store.redis_writes import event_meta  # noqa: E402
from geo.store.rows import geometry_bbox, to_us  # noqa: E402
from geo.store.sqlite import SQLiteStore  # noqa: E402

T0 = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
GAUGES, READINGS = 2_000, 5


def gauge(n: int, version: int) -> Event:
    return Event(
        id=f"gauge:{1700000000 + n}", kind=Kind.GAUGE, level=version % 3, version=version,
        supersedes=f"gauge:{1700000000 + n}@{version - 1}" if version > 1 else None,
        areas=(f"172{n % 20:02d}",),
        geometry={"type": "Point", "coordinates": [136.2 + (n % 100) / 100, 36.1 + (n // 100) / 50]},
        observed_at=T0, received_at=T0, title=f"観測所 {n}", text="水位観測",
        source=SourceRef(source_id="river_gauge", url="http://127.0.0.1/river", upstream_id=str(n)),
        properties={"level_m": 1.0 + n / 1000, "thresholds": [1.5, 2.0, 2.5, 3.0], "trend_m_10min": 0.02},
    )


def workload() -> tuple[Batch, Batch]:
    """(setup batch of version-1 events, timed batch of version-2 changes + observations)."""
    setup = Batch([Change(ChangeOp.CREATED, gauge(n, 1)) for n in range(GAUGES)])
    obs = [Observation(f"{1700000000 + n}", T0 + timedelta(minutes=10 * r), 1.0 + r / 10)
           for n in range(GAUGES) for r in range(READINGS)]
    timed = Batch([Change(ChangeOp.UPDATED, gauge(n, 2)) for n in range(GAUGES)], observations=obs)
    return setup, timed


def best(samples: list[float]) -> float:
    return min(samples)


# -- SQLite ---------------------------------------------------------------------------------------


async def sqlite_store_run(tmp: Path, setup: Batch, timed: Batch) -> float:
    store = SQLiteStore(tmp / f"{uuid.uuid4().hex}.sqlite3", clock=lambda: T0)
    await store.open()
    await store.apply(setup)
    start = time.perf_counter()
    await store.apply(timed)
    elapsed = time.perf_counter() - start
    await store.close()
    return elapsed


async def sqlite_raw_run(tmp: Path, setup: Batch, timed: Batch) -> float:
    path = tmp / f"{uuid.uuid4().hex}.sqlite3"
    store = SQLiteStore(path, clock=lambda: T0)  # same schema, same starting rows
    await store.open()
    await store.apply(setup)
    await store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", f"cache_size=-{store.cache_kib}"):
        conn.execute(f"PRAGMA {pragma}")  # the store's settings
    rids = dict(conn.execute("SELECT id, rid FROM events"))
    events, versions, feed = [], [], []
    for seq, change in enumerate(timed.changes, start=GAUGES + 1):
        e = change.event
        data = e.model_dump_json()
        box = geometry_bbox(e.geometry)
        events.append((rids[e.id], e.id, e.kind.value, e.version, e.level, e.state.value, e.status.value,
                       e.source.source_id, json.dumps(list(e.areas)), *box, data))
        versions.append((e.id, e.version, data))
        feed.append((seq, change.op.value, e.id, e.kind.value, e.version, to_us(T0)))
    obs = [(o.station, to_us(o.time), o.value, o.quality) for o in timed.observations]
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql.UPSERT_EVENT, events)
    conn.executemany(sql.INSERT_VERSION, versions)
    conn.executemany(sql.INSERT_FEED, feed)
    conn.executemany(sql.UPSERT_OBSERVATION, obs)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


async def sqlite_snapshot_run(tmp: Path) -> float:
    batch = Batch([Change(ChangeOp.CREATED, gauge(n, 1)) for n in range(10_000)])
    store = SQLiteStore(tmp / f"{uuid.uuid4().hex}.sqlite3", clock=lambda: T0)
    await store.open()
    start = time.perf_counter()
    await store.apply(batch)
    elapsed = time.perf_counter() - start
    await store.close()
    return elapsed


# -- Redis ----------------------------------------------------------------------------------------


async def redis_store_run(url: str, setup: Batch, timed: Batch) -> float:
    store = RedisStore(url, clock=lambda: T0, prefix=f"bench{uuid.uuid4().hex[:8]}")
    await store.open()
    await store.apply(setup)
    start = time.perf_counter()
    await store.apply(timed)
    elapsed = time.perf_counter() - start
    await store.close()
    return elapsed


async def redis_raw_run(url: str, setup: Batch, timed: Batch) -> float:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    store = RedisStore(url, clock=lambda: T0, prefix=prefix)
    await store.open()
    await store.apply(setup)
    await store.close()
    k = RedisKeys(prefix)
    # The same commands the store sends for this batch, every value serialised in advance.
    datas = {c.event.id: c.event.model_dump_json() for c in timed.changes}
    metas = {c.event.id: json.dumps(event_meta(c.event), separators=(",", ":")) for c in timed.changes}
    feed = [(f"{seq}-0", {"op": c.op.value, "id": c.event.id, "kind": c.event.kind.value, "v": c.event.version,
                          "at": to_us(T0)}) for seq, c in enumerate(timed.changes, start=GAUGES + 1)]
    times: dict[str, dict[str, int]] = {}
    values: dict[str, dict[str, str]] = {}
    for o in timed.observations:
        us = to_us(o.time)
        times.setdefault(o.station, {})[str(us)] = us
        values.setdefault(o.station, {})[str(us)] = f"{o.value!r}|{o.quality}"
    client = aioredis.Redis.from_url(url, decode_responses=True)
    start = time.perf_counter()
    pipe = client.pipeline(transaction=True)
    pipe.hset(k.events, mapping=datas)
    pipe.hset(k.meta, mapping=metas)
    for c in timed.changes:
        pipe.hset(k.versions(c.event.id), mapping={c.event.version: datas[c.event.id]})
    for stream_id, fields in feed:
        pipe.xadd(k.feed, fields, id=stream_id)
    for station, members in times.items():
        pipe.zadd(k.obs_times(station), members)
        pipe.hset(k.obs_values(station), mapping=values[station])
    pipe.set(k.feed_seq, GAUGES * 2)
    await pipe.execute()
    elapsed = time.perf_counter() - start
    await client.aclose()
    return elapsed


@contextmanager
def redis_server():
    url = os.environ.get("BOSAI_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not on PATH and BOSAI_TEST_REDIS_URL not set")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no", "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


async def main(runs: int) -> None:
    setup, timed = workload()
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        rows = []
        sq_store = best([await sqlite_store_run(tmp, setup, timed) for _ in range(runs)])
        sq_raw = best([await sqlite_raw_run(tmp, setup, timed) for _ in range(runs)])
        rows.append(("sqlite apply 10k obs + 2k changes", sq_raw, sq_store))
        with redis_server() as url:
            rd_store = best([await redis_store_run(url, setup, timed) for _ in range(runs)])
            rd_raw = best([await redis_raw_run(url, setup, timed) for _ in range(runs)])
            redis.Redis.from_url(url).flushdb()
        rows.append(("redis apply 10k obs + 2k changes", rd_raw, rd_store))
        snapshot = best([await sqlite_snapshot_run(tmp) for _ in range(runs)])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"best of {runs} runs")
    print(f"{'workload':<36} {'raw s':>8} {'store s':>8} {'ratio':>6}  goal")
    for name, raw, store in rows:
        ratio = raw / store
        print(f"{name:<36} {raw:8.3f} {store:8.3f} {ratio:6.2f}  >= 0.50 {'met' if ratio >= 0.5 else 'NOT met'}")
    print(f"{'sqlite snapshot 10k gauge events':<36} {'':>8} {snapshot:8.3f} {'':>6}  < 0.50 s "
          f"{'met' if snapshot < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions; the best time counts")
    asyncio.run(main(parser.parse_args().runs))
