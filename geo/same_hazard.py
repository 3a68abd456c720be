"""One hazard, once per municipality: the events that say the same thing, merged for residents.

During JMA's 2026 transition the same warning arrives twice: 土砂災害警戒情報 (VXWW50) and the Ｒ０６
レベル４土砂災害危険警報 (VPWW56), and a weather warning in the old (VPWW53/54) and the Ｒ０６ format.
Both stay events of their own in the store (each report's state is kept and ended on its own terms);
what a resident reads is one entry per municipality and hazard: the highest level, the time the
hazard was first issued, and every source in its provenance. Events of other kinds (gauges, flood
forecasts, roads...) are not merged: each is an entry of its own.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geo.model import Event, Kind, SourceRef

SEDIMENT = "土砂災害"
MERGED_KINDS = (Kind.SEDIMENT_WARNING, Kind.WEATHER_WARNING)  # the kinds whose events may say the same


def hazard_of(event: Event) -> str | None:
    """The hazard an event warns of, where another kind may warn of the same (None: never merged)."""
    if event.kind is Kind.SEDIMENT_WARNING:
        return SEDIMENT
    if event.kind is Kind.WEATHER_WARNING:
        family = event.properties.get("family")
        return family if isinstance(family, str) and family else None
    return None


def first_issued(event: Event) -> datetime | None:
    """When the warning an event carries was first issued (kept across its versions by the pipeline)."""
    first = event.properties.get("first_issued_at")
    if isinstance(first, str):
        try:
            return datetime.fromisoformat(first)
        except ValueError:
            pass
    return event.issued_at


@dataclass(frozen=True, slots=True)
class HazardEntry:
    """One municipality's one hazard (or one unmerged event): what a resident's list shows once."""

    area: str | None  # JIS 5-digit code; None for an unmerged event
    hazard: str | None
    events: tuple[Event, ...]  # highest level first; the first is the one to show

    @property
    def event(self) -> Event:
        """The event to show: the highest level, the newest report among equals."""
        return self.events[0]

    @property
    def level(self) -> int:
        """The highest level any of the merged events states."""
        return self.events[0].level

    @property
    def first_issued_at(self) -> datetime | None:
        """The earliest time any of the merged events was first issued."""
        times = [t for e in self.events if (t := first_issued(e)) is not None]
        return min(times) if times else None

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids of the merged events."""
        return tuple(e.id for e in self.events)

    @property
    def sources(self) -> tuple[SourceRef, ...]:
        """Provenance: every merged event's source."""
        return tuple(e.source for e in self.events)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: the entry's area, hazard, level, first issue time, shown event and provenance."""
        first = self.first_issued_at
        return {
            "area": self.area, "hazard": self.hazard, "level": self.level, "event": self.event.id,
            "first_issued_at": first.isoformat() if first else None, "ids": list(self.ids),
            "sources": [s.model_dump(mode="json", exclude_none=True) for s in self.sources],
        }


def _rank(event: Event) -> tuple:
    issued = event.issued_at.timestamp() if event.issued_at else 0.0
    return (-event.level, -issued, event.id)


def merge_same_hazard(events: Iterable[Event]) -> list[HazardEntry]:
    """One entry per municipality, hazard and status among the active events; other events one entry each.

    An event covering several municipalities is in the entry of each. Ended events pass through
    unmerged (a list of what is in force has none). Entries come in the order of their first event.
    """
    entries: dict[tuple, list[Event]] = {}
    for event in events:
        hazard = hazard_of(event)
        if hazard is None or event.ended or not event.areas:
            entries.setdefault(("event", event.id), []).append(event)
            continue
        for area in event.areas:
            entries.setdefault((area, hazard, event.status), []).append(event)
    merged = []
    for key, group in entries.items():
        area, hazard = (None, None) if key[0] == "event" else (key[0], key[1])
        merged.append(HazardEntry(area, hazard, tuple(sorted(group, key=_rank))))
    return merged


def same_as(events: Iterable[Event]) -> dict[str, list[str]]:
    """Event id -> the ids of the other active events that warn of the same hazard in one of its areas."""
    links: dict[str, set[str]] = {}
    for entry in merge_same_hazard(events):
        if len(entry.events) < 2:
            continue
        for event in entry.events:
            links.setdefault(event.id, set()).update(i for i in entry.ids if i != event.id)
    return {event_id: sorted(others) for event_id, others in links.items()}

