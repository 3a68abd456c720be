"""The store protocol and the records that cross it.

Two implementations (SQLite embedded, Redis shared) satisfy the same protocol and the same contract
test suite (tests/test_store_contract.py). Every write that an outgoing message depends on goes
through `apply`, which commits events, their history, observations, outbox rows and change-feed
entries in one transaction.
"""
from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from geo.model import Event, Kind, Observation


class ChangeOp(enum.StrEnum):
    """Why an event got a new version."""

    CREATED = "created"
    UPDATED = "updated"
    LIFTED = "lifted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Change:
    """One new event version to store; `event.version` is already the new number."""

    op: ChangeOp
    event: Event


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message a channel must deliver exactly once; `id` is its idempotency key."""

    id: str
    channel: str
    event_id: str
    version: int
    payload: dict[str, Any]
    priority: int = 0  # higher first
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """An outbox row as claimed by a dispatcher: the message plus its lease and attempt count."""

    message: OutboxMessage
    lease_token: str
    lease_until: datetime
    attempts: int
    last_error: str | None = None
    # Set when an earlier send was interrupted (state `unknown`) and the message was released to be
    # sent again: the channel must make the resend safe (idempotency key, duplicate answer).
    unknown_at: datetime | None = None


class OutboxState(enum.StrEnum):
    """Where a message is. Operators see queued / sending / sent / failed / unknown / held."""

    PENDING = "pending"  # queued
    LEASED = "leased"  # claimed by a dispatcher, nothing sent yet: safe to hand to another
    SENDING = "sending"  # the channel call may have started: an expired lease becomes UNKNOWN
    DONE = "done"  # sent, with the channel's receipt
    DEAD = "dead"  # failed for good
    UNKNOWN = "unknown"  # a send interrupted (crash): never blindly re-sent
    HELD = "held"  # kept back by an operator or a spent budget until released


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """An outbox row as operators and dispatchers list it."""

    message: OutboxMessage
    state: OutboxState
    attempts: int
    last_error: str | None = None
    receipt: dict[str, Any] | None = None  # the channel's answer: post id, URL, cost, time
    unknown_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """What one `apply` commits atomically."""

    changes: Sequence[Change] = ()
    observations: Sequence[Observation] = ()
    outbox: Sequence[OutboxMessage] = ()


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One change as the change feed delivers it, numbered in commit order from 1."""

    seq: int
    op: ChangeOp
    event_id: str
    kind: Kind
    version: int
    at: datetime


class SourceState(enum.StrEnum):
    UNKNOWN = "unknown"
    OK = "ok"
    FAILING = "failing"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Health of one upstream as the last poll left it."""

    source_id: str
    state: SourceState = SourceState.UNKNOWN
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    latency_ms: float | None = None
    items: int = 0
    content_time: datetime | None = None  # newest timestamp inside the content, for freshness
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An append-only record of who did what (operator action, config change, drill switch)."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


BBox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


class StoreError(Exception):
    """A store failure; `retryable` says whether trying again may succeed."""

    retryable = False


class StoreUnavailable(StoreError):
    """The backend cannot be reached or opened right now (Redis down, SQLite locked)."""

    retryable = True


class StoreCorrupt(StoreError):
    """The backend's data cannot be read (not a database, wrong schema)."""


class VersionConflict(StoreError):
    """A change's version is not exactly one past the stored version (a concurrent writer won)."""

    retryable = True


@runtime_checkable
class Store(Protocol):
    """Operations every backend provides; all times are UTC and come from the store's clock."""

    clock: Callable[[], datetime]
    # True when other processes write the same store (Redis): a writer must not trust what it
    # remembers of current versions. The embedded SQLite store has one writing process.
    shared_writers: bool

    async def open(self) -> None:
        """Connect / create schema. Raises StoreUnavailable or StoreCorrupt with the location named."""

    async def close(self) -> None:
        """Release connections; committed data is durable."""

    async def apply(self, batch: Batch) -> list[FeedEntry]:
        """Commit events, history, observations, outbox rows and feed entries in one transaction."""

    async def get(self, event_id: str) -> Event | None:
        """The current version of an event."""

    async def get_many(self, event_ids: Iterable[str]) -> dict[str, Event]:
        """Current versions of several events, by id (missing ids absent)."""

    async def history(self, event_id: str) -> list[Event]:
        """Every stored version of an event, oldest first."""

    async def query(
        self,
        kinds: Iterable[Kind] | None = None,
        bbox: BBox | None = None,
        areas: Iterable[str] | None = None,
        min_level: int | None = None,
        include_exercise: bool = False,
        include_ended: bool = False,
    ) -> list[Event]:
        """Current events matching every given filter, ordered by id."""

    async def events_by_source(self, source_id: str, include_ended: bool = False) -> list[Event]:
        """Current events last written by a source (for snapshot diffs)."""

    async def observations(
        self, station: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[Observation]:
        """A station's readings in [since, until], oldest first."""

    async def set_source_status(self, status: SourceStatus) -> None:
        """Replace a source's health record."""

    async def source_status(self, source_id: str) -> SourceStatus | None:
        """A source's health record."""

    async def source_statuses(self) -> list[SourceStatus]:
        """Every source's health record, by id."""

    async def outbox_claim(self, channel: str, limit: int, lease_s: float) -> list[OutboxItem]:
        """Lease up to `limit` due messages (pending, or leased with the lease expired), priority first."""

    async def outbox_sending(self, message_id: str, lease_token: str) -> bool:
        """Mark a leased message as being sent (its lease expiring now makes it UNKNOWN, not pending)."""

    async def outbox_ack(self, message_id: str, lease_token: str, receipt: dict[str, Any] | None = None) -> bool:
        """Mark delivered with the channel's receipt; idempotent. False if the lease was lost."""

    async def outbox_begin_send(
        self, leases: Sequence[tuple[str, str]], actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> AuditEntry | None:
        """Mark leased messages (id, token) sending and append the attempt's audit entry, in one write.

        All or nothing: None, and nothing written, if any of the leases was lost.
        """

    async def outbox_ack_many(self, leases: Sequence[tuple[str, str]], receipt: dict[str, Any] | None = None) -> list[bool]:
        """`outbox_ack` for several messages (id, token) with one receipt, in one write; each one's answer."""

    async def outbox_fail(
        self, message_id: str, lease_token: str, error: str, retry_at: datetime | None
    ) -> bool:
        """Record a failed attempt; retry at `retry_at`, or give up (dead) when it is None."""

    async def outbox_reclaim(self) -> int:
        """Expired leases: LEASED back to pending, SENDING to UNKNOWN; the number reclaimed."""

    async def outbox_state(self, message_id: str) -> tuple[OutboxState, int] | None:
        """A message's state and attempt count."""

    async def outbox_get(self, message_id: str) -> OutboxRecord | None:
        """One message with its state, attempts, last error and receipt."""

    async def outbox_list(
        self, channel: str | None = None, states: Iterable[OutboxState] | None = None, limit: int = 1000
    ) -> list[OutboxRecord]:
        """Messages of a channel (or all) in the given states (or any), in insertion order."""

    async def outbox_hold(self, message_id: str, reason: str, lease_token: str | None = None) -> bool:
        """Keep a queued, unknown or failed message (or, with its token, a leased one) back: HELD."""

    async def outbox_release(self, message_id: str) -> bool:
        """Queue a held, unknown or failed message again (an operator's approval); False otherwise."""

    async def outbox_mark_sent(self, message_id: str, receipt: dict[str, Any]) -> bool:
        """Record that an unknown or held message did reach its channel (found posted): DONE."""

    async def feed_since(self, seq: int, limit: int = 1000) -> list[FeedEntry]:
        """Feed entries with seq > `seq`, in order."""

    async def feed_head(self) -> FeedEntry | None:
        """The newest feed entry (None while the feed is empty), in one read."""

    def subscribe(self, after_seq: int = 0) -> AsyncIterator[FeedEntry]:
        """Every feed entry after `after_seq`, once and in order, waiting for new ones forever."""

    async def audit_append(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> AuditEntry:
        """Append to the audit log."""

    async def audit(self, limit: int = 100) -> list[AuditEntry]:
        """The newest audit entries, newest first."""
