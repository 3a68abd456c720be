"""The simulator over real HTTP: every endpoint fetched with aiohttp and parsed as a client would."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import aiohttp
import pytest
from lxml import etree
from PIL import Image

from collectors.gauge_formats import parse_area_info, parse_tmlist
from collectors.jma.atom import parse_feed
from collectors.jma.document import parse_document
from collectors.road_formats import parse_mlit, parse_wzdx
from simulator.server import running_simulator
from tests.upstreams import SHARED

SCHEMA = SHARED / "jma_xml" / "schema" / "jmx.xsd"
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
ATOM = "{http://www.w3.org/2005/Atom}"
OLD_FORMAT = ("VXWW50", "VXKO61", "VXKO62", "VPWW54", "VPFG50")


async def _get(session: aiohttp.ClientSession, url: str, **kw) -> tuple[int, dict, bytes]:
    async with session.get(url, **kw) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def _at(session, sim, hours: float) -> None:
    async with session.post(sim.base_url + "/_sim/clock", json={"elapsed_h": hours}) as resp:
        assert resp.status == 200


@pytest.fixture
async def sim():
    async with running_simulator("heavy-rain", speed=60, seed=1, port=0) as s:
        s.clock.pause()
        yield s


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def test_feed_lists_last_ten_minutes_and_honours_if_modified_since(sim, http):
    await _at(http, sim, 10.05)  # just after the first 土砂災害警戒情報 (10:00)
    status, headers, body = await _get(http, sim.base_url + "/developer/xml/feed/extra.xml")
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    root = etree.fromstring(body, SAFE)
    assert root.findtext(f"{ATOM}title") == "高頻度（随時）"
    entries = root.findall(f"{ATOM}entry")
    assert entries, "a feed right after an issuance lists it"
    now = sim.clock.now()
    for e in entries:
        updated = datetime.fromisoformat(e.findtext(f"{ATOM}updated").replace("Z", "+00:00"))
        assert now - timedelta(minutes=10) < updated <= now
        assert e.find(f"{ATOM}link").get("href") == e.findtext(f"{ATOM}id")
        assert e.findtext(f"{ATOM}author/{ATOM}name") and e.findtext(f"{ATOM}content")
    parsed = parse_feed(body)
    assert any(x.type_code == "VXWW50" and x.office_code == "170000" for x in parsed.entries)

    status, _, _ = await _get(http, sim.base_url + "/developer/xml/feed/extra.xml",
                              headers={"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    older = format_datetime(parsedate_to_datetime(headers["Last-Modified"]) - timedelta(seconds=1), usegmt=True)
    status, _, _ = await _get(http, sim.base_url + "/developer/xml/feed/extra.xml", headers={"If-Modified-Since": older})
    assert status == 200


async def test_every_document_parses_and_old_format_validates_against_jmx_xsd(sim, http):
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    await _at(http, sim, 30)
    kinds, validated = set(), 0
    for msg in sim.jma.messages:
        status, headers, body = await _get(http, f"{sim.base_url}/developer/xml/data/{msg.name}")
        assert status == 200, msg.name
        doc = etree.fromstring(body, SAFE)
        kinds.add(msg.data_type)
        if msg.data_type in OLD_FORMAT:
            assert schema.validate(doc), f"{msg.name}: {schema.error_log.last_error}"
            validated += 1
        if msg.data_type != "VPFG50":
            parse_document(body)  # the collectors' own parser reads what the simulator writes
    assert {"VXWW50", "VXKO61", "VXKO62", "VPWW54", "VPWW55", "VPWW56", "VPWS50"} <= kinds
    assert validated > 20


async def test_sediment_sequence_has_issue_continue_lift_correction_and_cancel(sim, http):
    await _at(http, sim, 30)
    seen_status, seen_info = set(), set()
    ns = {"b": "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/", "h": "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"}
    for msg in (m for m in sim.jma.messages if m.data_type == "VXWW50"):
        _, _, body = await _get(http, f"{sim.base_url}/developer/xml/data/{msg.name}")
        doc = etree.fromstring(body, SAFE)
        seen_info.add(doc.findtext("h:Head/h:InfoType", namespaces=ns))
        assert doc.findtext("b:Body/b:TargetArea/b:Code", namespaces=ns) in (None, "170000")
        codes = doc.xpath("b:Body/b:Warning/b:Item/b:Area/b:Code/text()", namespaces=ns)
        assert not codes or (len(codes) == 19 and "1720100" in codes)
        seen_status |= set(doc.xpath("b:Body/b:Warning/b:Item/b:Kind/b:Status/text()", namespaces=ns))
    assert {"発表", "継続", "解除", "なし"} <= seen_status
    assert {"発表", "訂正", "取消"} <= seen_info


async def test_documents_are_not_served_before_publication(sim, http):
    late = sim.jma.messages[-1]
    await _at(http, sim, 0)
    status, _, _ = await _get(http, f"{sim.base_url}/developer/xml/data/{late.name}")
    assert status == 404


async def test_flood_forecast_reaches_level_4(sim, http):
    await _at(http, sim, 30)
    kinds = []
    for msg in (m for m in sim.jma.messages if m.data_type == "VXKO61"):
        _, _, body = await _get(http, f"{sim.base_url}/developer/xml/data/{msg.name}")
        report = parse_document(body)
        kinds.append(report.head.title)
        assert report.stations and report.stations[0].name == "埴田"
    assert "梯川氾濫危険情報" in kinds and kinds[-1] == "梯川氾濫注意情報解除"


async def test_crisis_gauges_rise_through_thresholds_and_report_every_ten_minutes(sim, http):
    seen = set()
    for hours in (0, 8, 12, 14, 16, 20, 26):
        await _at(http, sim, hours)
        status, headers, body = await _get(http, sim.base_url + "/swin/files/area_info/current/17000.json")
        assert status == 200 and "Last-Modified" in headers
        payload = parse_area_info(body)
        for obs in json.loads(body)["obss"]:
            assert obs["level"] >= obs["startLevel"]  # only gauges above 観測開始水位 are listed
            seen.add(obs["over"])
        if hours in (0, 26):
            assert payload.readings == [], "nothing above start level before and after the storm"
    assert {1, 11, 111} <= seen

    code = "1700000124"
    await _at(http, sim, 14)
    _, _, body = await _get(http, f"{sim.base_url}/kawabou/file/files/tmlist/swstg/20260710/1400/{code}.json")
    readings = parse_tmlist(body, code)
    times = [r.time for r in readings]
    assert len(times) > 6
    gaps = {(b - a).total_seconds() for a, b in zip(times, times[1:])}
    assert any(g <= 600 + 480 for g in gaps) and any(g >= 86_400 - 600 for g in gaps)  # dense when high, daily when low
    status, _, _ = await _get(http, f"{sim.base_url}/kawabou/file/files/tmlist/swstg/20260710/1410/{code}.json")
    assert status == 404, "a slot in the future is not there yet"


async def test_standard_gauges_and_current_time(sim, http):
    await _at(http, sim, 14.5)
    _, _, body = await _get(http, sim.base_url + "/kawabou/file/system/rwCrntTime.json")
    crnt = json.loads(body)["crntRwTime"]
    assert crnt == "2026/07/10 14:30"
    _, _, body = await _get(http, sim.base_url + "/kawabou/file/files/tmlist/stg/20260710/1430/0504200400001.json")
    doc = json.loads(body)
    assert len(doc["min10Values"]) == 18 and doc["obsValue"]["stg"] > 4.2  # 梯川 埴田 above 氾濫危険水位
    assert parse_tmlist(body, "0504200400001")


async def test_cameras_change_each_interval_freeze_and_go_missing(sim, http):
    cam = "104353130"
    await _at(http, sim, 12.0)
    _, headers, master = await _get(http, f"{sim.base_url}/kawabou/file/files/master/obs/scam/{cam}.json")
    info = json.loads(master)["obsInfo"]
    assert info["prefCd"] == 1701 and info["currentUrl"].endswith(f"/cam/now/cctv_{cam}.jpg")
    status, h1, img1 = await _get(http, info["currentUrl"])
    assert status == 200 and h1["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(img1)).size == (480, 270)
    assert parsedate_to_datetime(h1["Last-Modified"]) == datetime.fromisoformat("2026-07-10T12:00:00+09:00")
    await _at(http, sim, 12.2)
    _, h2, img2 = await _get(http, info["currentUrl"])
    assert img2 != img1 and h2["Last-Modified"] != h1["Last-Modified"]

    frozen = sim.scenario.cameras.frozen
    _, f1, _ = await _get(http, f"{sim.base_url}/cam/now/cctv_{frozen}.jpg")
    await _at(http, sim, 13.0)
    _, f2, _ = await _get(http, f"{sim.base_url}/cam/now/cctv_{frozen}.jpg")
    assert f1["Last-Modified"] == f2["Last-Modified"] == format_datetime(
        datetime.fromisoformat("2026-07-10T02:00:00+00:00"), usegmt=True)
    status, _, _ = await _get(http, f"{sim.base_url}/cam/now/cctv_{sim.scenario.cameras.missing}.jpg")
    assert status == 404
    status, _, normal = await _get(http, f"{sim.base_url}/cam/normal/cctv_{cam}.jpg")
    assert status == 200 and Image.open(io.BytesIO(normal)).format == "JPEG"


async def test_road_closures_start_and_end_with_the_rain(sim, http):
    async def closures(hours: float) -> set[str]:
        await _at(http, sim, hours)
        _, _, body = await _get(http, sim.base_url + "/roadinfo/backup/latest.json")
        base = f"{sim.base_url}/{json.loads(body)['dir']}"
        ids = set()
        for mesh in ("5436", "5536", "5537", "5636", "5637"):
            status, _, body = await _get(http, f"{base}TukoKisei/{mesh}.json")
            assert status == 200
            for item in json.loads(body):
                assert item["geo_json"]["type"] == "LineString" and item["kisei_naiyo_cd"] == "01"
                ids.add(item["same_tukokisei_info_id"])
            parse_mlit(body, {"12": "雨量"})
        return ids

    assert await closures(2) == set()
    assert await closures(14) == {"84-157-0001", "84-249-0001", "17-033-0001"}
    assert await closures(23.5) == set()

    await _at(http, sim, 14)
    status, headers, body = await _get(http, sim.base_url + "/wzdx/v4.2/road-events.geojson")
    assert status == 200 and headers["Content-Type"].startswith("application/geo+json")
    feed = json.loads(body)
    assert feed["feed_info"]["version"] == "4.2" and feed["features"] == []  # no road works: rain is not works
    status, headers, body = await _get(http, sim.base_url + "/wzdx/v4.2/road-restrictions.geojson")
    assert status == 200 and headers["Content-Type"].startswith("application/geo+json")
    feed = json.loads(body)
    assert {f["properties"]["core_details"]["event_type"] for f in feed["features"]} == {"restriction"}
    restrictions, _ = parse_wzdx(body, sim.clock.now())
    assert len(restrictions) == 3
    assert all(r.closed and not r.construction and r.regulation == "通行止" for r in restrictions)
    assert {r.section for r in restrictions} >= {"白山市白峰〜福井県境（谷峠）"}  # words, not the id


async def test_calm_scenario_has_a_chain_restriction(http):
    async with running_simulator("calm", speed=60, seed=1, port=0) as calm:
        _, _, body = await _get(http, calm.base_url + "/roadinfo/backup/latest.json")
        _, _, body = await _get(http, f"{calm.base_url}/{json.loads(body)['dir']}TukoKisei/5436.json")
        items = json.loads(body)
        assert [i["kisei_naiyo_cd"] for i in items] == ["06"]


async def test_drill_messages_carry_training_status(http):
    async with running_simulator("drill", speed=60, seed=1, port=0) as drill:
        drill.clock.jump_elapsed(100)
        statuses = set()
        for msg in drill.jma.messages:
            _, _, body = await _get(http, f"{drill.base_url}/developer/xml/data/{msg.name}")
            statuses.add(etree.fromstring(body, SAFE).findtext("{http://xml.kishou.go.jp/jmaxml1/}Control/{http://xml.kishou.go.jp/jmaxml1/}Status"))
        assert statuses == {"訓練"}
