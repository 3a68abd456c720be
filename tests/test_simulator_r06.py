"""The simulator's Ｒ０６ messages as a client sees them: VPWW57 高潮, VPWW60 大雪, level-named VXKO.

Each scenario runs on a paused clock jumped through the storm in steps shorter than the feed's
10-minute window, so every document is found the way a collector finds it: listed in extra.xml,
fetched once over HTTP, parsed by collectors.jma.parse_document and mapped by to_events.
"""
from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from lxml import etree

from collectors.jma import FloodReport, WarningReport, parse_document, parse_feed, to_events
from geo.codes import AreaCodes
from geo.model import Event, State
from simulator import scenario as scenario_mod
from simulator.server import running_simulator
from tests.upstreams import SHARED

SCHEMA = SHARED / "jma_xml" / "schema" / "jmx.xsd"
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
STEP = timedelta(minutes=9)  # under the feed's 10-minute window: no entry slips between two polls
MUNI = "気象警報・注意報（市町村等）"
NS = {"b": "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/",
      "eb": "http://xml.kishou.go.jp/jmaxml1/elementBasis1/"}
TEDORI_AREA = "flood:860602000100"
INLAND = {"17212", "17324"}  # 野々市市 and 川北町: Ishikawa's two municipalities without a coast


@pytest.fixture(scope="module")
def codes() -> AreaCodes:
    return AreaCodes.load()


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


async def _poll_through(scenario: str, types: set[str], hours: float) -> tuple[list[tuple[str, bytes]], set[str], object]:
    """Jump a paused simulator through `hours`, reading extra.xml each step and fetching new documents."""
    fetched: dict[str, tuple[str, bytes]] = {}
    async with running_simulator(scenario, speed=60, seed=1, port=0) as sim, aiohttp.ClientSession() as http:
        sim.clock.pause()
        end = sim.scenario.scenario.start + timedelta(hours=hours)
        sim.clock.jump(sim.scenario.scenario.start)
        while sim.clock.now() <= end:
            async with http.get(sim.base_url + "/developer/xml/feed/extra.xml") as resp:
                assert resp.status == 200
                feed = parse_feed(await resp.read())
            for entry in feed.entries:
                if entry.type_code in types and entry.url not in fetched:
                    async with http.get(entry.url) as resp:
                        assert resp.status == 200, entry.url
                        fetched[entry.url] = (entry.type_code, await resp.read())
            sim.clock.jump(sim.clock.now() + STEP)
        expected = {m.name for m in sim.jma.messages if m.data_type in types and m.at <= end}
        docs = sorted(fetched.values(), key=lambda d: parse_document(d[1]).head.report_datetime)
        return docs, expected, sim.scenario


def _history(reports_events: list[list[Event]]) -> dict[str, list[Event]]:
    by_id: dict[str, list[Event]] = {}
    for events in reports_events:
        for e in events:
            by_id.setdefault(e.id, []).append(e)
    return by_id


async def test_vpww57_storm_tide_listed_served_and_lifted(codes, schema):
    docs, expected, scenario = await _poll_through("heavy-rain", {"VPWW57"}, 26)
    assert len(docs) == len(expected) >= 3, "every VPWW57 of the storm is listed in the feed and served"
    histories, kinds, peaks_seen = [], set(), 0
    for _type, body in docs:
        assert schema.validate(etree.fromstring(body, SAFE)), schema.error_log.last_error
        report = parse_document(body)
        assert isinstance(report, WarningReport) and report.generation == "R06"
        assert report.control.title == "気象警報・注意報（Ｒ０６）（高潮）"
        assert report.head.title == "石川県高潮警報・注意報"
        kinds |= {(k.name, k.code) for i in report.items for k in i.kinds}
        doc = etree.fromstring(body, SAFE)
        in_force = doc.xpath(f"//b:Warning[@type='{MUNI}']/b:Item/b:Kind[b:Status!='解除' and b:Name]", namespaces=NS)
        for kind in in_force:  # each municipality in force carries the expected crest, as in sample 15_16_02
            level = kind.xpath("b:Property[b:Type='高潮ピーク']//eb:TidalLevel/text()", namespaces=NS)
            assert len(level) == 1 and float(level[0]) >= 0.7
            peaks_seen += 1
        histories.append(to_events(report, codes, "jma"))
    assert kinds <= {("レベル２高潮注意報", "19"), ("レベル３高潮警報", "08")}
    assert {("レベル２高潮注意報", "19"), ("レベル３高潮警報", "08")} <= kinds
    assert peaks_seen

    by_id = _history(histories)
    coast = {m.jis for m in codes.municipalities.values()} - INLAND
    assert {i.split(":")[1] for i in by_id} <= coast, "inland municipalities never get a 高潮 kind"
    assert all(i.endswith(":高潮") for i in by_id)
    region = {m.jis: m.forecast_area for m in codes.municipalities.values()}
    peak = {i: max(e.level for e in h) for i, h in by_id.items()}
    assert {peak[i] for i in by_id if region[i.split(":")[1]] == "170010"} == {2}, "加賀: 注意報 only"
    assert 3 in {peak[i] for i in by_id if region[i.split(":")[1]] == "170020"}, "能登: some hours of 警報"
    for event_id, history in by_id.items():  # issue → (continue/upgrade) → lifted, for every municipality
        assert history[0].state == State.ACTIVE and history[0].level >= 2, event_id
        assert history[-1].state == State.LIFTED and history[-1].level == 0, event_id
        assert all(e.state == State.ACTIVE for e in history[:-1]), event_id
    assert scenario.surge, "the storm tide comes from the scenario's [[surge]] cells"


async def test_vpww60_snow_listed_served_and_lifted(codes, schema):
    docs, expected, scenario = await _poll_through("calm", {"VPWW60"}, 24)
    assert len(docs) == len(expected) >= 3
    snow_areas = {a for cell in scenario.snow for a in cell.areas}
    status_by_muni: dict[str, list[tuple[str, str]]] = {}
    for _type, body in docs:
        assert schema.validate(etree.fromstring(body, SAFE)), schema.error_log.last_error
        report = parse_document(body)
        assert isinstance(report, WarningReport) and report.generation == "R06"
        assert report.control.title == "気象警報・注意報（Ｒ０６）（大雪）"
        assert report.head.title == "石川県大雪警報・注意報"
        # 大雪 has no 警戒レベル: the collectors keep it in the report and make no Event of it
        assert to_events(report, codes, "jma") == []
        for item in report.items:
            jis = codes.to_jis(item.area.code)[0] if len(item.area.code) == 7 else None
            for k in item.kinds:
                assert (k.name, k.code) in {("大雪注意報", "12"), ("大雪警報", "06")}
                assert jis in snow_areas, f"{item.area.name} has no snow in the scenario"
                status_by_muni.setdefault(jis, []).append((k.name, k.status))
    assert set(status_by_muni) == snow_areas
    for jis, seq in status_by_muni.items():  # 発表 first, 解除 last, nothing after the 解除
        assert seq[0][1] == "発表" and seq[-1][1] == "解除", (jis, seq)
        assert all(s != "解除" for _n, s in seq[:-1]), (jis, seq)
    warned = {j for j, seq in status_by_muni.items() if any(n == "大雪警報" for n, _s in seq)}
    assert warned == {"17210"}, "only 白山市 gets a few hours of 大雪警報"
    last = parse_document(docs[-1][1])
    assert "警報・注意報はありません" in (last.head.headline_text or "")


async def test_level_named_flood_forecast_rises_to_4_and_lifts(codes, schema):
    docs, expected, _scenario = await _poll_through("heavy-rain", {"VXKO61", "VXKO62"}, 26)
    assert len(docs) == len(expected)
    reports = {t: [parse_document(b) for tt, b in docs if tt == t] for t in ("VXKO61", "VXKO62")}
    for _type, body in docs:
        assert schema.validate(etree.fromstring(body, SAFE)), schema.error_log.last_error
    # both families in one storm: 梯川 keeps the old kind names, 手取川 uses the 2026 level names
    assert all(isinstance(r, FloodReport) and not r.kind_name.startswith("レベル") for r in reports["VXKO61"])
    tedori = reports["VXKO62"]
    assert tedori and all(r.kind_name.startswith("レベル") for r in tedori)
    assert {r.kind_name for r in tedori} <= {"レベル２氾濫注意報", "レベル３氾濫警報", "レベル４氾濫危険警報", "レベル２氾濫注意報解除"}

    events = [e for r in tedori for e in to_events(r, codes, "jma")]
    assert {e.id for e in events} == {TEDORI_AREA}
    levels = [e.level for e in events]
    assert {lv for lv in levels if lv} == {2, 3, 4}
    assert events[-1].state == State.LIFTED and levels[-1] == 0 and tedori[-1].kind_code == "10"
    assert all(e.state == State.ACTIVE for e in events[:-1])
    assert set(events[0].areas) == {"17210", "17211", "17324"}, "浸水想定地区: 白山市, 能美市, 川北町"
    previous = 0
    for r, e in zip(tedori, events):
        assert r.kind_code == _level_code(e.level, previous), (r.head.title, r.kind_code, previous)
        assert (r.condition or "").endswith("（発表）") == (r.kind_code in ("20", "30", "40"))
        previous = e.level
    assert any(r.kind_code == "22" and r.condition == "レベル２氾濫注意報（警報解除）" for r in tedori)
    assert all(len(s.readings) == 7 for r in tedori for s in r.stations), "現況 and six hourly forecasts"


def _level_code(level: int, previous: int) -> str:
    """The 2026 code table: x0 a new (or raised) forecast, x1 the same again, 22 down from 警報, 10 lifted."""
    if level == 0:
        return "10"
    if level == 2 and previous >= 3:
        return "22"
    return f"{level}0" if previous < level else f"{level}1"


async def test_same_seed_same_bytes():
    runs = []
    for seed in (1, 1, 2):
        async with running_simulator("heavy-rain", speed=60, seed=seed, port=0) as sim:
            runs.append([m.xml for m in sim.jma.messages if m.data_type in ("VPWW57", "VXKO62")])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    async with running_simulator("calm", speed=60, seed=1, port=0) as a, running_simulator("calm", speed=60, seed=1, port=0) as b:
        assert [m.xml for m in a.jma.messages if m.data_type == "VPWW60"] == [m.xml for m in b.jma.messages if m.data_type == "VPWW60"]


@pytest.mark.parametrize(("table", "bad", "key"), [
    ("snow", 'areas = ["17210"]\npeak_h = 5.0\npeak_cm_h = 3.0\nwidth_h = 2.0\ndepth_cm = 3', "snow[0].depth_cm"),
    ("snow", 'areas = ["Hakusan"]\npeak_h = 5.0\npeak_cm_h = 3.0\nwidth_h = 2.0', "snow[0].areas[0]"),
    ("surge", 'region = "kaga"\npeak_h = 5.0\npeak_m = 9.0\nwidth_h = 2.0', "surge[0].peak_m"),
    ("flood", 'river = "tedori"\npeak_h = 5.0\npeak_level = 3\nnaming = "r06"', "flood[0].naming"),
])
def test_new_keys_are_validated(tmp_path, table, bad, key):
    path = tmp_path / "bad.toml"
    path.write_text('[scenario]\nname = "x"\ntitle = "t"\nstart = 2026-01-20T00:00:00+09:00\n\n'
                    f"[[{table}]]\n{bad}\n", encoding="utf-8")
    with pytest.raises(scenario_mod.ScenarioError) as info:
        scenario_mod.load(str(path))
    assert info.value.key == key and info.value.line is not None and info.value.line >= 7
