"""Shelter advice: the hazards that matter, a distance limit, indoor safety, contacts, hazard zones.

The storm tests run the simulator's heavy-rain scenario to 12:00 (the issue's reproduction) through
the real collectors and pipeline into a real SQLite store, then ask for four municipalities.
"""
from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import shapely

from collectors.http import Fetcher
from collectors.jma_feed import Config as JmaConfig
from collectors.jma_feed import JmaFeedCollector
from collectors.river_gauge import Config as GaugeConfig
from collectors.river_gauge import RiverGaugeCollector
from geo.codes import AreaCodes
from geo.enrich import enrich_event
from geo.hazards import Hazard, hazard_names, hazards_of, restricting_hazards
from geo.here import HereOptions, what_affects
from geo.model import Event, Kind, SourceRef
from geo.region import Region
from geo.shelter_advice import DEFAULT_CONTACTS, load_contacts
from geo.shelters import Shelter, Shelters
from geo.store import open_store
from geo.store.base import Batch, Change, ChangeOp
from service.pipeline import Pipeline
from service.poller import SourcePoller
from simulator.server import running_simulator

SRC = SourceRef(source_id="test")
KANAZAWA = (136.6562, 36.5613)  # 金沢市役所
WAJIMA = (136.8990, 37.3906)  # 輪島市役所
KOMATSU = (136.4520, 36.4083)  # 小松市役所
KAGA = (136.3122, 36.3026)  # 加賀市役所
KANAZAWA_HILLS = (136.70, 36.40)  # 金沢市, mountains south of the city: no suitable site within 5 km
KAGA_HILLS = (136.34, 36.19)  # 加賀市, upstream of 大聖寺川


async def _storm_until(path: Path, hours: float) -> datetime:
    async with running_simulator("heavy-rain", speed=1, seed=1, port=0) as sim, Fetcher() as fetcher:
        sim.clock.pause()
        geo = Region.default()
        store = open_store(str(path), clock=sim.clock.now)
        await store.open()
        pipeline = Pipeline(store, geo.codes, enrich=geo.enricher(), clock=sim.clock.now)
        common = {"allow_private": True, "retries": 0, "timeout_s": 2.0}
        base = sim.base_url
        collectors = [
            JmaFeedCollector("jma", JmaConfig(url=f"{base}/developer/xml/feed/extra.xml", **common), fetcher, geo.codes),
            RiverGaugeCollector(
                "gauges",
                GaugeConfig(url=f"{base}/swin/files/area_info/current/17000.json", format="area_info", **common),
                fetcher,
                geo.codes,
            ),
        ]
        pollers = [SourcePoller(c, pipeline, store, clock=sim.clock.now) for c in collectors]
        start = sim.clock.now()
        while sim.clock.now() <= start + timedelta(hours=hours):
            for poller in pollers:
                await poller.run_once()
            sim.clock.jump(sim.clock.now() + timedelta(minutes=10))
        await store.close()
        return sim.clock.now()


@pytest.fixture(scope="module")
def storm_path(tmp_path_factory) -> tuple[Path, datetime]:
    """A store holding the heavy-rain storm as polled up to 12:00 (the issue's `elapsed_h: 12`), and that time."""
    path = tmp_path_factory.mktemp("storm") / "storm.sqlite3"
    return path, asyncio.run(_storm_until(path, 12))


@pytest.fixture
async def storm(storm_path):
    path, now = storm_path
    store = open_store(str(path), clock=lambda: now)
    await store.open()
    yield store
    await store.close()


@pytest.fixture(scope="module")
def region() -> Region:
    return Region.default()


@pytest.mark.parametrize(
    ("point", "code", "needs", "within_m"),
    [
        (KANAZAWA, "17201", {"sediment", "inland_flood"}, 500),  # was 7.9 km
        (WAJIMA, "17204", {"storm_surge"}, 1000),  # was 21.6 km
        (KOMATSU, "17203", {"sediment", "inland_flood"}, 5000),  # was 7.7 km
        (KAGA, "17206", {"sediment", "inland_flood"}, 1000),  # was 24 km
    ],
    ids=["金沢市", "輪島市", "小松市", "加賀市"],
)
async def test_storm_at_noon_gives_a_suitable_shelter_within_the_limit(storm, region, point, code, needs, within_m):
    report = await what_affects(storm, region, *point)
    assert report["municipality"]["code"] == code and report["level"] >= 3
    advice = report["shelter_advice"]
    assert advice["kind"] == "shelter" and advice["limit_m"] == report["shelter_limit_m"] == 5000
    restricting = {h["hazard"] for h in advice["hazards"]}
    assert needs <= restricting
    # Advisories are reported but never restrict: the 高潮注意報 (level 2) in 金沢, 小松 and 加賀.
    listed = {h["hazard"]: h for h in report["hazards"]}
    assert {h for h, v in listed.items() if v["restricts_shelters"]} == restricting
    assert all(v["level"] <= 2 for h, v in listed.items() if h not in restricting)
    if code != "17204":
        assert listed["storm_surge"]["level"] == 2 and "storm_surge" not in restricting
    shelters = report["shelters"]
    assert len(shelters) == 3 and all(s["distance_m"] <= within_m for s in shelters)
    for s in shelters:
        suits = set(s["hazards"]) | set(s["counted_as"])
        assert restricting <= suits, (s["name"], s["hazards"], s["counted_as"])
        assert all(s["hazards"].count(v) for v in s["counted_as"].values())
    # The town's own shelters are not excluded by its municipality-wide warnings.
    if code != "17203":  # 小松市 designates no site for sediment: the answer is in 能美市
        assert shelters[0]["municipality"] == code
    assert shelters[0]["distance_m"] == min(s["distance_m"] for s in shelters)  # all unknown status: nearest first
    readings = shelters[0]["name_readings"]  # for the portal: romaji (en), hiragana and ruby (easy)
    assert readings["en"].isascii() and "".join(b for b, _ in readings["ruby"]) == shelters[0]["name"]
    assert report["municipality"]["kana"].endswith("し")


@pytest.mark.parametrize(("point", "code"), [(KANAZAWA_HILLS, "17201"), (KAGA_HILLS, "17206")], ids=["金沢市山間", "加賀市山間"])
async def test_storm_far_from_any_suitable_site_gives_indoor_safety(storm, region, point, code):
    report = await what_affects(storm, region, *point)
    advice = report["shelter_advice"]
    assert report["municipality"]["code"] == code
    assert advice["kind"] == "indoor_safety" and report["shelters"] == []
    assert advice["nearest_suitable_m"] > 5000  # said, not offered
    codes = [g["code"] for g in advice["guidance"]]
    assert codes == ["vertical_evacuation", "away_from_slopes", "move_early", "ask_municipality"]
    assert all(g["ja"] and g["en"] and g["easy"] for g in advice["guidance"])
    assert "垂直避難" in advice["guidance"][0]["ja"] and "屋内安全確保" in advice["guidance"][1]["ja"]
    contact = advice["contact"]
    assert contact["code"] == code and contact["website"].startswith("http") and contact["source"]


async def test_distance_limit_is_configurable_per_query_and_per_region(storm, region):
    report = await what_affects(storm, region, *KOMATSU, HereOptions(shelter_limit_m=2000))
    advice = report["shelter_advice"]
    assert advice["kind"] == "indoor_safety" and report["shelter_limit_m"] == 2000
    assert 2000 < advice["nearest_suitable_m"] < 5000
    assert advice["contact"]["name"] == "小松市"
    wide = Region.load({"shelter_limit_m": 8000})
    hills = await what_affects(storm, wide, *KANAZAWA_HILLS)
    assert hills["shelter_advice"]["kind"] == "shelter" and hills["shelter_limit_m"] == 8000
    assert 5000 < hills["shelters"][0]["distance_m"] <= 8000


@pytest.fixture
async def store(tmp_path, clock):
    s = open_store(str(tmp_path / "advice.sqlite3"), clock=clock)
    await s.open()
    yield s
    await s.close()


async def _put(store, region, *events: Event) -> None:
    await store.apply(Batch(changes=[Change(ChangeOp.CREATED, enrich_event(e, region)) for e in events]))


async def test_calm_answer_is_the_nearest_site_and_says_no_hazard(store, region):
    report = await what_affects(store, region, *KANAZAWA)
    advice = report["shelter_advice"]
    assert advice["kind"] == "shelter" and advice["hazards"] == [] and advice["guidance"] == []
    assert report["shelters"][0]["distance_m"] < 300
    assert report["complete"] is False and report["incomplete_sources"] == []  # no source has answered yet


async def test_a_warning_polygon_of_its_own_never_excludes_the_towns_shelters(store, region):
    # A sediment warning whose polygon is the whole of 金沢市 (given by the source, not derived).
    outline = region.boundaries.outline_geojson(["17201"])
    warning = Event(id="notice:sediment-17201", kind=Kind.NOTICE, level=4, title="土砂災害", geometry=outline, source=SRC)
    await _put(store, region, warning)
    report = await what_affects(store, region, *KANAZAWA)
    assert [e["id"] for e in report["events"]] == ["notice:sediment-17201"]
    assert report["shelters"][0]["municipality"] == "17201" and report["shelters"][0]["distance_m"] < 300


async def test_a_configured_hazard_zone_excludes_the_sites_inside_it(tmp_path, store, region):
    nearest = region.shelters.recommend(*KANAZAWA, [Hazard.SEDIMENT], k=1)[0].shelter
    zone = shapely.Point(nearest.lon, nearest.lat).buffer(0.003)
    path = tmp_path / "dosha.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "土砂災害警戒区域"}, "geometry": shapely.geometry.mapping(zone)}
    ]}), encoding="utf-8")
    zoned = Region.load({"hazard_zones": [{"hazard": "sediment", "path": str(path)}]})
    await _put(store, region, Event(id="sediment:17201", kind=Kind.SEDIMENT_WARNING, level=4, areas=("17201",), source=SRC))
    report = await what_affects(store, zoned, *KANAZAWA)
    assert report["shelters"] and all(not zone.intersects(shapely.Point(s["lon"], s["lat"])) for s in report["shelters"])
    assert nearest.id not in {s["id"] for s in report["shelters"]}
    inside = await what_affects(store, zoned, nearest.lon, nearest.lat)
    assert inside["shelter_advice"]["point_in_hazard_zones"] == ["sediment"]
    # The zone is of sediment: a flood-only answer elsewhere is not affected by it.
    assert zoned.hazard_zones.for_hazards([Hazard.FLOOD]) == []
    with pytest.raises(ValueError, match="no polygons"):
        empty = tmp_path / "empty.geojson"
        empty.write_text('{"type":"FeatureCollection","features":[]}', encoding="utf-8")
        Region.load({"hazard_zones": [{"hazard": "flood", "path": str(empty)}]})


def test_every_hazard_in_force_is_required_and_never_loosened(region):
    shelters = region.shelters
    both = shelters.suitable([Hazard.SEDIMENT, Hazard.STORM_SURGE])
    assert (both == (shelters.suitable([Hazard.SEDIMENT]) & shelters.suitable([Hazard.STORM_SURGE]))).all()
    # Two sites, each designated for one of two hazards in force: none suits, not "either will do".
    pair = Shelters(
        [
            Shelter("E1", ("E1",), "洪水の場所", "", 136.65, 36.56, frozenset({Hazard.FLOOD}), True, False, municipality="17201"),
            Shelter("E2", ("E2",), "土砂の場所", "", 136.66, 36.56, frozenset({Hazard.SEDIMENT}), True, False, municipality="17201"),
        ],
        region.metric,
    )
    assert not pair.suitable([Hazard.FLOOD, Hazard.SEDIMENT]).any()
    assert pair.recommend(136.65, 36.56, [Hazard.FLOOD, Hazard.SEDIMENT]) == []
    assert [r.shelter.id for r in pair.recommend(136.65, 36.56, [Hazard.SEDIMENT])] == ["E2"]


def test_flood_stands_for_inland_flood_only_where_a_town_never_designates_it(region):
    by_town = {}
    for site, as_flood in zip(region.shelters.items, region.shelters.inland_as_flood):
        by_town.setdefault(site.municipality, set()).add(bool(as_flood))
    assert by_town["17201"] == {True, False}  # 金沢市: no 内水氾濫 column in use, 洪水 sites stand in
    assert by_town["17206"] == {False}  # 加賀市 designates 内水氾濫 itself: its own flags count


def test_hazards_restricting_the_choice():
    def weather(level: int, family: str, title: str) -> Event:
        return Event(
            id=f"weather:17201:{family}", kind=Kind.WEATHER_WARNING, level=level, title=title, source=SRC,
            properties={"generation": "R06", "family": family},
        )

    assert hazards_of(weather(4, "大雨", "金沢市 レベル４大雨危険警報")) == {Hazard.INLAND_FLOOD}
    assert hazards_of(weather(4, "土砂災害", "金沢市 レベル４土砂災害危険警報")) == {Hazard.SEDIMENT}
    assert hazards_of(weather(3, "高潮", "輪島市 レベル３高潮警報")) == {Hazard.STORM_SURGE}
    events = [weather(2, "高潮", "金沢市 レベル２高潮注意報"), weather(3, "大雨", "金沢市 レベル３大雨警報")]
    assert restricting_hazards(events) == {Hazard.INLAND_FLOOD}
    for hazard in Hazard:  # every hazard is named for every reader
        assert all(hazard_names(hazard)[lang] for lang in ("ja", "en", "easy"))


def test_contacts_cover_the_19_municipalities_with_provenance_and_no_guesses():
    codes = AreaCodes.load()
    contacts = load_contacts(DEFAULT_CONTACTS)
    assert set(contacts) == set(codes.municipalities) and len(contacts) == 19
    for jis, c in contacts.items():
        assert c.name == codes.municipality(jis).name
        if c.phone or c.website:
            assert c.source, jis  # every recorded number or site says where it was read
        if c.phone:
            assert re.fullmatch(r"0\d{2,4}-\d{1,4}-\d{4}", c.phone) and c.office, jis
        if c.website:
            assert re.fullmatch(r"https?://[a-z0-9.]+\.(lg\.jp|ishikawa\.jp)/", c.website), jis
    assert sum(bool(c.website) for c in contacts.values()) >= 13


async def test_a_municipal_order_covers_its_town_with_its_own_words_and_hazard(store, region):
    order = Event(
        id="evacuation:17201", kind=Kind.EVACUATION, level=4, areas=("17201",), title="金沢市 避難指示（警戒レベル４）",
        source=SRC, properties={"municipality": "金沢市", "disaster": "土砂災害", "orders": []},
    )
    await _put(store, region, order)
    report = await what_affects(store, region, *KANAZAWA)
    assert [e["id"] for e in report["events"]] == ["evacuation:17201"]
    assert (report["level"], report["name_ja"], report["label_ja"]) == (4, "避難指示", "警戒レベル４")
    assert [h["hazard"] for h in report["shelter_advice"]["hazards"]] == ["sediment"]
    assert all("sediment" in s["hazards"] for s in report["shelters"])
