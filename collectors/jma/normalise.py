"""Typed JMA reports -> Events: one per municipality (and per flood forecast area, per hazard).

Event ids (the natural key of what a resident points at):
- ``sediment:{jis5}`` — 土砂災害警戒情報 (VXWW50) for one municipality.
- ``flood:{forecast-area code}`` — 指定河川洪水予報 (VXKOii) for one 予報区域, e.g.
  ``flood:890904000100``; its `areas` are the municipalities expected to flood (浸水想定地区).
- ``weather:{jis5}:{family}`` — 気象警報・注意報 (Ｒ０６ VPWW55–61) for one municipality and one
  hazard family (大雨, 土砂災害, 高潮...): 注意報, 警報, 危険警報 and 特別警報 of one hazard share an
  id, so an upgrade is a new version of the same event. The old system's VPWW53/54 map to
  ``weather:{jis5}:{family}:old``: during the transition JMA sends both, each is kept as its own
  report says, and geo/same_hazard.py shows residents one entry per municipality and hazard.
- A 訓練 or 試験 report gets ``#exercise`` / ``#test`` appended, so a drill never supersedes a
  real event of the same place.

Only hazards with a 警戒レベル become weather Events; wind, waves, snow, thunder and the other
注意報 stay in the WarningReport for callers that want them. Lines with status なし (or
「発表警報・注意報はなし」) make no Event.

A report is the whole state of its scope (`scope_state`): a weather report of one office and type,
a prefecture's 土砂災害警戒情報, one forecast area's 指定河川洪水予報. Its events carry the scope in
`properties["scope"]`, and the pipeline ends every event of the scope an older report put in force
that a newer one does not keep, so a 解除 report never read cannot leave a warning active.

The level is the one JMA states: the Ｒ０６ kind names carry it (レベル４土砂災害危険警報); since
2026 the old-format reports name the level-named kinds only in Body/Notice
(「〈レベル４大雨危険警報〉松江市」) while their Kind still says 大雨警報, so a municipality listed
there gets the Notice's level.

Ordering: `source.upstream_id` is the EventID and `source.sequence` the Serial. Weather reports
carry neither, so there upstream_id is "{Control/Title}|{EditorialOffice}" (one per office and
type, as the scope) and sequence the ReportDateTime in Unix seconds, which orders them the same way.
"""
from __future__ import annotations

import functools
import operator
import re
import unicodedata
from datetime import timezone
from typing import Any

from pydantic import TypeAdapter

from collectors.base import ScopeState
from collectors.jma.document import JmaReport
from collectors.jma.flood import FloodReport
from collectors.jma.report import Area, Head, UnsupportedDocument
from collectors.jma.sediment import SedimentReport
from collectors.jma.warnings import WarningKind, WarningReport, family_of
from geo.codes import AreaCodes, UnknownAreaCode
from geo.model import Certainty, Event, Kind, Severity, SourceRef, State, Status, Urgency, utcnow

Fields = dict[str, Any]  # an Event's fields, validated with the rest of its report's

STATUS = {"通常": Status.ACTUAL, "訓練": Status.EXERCISE, "試験": Status.TEST}
LEVELLED_FAMILIES = ("大雨", "洪水", "土砂災害", "高潮")
_LEVELLED = frozenset(LEVELLED_FAMILIES)
_LIFTED_STATUSES = frozenset({"解除"})
_SKIPPED_STATUSES = frozenset({"なし", ""})
_LEVEL_IN_NAME = re.compile(r"レベル([1-5])")


@functools.lru_cache(maxsize=16)  # pure: six levels, observed or not
def _cap(level: int, observed: bool = False) -> tuple[Severity, Urgency, Certainty]:
    if level <= 0:
        return Severity.MINOR, Urgency.PAST, Certainty.OBSERVED
    if level >= 5:
        return Severity.EXTREME, Urgency.IMMEDIATE, Certainty.OBSERVED if observed else Certainty.LIKELY
    if level == 4:
        return Severity.SEVERE, Urgency.IMMEDIATE, Certainty.LIKELY
    if level == 3:
        return Severity.SEVERE, Urgency.EXPECTED, Certainty.LIKELY
    return Severity.MODERATE, Urgency.EXPECTED, Certainty.POSSIBLE


@functools.lru_cache(maxsize=1024)  # a few dozen kind names exist; reports repeat them per municipality
def _named_level(name: str) -> int | None:
    match = _LEVEL_IN_NAME.search(unicodedata.normalize("NFKC", name))
    return int(match.group(1)) if match else None


@functools.lru_cache(maxsize=1024)  # pure; every municipality of a report repeats its kind
def sediment_level(kind_name: str, kind_code: str) -> int:
    """警戒レベル of a 土砂災害警戒情報 kind: 警戒 / レベル４土砂災害危険警報 -> 4, 特別警報 -> 5."""
    named = _named_level(kind_name)
    if named is not None:
        return named
    if "特別警報" in kind_name:
        return 5
    if kind_name == "警戒" or kind_code == "3" or "危険警報" in kind_name:
        return 4
    raise UnsupportedDocument(f"unknown 土砂災害警戒情報 kind {kind_name!r} (code {kind_code!r})")


def flood_level(kind_name: str, kind_code: str) -> int:
    """警戒レベル of a 指定河川洪水予報 kind (0 for 解除): 注意 2, 警戒 3, 危険 4, 発生/特別 5."""
    if kind_code.isdecimal() and len(kind_code) == 2:
        tens = int(kind_code) // 10
        if 1 <= tens <= 5:
            return 0 if tens == 1 else tens
    if "解除" in kind_name:
        return 0
    named = _named_level(kind_name)
    if named is not None:
        return named
    for word, level in (("氾濫発生", 5), ("氾濫特別", 5), ("氾濫危険", 4), ("氾濫警戒", 3), ("氾濫注意", 2)):
        if word in kind_name:
            return level
    raise UnsupportedDocument(f"unknown 指定河川洪水予報 kind {kind_name!r} (code {kind_code!r})")


@functools.lru_cache(maxsize=1024)  # pure; every municipality of a report repeats its kinds
def _weather_level(name: str, code: str) -> int:
    """警戒レベル相当 of a warning kind: Ｒ０６ by its number; else 特別警報 5, 警報 3 (高潮 4), 注意報 2."""
    named = _named_level(name)
    if named is not None:
        return named
    if name.endswith("特別警報"):
        return 5
    if name.endswith("警報"):
        return 4 if family_of(name) == "高潮" else 3
    if name.endswith("注意報"):
        return 2
    raise UnsupportedDocument(f"unknown warning kind {name!r} (code {code!r})")


@functools.lru_cache(maxsize=4096)  # pure per table; reports repeat every municipality of a prefecture
def _jis(code: str, codes: AreaCodes, all_areas: bool) -> str | None:
    try:
        return codes.to_jis(code)[0] if len(code) == 7 else None
    except UnknownAreaCode:
        pass
    if all_areas and len(code) >= 5 and code[:5].isascii() and code[:5].isdigit() and code[:5] != "00000":
        return code[:5]
    return None


_BY_ID = operator.itemgetter("id")  # the sort key of a report's events
# A report's Events are validated together, in one call into pydantic rather than one per Event.
_EVENTS = TypeAdapter(list[Event])


def ordering(report: JmaReport) -> tuple[str, int]:
    """The report's place among its kind: (upstream id, sequence), as its Events' `source` carries them.

    The EventID and Serial; weather reports carry neither, so there the Control and Head titles and
    the ReportDateTime in Unix seconds, which orders them the same way.
    """
    head = report.head
    upstream_id, sequence = head.event_id, head.serial
    if upstream_id is None:
        # not the Head/Title: it varies between reports of one office and type (暴風 / 暴風（雪）)
        upstream_id = f"{report.control.title}|{report.control.editorial_office}"
    if sequence is None:
        sequence = int(head.report_datetime.timestamp())
    return upstream_id, sequence


def scope_of(report: JmaReport) -> str:
    """The scope a report states in full: its family and upstream id (office and type, or EventID), and
    its status, so a drill never ends a real warning: e.g. ``sediment|石川県土砂災害警戒情報``."""
    family = {SedimentReport: "sediment", FloodReport: "flood"}.get(type(report), "weather")
    status = STATUS[report.control.status]
    suffix = "" if status is Status.ACTUAL else f"#{status.value}"
    return f"{family}|{ordering(report)[0]}{suffix}"


class _ReportFields:
    """What every Event of one report shares."""

    def __init__(self, report: JmaReport, source_id: str, url: str | None) -> None:
        head: Head = report.head
        self.status = STATUS[report.control.status]
        self.suffix = "" if self.status is Status.ACTUAL else f"#{self.status.value}"
        self.cancelled = head.info_type == "取消"
        upstream_id, sequence = ordering(report)
        self.source = SourceRef(source_id=source_id, url=url, upstream_id=upstream_id, sequence=sequence)
        self.scope = scope_of(report)
        valid = head.valid_datetime
        # The fields every Event of the report has alike; times in UTC already, as the model keeps
        # them (converted once here rather than for every Event), and one receipt time for the report.
        self.fields = {
            "status": self.status, "source": self.source, "text": head.headline_text,
            "issued_at": head.report_datetime.astimezone(timezone.utc),
            "expires_at": None if valid is None else valid.astimezone(timezone.utc),
            "received_at": utcnow(),
        }
        self.properties: dict[str, Any] = {
            "control_title": report.control.title,
            "report_title": head.title,
            "info_type": head.info_type,
            "correction": head.info_type == "訂正",
            "event_id": head.event_id,
            "serial": head.serial,
            "target_at": head.target_datetime.isoformat() if head.target_datetime else None,
            "publishing_office": report.control.publishing_office,
            "scope": self.scope,
        }

    def event(self, key: str, kind: Kind, level: int, lifted: bool, title: str, areas, props,
              observed: bool = False) -> Fields:
        """The fields of the Event of one key; `props` are its properties, the report's own included."""
        if self.cancelled:
            state, level = State.CANCELLED, 0
        elif lifted:
            state, level = State.LIFTED, 0
        else:
            state = State.ACTIVE
        severity, urgency, certainty = _cap(level, observed)
        return {
            "id": key + self.suffix, "kind": kind, "level": level, "severity": severity, "urgency": urgency,
            "certainty": certainty, "state": state, "areas": tuple(areas), "title": title, "properties": props,
            **self.fields,
        }


def _sediment_events(report: SedimentReport, common: _ReportFields, codes: AreaCodes, all_areas: bool) -> list[Fields]:
    by_jis: dict[str, list] = {}
    for item in report.items:
        jis = _jis(item.area.code, codes, all_areas)
        if jis is not None:
            by_jis.setdefault(jis, []).append(item)
    events = []
    head_title = report.head.title
    common_props = common.properties
    for jis, items in by_jis.items():
        active = [i for i in items if i.status not in _LIFTED_STATUSES and i.kind_name != "解除"]
        chosen = max(active, key=lambda i: sediment_level(i.kind_name, i.kind_code)) if active else items[0]
        level = sediment_level(chosen.kind_name, chosen.kind_code) if active else 0
        area = chosen.area
        props = {**common_props, "area_code": area.code, "area_name": area.name, "kind_name": chosen.kind_name,
                 "kind_code": chosen.kind_code, "item_status": chosen.status}
        title = f"{head_title}（{area.name}）"
        events.append(common.event(f"sediment:{jis}", Kind.SEDIMENT_WARNING, level, not active, title, (jis,), props))
    return events


def _area_json(area: Area) -> dict[str, str]:
    return {"code": area.code, "name": area.name}


def _stations_json(report: FloodReport) -> list[dict[str, Any]]:
    # Every station of a report reads at the same few times: format each once.
    times = {r.time for s in report.stations for r in s.readings}
    iso = {t: t.isoformat() if t else None for t in times}
    return [
        {
            "code": s.code, "name": s.name, "location": s.location, "measure": s.measure, "unit": s.unit,
            "readings": [
                {"time": iso[r.time], "label": r.label, "value": r.value, "condition": r.condition, "level": r.level}
                for r in s.readings
            ],
            "thresholds": [{"name": t.name, "value": t.value, "unit": t.unit} for t in s.thresholds],
        }
        for s in report.stations
    ]


def _flood_events(report: FloodReport, common: _ReportFields, codes: AreaCodes, all_areas: bool) -> list[Fields]:
    if not report.forecast_areas:
        if common.cancelled:
            return []  # a 取消 need not list them: the pipeline undoes the report it cancels
        raise UnsupportedDocument("指定河川洪水予報 names no forecast area (予報区域) in its headline")
    level = flood_level(report.kind_name, report.kind_code)
    areas = sorted({j for a in report.municipalities if (j := _jis(a.code, codes, all_areas))})
    ours = bool(areas) or any(codes.in_prefecture(a.code) for a in report.prefecture_areas)
    if not (ours or all_areas):
        return []
    observed = report.kind_code in ("50", "51", "52") or "氾濫発生" in report.kind_name
    props = {
        **common.properties,
        "kind_name": report.kind_name, "kind_code": report.kind_code, "condition": report.condition,
        "rivers": [_area_json(a) for a in report.rivers],
        "prefectures": [_area_json(a) for a in report.prefecture_areas],
        "main_texts": list(report.main_texts),
        "municipalities": [_area_json(a) for a in report.municipalities],
        "stations": _stations_json(report),
    }
    return [
        common.event(f"flood:{fa.code}", Kind.FLOOD_FORECAST, level, level == 0, report.head.title, areas,
                     props | {"forecast_area": _area_json(fa)}, observed)
        for fa in report.forecast_areas
    ]


def _notice_levels(report: WarningReport, jis_by_name: dict[str, tuple[str, Area]]):
    """(jis, family) -> (level, kind name, area) of the level-named kinds Body/Notice lists by place name."""
    found: dict[tuple[str, str], tuple[int, str, Area]] = {}
    for line in report.notices:
        family, level = family_of(line.kind_name), _named_level(line.kind_name)
        if family not in _LEVELLED or level is None:
            continue  # e.g. 〈レベル４氾濫危険警報〉高津川＊: a river, read from its flood forecast
        for place in line.places:
            hit = jis_by_name.get(place)
            if hit is not None and level > found.get((hit[0], family), (0,))[0]:
                found[(hit[0], family)] = (level, line.kind_name, hit[1])
    return found


def _weather_events(report: WarningReport, common: _ReportFields, codes: AreaCodes, all_areas: bool) -> list[Fields]:
    # (jis, family) -> (level, kind, area); an active kind beats a lifted one, a higher level a lower.
    chosen: dict[tuple[str, str], tuple[int, WarningKind, Area]] = {}
    jis_by_name: dict[str, tuple[str, Area]] = {}
    for item in report.items:
        jis = None  # looked up at the item's first levelled kind: most items list none
        for kind in item.kinds:
            family = family_of(kind.name)
            if family not in _LEVELLED or kind.status in _SKIPPED_STATUSES:
                continue
            if jis is None:
                jis = _jis(item.area.code, codes, all_areas)
                if jis is None:
                    break
                jis_by_name[item.area.name] = (jis, item.area)
            level = -1 if kind.status in _LIFTED_STATUSES else _weather_level(kind.name, kind.code)
            key = (jis, family)
            held = chosen.get(key)
            if held is None or level > held[0]:
                chosen[key] = (level, kind, item.area)
    notices = _notice_levels(report, jis_by_name) if report.notices else {}
    for key, (level, name, area) in notices.items():
        held = chosen.get(key)
        if held is None or level > held[0]:
            kind = held[1] if held is not None else WarningKind(name, "", "発表")
            chosen[key] = (level, kind, area)
    events = []
    common_props = common.properties
    generation = report.generation
    suffix = "" if generation == "R06" else ":old"
    for (jis, family), (level, kind, area) in chosen.items():
        lifted = level < 0
        props = {**common_props, "area_code": area.code, "area_name": area.name, "family": family,
                 "kind_name": kind.name, "kind_code": kind.code, "item_status": kind.status,
                 "last_kind_name": kind.last_name, "generation": generation}
        notice = notices.get((jis, family))
        title_kind = kind.name
        if notice is not None and notice[0] == level:
            props["notice_kind_name"] = title_kind = notice[1]  # the level JMA states, in its words
        title = f"{area.name} {title_kind}{' 解除' if lifted else ''}"
        events.append(common.event(f"weather:{jis}:{family}{suffix}", Kind.WEATHER_WARNING, max(level, 0), lifted,
                                   title, (jis,), props))
    return events


def scope_state(report: JmaReport, events: list[Event]) -> ScopeState | None:
    """What the report states in full: its scope and the events it keeps in force (None for a 取消,
    which undoes the report it cancels instead)."""
    if report.head.info_type == "取消":
        return None
    upstream_id, sequence = ordering(report)
    head = report.head
    return ScopeState(
        scope=scope_of(report),
        issued_at=head.report_datetime.astimezone(timezone.utc),
        upstream_id=upstream_id,
        sequence=sequence,
        in_force=frozenset(e.id for e in events if e.state is State.ACTIVE),
        report=f"{head.title} {head.report_datetime.isoformat()}",
    )


def to_events(report: JmaReport, codes: AreaCodes, source_id: str, url: str | None = None,
              all_areas: bool = False) -> list[Event]:
    """Map a parsed report to Events of `codes`' prefecture (every area if `all_areas`)."""
    common = _ReportFields(report, source_id, url)
    if isinstance(report, SedimentReport):
        events = _sediment_events(report, common, codes, all_areas)
    elif isinstance(report, FloodReport):
        events = _flood_events(report, common, codes, all_areas)
    elif isinstance(report, WarningReport):
        events = _weather_events(report, common, codes, all_areas)
    else:
        raise UnsupportedDocument(f"no mapping to events for {type(report).__name__}")
    return _EVENTS.validate_python(sorted(events, key=_BY_ID))
