"""Road closures and restrictions: each listed section is one `road:{key}` Event.

The source lists everything in force, so the Snapshot is `complete`: a section absent from a
successful poll has ended (the pipeline ends it; a failed poll ends nothing).

Level: a road closure is information, not an evacuation call, so `level` is 0 except for a full
closure (通行止) that is not planned works, which is level 2 (the 注意報 tier: take care, plan
another way). Severity follows the regulation: 通行止 not for works Moderate, anything else Minor.
A rain closure (事前通行規制) is not works in either format: MLIT's cause code says so, and WZDx
carries it in a RoadRestrictionFeed (`restriction`), not as a `work-zone`.

What residents read (`title`, `properties.display`) names the route and section in words and never
a source's internal id: a WZDx `name` such as "84-157-0001" or "WDM-58493-NB" is kept only as
`properties.source_name`.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field, HttpUrl

from collectors.base import PolledCollector, Snapshot, SourceConfig
from collectors.http import JSON_TYPES, Fetcher
from collectors.road_formats import RoadRestriction, parse_mlit, parse_wzdx
from collectors.timestamps import parse_http_date
from geo.codes import AreaCodes
from geo.model import Certainty, Event, Kind, Severity, SourceRef

DISASTER_CLOSURE_LEVEL = 2
# An internal id, not a place name: ASCII only, no space, with a digit (84-157-0001, WDM-58493-NB).
_INTERNAL_ID = re.compile(r"^(?=[^ ]*\d)[\x21-\x7e]{6,}$")


def display_section(section: str | None, key: str) -> str | None:
    """The section as residents should read it: None when it is only an identifier."""
    if not section or section == key or _INTERNAL_ID.match(section.strip()):
        return None
    return section


class Config(SourceConfig):
    """A road-restriction source: MLIT road information JSON or a WZDx feed."""

    type: Literal["road_closure"] = "road_closure"
    format: Literal["mlit", "wzdx"] = Field(description="Wire format of `url` (and `extra_urls`).")
    extra_urls: list[HttpUrl] = Field(
        default_factory=list,
        description=(
            "Further files that together with `url` list everything in force: mlit mesh files "
            "(TukoKisei/<mesh>.json); wzdx the RoadRestrictionFeed beside a WorkZoneFeed."
        ),
    )
    cause_labels: dict[str, str] = Field(
        default_factory=lambda: {"05": "工事", "06": "工事", "07": "工事"},
        description="mlit: genin_jisho_cd -> reason in words, where items carry no reason text.",
    )
    in_force_only: bool = Field(default=True, description="wzdx: keep only events in force at poll time.")


def road_snapshot(bodies: list[bytes], config: Config, source_id: str, now: datetime) -> Snapshot:
    """The complete snapshot of a source's files (`url`, then `extra_urls`), mapped without HTTP."""
    restrictions: dict[str, RoadRestriction] = {}
    content_time = None
    for body in bodies:
        if config.format == "mlit":
            items = parse_mlit(body, config.cause_labels)
        else:
            items, updated = parse_wzdx(body, now, config.in_force_only)
            content_time = max(content_time, updated) if content_time else updated
        for item in items:
            restrictions[item.key] = item  # mesh files overlap at their edges
    events = [
        road_event(r, source_id, str(config.url), now) for r in sorted(restrictions.values(), key=lambda r: r.key)
    ]
    return Snapshot(source_id=source_id, events=events, complete=True, content_time=content_time,
                    status_details={"restrictions": len(events)})


def road_event(r: RoadRestriction, source_id: str, url: str, now: datetime) -> Event:
    """One restricted section as its `road:{key}` Event."""
    disaster_closure = r.closed and not r.construction
    level = DISASTER_CLOSURE_LEVEL if disaster_closure else 0
    section = display_section(r.section, r.key)
    where = " ".join(p for p in (r.route, section) if p) or "道路"
    text = f"{where}: {r.regulation}" + (f"（{r.reason}）" if r.reason else "")
    return Event(
        id=f"road:{r.key}",
        kind=Kind.ROAD_CLOSURE,
        level=level,
        severity=Severity.MODERATE if disaster_closure else Severity.MINOR,
        certainty=Certainty.OBSERVED,
        geometry=r.geometry,
        issued_at=r.updated_at or r.started_at,
        expires_at=r.ends_at,
        received_at=now,
        title=f"{where} {r.regulation}",
        text=text,
        source=SourceRef(source_id=source_id, url=url, upstream_id=r.key),
        properties={
            "display": f"{where}: {r.regulation}",  # for residents: words, no internal ids
            "route": r.route,
            "section": section,
            "source_name": r.section if section is None and r.section else None,
            "reason": r.reason,
            "regulation": r.regulation,
            "closed": r.closed,
            "construction": r.construction,
            "started_at": r.started_at.isoformat() if r.started_at else None,
            **r.extra,
        },
    )


class RoadClosureCollector(PolledCollector[Config]):
    """Polls one road-restriction source."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        super().__init__(source_id, config, fetcher, codes)
        self._last: dict[str, bytes] = {}  # each file's body last read, re-used on a 304

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch every configured file; all must succeed, since the snapshot claims to be complete."""
        urls = [str(self.config.url), *(str(u) for u in self.config.extra_urls)]
        results = [await self.get_if_changed(url, content_types=JSON_TYPES) for url in urls]
        times = [t for t in (parse_http_date(r.last_modified) for r in results) if t]
        content_time = max(times, default=None)
        if all(r.not_modified and url in self._last for url, r in zip(urls, results, strict=True)):
            return Snapshot(source_id=self.source_id, complete=True, not_modified=True, content_time=content_time)
        bodies = [
            self._last[url] if r.not_modified and url in self._last else r.body
            for url, r in zip(urls, results, strict=True)
        ]
        snapshot = road_snapshot(bodies, self.config, self.source_id, now)
        if snapshot.content_time is None:
            snapshot.content_time = content_time
        for url, body, result in zip(urls, bodies, results, strict=True):  # kept only once everything parsed
            self._last[url] = body
            self.keep_validators(result, url)
        return snapshot
