""""What affects this point": the answer a resident needs for one place, from the store.

Rules (documented for the API):
- An areal event (a municipality's evacuation order, sediment warning, flood forecast, weather
  warning, notice) covers the point when its own polygon covers it, or, when it has no polygon of
  its own (none, a point, or an outline derived from its areas), when its areas include the
  point's municipality.
- The level in force is the highest level among covering events (0 when none).
- `hazards` lists every hazard of the covering events; only those at warning level (3+) restrict
  the shelter choice (geo/shelter_advice.py has the rules): `shelters` are the suitable sites
  within `shelter_limit_m`, and `shelter_advice` says what to do when there is none.
- Gauges: the nearest few within `gauge_radius_m`; road closures: all within `radius_m`. Each list
  states the radius it was searched in, so an empty list never reads as "none anywhere".
- `complete` is true only when every source the level depends on answered fresh (`answer_sources`;
  all sources when not given: a camera's failure is its own, never a resident's level unknown);
  `incomplete_sources` names the others; `sources` lists every source with its state.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry.base import BaseGeometry

from geo.areas import InvalidGeometry, read_geometry
from geo.enrich import GEOMETRY_FROM_AREAS
from geo.gauge_reading import gauge_reading
from geo.hazards import HAZARD_LABELS_JA, WARNING_LEVEL, hazard_names, hazards_of, restricting_hazards
from geo.model import Event, Kind
from geo.readings import name_readings
from geo.shelter_advice import advise
from geo.shelters import statuses_from
from geo.store.base import SourceState
from geo.wording import level_words as wording

if TYPE_CHECKING:
    from geo.region import Region
    from geo.store.base import Store

# A municipality's order (避難指示...) covers its area like any warning, and speaks with its own words.
AREAL_KINDS = (Kind.EVACUATION, Kind.SEDIMENT_WARNING, Kind.FLOOD_FORECAST, Kind.WEATHER_WARNING, Kind.NOTICE)
_POLYGONAL = {"Polygon", "MultiPolygon"}


@dataclass(frozen=True, slots=True)
class HereOptions:
    """Search radii and result counts of one query."""

    radius_m: float = 2000.0  # road closures
    gauge_radius_m: float = 10000.0
    gauges: int = 3
    shelters: int = 3
    warning_search_m: float = 10000.0  # areal events with polygons of their own looked at near the point
    shelter_limit_m: float | None = None  # farthest shelter offered; None: the region's (GeoConfig)
    answer_sources: frozenset[str] | None = None  # sources the level depends on; None: every source


def level_words(level: int, kind: Kind | str = Kind.NOTICE) -> dict[str, Any]:
    """A level with its words (geo.wording: 相当 unless a municipality's order) and colour, never colour alone."""
    words = wording(level, kind, "ja")
    return {
        "level": level,
        "voice": words.voice.value,
        "label_ja": words.label,
        "name_ja": words.name,
        "action_ja": words.action,
        "colour": words.colour,
    }


async def what_affects(
    store: Store, region: Region, lon: float, lat: float, options: HereOptions = HereOptions(),
    shelter_events: Sequence[Event] | None = None,
) -> dict[str, Any]:
    """Everything in force at (lon, lat) as a JSON-ready dict; OutOfRegion outside the region.

    `shelter_events`: the shelter events in force, when the caller holds them (a process's read model
    of the current events); every answer needs all of them for the statuses, and reading them from
    the store was most of an answer's cost. Without them the store is asked.
    """
    bounds = region.boundaries
    bounds.check_point(lon, lat)
    municipality = bounds.municipality_at(lon, lat)
    point = shapely.Point(lon, lat)
    metric = region.metric

    near_box = metric.radius_bbox(lon, lat, options.warning_search_m)
    areal = {e.id: e for e in await store.query(kinds=AREAL_KINDS, bbox=near_box)}
    if municipality is not None:
        areal.update({e.id: e for e in await store.query(kinds=AREAL_KINDS, areas=[municipality])})
    own_polygons = {eid: g for eid, e in areal.items() if (g := _own_polygon(e)) is not None}
    covering = sorted(
        (e for e in areal.values() if _covers(e, own_polygons.get(e.id), point, municipality)),
        key=lambda e: (-e.level, e.id),
    )
    level = max((e.level for e in covering), default=0)
    restricting = restricting_hazards(covering)
    limit_m = options.shelter_limit_m if options.shelter_limit_m is not None else region.shelter_limit_m

    if shelter_events is None:
        shelter_events = await store.query(kinds=[Kind.SHELTER])
    statuses = statuses_from(shelter_events)
    advice = advise(region, lon, lat, municipality, restricting, statuses, k=options.shelters, limit_m=limit_m)
    gauges = await _nearest_gauges(store, region, lon, lat, options)
    roads = await _road_closures(store, region, point, lon, lat, options.radius_m)
    sources = await store.source_statuses()
    relevant = [st for st in sources if options.answer_sources is None or st.source_id in options.answer_sources]
    not_ok = [st.source_id for st in relevant if st.state != SourceState.OK]
    # A source the answer depends on that has not reported yet is not fresh either.
    not_ok += sorted((options.answer_sources or frozenset()) - {st.source_id for st in sources})

    return {
        "point": {"lon": lon, "lat": lat},
        "municipality": _municipality(region, municipality),
        **level_words(level, covering[0].kind if covering else Kind.NOTICE),
        "hazards": _hazards(covering),
        "events": [_event_summary(e) for e in covering],
        "gauges": gauges,
        "road_closures": roads,
        "shelters": advice.pop("shelters"),
        "shelter_advice": advice,
        "radius_m": options.radius_m,
        "gauge_radius_m": options.gauge_radius_m,
        "shelter_limit_m": round(limit_m),
        # Truth over appearance: level 0 is an all-clear only when every source answered fresh.
        "complete": bool(relevant) and not not_ok,
        "incomplete_sources": not_ok,
        "sources": [
            {
                "id": st.source_id,
                "state": st.state.value,
                "content_time": st.content_time.isoformat() if st.content_time else None,
            }
            for st in sources
        ],
        "as_of": store.clock().isoformat(),
    }


def _hazards(covering: list[Event]) -> list[dict[str, Any]]:
    """Every hazard in force at the point, its highest level, and whether it restricts the shelter choice."""
    top: dict[Any, int] = {}
    for event in covering:
        if event.ended or event.level <= 0:
            continue
        for hazard in hazards_of(event):
            top[hazard] = max(top.get(hazard, 0), event.level)
    return [
        {
            "hazard": h.value,
            "name_ja": HAZARD_LABELS_JA[h],
            "names": hazard_names(h),
            "level": top[h],
            "restricts_shelters": top[h] >= WARNING_LEVEL,
        }
        for h in sorted(top)
    ]


def _own_polygon(event: Event) -> BaseGeometry | None:
    """The event's polygon if it is a footprint of its own (not an outline derived from areas)."""
    if event.geometry is None or event.geometry.get("type") not in _POLYGONAL:
        return None
    if event.properties.get("geometry_source") == GEOMETRY_FROM_AREAS:
        return None
    try:
        geom, _ = read_geometry(event.geometry)
    except InvalidGeometry:
        return None  # stored geometry was validated on the way in; never fail a resident's query
    shapely.prepare(geom)
    return geom


def _covers(event: Event, polygon: BaseGeometry | None, point: shapely.Point, municipality: str | None) -> bool:
    if polygon is not None:
        return bool(polygon.intersects(point))
    return municipality is not None and municipality in event.areas


async def _nearest_gauges(
    store: Store, region: Region, lon: float, lat: float, options: HereOptions
) -> list[dict[str, Any]]:
    box = region.metric.radius_bbox(lon, lat, options.gauge_radius_m)
    located = [(e, where) for e in await store.query(kinds=[Kind.GAUGE], bbox=box) if (where := _point_of(e))]
    if not located:
        return []
    distances = region.metric.geodesic_m(lon, lat, [w[0] for _, w in located], [w[1] for _, w in located])
    found = [(float(m), e, where) for m, (e, where) in zip(distances, located) if m <= options.gauge_radius_m]
    found.sort(key=lambda p: (p[0], p[1].id))
    return [
        {
            "id": e.id,
            "title": e.title,
            "name": str(e.properties.get("name") or e.title),
            "name_readings": name_readings(str(e.properties.get("name") or e.title)),
            **level_words(e.level, e.kind),
            "level_m": e.properties.get("level_m"),
            # Against its thresholds, with the datum of its metres (elevation or the gauge's own zero).
            "reading": gauge_reading(e.properties.get("level_m"), e.properties.get("thresholds")),
            "chart": f"/api/v1/gauges/{e.id.split(':', 1)[1]}/chart.svg",
            "trend_m_per_10min": e.properties.get("trend_m_per_10min"),
            "observed_at": e.observed_at.isoformat() if e.observed_at else None,
            "distance_m": round(metres),
            "lon": where[0],
            "lat": where[1],
        }
        for metres, e, where in found[: options.gauges]
    ]


def _point_of(event: Event) -> tuple[float, float] | None:
    geometry = event.geometry
    if geometry is None or geometry.get("type") != "Point":
        return None
    lon, lat = geometry["coordinates"][:2]
    return float(lon), float(lat)


async def _road_closures(
    store: Store, region: Region, point: shapely.Point, lon: float, lat: float, radius_m: float
) -> list[dict[str, Any]]:
    metric = region.metric
    here_xy = metric.project(point)
    found = []
    for event in await store.query(kinds=[Kind.ROAD_CLOSURE], bbox=metric.radius_bbox(lon, lat, radius_m)):
        if event.geometry is None:
            continue
        try:
            geom, _ = read_geometry(event.geometry)
        except InvalidGeometry:
            continue
        metres = float(metric.project(geom).distance(here_xy))
        if metres <= radius_m:
            found.append((metres, event))
    found.sort(key=lambda p: (p[0], p[1].id))
    return [
        {
            "id": e.id,
            "title": e.title,
            **level_words(e.level, e.kind),
            "distance_m": round(metres),
            **{k: e.properties[k] for k in ("display", "route", "section", "reason", "regulation") if k in e.properties},
            "geometry": e.geometry,
        }
        for metres, e in found
    ]


def _municipality(region: Region, code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    m = region.codes.municipality(code)
    return {"code": m.jis, "name": m.name, "name_en": m.name_en, "kana": m.kana}


def _event_summary(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind.value,
        **level_words(event.level, event.kind),
        "title": event.title,
        "areas": list(event.areas),
        "issued_at": event.issued_at.isoformat() if event.issued_at else None,
        "expires_at": event.expires_at.isoformat() if event.expires_at else None,
    }
