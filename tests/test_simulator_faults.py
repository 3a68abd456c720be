"""Every fault mode of the simulator, as a client on the wire sees it."""
from __future__ import annotations

import asyncio
import json
import time
import zlib

import aiohttp
import pytest
from lxml import etree

from collectors.base import PayloadError
from collectors.jma.document import parse_document
from simulator.server import running_simulator

FEED = "/developer/xml/feed/extra.xml"
AREA = "/swin/files/area_info/current/17000.json"
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@pytest.fixture
async def sim():
    async with running_simulator("heavy-rain", speed=60, seed=1, port=0) as s:
        s.clock.jump_elapsed(10.05)
        s.clock.pause()
        yield s


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def _fault(http, sim, **spec) -> dict:
    async with http.post(sim.base_url + "/_sim/faults", json=spec) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def test_latency_and_status(sim, http):
    await _fault(http, sim, path=FEED, mode="latency", latency_ms=400)
    t0 = time.monotonic()
    async with http.get(sim.base_url + FEED) as resp:
        assert resp.status == 200
    assert time.monotonic() - t0 >= 0.4
    async with http.delete(sim.base_url + "/_sim/faults") as resp:
        assert (await resp.json())["cleared"] == 1
    await _fault(http, sim, path="/developer/xml/*", mode="status", status=502)
    async with http.get(sim.base_url + FEED) as resp:
        assert resp.status == 502
    async with http.get(sim.base_url + AREA) as resp:
        assert resp.status == 200, "other endpoints are untouched"


async def test_reset_hang_and_truncate(sim, http):
    await _fault(http, sim, path=FEED, mode="reset")
    with pytest.raises(aiohttp.ClientError):
        async with http.get(sim.base_url + FEED) as resp:
            await resp.read()
    await http.delete(sim.base_url + "/_sim/faults")

    await _fault(http, sim, path=AREA, mode="hang", hang_s=5)
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(sim.base_url + AREA, timeout=aiohttp.ClientTimeout(total=0.5)) as resp:
            await resp.read()
    await http.delete(sim.base_url + "/_sim/faults")

    await _fault(http, sim, path=AREA, mode="truncate")
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.get(sim.base_url + AREA) as resp:
            await resp.read()


async def test_wrong_type_malformed_and_entity_bomb(sim, http):
    await _fault(http, sim, path=AREA, mode="wrong_type")
    async with http.get(sim.base_url + AREA) as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.read())
    await http.delete(sim.base_url + "/_sim/faults")

    name = sim.jma.published(sim.clock.now())[-1].name
    await _fault(http, sim, path="/developer/xml/data/*", mode="malformed_xml", count=1)
    async with http.get(f"{sim.base_url}/developer/xml/data/{name}") as resp:
        assert resp.status == 200
        with pytest.raises(etree.XMLSyntaxError):
            etree.fromstring(await resp.read(), SAFE)
    async with http.get(f"{sim.base_url}/developer/xml/data/{name}") as resp:
        etree.fromstring(await resp.read(), SAFE)  # count=1: the next request is clean again

    await _fault(http, sim, path="/developer/xml/data/*", mode="entity_bomb")
    async with http.get(f"{sim.base_url}/developer/xml/data/{name}") as resp:
        body = await resp.read()
    assert b"<!ENTITY lol9" in body and len(body) < 4096
    with pytest.raises(PayloadError):
        parse_document(body)


async def test_oversized_gzip_bomb_and_slow_drip(sim, http):
    await _fault(http, sim, path=AREA, mode="oversized", size_mb=12)
    seen = 0
    async with http.get(sim.base_url + AREA) as resp:
        async for chunk in resp.content.iter_chunked(1 << 16):
            seen += len(chunk)
            if seen > 8 << 20:
                break  # a client with an 8 MB cap stops here
    assert seen > 8 << 20
    await http.delete(sim.base_url + "/_sim/faults")

    await _fault(http, sim, path=FEED, mode="gzip_bomb", size_mb=64)
    async with http.get(sim.base_url + FEED, auto_decompress=False) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        raw = await resp.read()
    assert len(raw) < 1 << 20
    inflater = zlib.decompressobj(31)
    first = inflater.decompress(raw, 1 << 20)
    assert first == bytes(len(first)) and len(first) == 1 << 20 and inflater.unconsumed_tail
    await http.delete(sim.base_url + "/_sim/faults")

    await _fault(http, sim, path=FEED, mode="slow_drip", chunk_bytes=256, interval_s=0.3)
    t0 = time.monotonic()
    async with http.get(sim.base_url + FEED) as resp:
        body = await resp.read()
    assert time.monotonic() - t0 >= 0.3 * (len(body) // 256)
    etree.fromstring(body, SAFE)  # slow, but whole


async def test_stale_freezes_content_time(sim, http):
    async with http.get(sim.base_url + AREA) as resp:
        fresh = await resp.read()
    await _fault(http, sim, path=AREA, mode="stale")
    sim.clock.jump_elapsed(14)
    async with http.get(sim.base_url + AREA) as resp:
        assert resp.status == 200
        assert await resp.read() == fresh, "200 with the old data"
    await http.delete(sim.base_url + "/_sim/faults")
    async with http.get(sim.base_url + AREA) as resp:
        assert await resp.read() != fresh


async def test_scheduled_fault_and_served_log(sim, http):
    sim.clock.jump_elapsed(9.1)
    async with http.get(sim.base_url + "/developer/xml/feed/regular.xml") as resp:
        assert resp.status == 503  # the scenario's scheduled feed outage
    async with http.get(sim.base_url + "/_sim/faults") as resp:
        assert any(f["scheduled"] for f in await resp.json())
    sim.clock.jump_elapsed(9.5)
    async with http.get(sim.base_url + "/developer/xml/feed/regular.xml") as resp:
        assert resp.status == 200
    async with http.get(sim.base_url + "/_sim/served") as resp:
        log = await resp.json()
    assert [(e["path"], e["status"], e["fault"]) for e in log[-2:]] == [
        ("/developer/xml/feed/regular.xml", 503, "status"), ("/developer/xml/feed/regular.xml", 200, None)]
    assert log[-1]["bytes"] > 0 and log[-1]["scenario_time"].startswith("2026-07-10T09:30")
    async with http.get(sim.base_url + f"/_sim/served?since={log[-1]['seq']}") as resp:
        assert await resp.json() == []


async def test_control_api_rejects_bad_input(sim, http):
    async with http.post(sim.base_url + "/_sim/faults", json={"path": "/x", "mode": "explode"}) as resp:
        assert resp.status == 400 and "mode" in (await resp.json())["detail"]
    async with http.post(sim.base_url + "/_sim/clock", json={"to": "yesterday"}) as resp:
        assert resp.status == 400
    async with http.delete(sim.base_url + "/_sim/faults/999") as resp:
        assert resp.status == 404
