"""The Redis deployment keeps following its change feed: through quiet spells longer than the
client's socket timeout, and through a Redis crash and restart (real redis-server, no skips)."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef
from geo.store.base import Batch, Change, ChangeOp
from geo.store.redis import RedisStore
from geo.store.redis_connect import block_ms
from service.keys import PIPELINE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.supervisor import SUPERVISOR_KEY
from service.web import sse
from service.web.app import create_app
from service.web.keys import SNAPSHOT_KEY

QUIET_S = 31  # longer than any socket timeout, block or heartbeat in play (5, 10, 15 s)


def warning(code: str, level: int, version: int = 1) -> Event:
    return Event(id=f"sediment_warning:{code}", kind=Kind.SEDIMENT_WARNING, level=level, version=version,
                 areas=(code,), title="土砂災害警戒情報", source=SourceRef(source_id="jma"))


def test_xread_block_stays_under_the_socket_timeout():
    assert block_ms(5, 5) < 5000  # redis-py 8's default socket timeout with the store's default block
    assert block_ms(5, 10) == 5000
    assert block_ms(5, 1) == 500
    assert block_ms(5, None) == 5000  # no socket timeout: any block is safe


async def test_subscribe_outlives_quiet_longer_than_the_socket_timeout(redis_url):
    # A URL's socket_timeout wins over the store's own: the block must follow the one in effect.
    store = RedisStore(redis_url + "?socket_timeout=1", prefix=f"t{uuid.uuid4().hex[:8]}", block_s=5)
    await store.open()
    try:
        sub = store.subscribe(0)
        first = asyncio.ensure_future(anext(sub))
        await asyncio.sleep(2.5)
        assert not first.done(), first.exception() if first.done() else None
        await store.apply(Batch(changes=[Change(ChangeOp.CREATED, warning("17201", 4))]))
        entry = await asyncio.wait_for(first, 5)
        assert entry.seq == 1 and entry.event_id == "sediment_warning:17201"
        await sub.aclose()
    finally:
        await store.close()


class SseReader:
    """Reads one SSE response in the background: change messages by seq, and whether it ended."""

    def __init__(self, resp) -> None:
        self.resp = resp
        self.changes: list[dict] = []
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        current: dict = {}
        async for raw in self.resp.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if current.get("event") == "change":
                    self.changes.append(json.loads(current["data"]))
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value

    async def wait_for_seq(self, seq: int, timeout_s: float = 15) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(c["seq"] == seq for c in self.changes):
            assert not self.task.done(), f"the stream ended: {self.task.exception() if not self.task.cancelled() else ''}"
            assert time.monotonic() < deadline, f"seq {seq} not streamed; got {[c['seq'] for c in self.changes]}"
            await asyncio.sleep(0.05)


async def documents_follow(client, seq: int, level: int, timeout_s: float = 20) -> None:
    """The snapshot (served and written as a file) reaches feed entry `seq` and shows `level`."""
    snapshot = client.app[SNAPSHOT_KEY]
    await snapshot.wait_built(seq, timeout_s)
    body = await (await client.get("/api/v1/events", headers={"Accept-Encoding": "identity"})).json()
    assert [f["properties"]["level"] for f in body["features"]] == [level]
    on_disk = json.loads((snapshot.static_dir / "api/v1/events.geojson").read_bytes())
    assert on_disk == body


async def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


@pytest.mark.long
async def test_snapshot_and_sse_follow_redis_through_quiet_and_a_restart(restartable_redis, tmp_path):
    settings = load_settings(overrides={"store": {"url": restartable_redis.url, "connect_retry_max_s": 0.5},
                                        "service": {"data_dir": str(tmp_path / "var")}})
    app = create_app(settings)  # the deployed defaults: redis-py's client, the store's block and timeouts
    app[SUPERVISOR_KEY].settle_s = 1.0
    app[sse.STREAMS_KEY].heartbeat_s = 5.0
    async with TestClient(TestServer(app)) as client:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        pipeline = app[PIPELINE_KEY]
        resp = await client.get("/api/v1/stream")
        stream = SseReader(resp)
        try:
            (first,) = await pipeline.ingest(Snapshot("jma", [warning("17201", 2)]))
            await documents_follow(client, first.seq, 2)
            await stream.wait_for_seq(first.seq)

            await asyncio.sleep(QUIET_S)  # nothing changes: every subscriber waits in XREAD BLOCK
            health = await (await client.get("/healthz")).json()
            assert health["status"] == "ok" and set(health["tasks"].values()) == {"running"}, health
            (second,) = await pipeline.ingest(Snapshot("jma", [warning("17201", 3, version=2)]))
            await documents_follow(client, second.seq, 3)
            await stream.wait_for_seq(second.seq)

            restartable_redis.kill()

            async def follower_down() -> bool:
                body = await (await client.get("/healthz")).json()
                return "portal_snapshot" in body.get("tasks_down", ())

            await wait_until(follower_down, 20, "the snapshot follower's failure never showed in /healthz")
            health = await client.get("/healthz")
            body = await health.json()
            assert health.status == 503 and body["store"] == "unavailable" and body["tasks"]["portal_snapshot"] == "down"
            ready = await client.get("/readyz")
            body = await ready.json()
            assert ready.status == 503 and body["status"] == "not_ready" and body["store"] == "unavailable", body
            metrics = await (await client.get("/metrics")).text()
            assert 'bosai_task_up{task="portal_snapshot"} 0.0' in metrics

            restartable_redis.start()  # the same port and data (append-only file)

            async def ready_again() -> bool:
                return (await client.get("/readyz")).status == 200

            await wait_until(ready_again, 40, "not ready again after Redis came back")
            metrics = await (await client.get("/metrics")).text()
            assert 'bosai_task_up{task="portal_snapshot"} 1.0' in metrics
            assert 'bosai_task_restarts_total{task="portal_snapshot"} 0.0' not in metrics
            (third,) = await pipeline.ingest(Snapshot("jma", [warning("17201", 4, version=3)]))
            await documents_follow(client, third.seq, 4)
            await stream.wait_for_seq(third.seq)  # the same stream, still open
            assert [c["seq"] for c in stream.changes] == [first.seq, second.seq, third.seq]
        finally:
            stream.task.cancel()
            resp.close()
