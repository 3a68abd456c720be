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
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

import structlog
from pydantic import Field, HttpUrl

from collectors.base import Cancellation, CollectorError, PayloadError, ScopeState, Snapshot, SourceConfig
from collectors.document_retry import FailedDocuments
from collectors.http import Fetcher
from collectors.jma.atom import AtomEntry, AtomFeed, parse_feed, select_entries
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


@dataclass(frozen=True, slots=True)
class Gap:
    """Reports updated after `since` (None: ever) and up to `until` may have left the short feed unread."""

    since: datetime | None
    until: datetime

    def merged(self, other: Gap | None) -> Gap:
        """One gap covering this and `other`."""
        if other is None:
            return self
        since = None if self.since is None or other.since is None else min(self.since, other.since)
        return Gap(since, max(self.until, other.until))


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


def _bounded_add(keys: OrderedDict, key, limit: int) -> None:
    """Add `key` as the newest of `keys`, forgetting the oldest beyond `limit`."""
    keys[key] = None
    keys.move_to_end(key)
    while len(keys) > limit:
        keys.popitem(last=False)


class JmaFeedCollector:
    """Polls one JMA Atom feed."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        self.source_id = source_id
        self.config = config
        self.fetcher = fetcher
        self.codes = codes
        self._last_modified: str | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        # (upstream id, sequence) of the reports read, and of those a 取消 undid before they were read
        self._read: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._cancelled: OrderedDict[tuple[str, int], None] = OrderedDict()
        # Events of reports already fetched whose poll failed later: delivered with the next
        # successful poll, because those reports will never be downloaded again.
        self._pending: list[Event] = []
        self._pending_cancellations: list[Cancellation] = []
        self._pending_scopes: list[ScopeState] = []
        # Reports that could not be read: retried with backoff, given up only once gone from the long feed.
        self._failed = FailedDocuments(config.retry_first_s, config.retry_max_s, config.retry_for_s)
        self._long_listing: tuple[frozenset[str], datetime] | None = None
        self._listing_read_at: datetime | None = None  # when the long feed was last read for that
        self._listing_last_modified: str | None = None
        self._content_time: datetime | None = None
        self._feed_time: datetime | None = None  # `updated` of the short feed last read
        self._gap: Gap | None = None
        self._long_last_modified: str | None = None

    def _remember(self, url: str) -> None:
        _bounded_add(self._seen, url, self.config.remember)

    def _gap_after(self, feed: AtomFeed | None, now: datetime) -> Gap | None:
        """The gap still to fill once `feed` (None: unchanged since the last read) is read."""
        if feed is None:
            return self._gap
        window_start = (feed.updated or now) - timedelta(seconds=self.config.feed_window_s)
        if self._feed_time is None:  # the first read: everything before its window is unknown
            gap = Gap(None, window_start)
        elif window_start > self._feed_time:
            gap = Gap(self._feed_time, window_start)
            log.warning("jma_feed_gap", since=self._feed_time.isoformat(), until=window_start.isoformat())
        else:
            return self._gap
        return gap.merged(self._gap)

    async def _fill(self, gap: Gap) -> tuple[list[AtomEntry], Gap | None, str | None]:
        """The long feed's reports listed after `gap.since`, the gap left once they are read (None
        when the long feed was rebuilt after its end), and the long feed's Last-Modified.

        At start (`since` None) the newest report of each kind and office gives what is in force;
        after an outage every report of the gap is read, in order: a warning lifted in one report is
        only listed as「発表警報・注意報はなし」in the next."""
        cfg = self.config
        result = await self.fetcher.get(
            str(cfg.catchup_url), cfg, last_modified=self._long_last_modified, content_types=ATOM_TYPES
        )
        if result.not_modified:
            return [], gap, self._long_last_modified
        feed = await asyncio.to_thread(parse_feed, result.body, cfg.max_bytes)
        if feed.entries:
            self._long_listing = (frozenset(e.url for e in feed.entries), min(e.updated for e in feed.entries))
        listed = select_entries(feed.entries, type_codes=cfg.type_codes, office_codes=cfg.office_codes or None)
        if gap.since is not None:
            wanted = [entry for entry in listed if entry.updated > gap.since]
        else:
            newest: dict[tuple[str | None, str | None], AtomEntry] = {}
            for entry in listed:
                key = (entry.type_code, entry.office_code)
                if key not in newest or entry.updated > newest[key].updated:
                    newest[key] = entry
            wanted = list(newest.values())
        built = feed.updated or max((e.updated for e in feed.entries), default=None)
        if built is None or (gap.since is not None and built <= gap.since):
            left: Gap | None = gap
        elif built >= gap.until:
            left = None
        else:
            left = Gap(built, gap.until)  # known up to the rebuild; the rest comes with the next one
        return wanted, left, result.last_modified

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch the feed (conditional GET), fill any gap from the long feed, then fetch each new
        matching report once."""
        cfg = self.config
        result = await self.fetcher.get(
            str(cfg.url), cfg, last_modified=self._last_modified, content_types=ATOM_TYPES
        )
        # Parsing runs in a worker thread: a multi-MB report or long feed would otherwise hold every
        # request the event loop is answering for tens of milliseconds.
        feed = None if result.not_modified else await asyncio.to_thread(parse_feed, result.body, cfg.max_bytes)
        gap = self._gap_after(feed, now)
        if cfg.catchup_url is None:
            gap = None  # logged; nothing here can fill it
        catch_up: list[AtomEntry] = []
        long_last_modified = self._long_last_modified
        filling = gap
        if filling is not None:
            catch_up, gap, long_last_modified = await self._fill(filling)
        retries = self._failed.due(now)
        pending = self._pending or self._pending_cancellations or self._pending_scopes
        if feed is None and not catch_up and not retries and gap == self._gap:
            self._long_last_modified = long_last_modified
            if pending:
                snapshot = self._snapshot(self._pending, self._pending_cancellations, self._pending_scopes, {})
                self._pending, self._pending_cancellations, self._pending_scopes = [], [], []
                return snapshot
            return Snapshot(self.source_id, not_modified=True, content_time=self._known_until(),
                            failing=self._failed.summary(), details=self._failed.details())
        entries = catch_up + (
            select_entries(feed.entries, type_codes=cfg.type_codes, office_codes=cfg.office_codes or None)
            if feed is not None
            else []
        )
        unread = sorted({e.url: e for e in entries if e.url not in self._seen}.values(), key=lambda e: e.updated)
        new = unread[: cfg.max_documents_per_poll]
        if filling is not None and len(unread) > len(new):
            # more than one poll reads: the rest of the gap from the same long feed next time
            gap, long_last_modified = Gap(new[-1].updated, filling.until), self._long_last_modified
        # the failed reports due for a retry, read in feed order with the new ones
        fetch = sorted({e.url: e for e in retries + new}.values(), key=lambda e: e.updated)
        events = list(self._pending)
        cancellations = list(self._pending_cancellations)
        scopes = list(self._pending_scopes)
        skipped = cancelled_before_read = 0
        # reports whose events go out with this poll (those pending from a failed one included)
        read_now = {(e.source.upstream_id, e.source.sequence) for e in events}
        for entry in fetch:
            try:
                doc = await self.fetcher.get(entry.url, cfg, content_types=XML_TYPES)
            except CollectorError as exc:
                if exc.retryable:
                    # not downloaded: try again next poll (it stays in the feed ~10 minutes)
                    self._pending, self._pending_cancellations, self._pending_scopes = events, cancellations, scopes
                    raise
                self._remember(entry.url)
                self._failed.failed(entry, str(exc), now)
                continue
            self._remember(entry.url)
            try:
                read = await asyncio.to_thread(
                    read_report, doc.body, self.codes, self.source_id, entry.url, cfg.document_max_bytes
                )
            except UnsupportedDocument as exc:
                self._failed.read(entry.url)
                skipped += 1
                log.debug("jma_document_skipped", url=entry.url, reason=str(exc))
                continue
            except PayloadError as exc:
                # the same URL may read next time (a maintenance page, a truncated body): retried
                self._failed.failed(entry, str(exc), now)
                continue
            self._failed.read(entry.url)
            key = (read.upstream_id, read.sequence)
            if key in self._cancelled:
                # read late (from the long feed, after a gap): its 取消 came first
                cancelled_before_read += 1
                log.info("jma_report_cancelled_before_read", url=entry.url, sequence=read.sequence)
                continue
            if read.cancel is not None:
                # a 取消 undoes the serial before it: dropped here if read in this poll, undone by the
                # pipeline if read before, and dropped when it comes if it has not been read yet
                undone = (read.cancel.upstream_id, read.cancel.sequence - 1)
                if undone in read_now:
                    events = [e for e in events if (e.source.upstream_id, e.source.sequence) != undone]
                    scopes = [s for s in scopes if (s.upstream_id, s.sequence) != undone]
                elif undone in self._read:
                    cancellations.append(read.cancel)
                else:
                    _bounded_add(self._cancelled, undone, cfg.remember)
            _bounded_add(self._read, key, cfg.remember)
            read_now.add(key)
            events.extend(read.events)
            if read.scope is not None:
                scopes.append(read.scope)
        await self._check_listing(now)
        self._failed.give_up(now, self._long_listing)
        self._gap, self._long_last_modified = gap, long_last_modified
        if feed is not None:
            self._last_modified = result.last_modified
            self._content_time = feed.updated
            self._feed_time = feed.updated or now
        self._pending, self._pending_cancellations, self._pending_scopes = [], [], []
        return self._snapshot(events, cancellations, scopes, {
            "feed_entries": len(feed.entries) if feed is not None else 0,
            "caught_up_from_long_feed": len(catch_up),
            "fetched": len(fetch),
            "retried": len(retries),
            "skipped": skipped,
            "cancelled_before_read": cancelled_before_read,
            "gap": None if self._gap is None else {
                "since": self._gap.since and self._gap.since.isoformat(), "until": self._gap.until.isoformat(),
            },
        })

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
            result = await self.fetcher.get(
                str(cfg.catchup_url), cfg, last_modified=self._listing_last_modified, content_types=ATOM_TYPES
            )
            if result.not_modified:
                return
            feed = parse_feed(result.body, cfg.max_bytes)
        except CollectorError as exc:
            log.info("jma_long_feed_unread", reason=str(exc))
            return
        self._listing_last_modified = result.last_modified
        if feed.entries:
            self._long_listing = (frozenset(e.url for e in feed.entries), min(e.updated for e in feed.entries))

    def _snapshot(self, events: list[Event], cancellations: list[Cancellation], scopes: list[ScopeState],
                  details: dict) -> Snapshot:
        """The snapshot of what was read; `failing` while any report is unread (retried with backoff)."""
        return Snapshot(
            self.source_id, events, content_time=self._known_until(), cancellations=cancellations, scopes=scopes,
            failing=self._failed.summary(), details={**details, **self._failed.details()},
        )

    def _known_until(self) -> datetime | None:
        """The content time to judge freshness by: the short feed's `updated`.

        A gap still being filled is a note in the details, not staleness: once the feed is read again
        its newest reports are current, and the reports of the gap come from the long feed as it is
        rebuilt (a warning issued minutes ago must not sit under a "stale" banner).
        """
        return self._content_time
