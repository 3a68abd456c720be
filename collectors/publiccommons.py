"""Municipal evacuation orders and shelter status from 公共情報コモンズ (L-Alert) documents.

The source is an Atom feed listing documents (the simulator's, or a relay of what a participant
receives from L-Alert); each new entry's document is read once (collectors/publiccommons_wire.py)
and mapped here:

- EvacuationOrder -> one `evacuation:{JIS 5-digit}` event per municipality: its level is the
  highest order in force (高齢者等避難 3, 避難指示 4, 緊急安全確保 5; the pre-2021 避難準備 /
  避難勧告 read as 3 / 4), the 地区 and times of every order in `properties.orders`; every order
  lifted (解除) ends it as lifted.
- Shelter -> one `shelter:{共通ID}` event per shelter: open (開設 / 常設), crowded (混雑 / 定員一杯),
  closed (閉鎖 / 未開設) or unknown, with head count and capacity. The v1.x body names a shelter, not
  its id: the name is looked up among the municipality's designated shelters (GSI lists); a name
  not found keeps a `shelter:{団体コード}-{name}` id and `registered: false`.

A document's revisions are ordered by documentRevision (an older one read late never overwrites
a newer); a 取消 (distributionType Cancel) undoes the revision it follows, as a JMA 取消 does; a
correction (訂正) is a new version marked `correction`, never a new issue or opening.
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Literal

import structlog
from pydantic import Field

from collectors.base import Cancellation, CollectorError, PayloadError, PolledCollector, Recent, Snapshot, SourceConfig
from collectors.http import Fetcher
from collectors.jma.atom import parse_feed
from collectors.publiccommons_wire import CommonsDocument, EvacuationBody, ShelterBody, ShelterInfo, parse_document
from collectors.timestamps import parse_http_date
from geo.codes import AreaCodes, UnknownAreaCode
from geo.model import SEVERITY_BY_LEVEL, Certainty, Event, Kind, SourceRef, State, Status, Urgency
from geo.region import DEFAULT_SHELTERS
from geo.shelter_sources import read_sites
from geo.shelters import merge_sites
from geo.wording import level_words

log = structlog.get_logger(__name__)

ATOM_TYPES = ("application/atom+xml", "application/xml", "text/xml")
XML_TYPES = ("application/xml", "text/xml")
CATEGORIES = ("EvacuationOrder", "Shelter")

# Order terms -> 警戒レベル; the pre-2021 terms still appear in old documents (and the public samples).
ORDER_LEVELS = {
    "高齢者等避難": 3,
    "避難準備・高齢者等避難開始": 3,
    "避難準備": 3,
    "避難勧告": 4,
    "避難指示": 4,
    "避難指示（緊急）": 4,
    "緊急安全確保": 5,
}
STATUSES = {"Actual": Status.ACTUAL, "Exercise": Status.EXERCISE, "Test": Status.TEST, "System": Status.TEST}
CROWDED = ("混雑", "定員一杯")


def shelter_status(info: ShelterInfo) -> str:
    """open / crowded / closed / unknown from a shelter line's Sort and Status."""
    if info.sort in ("開設", "常設"):
        return "crowded" if info.status in CROWDED else "open"
    if info.sort in ("閉鎖", "未開設"):
        return "closed"
    return "unknown"


class Config(SourceConfig):
    """A feed of 公共情報コモンズ documents (EvacuationOrder and Shelter bodies are read)."""

    type: Literal["publiccommons"] = "publiccommons"
    document_max_bytes: int = Field(default=2_000_000, gt=0, description="Cap on one document's size.")
    remember: int = Field(default=5000, gt=0, description="Document URLs remembered as read.")
    shelter_paths: list[Path] = Field(
        default_factory=lambda: list(DEFAULT_SHELTERS),
        description="Shelter lists whose names resolve a Shelter body's shelters to their 共通ID.",
    )


class ShelterNames:
    """(municipality, shelter name) -> the site's primary 共通ID, from the designated-shelter lists."""

    def __init__(self, paths: list[Path], codes: AreaCodes) -> None:
        records = [r for p in paths for r in read_sites(p).records]
        sites, _ = merge_sites(records)
        self.ids: dict[tuple[str, str], str] = {}
        for site in sites:
            jis = _municipality_of_id(site.id, codes)
            if jis is not None:
                self.ids.setdefault((jis, _norm(site.name)), site.id)

    def find(self, jis: str, name: str) -> str | None:
        """The 共通ID of the shelter called `name` in municipality `jis`, if designated."""
        return self.ids.get((jis, _norm(name)))


def _norm(name: str) -> str:
    return "".join(name.split())


def _municipality_of_id(site_id: str, codes: AreaCodes) -> str | None:
    # GSI 共通ID: 'E' + JIS 5-digit + number; the open-data standard's: '{団体コード}-{ID}'.
    for candidate in (site_id[1:6], site_id.split("-", 1)[0]):
        try:
            return codes.to_jis(candidate)[0]
        except UnknownAreaCode:
            continue
    return None


class PublicCommonsCollector(PolledCollector[Config]):
    """Polls one feed of 公共情報コモンズ documents."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        super().__init__(source_id, config, fetcher, codes)
        self._seen = Recent(config.remember)  # document URLs read
        self._pending: tuple[list[Event], list[Cancellation]] = ([], [])
        self._content_time: datetime | None = None
        self._names: ShelterNames | None = None  # built by the first poll, off the event loop

    @property
    def shelter_names(self) -> ShelterNames:
        """The name index; poll() builds it in a worker thread first, a direct caller (offline) here."""
        if self._names is None:
            self._names = ShelterNames(self.config.shelter_paths, self.codes)
        return self._names

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch the feed (conditional GET) and each document not read before, once."""
        cfg = self.config
        if self._names is None:
            # Reading the GSI lists takes most of a second: in a thread, so no answer waits on it.
            self._names = await asyncio.to_thread(ShelterNames, cfg.shelter_paths, self.codes)
        result = await self.get_if_changed(str(cfg.url), content_types=ATOM_TYPES)
        events, cancellations = list(self._pending[0]), list(self._pending[1])
        if result.not_modified:
            # Unchanged since the last read: its content is as old as that read said (the feed's time).
            self._pending = ([], [])
            if events or cancellations:
                return Snapshot(self.source_id, events, content_time=self._content_time, cancellations=cancellations)
            return Snapshot(self.source_id, not_modified=True, content_time=self._content_time)
        feed = parse_feed(result.body, cfg.max_bytes)
        new = sorted((e for e in feed.entries if e.url not in self._seen), key=lambda e: e.updated)
        errors: list[str] = []
        skipped = 0
        for entry in new:
            try:
                doc = await self.fetcher.get(entry.url, cfg, content_types=XML_TYPES)
            except CollectorError as exc:
                if exc.retryable:
                    self._pending = (events, cancellations)  # fetched ones go out with the next poll
                    raise
                errors.append(f"{entry.url}: {exc}")
                self._seen.add(entry.url)
                continue
            self._seen.add(entry.url)
            try:
                read = self.from_document(doc.body, now, entry.url)
            except PayloadError as exc:
                errors.append(f"{entry.url}: {exc}")
                log.warning("publiccommons_document_rejected", url=entry.url, reason=str(exc))
                continue
            if read is None:
                skipped += 1
                continue
            events.extend(read[0])
            cancellations.extend(read[1])
        self.keep_validators(result, str(cfg.url))
        # The feed lists every document of the last day as of its own `updated` time (else its
        # Last-Modified): an empty feed read is news ("no orders in force"), current as of that time,
        # even when the newest document is hours old or there is none (orders are rare).
        dated = feed.updated or parse_http_date(result.last_modified) or now
        self._content_time = min(dated, now)  # a clock ahead upstream must not keep it fresh longer
        if errors:
            self._pending = (events, cancellations)
            raise PayloadError(f"{len(errors)} document(s) rejected: {'; '.join(errors[:3])}")
        self._pending = ([], [])
        return Snapshot(self.source_id, events, content_time=self._content_time, cancellations=cancellations,
                        status_details={"feed_entries": len(feed.entries), "fetched": len(new), "skipped": skipped})

    def from_document(
        self, data: bytes, now: datetime, url: str | None = None
    ) -> tuple[list[Event], list[Cancellation]] | None:
        """One document's events and cancellations; None for a category or region this source does not read."""
        doc = parse_document(data, self.config.document_max_bytes)
        if doc.category not in CATEGORIES:
            return None
        jis = self._municipality(doc)
        if jis is None:
            return None
        if doc.operation == "cancel":
            return [], [Cancellation(upstream_id=doc.document_id, sequence=doc.revision)]
        if isinstance(doc.body, EvacuationBody):
            return [self.order_event(doc, doc.body, jis, now, url)], []
        if isinstance(doc.body, ShelterBody):
            return [self.shelter_event(doc, info, jis, now, url) for info in doc.body.shelters], []
        raise PayloadError(f"{doc.category} document {doc.document_id} r{doc.revision} has no {doc.category} body")

    def _municipality(self, doc: CommonsDocument) -> str | None:
        for code in doc.target_areas:
            try:
                found = self.codes.to_jis(code)
            except UnknownAreaCode:
                continue
            if len(found) == 1:
                return found[0]
        log.debug("publiccommons_other_region", document_id=doc.document_id, areas=doc.target_areas)
        return None

    def _common(self, doc: CommonsDocument, url: str | None) -> dict:
        return {
            "status": STATUSES[doc.status],
            "issued_at": doc.report_time or doc.sent,
            "source": SourceRef(source_id=self.source_id, url=url, upstream_id=doc.document_id,
                                sequence=doc.revision),
        }

    def _document_props(self, doc: CommonsDocument) -> dict:
        return {"document_id": doc.document_id, "revision": doc.revision, "operation": doc.operation,
                "correction": doc.operation == "correction", "office": doc.office_name}

    def order_event(self, doc: CommonsDocument, body: EvacuationBody, jis: str, now: datetime,
                    url: str | None = None) -> Event:
        """A municipality's orders as one `evacuation` event (level: the highest order in force)."""
        orders = []
        for detail in body.details:
            level = ORDER_LEVELS.get(detail.sort)
            if level is None:
                raise PayloadError(f"EvacuationOrder Sort {detail.sort!r} is not one of {', '.join(ORDER_LEVELS)}")
            times = [a.at for a in detail.areas if a.at is not None]
            orders.append({
                "sort": detail.sort,
                "level": level,
                "action": detail.issue_or_lift,
                "districts": [a.location.name for a in detail.areas if a.location.name],
                "at": max(times).isoformat() if times else None,
            })
        return order_event(self.codes, jis, orders, now, text=doc.headline, disaster=body.disaster,
                           extra=self._document_props(doc), **self._common(doc, url))

    def shelter_event(self, doc: CommonsDocument, info: ShelterInfo, jis: str, now: datetime,
                      url: str | None = None) -> Event:
        """One shelter line as a `shelter` event keyed by its 共通ID."""
        name = info.location.name
        site_id = self.shelter_names.find(jis, name)
        status = shelter_status(info)
        return Event(
            id=record_id(f"shelter:{site_id or self.codes.municipality(jis).lgcode + '-' + _norm(name)}",
                         STATUSES[doc.status]),
            kind=Kind.SHELTER,
            level=0,
            certainty=Certainty.OBSERVED,
            areas=(jis,),
            geometry={"type": "Point", "coordinates": (info.location.lon, info.location.lat)}
            if info.location.lat is not None and info.location.lon is not None else None,
            received_at=now,
            title=f"{name} {info.sort}" + (f"（{info.status}）" if info.status and info.status != "不明" else ""),
            text=doc.headline,
            properties={
                "status": status, "name": name, "address": info.location.address, "sort": info.sort,
                "crowding": info.status, "head_count": info.head_count, "households": info.households,
                "capacity": info.capacity, "type": info.type, "registered": site_id is not None,
                "changed_at": info.at.isoformat() if info.at else None,
                "checked_at": info.checked_at.isoformat() if info.checked_at else None,
                **self._document_props(doc),
            },
            **self._common(doc, url),
        )


def record_id(base: str, status: Status | str) -> str:
    """An event id kept apart for drills and tests: a 訓練 never replaces the real record of the same thing."""
    return base if status == Status.ACTUAL else f"{base}:{Status(status).value}"


def order_event(codes: AreaCodes, jis: str, orders: list[dict], now: datetime, *, text: str = "",
                disaster: str = "", extra: dict | None = None, **fields) -> Event:
    """The `evacuation:{jis}` event for a municipality's orders (each: sort, level, action, districts, at).

    Shared by the collector and the operator API so both say an order the same way.
    """
    muni = codes.municipality(jis)
    in_force = [o for o in orders if o["action"] == "発令"]
    level = max((o["level"] for o in in_force), default=0)
    words = level_words(level, Kind.EVACUATION, "ja")
    if level:
        top = [o for o in in_force if o["level"] == level]
        districts = "、".join(d for o in top for d in o["districts"]) or "全域"
        title = f"{muni.name} {words.name}（{words.label}）"
        text = text or f"{muni.name}は{districts}に{words.name}を発令しました。{words.action}。"
    else:
        title = f"{muni.name} 避難情報 解除"
        text = text or f"{muni.name}の避難情報はすべて解除されました。"
    return Event(
        id=record_id(f"evacuation:{jis}", fields.get("status", Status.ACTUAL)),
        kind=Kind.EVACUATION,
        level=level,
        severity=SEVERITY_BY_LEVEL[level],
        urgency=Urgency.IMMEDIATE if level >= 4 else Urgency.EXPECTED if level else Urgency.PAST,
        certainty=Certainty.OBSERVED,
        state=State.ACTIVE if level else State.LIFTED,
        areas=(jis,),
        received_at=now,
        title=title,
        text=text,
        properties={"municipality": muni.name, "orders": orders, "disaster": disaster, **(extra or {})},
        **fields,
    )
