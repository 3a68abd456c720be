"""A gauge against its thresholds (geo/gauge_reading.py) and its 24-hour SVG chart, pure and over HTTP."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from collectors.base import Snapshot
from geo.gauge_reading import gauge_reading
from geo.model import Event, Kind, Observation, SourceRef
from publishers.gauge_chart import gauge_chart_svg
from service.keys import PIPELINE_KEY
from service.web.keys import SNAPSHOT_KEY
from tests.service_client import service_client

SVG = "{http://www.w3.org/2000/svg}"
UNTIL = datetime(2026, 7, 10, 3, 0, tzinfo=UTC)  # 12:00 JST
MOUNTAIN = {"standby_m": 485.0, "danger_m": 486.5, "flooding_m": 487.1, "start_m": 485.0}
COAST = {"standby_m": 0.56, "danger_m": 1.53, "flooding_m": 1.83, "start_m": 0.56}


def test_reading_against_thresholds_names_the_next_one_and_the_distance():
    high = gauge_reading(485.57, MOUNTAIN)
    assert high["datum"] == "elevation" and "標高" in high["datum_words"]["ja"]
    assert [(t["key"], t["level"], t["reached"]) for t in high["thresholds"]] == [
        ("standby_m", 1, True), ("danger_m", 4, False), ("flooding_m", 5, False)
    ]
    assert high["passed"]["key"] == "standby_m" and high["next"]["name"]["ja"] == "氾濫危険水位"
    assert high["to_next_m"] == 0.93 and high["summary"]["ja"] == "氾濫危険水位まで あと 0.93 m"
    assert "level 4 threshold" in high["summary"]["en"] and "けいかいレベル４" in high["summary"]["easy"]
    low = gauge_reading(0.94, COAST)
    assert low["datum"] == "gauge_datum" and "基準面" in low["datum_words"]["ja"]
    assert low["to_next_m"] == 0.59
    over = gauge_reading(2.0, COAST)
    assert over["next"] is None and over["passed"]["level"] == 5 and "0.17 m 超えて" in over["summary"]["ja"]
    assert gauge_reading(None, COAST)["summary"]["ja"].startswith("欠測")
    assert gauge_reading(1.0, None)["thresholds"] == [] and gauge_reading(1.0, None)["next"] is None


def _parse(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode())


def test_chart_draws_readings_thresholds_and_breaks_at_gaps():
    readings = [(UNTIL - timedelta(minutes=10 * i), 485.2 + 0.01 * (40 - i)) for i in range(40)]
    readings += [(UNTIL - timedelta(hours=10, minutes=10 * i), 485.1) for i in range(6)]  # a separate run
    readings.append((UNTIL - timedelta(hours=30), 480.0))  # outside the window: not drawn, not scaled
    readings.append((UNTIL - timedelta(hours=5, minutes=5), None))  # missing: breaks the recent run
    svg = gauge_chart_svg(readings, MOUNTAIN, UNTIL, name="河原田川（美登里橋）")
    root = _parse(svg)
    assert root.get("role") == "img" and "河原田川" in root.get("aria-label")
    assert root.find(f"{SVG}title").text == "河原田川（美登里橋） 過去24時間の水位"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "氾濫危険水位 486.50" in texts and "氾濫発生 487.10" in texts and "水防団待機水位 485.00" in texts
    assert "氾濫危険水位まで あと 0.90 m" in texts  # the latest reading is 485.60
    assert len(root.findall(f"{SVG}polyline")) == 3  # the gap and the missing reading are not bridged
    assert "480" not in "".join(texts)  # axis scaled to the window only
    assert {"06:00", "12:00"} <= set(texts)
    assert svg == gauge_chart_svg(readings, MOUNTAIN, UNTIL, name="河原田川（美登里橋）")  # deterministic
    assert "<script" not in svg


def test_chart_in_english_and_easy_and_without_data():
    readings = [(UNTIL - timedelta(minutes=10 * i), 0.9) for i in range(6)]
    en = _parse(gauge_chart_svg(readings, COAST, UNTIL, name="Hiyo River", lang="en"))
    assert en.find(f"{SVG}title").text == "Hiyo River: water level, last 24 hours"
    assert "Flood danger water level 1.53" in [t.text for t in en.iter(f"{SVG}text")]
    easy = gauge_chart_svg(readings, COAST, UNTIL, lang="easy")
    assert "メートル" in easy
    empty = _parse(gauge_chart_svg([], None, UNTIL, name="x"))
    assert "この24時間の観測値はありません" in [t.text for t in empty.iter(f"{SVG}text")]


@pytest.fixture
async def client(tmp_path):
    async with service_client(tmp_path) as c:
        yield c


async def test_chart_route_is_svg_cached_and_validated(client):
    now = datetime.now(UTC)
    gauge = Event(
        id="gauge:1700000002", kind=Kind.GAUGE, level=1, areas=("17204",), title="河原田川（美登里橋） 水位",
        geometry={"type": "Point", "coordinates": [136.90181, 37.316628]}, source=SourceRef(source_id="test"),
        properties={"name": "河原田川（美登里橋）", "level_m": 91.2,
                    "thresholds": {"standby_m": 90.96, "danger_m": 92.65, "flooding_m": 93.25}},
    )
    obs = [Observation("1700000002", now - timedelta(minutes=10 * i), 91.2 - 0.01 * i) for i in range(12)]
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot("test", [gauge], observations=obs))
    await client.app[SNAPSHOT_KEY].wait_built(entries[-1].seq)
    resp = await client.get("/api/v1/gauges/1700000002/chart.svg")
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    root = _parse(await resp.text())
    assert root.find(f"{SVG}title").text.startswith("河原田川（美登里橋）")
    assert len(root.findall(f"{SVG}polyline")) == 1
    again = await client.get("/api/v1/gauges/1700000002/chart.svg", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304
    en = await client.get("/api/v1/gauges/1700000002/chart.svg", params={"lang": "en"})
    assert "water level, last 24 hours" in await en.text()
    bad = await client.get("/api/v1/gauges/1700000002/chart.svg", params={"lang": "fr"})
    assert bad.status == 400 and bad.content_type == "application/problem+json"
    assert (await client.get("/api/v1/gauges/1700000002/chart.svg", params={"size": "1"})).status == 400
    assert (await client.get("/api/v1/gauges/nope/chart.svg")).status == 404
    body = await (await client.get("/api/v1/gauges/1700000002/observations")).json()
    assert body["reading"]["datum"] == "elevation" and body["reading"]["to_next_m"] == 1.45
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/gauges/{station}/chart.svg" in spec["paths"]
