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

from collectors.base import Snapshot, SourceConfig
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


class RoadClosureCollector:
    """Polls one road-restriction source."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        self.source_id = source_id
        self.config = config
        self.fetcher = fetcher
        self.codes = codes
        self._validators: dict[str, tuple[str | None, str | None]] = {}
        self._last: dict[str, bytes] = {}

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch every configured file; all must succeed, since the snapshot claims to be complete."""
        urls = [str(self.config.url), *(str(u) for u in self.config.extra_urls)]
        bodies: list[bytes] = []
        validators: dict[str, tuple[str | None, str | None]] = {}
        changed = False
        content_time: datetime | None = None
        for url in urls:
            etag, last_modified = self._validators.get(url, (None, None))
            result = await self.fetcher.get(
                url, self.config, etag=etag, last_modified=last_modified, content_types=JSON_TYPES
            )
            if result.not_modified and url in self._last:
                bodies.append(self._last[url])
                validators[url] = (etag, last_modified)
            else:
                changed = True
                bodies.append(result.body)
                validators[url] = (result.etag, result.last_modified)
            header_time = parse_http_date(result.last_modified)
            if header_time and (content_time is None or header_time > content_time):
                content_time = header_time
        if not changed:
            return Snapshot(source_id=self.source_id, complete=True, not_modified=True, content_time=content_time)
        snapshot = self.from_payloads(bodies, now)
        if snapshot.content_time is None:
            snapshot.content_time = content_time
        for url, body in zip(urls, bodies, strict=True):  # remember only once everything parsed
            self._last[url] = body
        self._validators.update(validators)
        return snapshot

    def from_payloads(self, bodies: list[bytes], now: datetime) -> Snapshot:
        """Parse and normalise the source's files (the poll without HTTP; replay)."""
        restrictions: dict[str, RoadRestriction] = {}
        content_time = None
        for body in bodies:
            if self.config.format == "mlit":
                items = parse_mlit(body, self.config.cause_labels)
            else:
                items, updated = parse_wzdx(body, now, self.config.in_force_only)
                content_time = max(content_time, updated) if content_time else updated
            for item in items:
                restrictions[item.key] = item  # mesh files overlap at their edges
        events = [self._event(r, now) for r in sorted(restrictions.values(), key=lambda r: r.key)]
        return Snapshot(source_id=self.source_id, events=events, complete=True, content_time=content_time,
                        details={"restrictions": len(events)})

    def _event(self, r: RoadRestriction, now: datetime) -> Event:
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
            source=SourceRef(source_id=self.source_id, url=str(self.config.url), upstream_id=r.key),
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

