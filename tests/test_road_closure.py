"""Road-closure collector over local HTTP: MLIT road information and the real WZDx 4.2 examples."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.base import CollectorError, PayloadError
from collectors.http import Fetcher, HTTPStatusError
from collectors.road_closure import Config, RoadClosureCollector, road_snapshot
from collectors.road_formats import parse_mlit, parse_wzdx
from geo.codes import AreaCodes
from geo.model import Severity
from tests.upstreams import SHARED

WZDX_DIR = SHARED / "road_closures/wzdx_examples"
FILES = web.AppKey("files", dict)
NOW = datetime(2026, 8, 23, 0, 0, tzinfo=timezone.utc)

LINE = {"type": "LineString", "coordinates": [[136.95, 37.30], [136.96, 37.31]]}
MESH_5637 = [
    {  # rain closure (事前通行規制) on a Noto road: cause is not works
        "same_tukokisei_info_id": "84-0001", "kisei_naiyo_cd": "01", "kisei_naiyo_shosai_cd": "001",
        "genin_jisho_cd": "02", "kisei_jishi_jyokyo": "1", "kisei_kaishi_nichiji": "2026/08/23 08:40",
        "iconData": {"point": [136.955, 37.305]}, "geo_json": LINE,
        "rosen_nm": "国道249号", "kukan_nm": "輪島市門前町～輪島市町野町", "genin_nm": "雨量規制",
    },
    {  # one-way alternating traffic for works; numeric codes as some clients send them
        "same_tukokisei_info_id": 84002, "kisei_naiyo_cd": 5, "genin_jisho_cd": 6, "kisei_jishi_jyokyo": 1,
        "kisei_kaishi_nichiji": "202608220900", "iconData": {"point": [136.7, 36.9]},
    },
    {  # lifted: not in force, so not listed
        "same_tukokisei_info_id": "84-0003", "kisei_naiyo_cd": "01", "kisei_jishi_jyokyo": "0",
    },
]
MESH_5636 = [
    MESH_5637[0],  # the same section seen from the neighbouring mesh
    {  # winter closure
        "same_tukokisei_info_id": "84-0004", "kisei_naiyo_cd": "01", "kisei_naiyo_shosai_cd": "002",
        "genin_jisho_cd": "03", "kisei_jishi_jyokyo": "1", "geo_json": LINE,
    },
]


@pytest.fixture
async def server():
    app = web.Application()
    app[FILES] = {}

    async def files(request: web.Request) -> web.Response:
        entry = request.app[FILES].get(request.path)
        if entry is None:
            raise web.HTTPServiceUnavailable()
        body, etag = entry
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/json",
                            headers={"ETag": etag, "Last-Modified": "Sat, 22 Aug 2026 23:55:00 GMT"})

    app.router.add_get("/{tail:.*}", files)
    srv = TestServer(app, host="127.0.0.1", port=0)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def fetcher():
    async with aiohttp.ClientSession() as session:
        yield Fetcher(session)


def serve(server, path: str, doc, etag: str = '"1"') -> str:
    server.app[FILES][path] = (json.dumps(doc, ensure_ascii=False).encode(), etag)
    return str(server.make_url(path))


def mlit_collector(server, fetcher, **kw) -> RoadClosureCollector:
    url = serve(server, "/TukoKisei/5637.json", MESH_5637)
    cfg = Config(url=url, format="mlit", retries=0, allow_private=True, **kw)
    return RoadClosureCollector("road_mlit", cfg, fetcher, AreaCodes.load())


async def test_mlit_restrictions_map_to_complete_snapshot(server, fetcher):
    snap = await mlit_collector(server, fetcher).poll(NOW)
    assert snap.complete and [e.id for e in snap.events] == ["road:84-0001", "road:84002"]
    rain, works = snap.events
    assert rain.kind == "road_closure" and rain.level == 2 and rain.severity == Severity.MODERATE
    assert rain.properties["regulation"] == "通行止" and rain.properties["reason"] == "雨量規制"
    assert rain.properties["route"] == "国道249号" and rain.model_dump(mode="json")["geometry"] == LINE
    assert rain.title == "国道249号 輪島市門前町～輪島市町野町 通行止"
    assert works.level == 0 and works.severity == Severity.MINOR
    assert works.properties["regulation"] == "片側交互通行" and works.properties["reason"] == "工事"
    assert works.properties["cause_code"] == "06"
    assert works.geometry == {"type": "Point", "coordinates": (136.7, 36.9)}
    assert works.properties["started_at"] == "2026-08-22T09:00:00+09:00"
    assert snap.content_time == datetime(2026, 8, 22, 23, 55, tzinfo=timezone.utc)


async def test_mlit_several_mesh_files_merge_and_a_304_changes_nothing(server, fetcher):
    extra = serve(server, "/TukoKisei/5636.json", MESH_5636)
    collector = mlit_collector(server, fetcher, extra_urls=[extra])
    snap = await collector.poll(NOW)
    assert [e.id for e in snap.events] == ["road:84-0001", "road:84-0004", "road:84002"]
    winter = snap.events[1]
    assert winter.properties["reason"] == "冬期閉鎖" and winter.properties["winter_closure"] is True
    again = await collector.poll(NOW)
    assert again.not_modified and again.complete and again.events == []


async def test_mlit_one_mesh_failing_fails_the_whole_poll(server, fetcher):
    collector = mlit_collector(server, fetcher, extra_urls=[str(server.make_url("/TukoKisei/missing.json"))])
    with pytest.raises(HTTPStatusError):
        await collector.poll(NOW)


async def test_wzdx_real_examples(server, fetcher):
    for path in sorted(WZDX_DIR.glob("*.geojson")):
        server.app[FILES]["/wzdx/" + path.name] = (path.read_bytes(), '"w"')
    url = str(server.make_url("/wzdx/scenario4_detour_linestring_example.geojson"))
    cfg = Config(url=url, format="wzdx", retries=0, allow_private=True)
    collector = RoadClosureCollector("wzdx", cfg, fetcher, AreaCodes.load())
    in_force = await collector.poll(datetime(2010, 1, 5, tzinfo=timezone.utc))
    regs = {e.id: e.properties["regulation"] for e in in_force.events}
    assert regs == {
        "road:a15f7570-b7e6-4367-8ad9-3a462eea65dd": "車線規制",
        "road:cf1092ba-3b8d-4e91-81ef-daa4a98662e1": "迂回",
        "road:4d151e7d-11d8-4b99-a192-51e189da0de7": "迂回",
        "road:9436226a-01b0-47ff-8a13-670e87549458": "迂回",
    }
    assert len(in_force.events) == 4 and in_force.complete
    detour = next(e for e in in_force.events if e.properties["regulation"] == "迂回")
    assert detour.level == 0 and detour.geometry["type"] == "LineString"
    assert in_force.content_time == datetime(2020, 6, 18, 15, 0, tzinfo=timezone.utc)
    ended = await RoadClosureCollector("wzdx", cfg, fetcher, AreaCodes.load()).poll(NOW)
    assert ended.events == [] and ended.complete  # every example ended in 2010: all of them end


def test_wzdx_all_examples_parse_with_road_names():
    for path in sorted(WZDX_DIR.glob("*.geojson")):
        items, updated = parse_wzdx(path.read_bytes(), NOW, in_force_only=False)
        assert items and all(i.route for i in items) and updated.year == 2020


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"same_tukokisei_info_id": "1"}', "MLIT road information: (document): Input should be a valid array"),
        (b'[{"kisei_naiyo_cd": "01"}]', "0.same_tukokisei_info_id: Field required"),
        (b'[{"same_tukokisei_info_id": "1", "kisei_naiyo_cd": "closed"}]', "0.kisei_naiyo_cd"),
        (b'[{"same_tukokisei_info_id": "1", "kisei_naiyo_cd": "01", "kisei_kaishi_nichiji": "soon"}]',
         "0.kisei_kaishi_nichiji"),
        (b'[{"same_tukokisei_info_id": "1", "kisei_naiyo_cd": "01", '
         b'"geo_json": {"type": "LineString", "coordinates": [[1, 2]]}}]', "0.geo_json.LineString.coordinates"),
        (b'[{"same_tukokisei_info_id": "../../etc", "kisei_naiyo_cd": "01"}]', "0.same_tukokisei_info_id"),
    ],
)
def test_hostile_mlit_payloads_raise_precise_errors(body, reason):
    with pytest.raises(PayloadError, match=re.escape(reason)):
        parse_mlit(body, {})


def test_hostile_wzdx_payload_raises_precise_error():
    doc = json.loads((WZDX_DIR / "scenario1_simple_linestring_example.geojson").read_bytes())
    del doc["features"][2]["properties"]["core_details"]["road_names"]
    with pytest.raises(PayloadError, match=re.escape("features.2.properties.core_details.road_names: Field required")):
        parse_wzdx(json.dumps(doc).encode(), NOW)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_collector_errors(data):
    for parse in (lambda b: parse_mlit(b, {}), lambda b: parse_wzdx(b, NOW)):
        try:
            parse(data)
        except CollectorError:
            pass


def _wzdx_feed(*features: dict) -> dict:
    stamp = "2026-08-22T23:50:00Z"
    return {"type": "FeatureCollection", "feed_info": {"update_date": stamp, "version": "4.2"}, "features": list(features)}


def _restriction(fid: str, name: str, lane_status: str, description: str) -> dict:
    return {
        "id": fid, "type": "Feature", "geometry": LINE,
        "properties": {
            "core_details": {"data_source_id": "1", "event_type": "restriction", "road_names": ["国道157号"],
                             "direction": "undefined", "name": name, "description": description,
                             "creation_date": "2026-08-22T21:40:00Z", "update_date": "2026-08-22T23:50:00Z"},
            "lanes": [{"order": 1, "type": "general", "status": lane_status}],
            "restrictions": [],
        },
    }


async def test_wzdx_rain_closure_in_a_restriction_feed_is_a_level_2_closure_not_works(server, fetcher):
    works = serve(server, "/wzdx/road-events.geojson", _wzdx_feed())
    restrictions = serve(server, "/wzdx/road-restrictions.geojson", _wzdx_feed(
        _restriction("rain-1", "白山市白峰〜福井県境（谷峠）", "closed", "国道157号 白山市白峰〜福井県境（谷峠）: 事前通行規制（雨量）による通行止"),
        _restriction("snow-1", "84-157-0002", "open", "国道157号: 積雪によるチェーン規制"),
    ))
    cfg = Config(url=works, extra_urls=[restrictions], format="wzdx", retries=0, allow_private=True)
    snap = await RoadClosureCollector("roads", cfg, fetcher, AreaCodes.load()).poll(NOW)
    rain, snow = snap.events
    assert (rain.level, rain.properties["closed"], rain.properties["construction"]) == (2, True, False)
    assert rain.properties["regulation"] == "通行止" and rain.properties["event_type"] == "restriction"
    assert rain.title == "国道157号 白山市白峰〜福井県境（谷峠） 通行止"
    assert rain.properties["display"] == "国道157号 白山市白峰〜福井県境（谷峠）: 通行止"
    assert rain.properties["started_at"] == "2026-08-22T21:40:00+00:00"
    # A restriction that leaves lanes open is not a closure; its internal name never reaches residents.
    assert (snow.level, snow.properties["closed"], snow.properties["regulation"]) == (0, False, "規制")
    assert "84-157-0002" not in snow.title + snow.properties["display"] + snow.text
    assert snow.properties["section"] is None and snow.properties["source_name"] == "84-157-0002"


def test_work_zone_names_that_are_ids_stay_out_of_titles():
    doc = json.loads((WZDX_DIR / "scenario1_simple_linestring_example.geojson").read_bytes())
    for feature in doc["features"]:  # without cross streets the section falls back to `name`
        feature["properties"].pop("beginning_cross_street", None)
        feature["properties"].pop("ending_cross_street", None)
    body = json.dumps(doc).encode()
    cfg = Config(url="http://example.org/w", format="wzdx", in_force_only=False)
    snap = road_snapshot([body], cfg, "w", NOW)
    named = [e for e in snap.events if e.properties.get("source_name")]
    assert {e.properties["source_name"] for e in named} == {"WDM-58493-NB"}
    assert all(e.properties["source_name"] not in e.title + e.properties["display"] for e in named)
    assert any(e.properties["section"] == "Project 65773 Event 1" for e in snap.events)  # words stay
    assert all(e.properties["construction"] and e.level == 0 for e in snap.events)  # works stay works
