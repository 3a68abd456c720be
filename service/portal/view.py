"""What the portal shows, read from the store once per render: warnings, gauges, roads, sources.

The same model feeds the full page, the JavaScript-free list and the fragment the page reloads on
live updates. "No warnings" is only ever said when every source is known to be fresh: while a
source is failing or stale, or has not answered yet, the portal says it cannot tell.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from geo.here import AREAL_KINDS
from geo.model import Event, Kind
from geo.shelters import ShelterStatus
from geo.store.base import SourceState, SourceStatus
from service.portal.levels import N_, Gettext, LevelView, level_view

# Source kinds by collector `type`; a source of unknown type is shown by its id.
SOURCE_KINDS = {
    "jma_feed": N_("JMA warnings and advisories"),
    "river_gauge": N_("River water levels"),
    "river_camera": N_("River cameras"),
    "road_closure": N_("Road closures"),
}
KIND_NAMES = {
    Kind.SEDIMENT_WARNING: N_("Sediment disaster alert"),
    Kind.FLOOD_FORECAST: N_("Flood forecast"),
    Kind.WEATHER_WARNING: N_("Weather warning"),
    Kind.NOTICE: N_("Notice"),
}
STATE_WORDS = {
    SourceState.OK: N_("up to date"),
    SourceState.STALE: N_("not updated (stale)"),
    SourceState.FAILING: N_("cannot be reached"),
    SourceState.UNKNOWN: N_("not received yet"),
}
SHELTER_WORDS = {
    ShelterStatus.OPEN: N_("Open"),
    ShelterStatus.CROWDED: N_("Open, crowded"),
    ShelterStatus.CLOSED: N_("Closed"),
    ShelterStatus.UNKNOWN: N_("Status unknown"),
}


@dataclass(slots=True)
class Place:
    """A municipality with its name, reading and English name."""

    code: str
    name: str
    kana: str
    name_en: str


@dataclass(slots=True)
class AreaWarnings:
    """The warnings in force in one municipality, highest level first."""

    place: Place
    level: LevelView
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class SourceView:
    """One upstream's freshness as residents read it."""

    id: str
    name: str
    state: str
    words: str
    as_of: str | None
    bad: bool


@dataclass(slots=True)
class PortalView:
    """Everything a portal page renders."""

    as_of: str
    warnings: list[AreaWarnings]
    gauges: list[dict[str, Any]]
    roads: list[dict[str, Any]]
    shelters: list[dict[str, Any]]
    cameras: list[dict[str, Any]]
    sources: list[SourceView]
    stale: list[SourceView]
    # True only when every source is known fresh: then, and only then, "no warnings" may be said.
    trustworthy: bool
    places: list[Place]


@dataclass(frozen=True, slots=True)
class Clock:
    """Shows times in the display zone; "today" is the service clock's (the scenario's in the demo)."""

    zone: tzinfo
    now: datetime

    def hhmm(self, moment: datetime | None) -> str | None:
        """'HH:MM', with the date in front when it is not today."""
        if moment is None:
            return None
        local = moment.astimezone(self.zone)
        today = self.now.astimezone(self.zone).date()
        return local.strftime("%H:%M") if local.date() == today else local.strftime("%m/%d %H:%M")


def _place(registry: Any, code: str) -> Place:
    try:
        m = registry.codes.municipality(code)
    except ValueError:
        return Place(code, code, "", code)
    return Place(m.jis, m.name, m.kana, m.name_en)


def _source_views(statuses: list[SourceStatus], settings: Any, clock: Clock, _: Gettext) -> list[SourceView]:
    configured = getattr(settings, "sources", {}) or {}
    by_id = {s.source_id: s for s in statuses}
    for source_id, config in configured.items():
        if getattr(config, "enabled", True) and source_id not in by_id:
            by_id[source_id] = SourceStatus(source_id)
    views = []
    for source_id in sorted(by_id):
        st = by_id[source_id]
        kind = getattr(configured.get(source_id), "type", None)
        name = _(SOURCE_KINDS[kind]) if kind in SOURCE_KINDS else source_id
        as_of = clock.hhmm(st.content_time or st.last_success)
        bad = st.state in (SourceState.STALE, SourceState.FAILING, SourceState.UNKNOWN)
        views.append(SourceView(source_id, name, st.state.value, _(STATE_WORDS[st.state]), as_of, bad))
    return views


def _warnings(events: list[Event], registry: Any, clock: Clock, _: Gettext, area: str | None) -> list[AreaWarnings]:
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.kind in AREAL_KINDS and event.level > 0:
            for code in event.areas:
                if area is None or code == area:
                    grouped[code].append(event)
    result = []
    for code, items in grouped.items():
        items.sort(key=lambda e: (-e.level, e.kind.value, e.id))
        top = items[0].level
        result.append(
            AreaWarnings(
                _place(registry, code),
                level_view(top, _),
                [
                    {
                        "id": e.id,
                        "kind": _(KIND_NAMES.get(e.kind, e.kind.value)),
                        "title": e.title,
                        "level": level_view(e.level, _),
                        "issued": clock.hhmm(e.issued_at),
                    }
                    for e in items
                ],
            )
        )
    result.sort(key=lambda w: (-w.level.level, w.place.code))
    return result


def _gauge(event: Event, clock: Clock, _: Gettext) -> dict[str, Any]:
    props = event.properties
    trend = props.get("trend_m_per_10min")
    if trend is None:
        trend_words = None
    elif trend > 0.005:
        trend_words = _("rising")
    elif trend < -0.005:
        trend_words = _("falling")
    else:
        trend_words = _("steady")
    return {
        "id": event.id,
        "name": props.get("name") or event.title,
        "level": level_view(event.level, _),
        "level_m": props.get("level_m"),
        "trend": trend_words,
        "observed": clock.hhmm(event.observed_at),
    }


def _road(event: Event, _: Gettext) -> dict[str, Any]:
    props = event.properties
    return {
        "id": event.id,
        "title": props.get("route") or event.title,
        "section": props.get("section"),
        "reason": props.get("reason"),
        "regulation": props.get("regulation") or _("Road closed"),
    }


def _shelters(events: list[Event], registry: Any, _: Gettext, area: str | None) -> list[dict[str, Any]]:
    found = []
    for event in events:
        status = str(event.properties.get("status", "")).lower()
        if status not in (ShelterStatus.OPEN, ShelterStatus.CROWDED):
            continue
        site = registry.shelters.get(event.id.split(":", 1)[1])
        municipality = site.municipality if site else (event.areas[0] if event.areas else None)
        if area is not None and municipality != area:
            continue
        found.append(
            {
                "id": event.id,
                "name": site.name if site else (event.properties.get("name") or event.title),
                "address": site.address if site else event.properties.get("address"),
                "status": _(SHELTER_WORDS[ShelterStatus(status)]),
                "crowded": status == ShelterStatus.CROWDED,
            }
        )
    found.sort(key=lambda s: (s["crowded"], s["name"]))
    return found


def shape_view(
    events: list[Event],
    statuses: list[SourceStatus],
    registry: Any,
    settings: Any,
    clock: Clock,
    _: Gettext,
    area: str | None = None,
) -> PortalView:
    """The portal's view of the current events and source statuses (no I/O: safe in a worker thread)."""
    by_kind: dict[Kind, list[Event]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event)
    gauges = [g for g in by_kind[Kind.GAUGE] if g.level > 0 and (area is None or area in g.areas)]
    gauges.sort(key=lambda e: (-e.level, e.id))
    roads = [r for r in by_kind[Kind.ROAD_CLOSURE] if area is None or area in r.areas]
    cameras = [c for c in by_kind[Kind.CAMERA] if area is None or area in c.areas]
    sources = _source_views(statuses, settings, clock, _)
    stale = [s for s in sources if s.bad]
    places = [_place(registry, code) for code in sorted(registry.codes.municipalities)]
    return PortalView(
        as_of=clock.hhmm(clock.now) or "",
        warnings=_warnings(events, registry, clock, _, area),
        gauges=[_gauge(g, clock, _) for g in gauges],
        roads=[_road(r, _) for r in sorted(roads, key=lambda e: e.id)],
        shelters=_shelters(by_kind[Kind.SHELTER], registry, _, area),
        cameras=[
            {"id": c.id, "key": c.id.split(":", 1)[1], "name": c.properties.get("name") or c.title}
            for c in sorted(cameras, key=lambda e: e.id)
        ],
        sources=sources,
        stale=stale,
        trustworthy=bool(sources) and not stale,
        places=places,
    )


def near_view(report: dict[str, Any], registry: Any, _: Gettext) -> dict[str, Any]:
    """Shape a geo.here report (the /api/v1/here answer) for the "your area" section."""
    municipality = report.get("municipality") or {}
    code = municipality.get("code")
    return {
        "place": _place(registry, code) if code else Place("", "", "", ""),
        "level": level_view(report["level"], _),
        "events": [{"title": e["title"], "level": level_view(e["level"], _)} for e in report["events"]],
        "shelters": [
            {
                "name": s["name"],
                "address": s.get("address"),
                "status": _(SHELTER_WORDS[ShelterStatus(s["status"])]),
                "distance": _distance(s["distance_m"], _),
            }
            for s in report["shelters"]
        ],
        "gauges": [
            {"title": g["title"], "level": level_view(g["level"], _), "distance": _distance(g["distance_m"], _)}
            for g in report["gauges"]
        ],
    }


def _distance(metres: float, _: Gettext) -> str:
    if metres < 1000:
        return _("%(m)d m away") % {"m": round(metres, -1)}
    return _("%(km).1f km away") % {"km": metres / 1000}
