"""The service over real HTTP: /healthz, /api/v1/events, degraded start, clean shutdown of `bosai run`."""
from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, Status
from geo.store import open_store
from service.keys import PIPELINE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.web.keys import SNAPSHOT_KEY
from tests.service_client import build_app
from tests.upstreams import SAMPLES, FeedServer, as_ishikawa

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event(code: str, level: int, status: Status = Status.ACTUAL, kind: Kind = Kind.SEDIMENT_WARNING) -> Event:
    return Event(
        id=f"{kind.value}:{code}",
        kind=kind,
        level=level,
        status=status,
        areas=(code,),
        title="土砂災害警戒情報",
        source=SourceRef(source_id="test"),
        geometry={"type": "Point", "coordinates": [136.65, 36.56]} if code == "17201" else None,
    )


@pytest.fixture
async def client(tmp_path):
    settings = load_settings(overrides={"store": {"url": str(tmp_path / "bosai.sqlite3")}})
    app = build_app(settings)
    async with TestClient(TestServer(app)) as c:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        yield c


async def test_healthz_ok(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"


async def test_events_geojson_and_filters(client):
    pipeline = client.app[PIPELINE_KEY]
    entries = await pipeline.ingest(
        Snapshot("test", [event("17201", 4), event("17202", 3), event("17203", 4, Status.EXERCISE)])
    )
    await client.app[SNAPSHOT_KEY].wait_built(entries[-1].seq)  # the unfiltered view is a snapshot
    resp = await client.get("/api/v1/events")
    assert resp.status == 200 and resp.content_type == "application/geo+json"
    body = await resp.json()
    assert body["type"] == "FeatureCollection"
    assert sorted(f["id"] for f in body["features"]) == ["sediment_warning:17201", "sediment_warning:17202"]
    assert [f["id"] for f in (await (await client.get("/api/v1/events?min_level=4")).json())["features"]] == [
        "sediment_warning:17201"
    ]
    assert [f["id"] for f in (await (await client.get("/api/v1/events?area=17202")).json())["features"]] == [
        "sediment_warning:17202"
    ]
    got = await (await client.get("/api/v1/events?bbox=136.6,36.5,136.7,36.6")).json()
    assert [f["id"] for f in got["features"]] == ["sediment_warning:17201"]
    got = await (await client.get("/api/v1/events?status=exercise")).json()
    assert [f["id"] for f in got["features"]] == ["sediment_warning:17203"]
    got = await (await client.get("/api/v1/events?kind=gauge")).json()
    assert got["features"] == []


@pytest.mark.parametrize(
    "query",
    ["?levl=4", "?min_level=9", "?bbox=1,2,3", "?bbox=a,b,c,d", "?kind=volcano", "?area=1720", "?status=real"],
)
async def test_bad_query_is_400_problem_json(client, query):
    resp = await client.get("/api/v1/events" + query)
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["status"] == 400 and body["detail"]


async def test_event_with_history_and_404(client):
    pipeline = client.app[PIPELINE_KEY]
    await pipeline.ingest(Snapshot("test", [event("17201", 3)]))
    await pipeline.ingest(Snapshot("test", [event("17201", 4)]))
    body = await (await client.get("/api/v1/events/sediment_warning:17201")).json()
    assert body["properties"]["version"] == 2
    assert [h["properties"]["level"] for h in body["history"]] == [3, 4]
    resp = await client.get("/api/v1/events/sediment_warning:99999")
    assert resp.status == 404 and resp.content_type == "application/problem+json"


async def test_metrics_exposed(client):
    await client.get("/healthz")
    text = await (await client.get("/metrics")).text()
    assert "bosai_http_requests_total" in text


async def test_redis_unreachable_at_start_is_degraded_then_recovers(redis_server):
    port = free_port()
    settings = load_settings(
        overrides={"store": {"url": f"redis://127.0.0.1:{port}/0", "connect_retry_max_s": 0.3}}
    )
    app = build_app(settings)
    async with TestClient(TestServer(app)) as c:
        resp = await c.get("/healthz")  # degraded from the start, until a redis-server answers
        assert resp.status == 503 and (await resp.json())["status"] == "degraded"
        resp = await c.get("/api/v1/events")
        assert resp.status == 503 and resp.content_type == "application/problem+json"
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(app[STORE_READY_KEY].wait(), 60)  # retried every 0.3 s: a loaded machine's margin
            assert (await c.get("/healthz")).status == 200
            assert (await c.get("/api/v1/events")).status == 200
        finally:
            proc.terminate()
            proc.wait(10)


# -- the real process -------------------------------------------------------------------------


def bosai_command() -> list[str]:
    exe = Path(sys.executable).with_name("bosai")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "service.cli"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_bosai_run_serves_and_shuts_down_cleanly(tmp_path, sig):
    upstream = FeedServer()
    feed_url = await upstream.start()
    upstream.add("20130902063700_0_VXWW50_170000.xml", as_ishikawa((SAMPLES / "17_03_01_190529_VXWW50.xml").read_bytes()))
    port = free_port()
    db = tmp_path / "bosai.sqlite3"
    config = tmp_path / "bosai.toml"
    config.write_text(
        f"""
[service]
port = {port}
[store]
url = "{db}"
[sources.jma]
type = "jma_feed"
url = "{feed_url}"
offset_s = 0
office_codes = []
allow_private = true
""",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [*bosai_command(), "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        features: list = []
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 120  # a process starting on a loaded machine; one that exits ends it
            while time.monotonic() < deadline and not features and proc.poll() is None:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/api/v1/events") as resp:
                        if resp.status == 200:
                            features = (await resp.json())["features"]
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.2)
            if not features:
                proc.terminate()
                pytest.fail("the service never served the feed's events:\n" + proc.communicate(timeout=10)[0].decode(errors="replace")[-3000:])
            async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
        proc.send_signal(sig)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=20)
        assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        await upstream.stop()
    store = open_store(str(db))
    await store.open()
    try:
        assert {e.id for e in await store.query()} == {f["id"] for f in features}
    finally:
        await store.close()


def test_bosai_run_on_a_corrupt_sqlite_file_names_it(tmp_path):
    db = tmp_path / "bosai.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    config = tmp_path / "bosai.toml"
    config.write_text(f'[service]\nport = {free_port()}\n[store]\nurl = "{db}"\n', encoding="utf-8")
    proc = subprocess.run(
        [*bosai_command(), "run", "--config", str(config)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.returncode == 1
    assert str(db) in proc.stderr
    assert db.read_bytes().startswith(b"this is not a database")  # nothing overwritten


async def test_long_running_app_freezes_its_start_up_heap_and_restores_the_collector_on_exit(tmp_path):
    import gc

    settings = load_settings(overrides={"store": {"url": str(tmp_path / "bosai.sqlite3")}})
    before = gc.get_threshold()
    app = build_app(settings, long_running=True)
    try:
        async with TestClient(TestServer(app)) as c:
            await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
            assert gc.get_freeze_count() > 10_000  # modules, geodata, templates: out of the full scans
            assert gc.get_threshold()[2] > before[2]  # full collections considered less often
            assert (await c.get("/healthz")).status == 200
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
