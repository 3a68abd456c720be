"""The SQLite store's outbox: claim with a lease, mark sending, settle, reclaim, hold, release, list.

The statement functions run inside the store's write transaction on its worker thread; the mixin
gives the store the protocol's outbox methods. A lease that expires while LEASED (nothing sent yet)
goes back to pending; one that expires while SENDING becomes UNKNOWN, which nobody re-sends
blindly: the dispatcher or an operator decides (see publishers/dispatcher.py).
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from geo.store.base import AuditEntry, OutboxItem, OutboxRecord, OutboxState
from geo.store.rows import dumps, message_from_json, opt_dt, to_us

# States in which the last claimer's token still counts: its late ack or failure lands.
_TOKEN_LIVE = ("leased", "sending", "pending", "unknown")


def _expire_sending(conn: sqlite3.Connection, now_us: int, channel: str | None) -> int:
    """SENDING rows whose lease ran out become UNKNOWN (the old holder's token stays live)."""
    where = "state = 'sending' AND lease_until <= ?" + (" AND channel = ?" if channel else "")
    params: tuple[Any, ...] = (now_us, now_us) + ((channel,) if channel else ())
    return conn.execute(
        f"UPDATE outbox SET state = 'unknown', unknown_at = ?, lease_until = NULL WHERE {where}", params
    ).rowcount


def claim(conn: sqlite3.Connection, channel: str, limit: int, now_us: int, until: datetime) -> list[OutboxItem]:
    """Lease due messages of a channel: pending ones, and leased ones whose lease expired."""
    _expire_sending(conn, now_us, channel)
    rows = conn.execute(
        "SELECT rid, message, attempts, last_error, unknown_at FROM outbox WHERE channel = ? AND ("
        "(state = 'pending' AND not_before <= ?) OR (state = 'leased' AND lease_until <= ?)) "
        "ORDER BY priority DESC, rid LIMIT ?",
        (channel, now_us, now_us, limit),
    ).fetchall()
    items, updates = [], []
    for rid, message, attempts, last_error, unknown_at in rows:
        token = uuid.uuid4().hex
        updates.append((token, to_us(until), rid))
        items.append(OutboxItem(message_from_json(message), token, until, attempts + 1, last_error, opt_dt(unknown_at)))
    conn.executemany(
        "UPDATE outbox SET state = 'leased', lease_token = ?, lease_until = ?, attempts = attempts + 1 "
        "WHERE rid = ?",
        updates,
    )
    return items


class _LeaseLost(Exception):
    """A lease of the batch was lost: roll the whole write back."""


def begin_send(conn: sqlite3.Connection, leases: Sequence[tuple[str, str]], audit: tuple[Any, ...]) -> int:
    """Mark every (id, token) leased message sending and append the audit row; the row's seq."""
    for message_id, token in leases:
        if conn.execute(
            "UPDATE outbox SET state = 'sending' WHERE id = ? AND lease_token = ? AND state = 'leased'",
            (message_id, token),
        ).rowcount != 1:
            raise _LeaseLost(message_id)
    return conn.execute(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)", audit
    ).lastrowid


def settle(
    conn: sqlite3.Connection, message_id: str, token: str, error: str | None,
    retry_at: datetime | None, delivered: bool, receipt: dict[str, Any] | None = None,
) -> bool:
    """Ack (`delivered`) or fail a message if `token` is still the live claim on it."""
    row = conn.execute("SELECT state, lease_token FROM outbox WHERE id = ?", (message_id,)).fetchone()
    if row is None or row[1] != token:
        return False
    state = row[0]
    if state == OutboxState.DONE:
        return delivered  # a repeated ack is fine; failing a delivered message is not
    if state not in _TOKEN_LIVE:
        return False
    if delivered:
        conn.execute(
            "UPDATE outbox SET state = 'done', lease_until = NULL, receipt = ? WHERE id = ?",
            (None if receipt is None else dumps(receipt), message_id),
        )
    elif retry_at is None:
        conn.execute(
            "UPDATE outbox SET state = 'dead', lease_token = NULL, lease_until = NULL, last_error = ? "
            "WHERE id = ?",
            (error, message_id),
        )
    else:
        conn.execute(
            "UPDATE outbox SET state = 'pending', lease_token = NULL, lease_until = NULL, "
            "last_error = ?, not_before = ? WHERE id = ?",
            (error, to_us(retry_at), message_id),
        )
    return True


def reclaim(conn: sqlite3.Connection, now_us: int) -> int:
    """Expired leases: LEASED back to pending (token kept for a late ack), SENDING to UNKNOWN."""
    back = conn.execute(
        "UPDATE outbox SET state = 'pending', lease_until = NULL WHERE state = 'leased' AND lease_until <= ?",
        (now_us,),
    ).rowcount
    return back + _expire_sending(conn, now_us, None)


def _record(row: tuple[Any, ...]) -> OutboxRecord:
    message, state, attempts, last_error, receipt, unknown_at = row
    return OutboxRecord(
        message_from_json(message), OutboxState(state), attempts, last_error,
        None if receipt is None else json.loads(receipt), opt_dt(unknown_at),
    )


_RECORD = "SELECT message, state, attempts, last_error, receipt, unknown_at FROM outbox"


class SQLiteOutbox:
    """The outbox half of the SQLite store (mixed into SQLiteStore, which owns the connection)."""

    async def outbox_claim(self, channel: str, limit: int, lease_s: float) -> list[OutboxItem]:
        """Lease up to `limit` due messages (pending, or leased with the lease expired), priority first."""
        now = self.clock()
        until = now + timedelta(seconds=lease_s)
        return await self._run(self._tx, lambda c: claim(c, channel, limit, to_us(now), until))

    async def outbox_sending(self, message_id: str, lease_token: str) -> bool:
        """Mark a leased message as being sent (its lease expiring now makes it UNKNOWN, not pending)."""
        return await self._run(self._tx, lambda c: c.execute(
            "UPDATE outbox SET state = 'sending' WHERE id = ? AND lease_token = ? AND state = 'leased'",
            (message_id, lease_token),
        ).rowcount == 1)

    async def outbox_ack(self, message_id: str, lease_token: str, receipt: dict[str, Any] | None = None) -> bool:
        """Mark delivered with the channel's receipt; idempotent. False if the lease was lost."""
        return await self._run(self._tx, lambda c: settle(c, message_id, lease_token, None, None, True, receipt))

    async def outbox_begin_send(
        self, leases: Sequence[tuple[str, str]], actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> AuditEntry | None:
        """Mark leased messages (id, token) sending and append the attempt's audit entry, in one write.

        All or nothing: None, and nothing written, if any of the leases was lost.
        """
        at = self.clock()
        row = (to_us(at), actor, action, target, dumps(detail))
        try:
            seq = await self._run(self._tx, lambda c: begin_send(c, leases, row))
        except _LeaseLost:
            return None
        return AuditEntry(seq, at, actor, action, target, detail)

    async def outbox_ack_many(self, leases: Sequence[tuple[str, str]], receipt: dict[str, Any] | None = None) -> list[bool]:
        """`outbox_ack` for several messages (id, token) with one receipt, in one write; each one's answer."""
        return await self._run(self._tx, lambda c: [settle(c, mid, token, None, None, True, receipt) for mid, token in leases])

    async def outbox_fail(
        self, message_id: str, lease_token: str, error: str, retry_at: datetime | None
    ) -> bool:
        """Record a failed attempt; retry at `retry_at`, or give up (dead) when it is None."""
        return await self._run(self._tx, lambda c: settle(c, message_id, lease_token, error, retry_at, False))

    async def outbox_reclaim(self) -> int:
        """Expired leases: LEASED back to pending, SENDING to UNKNOWN; the number reclaimed."""
        now_us = to_us(self.clock())
        return await self._run(self._tx, lambda c: reclaim(c, now_us))

    async def outbox_state(self, message_id: str) -> tuple[OutboxState, int] | None:
        """A message's state and attempt count."""
        rows = await self._read(self._fetch, "SELECT state, attempts FROM outbox WHERE id = ?", (message_id,))
        return (OutboxState(rows[0][0]), rows[0][1]) if rows else None

    async def outbox_get(self, message_id: str) -> OutboxRecord | None:
        """One message with its state, attempts, last error and receipt."""
        rows = await self._read(self._fetch, _RECORD + " WHERE id = ?", (message_id,))
        return _record(rows[0]) if rows else None

    async def outbox_list(
        self, channel: str | None = None, states: Iterable[OutboxState] | None = None, limit: int = 1000
    ) -> list[OutboxRecord]:
        """Messages of a channel (or all) in the given states (or any), in insertion order."""
        where, params = ["1"], []
        if channel is not None:
            where.append("channel = ?")
            params.append(channel)
        if states is not None:
            wanted = [OutboxState(s).value for s in states]
            where.append(f"state IN ({','.join('?' * len(wanted))})" if wanted else "0")
            params += wanted
        query = f"{_RECORD} WHERE {' AND '.join(where)} ORDER BY rid LIMIT ?"
        return [_record(r) for r in await self._read(self._fetch, query, (*params, limit))]

    async def outbox_hold(self, message_id: str, reason: str, lease_token: str | None = None) -> bool:
        """Keep a queued, unknown or failed message (or, with its token, a leased one) back: HELD."""
        if lease_token is None:
            cond, params = "state IN ('pending', 'unknown', 'dead')", (reason, message_id)
        else:
            cond, params = "state IN ('leased', 'sending', 'pending') AND lease_token = ?", (reason, message_id, lease_token)
        return await self._run(self._tx, lambda c: c.execute(
            "UPDATE outbox SET state = 'held', lease_token = NULL, lease_until = NULL, last_error = ? "
            f"WHERE id = ? AND {cond}", params,
        ).rowcount == 1)

    async def outbox_release(self, message_id: str) -> bool:
        """Queue a held, unknown or failed message again (an operator's approval); False otherwise."""
        now_us = to_us(self.clock())
        return await self._run(self._tx, lambda c: c.execute(
            "UPDATE outbox SET state = 'pending', not_before = ?, lease_token = NULL, lease_until = NULL "
            "WHERE id = ? AND state IN ('held', 'unknown', 'dead')", (now_us, message_id),
        ).rowcount == 1)

    async def outbox_mark_sent(self, message_id: str, receipt: dict[str, Any]) -> bool:
        """Record that an unknown or held message did reach its channel (found posted): DONE."""
        return await self._run(self._tx, lambda c: c.execute(
            "UPDATE outbox SET state = 'done', receipt = ?, lease_token = NULL, lease_until = NULL "
            "WHERE id = ? AND state IN ('unknown', 'held')", (dumps(receipt), message_id),
        ).rowcount == 1)
