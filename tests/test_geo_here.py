""""What affects this point" computed from a real SQLite store."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import shapely

from geo.areas import OutOfRegion
from geo.enrich import enrich_event
from geo.hazards import Hazard, hazard_names
from geo.here import HereOptions, what_affects
from geo.model import Event, Kind, SourceRef, State, Status
from geo.region import Region
from geo.store import open_store
from geo.store.base import Batch, Change, ChangeOp

SRC = SourceRef(source_id="test")
T0 = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
LON, LAT = 136.4520, 36.4083  # 小松市役所


@pytest.fixture(scope="module")
def region() -> Region:
    return Region.default()


@pytest.fixture
async def store(tmp_path, clock):
    s = open_store(str(tmp_path / "here.sqlite3"), clock=clock)
    await s.open()
    yield s
    await s.close()


async def _put(store, region, *events: Event) -> None:
    # As the pipeline does: enrich, then apply.
    changes = [Change(ChangeOp.CREATED, enrich_event(e, region)) for e in events]
    await store.apply(Batch(changes=changes))


def _point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def _offset(metres_east: float, metres_north: float = 0.0) -> tuple[float, float]:
    # ~0.0111 deg per km north, ~0.0111/cos(lat) east: good enough to place test objects.
    return LON + metres_east / 89_500, LAT + metres_north / 111_000


def _gauge(n: int, metres: float, level: int, trend: float) -> Event:
    return Event(
        id=f"gauge:17000000{n:02d}",
        kind=Kind.GAUGE,
        level=level,
        title=f"gauge {n}",
        geometry=_point(*_offset(metres)),
        observed_at=T0,
        source=SRC,
        properties={"level_m": 1.0 + n / 10, "trend_m_per_10min": trend},
    )


def _road(n: int, metres: float) -> Event:
    a, b = _offset(metres, -300), _offset(metres, 300)
    return Event(
        id=f"road_closure:{n}",
        kind=Kind.ROAD_CLOSURE,
        level=0,
        title=f"road {n}",
        geometry={"type": "LineString", "coordinates": [list(a), list(b)]},
        source=SRC,
        properties={"route": f"県道{n}号", "reason": "冠水"},
    )


async def test_sediment_warning_over_the_municipality(store, region):
    await _put(
        store,
        region,
        Event(id="sediment:17203", kind=Kind.SEDIMENT_WARNING, level=4, title="土砂災害警戒情報", areas=("17203",), source=SRC),
        Event(id="sediment:17201", kind=Kind.SEDIMENT_WARNING, level=4, areas=("17201",), source=SRC),  # elsewhere
        Event(id="notice:drill", kind=Kind.NOTICE, level=5, areas=("17203",), status=Status.EXERCISE, source=SRC),
        Event(id="notice:old", kind=Kind.NOTICE, level=5, areas=("17203",), state=State.LIFTED, source=SRC),
        _gauge(1, 800, 2, 0.12),
        _gauge(2, 300, 1, -0.01),
        _gauge(3, 3000, 3, 0.30),
        _gauge(4, 25_000, 5, 0.5),  # beyond the gauge radius
        _road(1, 1200),
        _road(2, 5000),
    )
    report = await what_affects(store, region, LON, LAT)
    assert report["municipality"] == {"code": "17203", "name": "小松市", "name_en": "Komatsu", "kana": "こまつし"}
    assert (report["level"], report["name_ja"], report["label_ja"]) == (4, "土砂災害警戒情報", "警戒レベル４相当")
    assert [e["id"] for e in report["events"]] == ["sediment:17203"]  # not the drill, not the lifted one
    assert report["hazards"] == [
        {"hazard": "sediment", "name_ja": "崖崩れ、土石流及び地滑り", "names": hazard_names(Hazard.SEDIMENT),
         "level": 4, "restricts_shelters": True}
    ]
    assert [g["id"] for g in report["gauges"]] == ["gauge:1700000002", "gauge:1700000001", "gauge:1700000003"]
    assert [g["trend_m_per_10min"] for g in report["gauges"]] == [-0.01, 0.12, 0.30]
    assert 250 < report["gauges"][0]["distance_m"] < 350
    assert [r["id"] for r in report["road_closures"]] == ["road_closure:1"]
    assert 1100 < report["road_closures"][0]["distance_m"] < 1300 and report["road_closures"][0]["route"] == "県道1号"
    assert len(report["shelters"]) == 3
    assert all("sediment" in s["hazards"] and s["status"] == "unknown" for s in report["shelters"])
    distances = [s["distance_m"] for s in report["shelters"]]
    assert distances == sorted(distances)
    # A wider radius reaches the second road.
    wide = await what_affects(store, region, LON, LAT, HereOptions(radius_m=6000))
    assert [r["id"] for r in wide["road_closures"]] == ["road_closure:1", "road_closure:2"]


async def test_flood_forecast_polygon_covers_the_point_but_never_excludes_shelters(store, region):
    flood_nearest = region.shelters.recommend(LON, LAT, [Hazard.FLOOD], k=1)[0].shelter
    # The flood footprint covers the point and the nearest flood shelter (≈ 490 m away).
    footprint = shapely.Point(LON, LAT).buffer(0.008)
    assert footprint.contains(shapely.Point(flood_nearest.lon, flood_nearest.lat))
    await _put(
        store,
        region,
        Event(
            id="flood:kakehashi",
            kind=Kind.FLOOD_FORECAST,
            level=3,
            title="梯川氾濫警戒情報",
            geometry=shapely.geometry.mapping(footprint),
            source=SRC,
            expires_at=T0 + timedelta(hours=6),
        ),
    )
    report = await what_affects(store, region, LON, LAT)
    assert report["level"] == 3 and [e["id"] for e in report["events"]] == ["flood:kakehashi"]
    assert report["hazards"] == [
        {"hazard": "flood", "name_ja": "洪水", "names": hazard_names(Hazard.FLOOD), "level": 3, "restricts_shelters": True}
    ]
    picks = report["shelters"]
    assert all("flood" in s["hazards"] for s in picks)
    # A warning's polygon is not a hazard zone: only configured zones exclude (geo/shelter_advice.py).
    assert picks[0]["id"] == flood_nearest.id


async def test_open_shelter_status_from_the_store_comes_first(store, region):
    ranked = region.shelters.recommend(LON, LAT, [], k=5)
    opened = ranked[4].shelter
    await _put(
        store,
        region,
        Event(id=f"shelter:{opened.id}", kind=Kind.SHELTER, properties={"status": "open"}, source=SRC),
        Event(id=f"shelter:{ranked[0].shelter.id}", kind=Kind.SHELTER, properties={"status": "closed"}, source=SRC),
    )
    report = await what_affects(store, region, LON, LAT)
    assert report["level"] == 0 and report["events"] == [] and report["hazards"] == []
    assert [(s["id"], s["status"]) for s in report["shelters"]] == [
        (opened.id, "open"),
        (ranked[1].shelter.id, "unknown"),
        (ranked[2].shelter.id, "unknown"),
    ]


async def test_outside_the_region_is_refused(store, region):
    with pytest.raises(OutOfRegion):
        await what_affects(store, region, 139.6917, 35.6895)
