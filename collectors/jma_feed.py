"""JMA Atom PULL feed collector: poll the feed, fetch each new report once, map it to Events.

The feed lists the last minutes of reports; every report is downloaded at most once per process
(JMA blocks clients that re-download). A feed is never a complete list of what is in force, so
nothing ends by dropping out of it: 解除 and 取消 come from the reports themselves.
"""
from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Literal

import structlog
from pydantic import Field, HttpUrl

from collectors.base import Cancellation, CollectorError, PayloadError, Snapshot, SourceConfig
from collectors.http import Fetcher
from collectors.jma.atom import AtomEntry, parse_feed, select_entries
from collectors.jma.document import parse_document
from collectors.jma.normalise import to_events
from collectors.jma.report import UnsupportedDocument
from geo.codes import AreaCodes
from geo.model import Event

log = structlog.get_logger(__name__)

DEFAULT_TYPE_CODES = [
    "VXWW50",  # 土砂災害警戒情報
    "VXKOii",  # 指定河川洪水予報 (every river's code, old and level-named kinds)
    # Warnings: the Ｒ０６ family only. VPWW53/54 describe the same warnings in the old system and
    # share their event ids, so reading both would make levels flip; configure one generation.
    "VPWW55", "VPWW56", "VPWW57", "VPWW58", "VPWW59", "VPWW60", "VPWW61",
]
ATOM_TYPES = ("application/atom+xml", "application/xml", "text/xml")
XML_TYPES = ("application/xml", "text/xml")


class Config(SourceConfig):
    """A JMA Atom feed (extra.xml carries warnings, 土砂災害警戒情報 and 指定河川洪水予報)."""

    type: Literal["jma_feed"] = "jma_feed"
    interval_s: float = Field(default=60, gt=0, description="JMA rebuilds the feed every minute.")
    offset_s: float = Field(default=20, ge=0, lt=3600, description="Second of each minute to poll at.")
    expected_cadence_s: float = Field(default=60, gt=0, description="The feed's `updated` moves every minute.")
    type_codes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TYPE_CODES),
        description="Data type codes of the reports to fetch (VXKOii: any two digits).",
    )
    office_codes: list[str] = Field(
        default_factory=lambda: ["170000"],
        description="Issuing offices' area codes in the report file names; empty fetches every office.",
    )
    document_max_bytes: int = Field(default=8_000_000, gt=0, description="Cap on one report's size.")
    max_documents_per_poll: int = Field(default=200, gt=0, description="Reports fetched in one poll at most.")
    remember: int = Field(default=10_000, gt=0, description="Report URLs remembered as already fetched.")
    catchup_url: HttpUrl | None = Field(
        default=None,
        description="Long feed (e.g. extra_l.xml) read once at start: the newest report of each kind and office "
        "there gives the state in force when the service starts mid-event. Same host rules as `url`.",
    )


def read_report(
    data: bytes,
    codes: AreaCodes,
    source_id: str,
    url: str | None,
    max_bytes: int = 8_000_000,
    all_areas: bool = False,
) -> tuple[list[Event], Cancellation | None]:
    """One JMA report's events, and its cancellation of the previous report if it is a 取消."""
    report = parse_document(data, max_bytes)
    events = to_events(report, codes, source_id, url, all_areas)
    head = report.head
    cancel = None
    if head.info_type == "取消" and head.event_id is not None and head.serial is not None:
        cancel = Cancellation(upstream_id=head.event_id, sequence=head.serial)
    return events, cancel


class JmaFeedCollector:
    """Polls one JMA Atom feed."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        self.source_id = source_id
        self.config = config
        self.fetcher = fetcher
        self.codes = codes
        self._last_modified: str | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        # Events of reports already fetched whose poll failed later: delivered with the next
        # successful poll, because those reports will never be downloaded again.
        self._pending: list[Event] = []
        self._pending_cancellations: list[Cancellation] = []
        self._content_time: datetime | None = None
        self._caught_up = False

    def _remember(self, url: str) -> None:
        self._seen[url] = None
        while len(self._seen) > self.config.remember:
            self._seen.popitem(last=False)

    async def _catch_up(self) -> list[AtomEntry]:
        """The newest report of each data type and office in the long feed, once per process."""
        result = await self.fetcher.get(str(self.config.catchup_url), self.config, content_types=ATOM_TYPES)
        feed = parse_feed(result.body, self.config.max_bytes)
        newest: dict[tuple[str | None, str | None], AtomEntry] = {}
        for entry in select_entries(
            feed.entries, type_codes=self.config.type_codes, office_codes=self.config.office_codes or None
        ):
            key = (entry.type_code, entry.office_code)
            if key not in newest or entry.updated > newest[key].updated:
                newest[key] = entry
        return list(newest.values())

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch the feed (conditional GET), then each new matching report once."""
        cfg = self.config
        catch_up: list[AtomEntry] = []
        if cfg.catchup_url is not None and not self._caught_up:
            catch_up = await self._catch_up()
        result = await self.fetcher.get(
            str(cfg.url), cfg, last_modified=self._last_modified, content_types=ATOM_TYPES
        )
        if result.not_modified and not catch_up:
            if self._pending or self._pending_cancellations:
                events, cancellations = self._pending, self._pending_cancellations
                self._pending, self._pending_cancellations = [], []
                return Snapshot(self.source_id, events, content_time=self._content_time, cancellations=cancellations)
            return Snapshot(self.source_id, not_modified=True, content_time=self._content_time)
        feed = parse_feed(result.body, cfg.max_bytes) if not result.not_modified else None
        entries = catch_up + (
            select_entries(feed.entries, type_codes=cfg.type_codes, office_codes=cfg.office_codes or None)
            if feed is not None
            else []
        )
        new = sorted({e.url: e for e in entries if e.url not in self._seen}.values(), key=lambda e: e.updated)
        new = new[: cfg.max_documents_per_poll]
        events = list(self._pending)
        cancellations = list(self._pending_cancellations)
        errors: list[str] = []
        skipped = 0
        for entry in new:
            try:
                doc = await self.fetcher.get(entry.url, cfg, content_types=XML_TYPES)
            except CollectorError as exc:
                if exc.retryable:
                    # not downloaded: try again next poll (it stays in the feed ~10 minutes)
                    self._pending, self._pending_cancellations = events, cancellations
                    raise
                self._remember(entry.url)
                errors.append(f"{entry.url}: {exc}")
                continue
            self._remember(entry.url)
            try:
                report_events, cancel = read_report(doc.body, self.codes, self.source_id, entry.url, cfg.document_max_bytes)
                events.extend(report_events)
                if cancel is not None:
                    cancellations.append(cancel)
            except UnsupportedDocument as exc:
                skipped += 1
                log.debug("jma_document_skipped", url=entry.url, reason=str(exc))
            except PayloadError as exc:
                errors.append(f"{entry.url}: {exc}")
                log.warning("jma_document_rejected", url=entry.url, reason=str(exc))
        self._caught_up = True
        if feed is not None:
            self._last_modified = result.last_modified
            self._content_time = feed.updated
        if errors:
            self._pending, self._pending_cancellations = events, cancellations
            raise PayloadError(f"{len(errors)} report(s) rejected: {'; '.join(errors[:3])}")
        self._pending, self._pending_cancellations = [], []
        return Snapshot(
            self.source_id,
            events,
            content_time=self._content_time,
            cancellations=cancellations,
            details={
                "feed_entries": len(feed.entries) if feed is not None else 0,
                "caught_up_from_long_feed": len(catch_up),
                "fetched": len(new),
                "skipped": skipped,
            },
        )
