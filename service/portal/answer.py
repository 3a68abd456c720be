"""The resident's answer: the level in force for an area, what to do, since when, and whether it is complete.

Warnings are grouped per municipality, worst first. The answer for an area is its highest level in
the words of whoever gives it (geo.wording: an order only from an `evacuation` event, 相当 for JMA
information), the action that level asks, and since when the level has been in force (the first
version at or above it, from the store's history). While any source is not known to be fresh the
answer says it is incomplete: "unknown", never "no action needed".
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geo.here import AREAL_KINDS
from geo.model import Event, Kind
from service.portal.levels import N_, Gettext, LevelView, level_view

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
    title: str  # the source's title, as issued (Japanese)
    level: LevelView
    since: datetime | None


@dataclass(slots=True)
class AreaWarnings:
    """The warnings in force in one municipality, highest level first."""

    place: Place
    level: LevelView
    since: datetime | None
    items: list[WarningItem] = field(default_factory=list)


@dataclass(slots=True)
class Answer:
    """The first thing a page says: the level for the area (or the prefecture), what to do, since when."""

    place: Place | None  # None: the whole prefecture
    level: LevelView
    names: list[str]  # what gives this level, in the page's language
    since: datetime | None
    complete: bool  # every source fresh: only then is level 0 an all-clear
    worst: list[Place]  # the prefecture answer: the municipalities at its level


def place_of(registry: Any, code: str) -> Place:
    """The municipality of a JIS code; an unknown code stands for itself."""
    try:
        m = registry.codes.municipality(code)
    except ValueError:
        return Place(code, code, "", code)
    return Place(m.jis, m.name, m.kana, m.name_en)


def warning_name(event: Event, lang: str, _: Gettext) -> str:
    """What a warning is called on the page: JMA's own name in Japanese, translated otherwise."""
    props = event.properties
    words = level_view(event.level, event.kind, lang)
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
        return words.name or _(KIND_NAMES[event.kind])
    return words.name or _(KIND_NAMES.get(event.kind, event.kind.value))


def _top(items: list[Event]) -> Event:
    """The event whose words give an area's level: an order before information at the same level."""
    level = max(e.level for e in items)
    at_top = [e for e in items if e.level == level]
    return next((e for e in at_top if e.kind == Kind.EVACUATION), at_top[0])


def group_warnings(
    events: list[Event], registry: Any, since: dict[str, datetime], lang: str, _: Gettext, area: str | None
) -> list[AreaWarnings]:
    """Warnings in force per municipality, worst first (then by code)."""
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.kind in PORTAL_AREAL_KINDS and event.level > 0:
            for code in event.areas:
                if area is None or code == area:
                    grouped[code].append(event)
    result = []
    for code, items in grouped.items():
        items.sort(key=lambda e: (-e.level, e.kind != Kind.EVACUATION, e.kind.value, e.id))
        top = _top(items)
        top_since = [since.get(e.id) for e in items if e.level == top.level]
        result.append(
            AreaWarnings(
                place_of(registry, code),
                level_view(top.level, top.kind, lang),
                min((t for t in top_since if t is not None), default=None),
                [
                    WarningItem(
                        id=e.id,
                        kind=_(KIND_NAMES.get(e.kind, e.kind.value)),
                        name=warning_name(e, lang, _),
                        title=e.title,
                        level=level_view(e.level, e.kind, lang),
                        since=since.get(e.id),
                    )
                    for e in items
                ],
            )
        )
    result.sort(key=lambda w: (-w.level.level, w.place.code))
    return result


def answer_for(
    warnings: list[AreaWarnings], registry: Any, area: str | None, complete: bool, lang: str
) -> Answer:
    """The answer for `area` (or the prefecture) from the grouped warnings."""
    place = place_of(registry, area) if area else None
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
    return Answer(place, voice, names, since, complete, [w.place for w in worst] if area is None else [])


def level_since(history: list[Event], current: Event) -> datetime | None:
    """When the current level began: the oldest version in the unbroken run at or above it."""
    first: Event | None = None
    for version in reversed(history):
        if version.ended or version.level < current.level:
            break
        first = version
    first = first or current
    return first.issued_at or first.received_at
