"""Hazard types of designated emergency places, and which hazard an event puts in force.

A 指定緊急避難場所 is designated per hazard (災害対策基本法施行令第20条の4): a school gym may be safe
in an earthquake yet sit in a flood zone. So the hazards of the *warnings* in force (level 3 and
above) decide which shelters may be recommended; an advisory (注意報, level 2 or below) is reported
but never narrows the choice, since it asks residents to take care, not to move.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable

from geo.model import Event, Kind


class Hazard(enum.StrEnum):
    """The eight hazard types a 指定緊急避難場所 is designated for."""

    FLOOD = "flood"  # 洪水
    SEDIMENT = "sediment"  # 崖崩れ、土石流及び地滑り
    STORM_SURGE = "storm_surge"  # 高潮
    EARTHQUAKE = "earthquake"  # 地震
    TSUNAMI = "tsunami"  # 津波
    LARGE_FIRE = "large_fire"  # 大規模な火事
    INLAND_FLOOD = "inland_flood"  # 内水氾濫
    VOLCANO = "volcano"  # 火山現象


HAZARD_LABELS_JA = {
    Hazard.FLOOD: "洪水",
    Hazard.SEDIMENT: "崖崩れ、土石流及び地滑り",
    Hazard.STORM_SURGE: "高潮",
    Hazard.EARTHQUAKE: "地震",
    Hazard.TSUNAMI: "津波",
    Hazard.LARGE_FIRE: "大規模な火事",
    Hazard.INLAND_FLOOD: "内水氾濫",
    Hazard.VOLCANO: "火山現象",
}

# The same hazards for English and やさしい日本語 readers (ja is HAZARD_LABELS_JA, the GSI column names).
HAZARD_LABELS = {
    "ja": HAZARD_LABELS_JA,
    "en": {
        Hazard.FLOOD: "River flooding",
        Hazard.SEDIMENT: "Landslides, debris flows and slope failures",
        Hazard.STORM_SURGE: "Storm surge",
        Hazard.EARTHQUAKE: "Earthquake",
        Hazard.TSUNAMI: "Tsunami",
        Hazard.LARGE_FIRE: "Large-scale fire",
        Hazard.INLAND_FLOOD: "Inland flooding (rain water the drains cannot take)",
        Hazard.VOLCANO: "Volcanic eruption",
    },
    "easy": {
        Hazard.FLOOD: "かわの みずが あふれる こと",
        Hazard.SEDIMENT: "がけくずれ・どしゃくずれ",
        Hazard.STORM_SURGE: "たかしお（うみの みずが たかく なる こと）",
        Hazard.EARTHQUAKE: "じしん",
        Hazard.TSUNAMI: "つなみ",
        Hazard.LARGE_FIRE: "おおきな かじ",
        Hazard.INLAND_FLOOD: "あめの みずが まちに あふれる こと",
        Hazard.VOLCANO: "かざんの ふんか",
    },
}

_HAZARD_VALUES = frozenset(h.value for h in Hazard)

# The lowest level at which an event's hazards restrict the shelter choice (警報 = 警戒レベル３相当).
WARNING_LEVEL = 3

# Kinds whose hazard is fixed by the kind itself.
_BY_KIND = {
    Kind.GAUGE: frozenset({Hazard.FLOOD}),
    Kind.FLOOD_FORECAST: frozenset({Hazard.FLOOD}),
    Kind.SEDIMENT_WARNING: frozenset({Hazard.SEDIMENT}),
}

# Weather warnings name their phenomenon in the title (大雨警報（土砂災害）, 高潮警報, ...).
_BY_WORD = (
    ("土砂", Hazard.SEDIMENT),
    ("浸水", Hazard.INLAND_FLOOD),
    ("洪水", Hazard.FLOOD),
    ("氾濫", Hazard.FLOOD),
    ("高潮", Hazard.STORM_SURGE),
    ("津波", Hazard.TSUNAMI),
    ("火山", Hazard.VOLCANO),
    ("噴火", Hazard.VOLCANO),
    ("地震", Hazard.EARTHQUAKE),
    ("火災", Hazard.LARGE_FIRE),
)


def hazards_of(event: Event) -> frozenset[Hazard]:
    """The hazards an event puts in force: `properties.hazards` if given, else from kind or title."""
    explicit = event.properties.get("hazards")
    if explicit:
        return frozenset(Hazard(h) for h in explicit if h in _HAZARD_VALUES)
    if event.kind in _BY_KIND:
        return _BY_KIND[event.kind]
    if event.kind == Kind.WEATHER_WARNING and event.properties.get("generation") == "R06":
        # Ｒ０６ splits the reports by hazard: its 大雨 family is the inundation one (土砂災害 has
        # its own family), so a 大雨危険警報 is a 内水氾濫 hazard, never a sediment one.
        family = str(event.properties.get("family", ""))
        if family == "大雨":
            return frozenset({Hazard.INLAND_FLOOD})
        by_family = frozenset(h for word, h in _BY_WORD if word in family)
        if by_family:
            return by_family
    if event.kind == Kind.EVACUATION:
        # A municipality's order names its disaster (土砂災害, 洪水...); one that names none narrows nothing.
        said = f"{event.properties.get('disaster', '')} {event.title}"
        return frozenset(h for word, h in _BY_WORD if word in said)
    if event.kind in (Kind.WEATHER_WARNING, Kind.NOTICE):
        found = frozenset(h for word, h in _BY_WORD if word in event.title)
        if not found and "大雨" in event.title:
            return frozenset({Hazard.SEDIMENT, Hazard.INLAND_FLOOD})  # 大雨 without its (害) named
        return found
    return frozenset()


def hazards_in_force(events: Iterable[Event]) -> frozenset[Hazard]:
    """Union of the hazards of the active events with a level above 0."""
    found: set[Hazard] = set()
    for event in events:
        if not event.ended and event.level > 0:
            found |= hazards_of(event)
    return frozenset(found)


def restricting_hazards(events: Iterable[Event]) -> frozenset[Hazard]:
    """Hazards that narrow the shelter choice: those of active events at warning level (3) or above."""
    return hazards_in_force(e for e in events if e.level >= WARNING_LEVEL)


def hazard_names(hazard: Hazard) -> dict[str, str]:
    """A hazard's name in ja, en and easy."""
    return {lang: labels[hazard] for lang, labels in HAZARD_LABELS.items()}
