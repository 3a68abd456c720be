"""What the portal shows, read from the store once per render: the answer, warnings, gauges, roads, sources.

The same model feeds the full page, the JavaScript-free list and the fragment the page reloads on
live updates. "No warnings" is only ever said when every source is known to be fresh: while a
source is failing or stale, or has not answered yet, the portal says it cannot tell.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from geo.gauge_reading import gauge_reading
from geo.model import Event, Kind
from geo.shelters import ShelterStatus
from geo.store.base import SourceState, SourceStatus
from publishers.portal.answer import Answer, AreaWarnings, Place, answer_for, group_warnings, place_of
from publishers.portal.levels import N_, Gettext, level_view

# Source kinds by collector `type`; a source of unknown type is shown by its id.
SOURCE_KINDS = {
    "jma_feed": N_("JMA warnings and advisories"),
    "river_gauge": N_("River water levels"),
    "river_camera": N_("River cameras"),
    "road_closure": N_("Road closures"),
    "publiccommons": N_("Municipal evacuation information"),
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
CAMERA_STALE_S = 1800.0  # a frame older than this is not "now", unless the source configures otherwise
# A road section that is an upstream key ("17-033-0001") rather than words: not shown to residents.
_INTERNAL_ID = re.compile(r"^[0-9A-Za-z]+(?:[-_][0-9A-Za-z]+)+$")


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
    answer: Answer
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
    day_format: str = "%(m)d/%(d)d"  # the date in the page's language (the catalog gives 7月10日)

    def hhmm(self, moment: datetime | None) -> str | None:
        """'HH:MM', with the date in front when it is not today."""
        if moment is None:
            return None
        local = moment.astimezone(self.zone)
        today = self.now.astimezone(self.zone).date()
        return local.strftime("%H:%M") if local.date() == today else self.stamp(moment)

    def stamp(self, moment: datetime | None) -> str | None:
        """Date and time, always both (for "since when")."""
        if moment is None:
            return None
        local = moment.astimezone(self.zone)
        return f"{self.day_format % {'m': local.month, 'd': local.day}} {local:%H:%M}"


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


def _gauge(event: Event, clock: Clock, lang: str, _: Gettext) -> dict[str, Any]:
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
    level_m = props.get("level_m")
    reading = gauge_reading(level_m if isinstance(level_m, (int, float)) else None, props.get("thresholds"))
    return {
        "id": event.id,
        "name": props.get("name") or event.title,
        "level": level_view(event.level, Kind.GAUGE, lang),
        "level_m": level_m,
        "station": event.id.split(":", 1)[1],
        "against": reading["summary"][lang] if reading["thresholds"] else None,
        "datum": reading["datum_words"][lang],
        "silent": bool(props.get("silent")),
        "trend": trend_words,
        "observed": clock.hhmm(event.observed_at),
    }


def _road(event: Event, clock: Clock, _: Gettext) -> dict[str, Any]:
    props = event.properties
    route = props.get("route") or event.title
    section = props.get("section")
    if section and _INTERNAL_ID.match(section):
        section = None
    reason = props.get("reason")
    if reason and route and reason.startswith(route):
        reason = reason[len(route):].lstrip(" 　")  # the route is already the row's name
    started = props.get("started_at")
    return {
        "id": event.id,
        "title": route,
        "section": section,
        "reason": reason,
        "regulation": props.get("regulation") or _("Road closed"),
        "since": clock.hhmm(datetime.fromisoformat(started)) if started else clock.hhmm(event.issued_at),
        "until": clock.hhmm(event.expires_at),
    }


def _cameras(events: list[Event], settings: Any, clock: Clock, area: str | None) -> list[dict[str, Any]]:
    """Every camera with its honesty flags; a configured camera that sent nothing is listed as unavailable."""
    configured: dict[str, float] = {}
    expected: list[str] = []
    for config in (getattr(settings, "sources", {}) or {}).values():
        if getattr(config, "type", None) == "river_camera" and getattr(config, "enabled", True):
            for cam in getattr(config, "cameras", []):
                expected.append(cam)
                configured[cam] = float(getattr(config, "stale_after_s", CAMERA_STALE_S))
    seen = set()
    shown = []
    for event in sorted(events, key=lambda e: e.id):
        key = event.id.split(":", 1)[1]
        seen.add(key)
        if area is not None and area not in event.areas:
            continue
        props = event.properties
        taken = props.get("taken_at")
        taken_at = datetime.fromisoformat(taken) if taken else event.observed_at
        # Stale by the clock as well as by the collector's last look: an old frame is not "now".
        too_old = taken_at is None or clock.now - taken_at > timedelta(seconds=configured.get(key, CAMERA_STALE_S))
        missing = props.get("unavailable") is True or props.get("image_state") == "unavailable"
        shown.append({
            "id": event.id,
            "key": key,
            "name": props.get("name") or event.title,
            "taken": clock.hhmm(taken_at),
            "frozen": bool(props.get("frozen")) or props.get("image_state") == "frozen",
            "stale": bool(props.get("stale")) or props.get("image_state") == "stale" or too_old,
            "missing": missing,
            "image": not missing and bool(props.get("image", True)),
        })
    if area is None:
        for key in expected:
            if key not in seen:
                shown.append({"id": f"camera:{key}", "key": key, "name": key, "taken": None,
                              "frozen": False, "stale": False, "missing": True, "image": False})
    return shown


def _shelters(events: list[Event], region: Any, _: Gettext, area: str | None) -> list[dict[str, Any]]:
    found = []
    for event in events:
        status = str(event.properties.get("status", "")).lower()
        if status not in (ShelterStatus.OPEN, ShelterStatus.CROWDED):
            continue
        site = region.shelters.get(event.id.split(":", 1)[1])
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
    region: Any,
    settings: Any,
    clock: Clock,
    _: Gettext,
    area: str | None = None,
    lang: str = "ja",
    first: dict[str, datetime] | None = None,
) -> PortalView:
    """The portal's view of the current events and source statuses (no I/O: safe in a worker thread)."""
    by_kind: dict[Kind, list[Event]] = defaultdict(list)
    for event in events:
        by_kind[event.kind].append(event)
    gauges = [g for g in by_kind[Kind.GAUGE] if g.level > 0 and (area is None or area in g.areas)]
    gauges.sort(key=lambda e: (-e.level, e.id))
    roads = [r for r in by_kind[Kind.ROAD_CLOSURE] if area is None or area in r.areas]
    sources = _source_views(statuses, settings, clock, _)
    stale = [s for s in sources if s.bad]
    trustworthy = bool(sources) and not stale
    places = [place_of(region, code) for code in sorted(region.codes.municipalities)]
    warnings = group_warnings(events, region, lang, _, area, first or {})
    return PortalView(
        as_of=clock.hhmm(clock.now) or "",
        answer=answer_for(warnings, region, area, trustworthy, lang),
        warnings=warnings,
        gauges=[_gauge(g, clock, lang, _) for g in gauges],
        roads=[_road(r, clock, _) for r in sorted(roads, key=lambda e: e.id)],
        shelters=_shelters(by_kind[Kind.SHELTER], region, _, area),
        cameras=_cameras(by_kind[Kind.CAMERA], settings, clock, area),
        sources=sources,
        stale=stale,
        trustworthy=trustworthy,
        places=places,
    )


def near_view(report: dict[str, Any], region: Any, lang: str, _: Gettext) -> dict[str, Any]:
    """Shape a geo.here report (the /api/v1/here answer) for the "your area" section."""
    municipality = report.get("municipality") or {}
    code = municipality.get("code")
    events = report["events"]
    return {
        "place": place_of(region, code) if code else Place("", "", "", ""),
        "level": level_view(report["level"], events[0]["kind"] if events else Kind.NOTICE, lang),
        "events": [{"title": e["title"], "level": level_view(e["level"], e["kind"], lang)} for e in events],
        "shelters": [
            {
                "name": s["name"],
                "address": s.get("address"),
                "status": _(SHELTER_WORDS[ShelterStatus(s["status"])]),
                "distance": _distance(s["distance_m"], _),
            }
            for s in sorted(report["shelters"], key=_open_first)
        ],
        "advice": _advice(report.get("shelter_advice") or {}, lang, _),
        "gauges": [
            {
                "title": g["title"],
                "level": level_view(g["level"], Kind.GAUGE, lang),
                "distance": _distance(g["distance_m"], _),
            }
            for g in report["gauges"]
        ],
    }


def _open_first(shelter: dict[str, Any]) -> int:
    """Shelters recorded open first, then crowded, then the rest (a stable sort keeps distance order)."""
    return {ShelterStatus.OPEN: 0, ShelterStatus.CROWDED: 1}.get(shelter["status"], 2)


def _advice(advice: dict[str, Any], lang: str, _: Gettext) -> dict[str, Any]:
    """When no suitable shelter is within the limit: the guidance and whom to ask (geo.shelter_advice)."""
    contact = advice.get("contact") or {}
    nearest = advice.get("nearest_suitable_m")
    return {
        "limit": _("%(km).1f km") % {"km": advice["limit_m"] / 1000} if advice.get("limit_m") else None,
        "nearest": _distance(nearest, _) if nearest else None,
        "guidance": [g.get(lang) or g["ja"] for g in advice.get("guidance", [])],
        "contact": contact,
    }


def _distance(metres: float, _: Gettext) -> str:
    if metres < 1000:
        return _("%(m)d m away") % {"m": round(metres, -1)}
    return _("%(km).1f km away") % {"km": metres / 1000}
