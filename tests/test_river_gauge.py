"""Gauge collector against a local HTTP server serving real-format payloads (area_info, tmlist, SensorThings)."""
from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.base import CollectorError, PayloadError
from collectors.gauge_formats import JST, parse_area_info, parse_sta_observations, parse_sta_thing, parse_tmlist
from collectors.http import Fetcher
from collectors.river_gauge import Config, RiverGaugeCollector
from geo.codes import AreaCodes
from tests.upstreams import SHARED

DATA = SHARED / "river_water_level"
AREA_INFO = (DATA / "k_river_area_info_converted_2026-08-23T08JST.json").read_bytes()
TMLIST = (DATA / "river_go_jp_tmlist_swstg_2200000053_wl.json").read_bytes()
SAMPLE_TIME = datetime(2026, 8, 23, 8, 10, tzinfo=JST)
DOC = web.AppKey("doc", dict)
FILES = web.AppKey("files", dict)


@pytest.fixture(scope="module")
def codes() -> AreaCodes:
    return AreaCodes.load()


@pytest.fixture
async def server():
    app = web.Application()
    app[DOC] = {"body": AREA_INFO, "etag": '"a1"'}
    app[FILES] = {}

    async def area_info(request: web.Request) -> web.Response:
        doc = request.app[DOC]
        if request.headers.get("If-None-Match") == doc["etag"]:
            return web.Response(status=304)
        return web.Response(body=doc["body"], content_type="application/json", headers={"ETag": doc["etag"]})

    async def files(request: web.Request) -> web.Response:
        body = request.app[FILES].get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/json")

    app.router.add_get("/swin/files/area_info/current/17000.json", area_info)
    app.router.add_get("/{tail:.*}", files)
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def fetcher():
    async def no_sleep(_s: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        yield Fetcher(session, sleep=no_sleep)


def area_collector(server, fetcher, codes, **kw) -> RiverGaugeCollector:
    cfg = Config(allow_private=True, url=str(server.make_url("/swin/files/area_info/current/17000.json")), format="area_info",
                 retries=0, **kw)
    return RiverGaugeCollector("gauges", cfg, fetcher, codes)


def serve_obss(server, obss: list[dict], etag: str) -> None:
    server.app[DOC].update(body=json.dumps({"obss": obss}, ensure_ascii=False).encode(), etag=etag)


def ishikawa_obs(code: str) -> dict:
    doc = json.loads(AREA_INFO)
    return copy.deepcopy(next(o for o in doc["items"] if o["code"] == code))


async def test_area_info_real_sample_gives_one_event_and_observation_per_ishikawa_gauge(server, fetcher, codes):
    snap = await area_collector(server, fetcher, codes).poll(SAMPLE_TIME)
    ids = {e.id for e in snap.events}
    assert len(ids) == 15 and all(i.startswith("gauge:17") for i in ids)
    assert len(snap.observations) == 15 and not snap.complete
    assert snap.content_time == datetime(2026, 8, 23, 8, 7, tzinfo=JST)
    by_id = {e.id: e for e in snap.events}
    kinu = by_id["gauge:1700000113"]  # 0.62 m: above warnLevel 0.33, below fladLevel 0.63
    assert kinu.level == 4 and kinu.areas == ("17202",)
    assert kinu.properties["thresholds"] == {"standby_m": 0.04, "danger_m": 0.33, "flooding_m": 0.63, "start_m": 0.04}
    assert kinu.properties["level_m"] == 0.62 and kinu.properties["silent"] is False
    assert kinu.geometry["type"] == "Point" and kinu.observed_at == datetime(2026, 8, 23, 8, 3, tzinfo=JST)
    assert by_id["gauge:1700000052"].level == 1  # 0.87 m: above startLevel 0.6 only
    obs = {o.station: o for o in snap.observations}
    assert obs["1700000113"].value == 0.62 and obs["1700000113"].quality == "ok"


async def test_area_info_all_areas_keeps_other_prefectures(server, fetcher, codes):
    snap = await area_collector(server, fetcher, codes, prefecture_only=False).poll(SAMPLE_TIME)
    assert len(snap.events) == 170
    assert next(e for e in snap.events if e.id == "gauge:4021100020").areas == ()


async def test_trend_from_the_last_readings(server, fetcher, codes):
    collector = area_collector(server, fetcher, codes)
    base = datetime(2026, 8, 23, 9, 0, tzinfo=JST)
    for i, level in enumerate([0.50, 0.60, 0.75]):
        obs = ishikawa_obs("1700000113") | {"obsTime": (base + timedelta(minutes=10 * i)).isoformat(), "level": level}
        serve_obss(server, [obs], etag=f'"t{i}"')
        snap = await collector.poll(base + timedelta(minutes=10 * i + 1))
    event = snap.events[0]
    assert event.properties["trend_m_per_10min"] == pytest.approx((0.75 - 0.50) / 2)
    assert [o.value for o in snap.observations] == [0.75]  # only the new reading


async def test_high_gauge_that_stops_reporting_is_silent_but_keeps_its_level(server, fetcher, codes):
    collector = area_collector(server, fetcher, codes)
    obs = ishikawa_obs("1700000113")  # above startLevel: reports every 10 minutes
    serve_obss(server, [obs], etag='"s1"')
    reading_time = datetime(2026, 8, 23, 8, 3, tzinfo=JST)
    fresh = await collector.poll(reading_time + timedelta(minutes=20))
    assert fresh.events[0].properties["silent"] is False
    # Same file, 40 minutes on: the 304 still re-judges silence and reports the change.
    quiet = await collector.poll(reading_time + timedelta(minutes=40))
    assert not quiet.not_modified
    event = quiet.events[0]
    assert event.properties["silent"] is True and event.level == 4 and event.properties["level_m"] == 0.62
    again = await collector.poll(reading_time + timedelta(minutes=50))
    assert again.not_modified


async def test_low_gauge_quiet_for_hours_is_not_silent(server, fetcher, codes):
    obs = ishikawa_obs("1700000052") | {"level": 0.5}  # below startLevel 0.6: reports about daily
    serve_obss(server, [obs], etag='"low"')
    snap = await area_collector(server, fetcher, codes).poll(datetime(2026, 8, 23, 14, 0, tzinfo=JST))
    assert snap.events[0].level == 0 and snap.events[0].properties["silent"] is False


async def test_gauge_leaving_the_current_file_is_below_start_level(server, fetcher, codes):
    collector = area_collector(server, fetcher, codes)
    await collector.poll(SAMPLE_TIME)
    serve_obss(server, [ishikawa_obs("1700000052")], etag='"fewer"')
    snap = await collector.poll(SAMPLE_TIME + timedelta(minutes=10))
    left = next(e for e in snap.events if e.id == "gauge:1700000113")
    assert left.level == 0 and left.properties["below_start"] is True and left.properties["silent"] is False
    assert snap.content_time == datetime(2026, 8, 23, 8, 5, tzinfo=JST)  # only gauges still listed count
    much_later = await collector.poll(SAMPLE_TIME + timedelta(days=4))
    assert next(e for e in much_later.events if e.id == "gauge:1700000113").properties["silent"] is True


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
async def test_tmlist_steps_back_to_the_latest_file_in_either_encoding(server, fetcher, codes, encoding):
    doc = json.loads(TMLIST.decode("cp932"))
    doc["obsName"] = "油山"  # non-ASCII, so the encoding matters
    body = json.dumps(doc, ensure_ascii=False).encode(encoding)
    server.app[FILES]["/tmlist/swstg/20250917/0900/2200000053.json"] = body
    cfg = Config(allow_private=True,
        url=str(server.make_url("/tmlist/swstg/")), format="tmlist", retries=0, cadence_low_s=86400,
        stations={"2200000053": {"name": "油山", "town_code": "17201", "lat": 34.99, "lon": 138.35,
                                 "thresholds": {"start_m": 96.0, "standby_m": 96.0, "danger_m": 96.5}}},
    )
    snap = await RiverGaugeCollector("tm", cfg, fetcher, codes).poll(datetime(2025, 9, 17, 9, 25, tzinfo=JST))
    (event,) = snap.events
    assert event.id == "gauge:2200000053" and event.level == 1 and event.properties["level_m"] == 96.25
    assert event.properties["stg_hght_m"] == -1.55 and len(snap.observations) == 9
    assert snap.content_time == datetime(2025, 9, 17, 9, 2, tzinfo=JST)


async def test_tmlist_missing_everywhere_fails_the_poll(server, fetcher, codes):
    cfg = Config(allow_private=True, url=str(server.make_url("/tmlist/stg/")), format="tmlist", retries=0,
                 stations={"0563300400042": {}})
    with pytest.raises(CollectorError, match="404"):
        await RiverGaugeCollector("tm", cfg, fetcher, codes).poll(datetime(2025, 9, 17, 9, 25, tzinfo=JST))


async def test_sensorthings_thresholds_from_thing_properties(server, fetcher, codes):
    now = datetime(2026, 8, 23, 0, 30, tzinfo=timezone.utc)
    server.app[FILES]["/v1.1/Datastreams(7)/Observations"] = json.dumps({"value": [
        {"phenomenonTime": "2026-08-23T00:20:00Z", "result": 2.4},
        {"phenomenonTime": "2026-08-23T00:10:00Z", "result": 2.1},
    ]}).encode()
    server.app[FILES]["/v1.1/Datastreams(7)/Thing"] = json.dumps({
        "name": "浅野川 鞍降橋",
        "properties": {"thresholds": {"standby_m": 1.5, "caution_m": 2.0, "evacuation_m": 2.6}},
        "Locations": [{"location": {"type": "Point", "coordinates": [136.68, 36.58]}}],
    }).encode()
    cfg = Config(allow_private=True, url=str(server.make_url("/v1.1")), format="sensorthings", retries=0, cadence_low_s=600,
                 stations={"1700000124": {"datastream": "7", "town_code": "17201"}})
    snap = await RiverGaugeCollector("sta", cfg, fetcher, codes).poll(now)
    (event,) = snap.events
    assert event.level == 2 and event.properties["trend_m_per_10min"] == pytest.approx(0.3)
    assert event.geometry == {"type": "Point", "coordinates": (136.68, 36.58)} and event.title.startswith("浅野川")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "area_info: (document): Invalid JSON"),
        (b'{"obss": [{"obsTime": "2026-08-23T08:00:00+09:00", "level": 1.0}]}', "obss.0.code: Field required"),
        (b'{"obss": [{"code": "1700000113", "obsTime": "yesterday", "level": 1}]}', "obss.0.obsTime"),
        (b'{"obss": [{"code": "1700000113", "obsTime": "2026-08-23T08:00:00", "level": 1}]}', "timezone"),
        (b'{"obss": [{"code": "1", "obsTime": "2026-08-23T08:00:00+09:00", "level": "high"}]}', "obss.0.level"),
        (b'{"obss": [{"code": "1", "obsTime": "2026-08-23T08:00:00+09:00", "level": NaN}]}', "obss.0.level"),
        (b'{"obss": {"code": "1"}}', "obss: Input should be a valid array"),
        (b"\xff\xfe\xfa", "neither UTF-8 nor Shift_JIS"),
    ],
)
async def test_hostile_area_info_is_a_precise_payload_error_and_returns_nothing(server, fetcher, codes, body, reason):
    collector = area_collector(server, fetcher, codes)
    server.app[DOC].update(body=body, etag='"bad"')
    with pytest.raises(PayloadError, match=re.escape(reason)):
        await collector.poll(SAMPLE_TIME)
    assert collector.book.history == {}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_collector_errors(data):
    for parse in (parse_area_info, lambda b: parse_tmlist(b, "x"), lambda b: parse_sta_observations(b, "x"),
                  lambda b: parse_sta_thing(b, "x")):
        try:
            parse(data)
        except CollectorError:
            pass


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(TMLIST) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_real_samples_raise_only_collector_errors(flips):
    for sample, parse in ((AREA_INFO, parse_area_info), (TMLIST, lambda b: parse_tmlist(b, "x"))):
        data = bytearray(sample)
        for pos, value in flips:
            data[pos % len(data)] = value
        try:
            parse(bytes(data))
        except CollectorError:
            pass
