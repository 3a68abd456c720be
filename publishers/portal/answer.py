"""The resident's answer: the level in force for an area, what to do, since when, and whether it is complete.

Warnings are grouped per municipality, worst first, each municipality's own order first in its group
(its decision, above the JMA 相当 information). The answer for an area is its highest level in
the words of whoever gives it (geo.wording: an order only from an `evacuation` event, 相当 for JMA
information), the action that level asks, and since when (the warning's first issue, geo.same_hazard). JMA's
transition says one hazard twice (土砂災害警戒情報 and レベル４土砂災害危険警報): it is one entry. While any source is not known to be fresh the
answer says it is incomplete: "unknown", never "no action needed".
"""
from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geo import readings
from geo.here import AREAL_KINDS
from geo.model import Event, Kind
from geo.same_hazard import HazardEntry, first_issued, merge_same_hazard
from publishers.portal.levels import N_, Gettext, LevelView, level_view

# Areal kinds the portal groups by municipality: JMA's and a municipality's own orders.
PORTAL_AREAL_KINDS = frozenset((*AREAL_KINDS, Kind.EVACUATION))

KIND_NAMES = {
    Kind.SEDIMENT_WARNING: N_("Sediment disaster alert"),
    Kind.FLOOD_FORECAST: N_("Flood forecast"),
    Kind.WEATHER_WARNING: N_("Weather warning"),
    Kind.EVACUATION: N_("Evacuation information"),
    Kind.NOTICE: N_("Notice"),
}
# The phenomenon a JMA weather warning is about (its `family`), for English and easy Japanese.
HAZARD_NAMES = {
    "大雨": N_("Heavy rain"),
    "土砂災害": N_("Landslide"),
    "洪水": N_("Flood"),
    "浸水": N_("Inundation"),
    "高潮": N_("Storm surge"),
    "波浪": N_("High waves"),
    "暴風": N_("Storm"),
    "強風": N_("Strong wind"),
    "暴風雪": N_("Snowstorm"),
    "風雪": N_("Wind and snow"),
    "大雪": N_("Heavy snow"),
    "雷": N_("Thunderstorm"),
    "濃霧": N_("Dense fog"),
    "乾燥": N_("Dry air"),
    "なだれ": N_("Avalanche"),
    "低温": N_("Low temperature"),
    "霜": N_("Frost"),
    "着氷": N_("Icing"),
    "着雪": N_("Snow accretion"),
    "融雪": N_("Snowmelt"),
}


@dataclass(slots=True)
class Place:
    """A municipality with its name, reading and English name."""

    code: str
    name: str
    kana: str
    name_en: str


@dataclass(slots=True)
class WarningItem:
    """One warning in force in one municipality."""

    id: str
    kind: str  # the kind, translated (土砂災害警戒情報 is a "Sediment disaster alert")
    name: str  # the warning in the page's language (the source's own title in Japanese)
    titles: list[str]  # the sources' titles, as issued (Japanese): one per report saying the same
    level: LevelView
    since: datetime | None


@dataclass(slots=True)
class AreaWarnings:
    """The warnings in force in one municipality: its own order first (its decision), then highest level first."""

    place: Place
    level: LevelView  # the highest level in force (an order's words at a tie)
    since: datetime | None
    items: list[WarningItem] = field(default_factory=list)

    @property
    def order(self) -> WarningItem | None:
        """The municipality's order in force (避難指示 ...), if any: always items[0]."""
        return self.items[0] if self.items and self.items[0].level.order else None


@dataclass(slots=True)
class Answer:
    """The first thing a page says: the level for the area (or the prefecture), what to do, since when."""

    place: Place | None  # None: the whole prefecture
    level: LevelView
    names: list[str]  # what gives this level, in the page's language
    since: datetime | None
    complete: bool  # every source fresh: only then is level 0 an all-clear
    worst: list[Place]  # the prefecture answer: the municipalities at its level
    # The municipalities' orders in force, said first as their decision: (municipality, the order).
    orders: list[tuple[Place, WarningItem]] = field(default_factory=list)
    info: LevelView | None = None  # the highest JMA / gauge level (相当) beside the orders
    info_names: list[str] = field(default_factory=list)  # what gives `info`


@functools.lru_cache(maxsize=8192)
def ruby_parts(name: str) -> tuple[tuple[str, str], ...]:
    """(base, kana) pairs of a name for <ruby> in やさしい日本語 (geo.readings; read once per name)."""
    return tuple(readings.ruby_parts(name))


@functools.lru_cache(maxsize=8192)
def romaji(name: str) -> str:
    """A name in Hepburn romaji for English pages (geo.readings; official readings first)."""
    return readings.reading(name, "en")


def place_of(region: Any, code: str) -> Place:
    """The municipality of a JIS code; an unknown code stands for itself."""
    try:
        m = region.codes.municipality(code)
    except ValueError:
        return Place(code, code, "", code)
    return Place(m.jis, m.name, m.kana, m.name_en)


def warning_name(event: Event, lang: str, _: Gettext) -> str:
    """What a warning is called on the page: JMA's own name in Japanese, translated otherwise."""
    props = event.properties
    words = level_view(event.level, event.kind, lang)
    if event.kind == Kind.EVACUATION and words.name:
        return words.name  # 避難指示 etc.: the order itself, in the one table's words
    if lang == "ja":
        if event.kind == Kind.SEDIMENT_WARNING:
            return words.name or event.title
        return props.get("kind_name") or event.title
    if event.kind == Kind.WEATHER_WARNING:
        family = HAZARD_NAMES.get(props.get("family") or "")
        if family:
            joiner = " " if lang == "en" else "の "
            return f"{_(family)}{joiner}{words.name}" if words.name else _(family)
    if event.kind == Kind.FLOOD_FORECAST:
        rivers = props.get("rivers") or [{}]
        river = rivers[0].get("name") if isinstance(rivers[0], dict) else None
        name = words.name or _(KIND_NAMES[event.kind])
        if river:
            said = romaji(river) if lang == "en" else readings.reading(river, "easy")
            return f"{said}: {name}"
        return name
    return words.name or _(KIND_NAMES.get(event.kind, event.kind.value))


def group_warnings(
    events: list[Event], region: Any, lang: str, _: Gettext, area: str | None, first: dict[str, datetime]
) -> list[AreaWarnings]:
    """Warnings in force per municipality, one entry per hazard (geo.same_hazard), worst first.

    `first` gives when each event was first issued where the event does not say it itself.
    """
    in_force = [e for e in events if e.kind in PORTAL_AREAL_KINDS and e.level > 0]
    grouped: dict[str, list[HazardEntry]] = defaultdict(list)
    for entry in merge_same_hazard(in_force):
        for code in (entry.area,) if entry.area else entry.event.areas:
            if area is None or code == area:
                grouped[code].append(entry)
    result = []
    for code, entries in grouped.items():
        # The municipality's order first, whatever its level: its decision, above the 相当 information.
        entries.sort(key=lambda h: (h.event.kind != Kind.EVACUATION, -h.level, h.event.kind.value, h.event.id))
        top = max(entries, key=lambda h: h.level)  # the first at the highest level: an order's words at a tie
        items = [
            WarningItem(
                id=entry.event.id,
                kind=_(KIND_NAMES.get(entry.event.kind, entry.event.kind.value)),
                name=warning_name(entry.event, lang, _),
                titles=list(dict.fromkeys(e.title for e in entry.events)),
                level=level_view(entry.level, entry.event.kind, lang),
                since=_since(entry, first),
            )
            for entry in entries
        ]
        top_since = [item.since for item in items if item.level.level == top.level and item.since is not None]
        result.append(
            AreaWarnings(place_of(region, code), items[entries.index(top)].level, min(top_since, default=None), items)
        )
    result.sort(key=lambda w: (-w.level.level, w.place.code))
    return result


def _since(entry: HazardEntry, first: dict[str, datetime]) -> datetime | None:
    """The entry's first issue: the event's own word for it, else its history's (`first`), else its report time."""
    times = []
    for event in entry.events:
        moment = first_issued(event) if "first_issued_at" in event.properties else first.get(event.id, event.issued_at)
        if moment is not None:
            times.append(moment)
    return min(times, default=None)


def first_issue_in(history: list[Event]) -> datetime | None:
    """When the warning now in force was first issued: the oldest version of its unbroken active run."""
    start: Event | None = None
    for version in reversed(history):
        if version.ended or version.level == 0:
            break
        start = version
    return (start.issued_at or start.received_at) if start is not None else None


def answer_for(
    warnings: list[AreaWarnings], region: Any, area: str | None, complete: bool, lang: str
) -> Answer:
    """The answer for `area` (or the prefecture) from the grouped warnings."""
    place = place_of(region, area) if area else None
    relevant = [w for w in warnings if area is None or w.place.code == area]
    if not relevant:
        return Answer(place, level_view(0, Kind.NOTICE, lang), [], None, complete, [])
    level = relevant[0].level.level
    worst = [w for w in relevant if w.level.level == level]
    tops = [item for w in worst for item in w.items if item.level.level == level]
    # An order's words win when a municipality has issued one at this level.
    voice = next((w.level for w in worst if w.level.order), worst[0].level)
    names = list(dict.fromkeys(item.name for item in tops))
    since = min((w.since for w in worst if w.since is not None), default=None)
    orders = sorted(((w.place, w.order) for w in relevant if w.order is not None), key=lambda o: -o[1].level.level)
    info_items = [item for w in relevant for item in w.items if not item.level.order]
    info_level = max((item.level.level for item in info_items), default=0)
    info = next((item.level for item in info_items if item.level.level == info_level), None) if info_level else None
    info_names = list(dict.fromkeys(item.name for item in info_items if item.level.level == info_level))
    return Answer(place, voice, names, since, complete, [w.place for w in worst] if area is None else [],
                  orders, info, info_names)
