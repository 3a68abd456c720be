"""/api/v1/stream over real HTTP: changes in order, Last-Event-ID resume, heartbeats, clean shutdown."""
from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef
from service.keys import PIPELINE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.web import sse
from tests.service_client import build_app


def warning(code: str, level: int) -> Event:
    return Event(id=f"sediment_warning:{code}", kind=Kind.SEDIMENT_WARNING, level=level, areas=(code,),
                 source=SourceRef(source_id="jma"))


def make_app(tmp_path):
    settings = load_settings(overrides={"store": {"url": str(tmp_path / "s.sqlite3")},
                                        "service": {"data_dir": str(tmp_path / "var")}})
    app = build_app(settings)
    app[sse.STREAMS_KEY].heartbeat_s = 0.2
    return app


@pytest.fixture
async def client(tmp_path):
    app = make_app(tmp_path)
    async with TestClient(TestServer(app)) as c:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        yield c


async def read_messages(resp, count: int, timeout_s: float = 60) -> tuple[list[dict], list[str]]:
    """Parse SSE messages until `count` change events arrived; also returns comment lines seen."""
    messages: list[dict] = []
    comments: list[str] = []
    current: dict = {}

    async def loop():
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if "event" in current:
                    messages.append(dict(current))
                current.clear()
                if sum(m["event"] == "change" for m in messages) >= count:
                    return
            elif line.startswith(":"):
                comments.append(line)
            else:
                field, _, value = line.partition(": ")
                current[field] = value

    await asyncio.wait_for(loop(), timeout_s)
    return [m for m in messages if m["event"] == "change"], comments


async def ingest(client, *events):
    return await client.app[PIPELINE_KEY].ingest(Snapshot("jma", list(events)))


async def test_changes_in_order_then_resume_without_gap_or_repeat(client):
    await ingest(client, warning("17201", 1))  # before the stream: not replayed without Last-Event-ID
    resp = await client.get("/api/v1/stream")
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    await ingest(client, warning("17201", 2), warning("17202", 3))
    await ingest(client, warning("17203", 4))
    got, _ = await read_messages(resp, 3)
    seqs = [int(m["id"]) for m in got]
    assert seqs == sorted(seqs) and seqs[0] == 2 and len(set(seqs)) == 3
    data = [json.loads(m["data"]) for m in got]
    assert [d["event_id"] for d in data][-1] == "sediment_warning:17203"
    assert all(d["seq"] == s for d, s in zip(data, seqs))
    resp.close()

    # Disconnected: two more changes happen; resuming after the last seen id gives exactly those.
    await ingest(client, warning("17204", 2))
    await ingest(client, warning("17205", 2))
    again = await client.get("/api/v1/stream", headers={"Last-Event-ID": str(seqs[-1])})
    resumed, _ = await read_messages(again, 2)
    assert [int(m["id"]) for m in resumed] == [seqs[-1] + 1, seqs[-1] + 2]
    await ingest(client, warning("17206", 2))
    live, _ = await read_messages(again, 1)
    assert [int(m["id"]) for m in live] == [seqs[-1] + 3]
    again.close()


async def test_heartbeat_on_idle_stream(client):
    resp = await client.get("/api/v1/stream")

    async def first_heartbeat():
        async for raw in resp.content:
            if raw.startswith(b": heartbeat"):
                return True

    assert await asyncio.wait_for(first_heartbeat(), 3)
    resp.close()


@pytest.mark.parametrize("bad", ["abc", "-1", "1" * 30])
async def test_bad_last_event_id_is_400(client, bad):
    resp = await client.get("/api/v1/stream", headers={"Last-Event-ID": bad})
    assert resp.status == 400 and resp.content_type == "application/problem+json"


async def test_unknown_parameter_is_400(client):
    assert (await client.get("/api/v1/stream?after=3")).status == 400


async def test_shutdown_ends_open_streams_promptly(tmp_path):
    app = make_app(tmp_path)
    app[sse.STREAMS_KEY].heartbeat_s = 30  # no heartbeat will end the wait by chance
    server = TestServer(app)
    client = TestClient(server)
    await client.start_server()
    await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
    responses = [await client.get("/api/v1/stream") for _ in range(3)]
    while app[sse.STREAMS_KEY].open < 3:  # the handlers count a stream once its headers are out
        await asyncio.sleep(0.01)
    assert app[sse.STREAMS_KEY].open == 3
    loop = asyncio.get_running_loop()
    started = loop.time()
    await server.close()  # runs on_shutdown, then cleanup contexts
    assert loop.time() - started < 3
    assert app[sse.STREAMS_KEY].open == 0
    for resp in responses:
        tail = await asyncio.wait_for(resp.content.read(), 3)  # the stream ended: EOF, not a hang
        assert b"event: shutdown" in tail
        resp.close()
    await client.close()
