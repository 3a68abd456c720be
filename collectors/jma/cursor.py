"""Where the reading of a JMA feed stands: the short feed's last `updated`, and the gap before it that
only the long feed can fill (collectors/jma_feed.py reads both feeds over HTTP; this is the arithmetic)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

import structlog

from collectors.jma.atom import AtomEntry, AtomFeed, select_entries

if TYPE_CHECKING:
    from collectors.http import FetchResult

log = structlog.get_logger("collectors.jma_feed")  # the feed collector's log, where its operators look


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


class CatchUp(NamedTuple):
    """What the long feed gives to fill a gap: the reports to read, the gap left once they are read
    (None when the long feed was rebuilt after its end), and the response whose validators to keep
    once they are (None: the same long feed is to be read again)."""

    entries: list[AtomEntry]
    left: Gap | None
    result: FetchResult | None


def gap_entries(
    feed: AtomFeed, gap: Gap, type_codes: list[str], office_codes: list[str] | None
) -> tuple[list[AtomEntry], Gap | None]:
    """The long feed's reports that fill `gap`, and the gap left once they are read.

    At start (`since` None) the newest report of each kind and office gives what is in force; after
    an outage every report of the gap is read, in order: a warning lifted in one report is only
    listed as「発表警報・注意報はなし」in the next."""
    listed = select_entries(feed.entries, type_codes=type_codes, office_codes=office_codes)
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
        return wanted, gap
    if built >= gap.until:
        return wanted, None
    return wanted, Gap(built, gap.until)  # known up to the rebuild; the rest comes with the next one


@dataclass(slots=True)
class FeedCursor:
    """How far the short feed has been read, and the gap before it still to fill from the long feed."""

    window_s: float  # how far back the short feed lists reports
    feed_time: datetime | None = None  # `updated` of the short feed last read (else when it was read)
    content_time: datetime | None = None  # that `updated` as the feed gave it, for freshness
    gap: Gap | None = None

    def gap_after(self, feed: AtomFeed | None, now: datetime) -> Gap | None:
        """The gap still to fill once `feed` (None: unchanged since the last read) is read."""
        if feed is None:
            return self.gap
        window_start = (feed.updated or now) - timedelta(seconds=self.window_s)
        if self.feed_time is None:  # the first read: everything before its window is unknown
            gap = Gap(None, window_start)
        elif window_start > self.feed_time:
            gap = Gap(self.feed_time, window_start)
            log.warning("jma_feed_gap", since=self.feed_time.isoformat(), until=window_start.isoformat())
        else:
            return self.gap
        return gap.merged(self.gap)

    def gap_details(self) -> dict | None:
        """The gap still open, for the source's details (None when there is none)."""
        if self.gap is None:
            return None
        return {"since": self.gap.since and self.gap.since.isoformat(), "until": self.gap.until.isoformat()}

    def advance(self, feed: AtomFeed | None, gap: Gap | None, now: datetime) -> None:
        """Move past a poll that read `feed` (None: unchanged) and left `gap`."""
        self.gap = gap
        if feed is not None:
            self.content_time = feed.updated
            self.feed_time = feed.updated or now
