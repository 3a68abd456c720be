"""Feed documents that could not be read: retried with backoff until they read or leave the feed.

A JMA report that fails to download or parse (a 404, a maintenance page served as 200 text/html, an
oversized body, malformed XML) is not read: it is tried again with exponential backoff until it
reads, or until it has left the long feed (or is older than the long feed keeps), when it is given up
as unreadable. Meanwhile the source is `failing`, naming the document; the documents given up stay
listed for operators. A document is never marked as read because reading it failed.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from collectors.jma.atom import AtomEntry

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class FailedDocument:
    """A listed document not read yet: why, how often it failed, and when to try again."""

    entry: AtomEntry
    error: str
    attempts: int
    first_failed_at: datetime
    retry_at: datetime

    def as_json(self) -> dict[str, Any]:
        """For the source's details (operators)."""
        return {
            "url": self.entry.url, "title": self.entry.title, "updated": self.entry.updated.isoformat(),
            "error": self.error, "attempts": self.attempts, "first_failed_at": self.first_failed_at.isoformat(),
            "retry_at": self.retry_at.isoformat(),
        }


class FailedDocuments:
    """The documents of one feed that failed, their backoff, and those given up."""

    def __init__(self, first_retry_s: float, max_retry_s: float, keep_for_s: float, remember: int = 100) -> None:
        self.first_retry_s = first_retry_s
        self.max_retry_s = max_retry_s
        self.keep_for_s = keep_for_s
        self.remember = remember
        self.failing: dict[str, FailedDocument] = {}
        self.unreadable: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def failed(self, entry: AtomEntry, error: str, now: datetime) -> FailedDocument:
        """Record a failed read of `entry`; the next try waits twice as long as the last (capped)."""
        held = self.failing.get(entry.url)
        attempts = 1 if held is None else held.attempts + 1
        delay = min(self.first_retry_s * 2 ** (attempts - 1), self.max_retry_s)
        doc = FailedDocument(entry, error, attempts, now if held is None else held.first_failed_at,
                             now + timedelta(seconds=delay))
        self.failing[entry.url] = doc
        if held is None:
            log.warning("jma_document_failed", url=entry.url, error=error, retry_at=doc.retry_at.isoformat())
        else:
            log.info("jma_document_failed_again", url=entry.url, error=error, attempts=attempts)
        return doc

    def read(self, url: str) -> None:
        """`url` was read at last."""
        if self.failing.pop(url, None) is not None:
            log.info("jma_document_recovered", url=url)

    def due(self, now: datetime) -> list[AtomEntry]:
        """The failed documents whose next try is due."""
        return [d.entry for d in self.failing.values() if d.retry_at <= now]

    def next_retry(self) -> datetime | None:
        """When the next failed document is due."""
        return min((d.retry_at for d in self.failing.values()), default=None)

    def give_up(self, now: datetime, long_feed: tuple[frozenset[str], datetime] | None = None) -> list[str]:
        """Give up the documents that left the long feed (`long_feed`: the URLs it lists and its
        oldest entry's time) or were listed longer ago than `keep_for_s`; they stay listed as unreadable."""
        gone = []
        for url, doc in list(self.failing.items()):
            too_old = (now - doc.entry.updated).total_seconds() > self.keep_for_s
            left = long_feed is not None and url not in long_feed[0] and doc.entry.updated < long_feed[1]
            if too_old or left:
                del self.failing[url]
                self.unreadable[url] = {**doc.as_json(), "given_up_at": now.isoformat(),
                                        "reason": "left the long feed" if left else "not read within retry_for_s"}
                self.unreadable.move_to_end(url)
                while len(self.unreadable) > self.remember:
                    self.unreadable.popitem(last=False)
                log.error("jma_document_unreadable", url=url, error=doc.error, attempts=doc.attempts)
                gone.append(url)
        return gone

    def summary(self) -> str | None:
        """Why the source is failing while documents are unread (None when none is)."""
        if not self.failing:
            return None
        docs = sorted(self.failing.values(), key=lambda d: d.entry.updated)
        named = "; ".join(f"{d.entry.url}: {d.error}" for d in docs[:3])
        more = f" (and {len(docs) - 3} more)" if len(docs) > 3 else ""
        return f"{len(docs)} report(s) not read yet, retried with backoff: {named}{more}"

    def details(self) -> dict[str, Any]:
        """For the source's details: the documents failing now and those given up."""
        return {
            "failing_documents": [d.as_json() for d in sorted(self.failing.values(), key=lambda d: d.entry.updated)],
            "unreadable_documents": list(self.unreadable.values()),
        }

