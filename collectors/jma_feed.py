"""JMA Atom PULL feed collector: poll the feed, fetch each new report once, map it to Events.

The feed lists the last minutes of reports; every report read is downloaded once per process
(JMA blocks clients that re-download); one that failed is tried again with backoff. A feed is never a complete list of what is in force, so
nothing ends by dropping out of it: 解除 and 取消 come from the reports themselves.

Reports that left the short feed unread (the service started mid-event, or could not reach JMA for
longer than the feed's window) are a gap. The long feed (`catchup_url`, rebuilt hourly) fills it:
at start with the newest report of each kind and office, after an outage with every report of the
gap. Until a long feed rebuilt after the gap's end has been read, the gap stays open and is noted in
the source's details; the source is fresh as soon as the short feed is. Reports read late are
ordered per event by the pipeline (an older report never overwrites a newer one, and a report older
than the newest read of its scope is superseded); one whose 取消 was read first is dropped.

A report that cannot be read (404, a maintenance page, malformed XML) is never marked as read: it is
retried with backoff (collectors/document_retry.py) while the source is `failing` naming it, and
given up as unreadable, listed in the source's details, only once it has left the long feed.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

import structlog
from pydantic import Field, HttpUrl

from collectors.base import (
    Cancellation,
    CollectorError,
    PayloadError,
    PolledCollector,
    Recent,
    ScopeState,
    Snapshot,
    SourceConfig,
)
from collectors.document_retry import FailedDocuments
from collectors.http import Fetcher, FetchResult
from collectors.jma.atom import AtomEntry, AtomFeed, parse_feed, select_entries
from collectors.jma.cursor import CatchUp, FeedCursor, Gap, gap_entries
from collectors.jma.document import parse_document
from collectors.jma.normalise import ordering, scope_state, to_events
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
# names of the long feed's conditional-GET memories: read to fill a gap, and to check what it still lists
LONG_FEED, LISTING = "long feed", "long feed listing"


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
        description="Long feed (e.g. extra_l.xml) that fills gaps: at start, and after JMA was out of reach for "
        "longer than `feed_window_s`, the newest report of each kind and office there gives the state in force. "
        "Same host rules as `url`.",
    )
    feed_window_s: float = Field(
        default=600, gt=0,
        description="How far back the short feed lists reports (JMA: at least 10 minutes before its `updated`).",
    )
    retry_first_s: float = Field(
        default=60, gt=0, description="Wait before the first retry of a report that could not be read; doubles."
    )
    retry_max_s: float = Field(default=1800, gt=0, description="Longest wait between retries of one report.")
    retry_for_s: float = Field(
        default=86_400, gt=0,
        description="A report that has not read this long after it was listed is given up as unreadable (and "
        "shown so in the source's details); one that left the long feed is given up as soon as that is seen.",
    )


class ReadReport(NamedTuple):
    """One JMA report read: its Events, its cancellation of an earlier serial if it is a 取消, and its
    place among the reports of its kind (see `collectors.jma.normalise.ordering`)."""

    events: list[Event]
    cancel: Cancellation | None
    upstream_id: str
    sequence: int
    scope: ScopeState | None = None  # what the report states in full (None for a 取消)


def read_report(
    data: bytes,
    codes: AreaCodes,
    source_id: str,
    url: str | None,
    max_bytes: int = 8_000_000,
    all_areas: bool = False,
) -> ReadReport:
    """One JMA report's events, and its cancellation of the previous report if it is a 取消."""
    report = parse_document(data, max_bytes)
    events = to_events(report, codes, source_id, url, all_areas)
    head = report.head
    cancel = None
    if head.info_type == "取消" and head.event_id is not None and head.serial is not None:
        cancel = Cancellation(upstream_id=head.event_id, sequence=head.serial)
    return ReadReport(events, cancel, *ordering(report), scope_state(report, events))


def report_snapshot(data: bytes, codes: AreaCodes, source_id: str, url: str | None, all_areas: bool = False) -> Snapshot:
    """One JMA report on its own as a Snapshot (a 取消 also undoes the report it cancels): replay."""
    read = read_report(data, codes, source_id, url, all_areas=all_areas)
    return Snapshot(source_id, read.events, cancellations=[read.cancel] if read.cancel else [],
                    scopes=[read.scope] if read.scope else [])


@dataclass(slots=True)
class Batch:
    """What one poll delivers: the events, 取消 and scope states of the reports read, and counts."""

    events: list[Event] = field(default_factory=list)
    cancellations: list[Cancellation] = field(default_factory=list)
    scopes: list[ScopeState] = field(default_factory=list)
    read_now: set[tuple[str, int]] = field(default_factory=set)  # reports whose events go out with it
    skipped: int = 0
    cancelled_before_read: int = 0

    @classmethod
    def resuming(cls, pending: Batch) -> Batch:
        """A batch that starts with what a failed poll had read (those reports are never fetched again)."""
        return cls(list(pending.events), list(pending.cancellations), list(pending.scopes),
                   {(e.source.upstream_id, e.source.sequence) for e in pending.events})

    def __bool__(self) -> bool:
        return bool(self.events or self.cancellations or self.scopes)

    def add(self, key: tuple[str, int], read: ReadReport) -> None:
        """Add one report read."""
        self.read_now.add(key)
        self.events.extend(read.events)
        if read.scope is not None:
            self.scopes.append(read.scope)

    def drop(self, key: tuple[str, int]) -> None:
        """Take out a report of this batch (its 取消 was read in the same poll)."""
        self.events = [e for e in self.events if (e.source.upstream_id, e.source.sequence) != key]
        self.scopes = [s for s in self.scopes if (s.upstream_id, s.sequence) != key]


class JmaFeedCollector(PolledCollector[Config]):
    """Polls one JMA Atom feed."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        super().__init__(source_id, config, fetcher, codes)
        self._cursor = FeedCursor(config.feed_window_s)
        self._seen = Recent(config.remember)  # report URLs fetched
        # (upstream id, sequence) of the reports read, and of those a 取消 undid before they were read
        self._read = Recent(config.remember)
        self._cancelled = Recent(config.remember)
        # What reports already fetched gave when their poll failed later: delivered with the next
        # successful poll, because those reports will never be downloaded again.
        self._pending = Batch()
        # Reports that could not be read: retried with backoff, given up only once gone from the long feed.
        self._failed = FailedDocuments(config.retry_first_s, config.retry_max_s, config.retry_for_s)
        self._long_listing: tuple[frozenset[str], datetime] | None = None
        self._listing_read_at: datetime | None = None  # when the long feed was last read for that

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch the feed (conditional GET), fill any gap from the long feed, then fetch each new
        matching report once."""
        feed, feed_result = await self._short_feed()
        filling = self._cursor.gap_after(feed, now) if self.config.catchup_url else None  # else logged only
        catch_up = await self._catch_up(filling) if filling is not None else CatchUp([], None, None)
        retries = self._failed.due(now)
        if feed is None and not catch_up.entries and not retries and catch_up.left == self._cursor.gap:
            return self._unchanged(catch_up)
        fetch, catch_up = self._to_fetch(feed, catch_up, filling, retries)
        batch = Batch.resuming(self._pending)
        for entry in fetch:
            await self._read_entry(entry, batch, now)
        await self._check_listing(now)
        self._failed.give_up(now, self._long_listing)
        self._cursor.advance(feed, catch_up.left, now)
        if catch_up.result is not None:
            self.keep_validators(catch_up.result, LONG_FEED)
        if feed is not None:
            self.keep_validators(feed_result, str(self.config.url))
        self._pending = Batch()
        return self._snapshot(batch, {
            "feed_entries": len(feed.entries) if feed is not None else 0,
            "caught_up_from_long_feed": len(catch_up.entries),
            "fetched": len(fetch),
            "retried": len(retries),
            "skipped": batch.skipped,
            "cancelled_before_read": batch.cancelled_before_read,
            "gap": self._cursor.gap_details(),
        })

    async def _short_feed(self) -> tuple[AtomFeed | None, FetchResult]:
        """The short feed if it changed since the last poll (None on a 304), and its response."""
        result = await self.get_if_changed(str(self.config.url), content_types=ATOM_TYPES)
        if result.not_modified:
            return None, result
        # Parsing runs in a worker thread: a multi-MB report or long feed would otherwise hold every
        # request the event loop is answering for tens of milliseconds.
        return await asyncio.to_thread(parse_feed, result.body, self.config.max_bytes), result

    def _unchanged(self, catch_up: CatchUp) -> Snapshot:
        """Nothing new to fetch: what a failed poll had read, or not_modified."""
        if catch_up.result is not None:
            self.keep_validators(catch_up.result, LONG_FEED)
        if self._pending:
            snapshot, self._pending = self._snapshot(self._pending, {}), Batch()
            return snapshot
        return Snapshot(self.source_id, not_modified=True, content_time=self._known_until(),
                        failing=self._failed.summary(), status_details=self._failed.details())

    async def _catch_up(self, gap: Gap) -> CatchUp:
        """Read the long feed (conditional GET) for the reports that fill `gap`."""
        cfg = self.config
        result = await self.get_if_changed(str(cfg.catchup_url), content_types=ATOM_TYPES, memory=LONG_FEED)
        if result.not_modified:
            return CatchUp([], gap, None)
        feed = await asyncio.to_thread(parse_feed, result.body, cfg.max_bytes)
        self._note_listing(feed)
        return CatchUp(*gap_entries(feed, gap, cfg.type_codes, cfg.office_codes or None), result)

    def _to_fetch(
        self, feed: AtomFeed | None, catch_up: CatchUp, filling: Gap | None, retries: list[AtomEntry]
    ) -> tuple[list[AtomEntry], CatchUp]:
        """The reports to fetch in feed order: the unread ones (at most `max_documents_per_poll`) and
        the failed ones due for a retry; and the catch-up, cut when the gap takes more than one poll."""
        cfg = self.config
        listed = (
            select_entries(feed.entries, type_codes=cfg.type_codes, office_codes=cfg.office_codes or None)
            if feed is not None
            else []
        )
        unread = sorted({e.url: e for e in catch_up.entries + listed if e.url not in self._seen}.values(),
                        key=lambda e: e.updated)
        new = unread[: cfg.max_documents_per_poll]
        if filling is not None and len(unread) > len(new):
            # more than one poll reads: the rest of the gap from the same long feed next time
            catch_up = catch_up._replace(left=Gap(new[-1].updated, filling.until), result=None)
        return sorted({e.url: e for e in retries + new}.values(), key=lambda e: e.updated), catch_up

    async def _read_entry(self, entry: AtomEntry, batch: Batch, now: datetime) -> None:
        """Fetch and read one report into `batch`; one that cannot be read is retried with backoff."""
        cfg = self.config
        try:
            doc = await self.fetcher.get(entry.url, cfg, content_types=XML_TYPES)
        except CollectorError as exc:
            if exc.retryable:
                # not downloaded: try again next poll (it stays in the feed ~10 minutes)
                self._pending = batch
                raise
            self._seen.add(entry.url)
            self._failed.failed(entry, str(exc), now)
            return
        self._seen.add(entry.url)
        try:
            read = await asyncio.to_thread(
                read_report, doc.body, self.codes, self.source_id, entry.url, cfg.document_max_bytes
            )
        except UnsupportedDocument as exc:
            self._failed.read(entry.url)
            batch.skipped += 1
            log.debug("jma_document_skipped", url=entry.url, reason=str(exc))
            return
        except PayloadError as exc:
            # the same URL may read next time (a maintenance page, a truncated body): retried
            self._failed.failed(entry, str(exc), now)
            return
        self._failed.read(entry.url)
        self._apply(read, entry.url, batch)

    def _apply(self, read: ReadReport, url: str, batch: Batch) -> None:
        """Add a report read to `batch`, unless its 取消 came first."""
        key = (read.upstream_id, read.sequence)
        if key in self._cancelled:
            # read late (from the long feed, after a gap): its 取消 came first
            batch.cancelled_before_read += 1
            log.info("jma_report_cancelled_before_read", url=url, sequence=read.sequence)
            return
        if read.cancel is not None:
            # a 取消 undoes the serial before it: dropped here if read in this poll, undone by the
            # pipeline if read before, and dropped when it comes if it has not been read yet
            undone = (read.cancel.upstream_id, read.cancel.sequence - 1)
            if undone in batch.read_now:
                batch.drop(undone)
            elif undone in self._read:
                batch.cancellations.append(read.cancel)
            else:
                self._cancelled.add(undone)
        self._read.add(key)
        batch.add(key, read)

    def _note_listing(self, feed: AtomFeed) -> None:
        """Remember what the long feed lists, and since when (to give up reports gone from it)."""
        if feed.entries:
            self._long_listing = (frozenset(e.url for e in feed.entries), min(e.updated for e in feed.entries))

    async def _check_listing(self, now: datetime) -> None:
        """While reports fail to read, learn whether the long feed still lists them (read at most hourly,
        as JMA rebuilds it); one it no longer lists is given up. A failed read only waits an hour."""
        cfg = self.config
        if not self._failed.failing or cfg.catchup_url is None:
            return
        if self._listing_read_at is not None and now - self._listing_read_at < timedelta(hours=1):
            return
        self._listing_read_at = now
        try:
            result = await self.get_if_changed(str(cfg.catchup_url), content_types=ATOM_TYPES, memory=LISTING)
            if result.not_modified:
                return
            feed = parse_feed(result.body, cfg.max_bytes)
        except CollectorError as exc:
            log.info("jma_long_feed_unread", reason=str(exc))
            return
        self.keep_validators(result, LISTING)
        self._note_listing(feed)

    def _snapshot(self, batch: Batch, details: dict) -> Snapshot:
        """The snapshot of what was read; `failing` while any report is unread (retried with backoff)."""
        return Snapshot(
            self.source_id, batch.events, content_time=self._known_until(), cancellations=batch.cancellations,
            scopes=batch.scopes, failing=self._failed.summary(), status_details={**details, **self._failed.details()},
        )

    def _known_until(self) -> datetime | None:
        """The content time to judge freshness by: the short feed's `updated`.

        A gap still being filled is a note in the details, not staleness: once the feed is read again
        its newest reports are current, and the reports of the gap come from the long feed as it is
        rebuilt (a warning issued minutes ago must not sit under a "stale" banner).
        """
        return self._cursor.content_time
