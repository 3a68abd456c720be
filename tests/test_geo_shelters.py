"""Shelters: GSI and open-data-standard lists, merging, hazard-aware and status-aware choice."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from geo.hazards import Hazard, hazards_in_force, hazards_of
from geo.model import Event, Kind, SourceRef, State
from geo.region import CREDITS, DEFAULT_SHELTERS, GeoConfig, Region
from geo.shelter_sources import ShelterFileError, read_sites
from geo.shelters import PLANAR_SLACK, ShelterStatus, merge_sites, statuses_from

KOMATSU_HALL = (136.4520, 36.4083)
SRC = SourceRef(source_id="test")

EMERGENCY_CSV = """\
全国地方公共団体コード,ID,地方公共団体名,名称,名称_カナ,所在地_連結表記,緯度,経度,高さ,災害種別_洪水,災害種別_崖崩れ、土石流及び地滑り,災害種別_高潮,災害種別_地震,災害種別_津波,災害種別_大規模な火事,災害種別_内水氾濫,災害種別_火山現象,指定避難所との住所同一,電話番号,備考
172014,0001,石川県金沢市,広坂緑地,ヒロサカリョクチ,石川県金沢市広坂１－１,36.5620,136.6580,,,1,,1,,1,,,,,
172014,0002,石川県金沢市,第一小学校,ダイイチショウガッコウ,石川県金沢市本町２丁目１－１,36.5760,136.6500,,1,,,1,,,1,,1,,
172014,0003,石川県金沢市,座標なし広場,,石川県金沢市某所,,,,1,,,,,,,,,,
"""
EVACUATION_CSV = """\
全国地方公共団体コード,ID,地方公共団体名,名称,名称_カナ,所在地_連結表記,緯度,経度,高さ,想定収容人数,対象となる地域,指定緊急避難場所との住所同一,電話番号,備考
172014,0101,石川県金沢市,第一小学校,ダイイチショウガッコウ,石川県金沢市本町2丁目1-1,36.5761,136.6501,,350,本町,1,,
172014,0102,石川県金沢市,市民センター,シミンセンター,石川県金沢市広坂1-2,36.5600,136.6590,,120,広坂,,,
"""


@pytest.fixture(scope="module")
def region() -> Region:
    return Region.default()


def test_gsi_lists_merge_into_sites(region):
    shelters = region.shelters
    both = [s for s in shelters.items if s.emergency and s.evacuation]
    assert sum(s.emergency for s in shelters.items) == 1536
    assert sum(s.evacuation for s in shelters.items) == 941
    assert len(shelters) == 1536 + 941 - len(both)
    for site in both:
        assert site.ids[0][:11] == site.ids[1][:11]  # same GSI site stem
        assert site.id == site.ids[0]  # the 指定避難所 id is primary
    # Every evacuation shelter flagged 住所同一 is merged, or its place went to another building
    # of the same site (two gyms of one school, one schoolyard).
    raw = json.loads(DEFAULT_SHELTERS[1].read_text(encoding="utf-8"))["features"]
    flagged = [f["properties"] for f in raw if f["properties"]["指定緊急避難場所との住所同一"] == "1"]
    merged_keys = {(s.ids[0][:11], s.address) for s in both}
    assert len(flagged) == 601 and len(both) >= 580
    assert all((p["共通ID"][:11], p["住所"]) in merged_keys for p in flagged)
    assert all(shelters.get(i) is s for s in shelters.items for i in s.ids)
    assert all(s.municipality in region.boundaries.codes for s in shelters.items)


def test_gsi_hazard_flags_are_read(region):
    raw = json.loads(DEFAULT_SHELTERS[0].read_text(encoding="utf-8"))["features"]
    flood = {f["properties"]["共通ID"] for f in raw if f["properties"]["洪水"] == "1"}
    sediment = {f["properties"]["共通ID"] for f in raw if f["properties"]["崖崩れ、土石流及び地滑り"] == "1"}
    shelters = region.shelters
    assert {i for s in shelters.items if Hazard.FLOOD in s.hazards for i in s.ids if i in flood} == flood
    assert sum(Hazard.SEDIMENT in shelters.get(i).hazards for i in sediment) == len(sediment)


def _write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp932"])
def test_standard_csv_loads_and_merges(tmp_path, encoding):
    emergency = read_sites(_write(tmp_path / "emergency.csv", EMERGENCY_CSV, encoding))
    evacuation = read_sites(_write(tmp_path / "evacuation.csv", EVACUATION_CSV, encoding))
    assert emergency.skipped == ["emergency.csv:3 座標なし広場"]
    park = emergency.records[0]
    assert (park.id, park.name, park.lon, park.lat) == ("172014-0001", "広坂緑地", 136.6580, 36.5620)
    assert park.hazards == {Hazard.SEDIMENT, Hazard.EARTHQUAKE, Hazard.LARGE_FIRE}
    assert evacuation.records[0].capacity == 350 and not evacuation.records[0].emergency
    sites, duplicates = merge_sites(emergency.records + evacuation.records)
    assert duplicates == []
    by_name = {s.name: s for s in sites}
    school = by_name["第一小学校"]  # 全角/半角 address variants still match
    assert school.ids == ("172014-0101", "172014-0002") and school.emergency and school.evacuation
    assert school.hazards == {Hazard.FLOOD, Hazard.EARTHQUAKE, Hazard.INLAND_FLOOD}
    assert school.capacity == 350
    assert by_name["市民センター"].hazards == frozenset() and not by_name["市民センター"].emergency
    assert len(sites) == 3


def test_registry_loads_a_standard_csv_deployment(tmp_path):
    paths = [_write(tmp_path / "e.csv", EMERGENCY_CSV, "utf-8"), _write(tmp_path / "v.csv", EVACUATION_CSV, "utf-8")]
    reg = Region.load({"shelter_paths": paths, "credits": ["金沢市オープンデータ"]})
    assert len(reg.shelters) == 3 and reg.credits == ["金沢市オープンデータ"]
    assert reg.skipped_shelter_rows == ["e.csv:3 座標なし広場"]
    assert {s.municipality for s in reg.shelters.items} == {"17201"}
    choice = reg.shelters.recommend(136.6500, 36.5750, [Hazard.FLOOD], k=1)[0]
    assert choice.shelter.name == "第一小学校"


def test_csv_without_coordinates_or_names_is_refused(tmp_path):
    with pytest.raises(ShelterFileError, match="緯度 and 経度"):
        read_sites(_write(tmp_path / "x.csv", "名称,住所\nA,B\n", "utf-8"))
    with pytest.raises(ShelterFileError, match="no name column"):
        read_sites(_write(tmp_path / "y.csv", "緯度,経度\n36.5,136.6\n", "utf-8"))
    with pytest.raises(ValueError):
        GeoConfig.model_validate({"shelter_path": []})  # typo in a key is an error


def _brute_nearest(region, lon, lat, hazard):
    shelters = region.shelters
    mask = shelters.suitable([hazard])
    d = region.metric.geodesic_m(lon, lat, shelters.lon, shelters.lat)
    d[~mask] = np.inf
    return shelters.items[int(np.argmin(d))]


def test_flood_and_sediment_choose_different_shelters_at_the_same_point(region):
    lon, lat = KOMATSU_HALL
    flood = region.shelters.recommend(lon, lat, [Hazard.FLOOD], k=1)[0]
    sediment = region.shelters.recommend(lon, lat, [Hazard.SEDIMENT], k=1)[0]
    assert flood.shelter.id != sediment.shelter.id
    assert Hazard.FLOOD in flood.shelter.hazards and Hazard.SEDIMENT in sediment.shelter.hazards
    assert flood.shelter is _brute_nearest(region, lon, lat, Hazard.FLOOD)
    assert sediment.shelter is _brute_nearest(region, lon, lat, Hazard.SEDIMENT)
    assert flood.distance_m < sediment.distance_m


def test_never_inside_an_avoided_zone_and_never_beyond_the_limit(region):
    lon, lat = KOMATSU_HALL
    first = region.shelters.recommend(lon, lat, [Hazard.FLOOD], k=1)[0].shelter
    zone = shapely.Point(first.lon, first.lat).buffer(0.01)  # ~1 km round the nearest one
    picks = region.shelters.recommend(lon, lat, [Hazard.FLOOD], avoid=[zone], k=3)
    assert len(picks) == 3
    assert all(not zone.intersects(shapely.Point(p.shelter.lon, p.shelter.lat)) for p in picks)
    everywhere = region.boundaries.geometry_of("170000").buffer(0.1)
    assert region.shelters.recommend(lon, lat, [Hazard.FLOOD], avoid=[everywhere], k=1) == []  # no fallback
    near = region.shelters.recommend(lon, lat, [Hazard.FLOOD], k=12, limit_m=1500)
    assert near and all(p.distance_m <= 1500 for p in near) and len(near) < 12
    far = region.shelters.nearest_suitable_m(lon, lat, [Hazard.FLOOD], avoid=[zone])
    assert far == picks[0].distance_m


def _shelter_event(shelter_id: str, status: str, state: State = State.ACTIVE) -> Event:
    return Event(id=f"shelter:{shelter_id}", kind=Kind.SHELTER, source=SRC, state=state, properties={"status": status})


def test_open_first_then_unknown_and_never_closed(region):
    lon, lat = KOMATSU_HALL
    plain = region.shelters.recommend(lon, lat, [Hazard.FLOOD], k=3)
    assert [p.status for p in plain] == [ShelterStatus.UNKNOWN] * 3  # nothing recorded: never "open"
    nearest, second, third = (p.shelter for p in plain)
    far = region.shelters.recommend(lon, lat, [Hazard.FLOOD], k=12)[-1].shelter
    events = [
        _shelter_event(nearest.ids[-1], "closed"),  # any of a site's ids works
        _shelter_event(far.id, "open"),
        _shelter_event(second.id, "crowded"),
        _shelter_event(third.id, "open", State.LIFTED),  # ended: says nothing
    ]
    statuses = statuses_from(events)
    picks = region.shelters.recommend(lon, lat, [Hazard.FLOOD], statuses=statuses, k=3)
    assert [(p.shelter.id, p.status) for p in picks] == [
        (far.id, ShelterStatus.OPEN),
        (second.id, ShelterStatus.CROWDED),
        (third.id, ShelterStatus.UNKNOWN),
    ]


def test_vectorised_nearest_matches_brute_force(region):
    shelters = region.shelters
    rng = np.random.default_rng(7)
    lon = rng.uniform(136.3, 137.2, 500)
    lat = rng.uniform(36.2, 37.4, 500)
    mask = shelters.suitable([Hazard.SEDIMENT])
    index, dist = shelters.nearest(lon, lat, mask)
    px, py = region.metric.to_xy(lon, lat)
    d2 = (px[:, None] - shelters.x[None, :]) ** 2 + (py[:, None] - shelters.y[None, :]) ** 2
    d2[:, ~mask] = np.inf
    assert (index == d2.argmin(axis=1)).all()
    geodesic = region.metric.geodesic_m(lon, lat, shelters.lon[index], shelters.lat[index])
    assert np.allclose(dist, geodesic, rtol=0.005, atol=1.0)  # the local projection is good to 0.5 %



def test_local_projection_is_within_the_slack_nearest_k_relies_on(region):
    shelters = region.shelters
    rng = np.random.default_rng(11)
    i, j = rng.integers(0, len(shelters), (2, 20000))
    i, j = i[i != j], j[i != j]
    planar = np.hypot(shelters.x[i] - shelters.x[j], shelters.y[i] - shelters.y[j])
    geodesic = region.metric.geodesic_m(shelters.lon[i], shelters.lat[i], shelters.lon[j], shelters.lat[j])
    far = geodesic > 1.0
    ratio = planar[far] / geodesic[far]
    assert 1 / 1.01 < ratio.min() and ratio.max() < 1.01  # within 1 % across the prefecture
    assert PLANAR_SLACK >= 1.01 ** 2


def test_nearest_k_matches_geodesic_brute_force(region):
    """The k nearest by geodesic distance, ties in site order, though only a few sites are measured."""
    shelters = region.shelters
    rng = np.random.default_rng(3)
    masks = [np.ones(len(shelters), dtype=bool), shelters.suitable([Hazard.FLOOD]),
             rng.random(len(shelters)) < 0.02]  # sparse: the nearest may be far away
    for n in range(300):
        lon, lat = rng.uniform(136.3, 137.2), rng.uniform(36.2, 37.4)
        mask, k = masks[n % 3], int(rng.integers(1, 6))
        members = np.flatnonzero(mask)
        every = region.metric.geodesic_m(lon, lat, shelters.lon[members], shelters.lat[members])
        order = np.argsort(every, kind="stable")[:k]
        expected = [(int(members[i]), float(every[i])) for i in order]
        assert shelters.nearest_k(lon, lat, mask, k) == expected, (lon, lat, k)
    site = shelters.items[0]
    twin = np.zeros(len(shelters), dtype=bool)
    twin[[0, 1]] = True
    assert [i for i, _ in shelters.nearest_k(site.lon, site.lat, twin, 5)] == [0, 1]  # fewer members than k


def test_hazards_of_events():
    def ev(kind: Kind, title: str = "", **props) -> Event:
        return Event(id=f"{kind}:1", kind=kind, level=3, title=title, source=SRC, properties=props)

    assert hazards_of(ev(Kind.SEDIMENT_WARNING)) == {Hazard.SEDIMENT}
    assert hazards_of(ev(Kind.FLOOD_FORECAST)) == {Hazard.FLOOD}
    assert hazards_of(ev(Kind.GAUGE)) == {Hazard.FLOOD}
    assert hazards_of(ev(Kind.WEATHER_WARNING, "大雨警報（浸水害）")) == {Hazard.INLAND_FLOOD}
    assert hazards_of(ev(Kind.WEATHER_WARNING, "高潮警報")) == {Hazard.STORM_SURGE}
    assert hazards_of(ev(Kind.WEATHER_WARNING, "大雨警報")) == {Hazard.SEDIMENT, Hazard.INLAND_FLOOD}
    assert hazards_of(ev(Kind.NOTICE, "お知らせ", hazards=["tsunami", "bogus"])) == {Hazard.TSUNAMI}
    assert hazards_of(ev(Kind.ROAD_CLOSURE, "通行止め")) == frozenset()
    lifted = ev(Kind.SEDIMENT_WARNING).model_copy(update={"state": State.LIFTED})
    assert hazards_in_force([lifted, ev(Kind.FLOOD_FORECAST)]) == {Hazard.FLOOD}


def test_credit_lines_are_data_and_documented():
    text = (Path(__file__).parent.parent / "geo" / "CREDITS.md").read_text(encoding="utf-8")
    assert len(CREDITS) == 2
    assert all(line in text for line in CREDITS)
    assert "国土交通省" in CREDITS[0] and "国土地理院" in CREDITS[1]
    assert Region.default().credits == CREDITS
