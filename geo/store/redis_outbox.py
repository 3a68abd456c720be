"""The Redis store's outbox: claim with a lease, mark sending, settle, reclaim, hold, release, list.

Every state move is one Lua script (geo/store/redis_scripts.py), so dispatchers in several service
processes never race. Mixed into RedisStore, which owns the client, the keys and the clock.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from geo.store.base import AuditEntry, OutboxItem, OutboxRecord, OutboxState
from geo.store.rows import dumps, message_from_json, opt_dt, to_us

_RECORD_FIELDS = ["state", "attempts", "last_error", "receipt", "unknown_at", "order", "channel"]

# The outbox operations RedisStore wraps so that a lost connection raises StoreUnavailable.
OPERATIONS = (
    "outbox_claim", "outbox_sending", "outbox_begin_send", "outbox_ack", "outbox_ack_many", "outbox_fail", "outbox_reclaim", "outbox_state",
    "outbox_get", "outbox_list", "outbox_hold", "outbox_release", "outbox_mark_sent",
)


def _opt_int(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)


class RedisOutbox:
    """The outbox half of the Redis store."""

    def _state_keys(self, message_id: str, channel: str) -> list[str]:
        k = self.keys
        return [k.outbox_state(message_id), k.outbox_ready(channel), k.outbox_delayed(channel), k.outbox_leased(channel)]

    async def outbox_claim(self, channel: str, limit: int, lease_s: float) -> list[OutboxItem]:
        """Lease up to `limit` due messages (pending, or leased with the lease expired), priority first."""
        k = self.keys
        now = self.clock()
        until = now + timedelta(seconds=lease_s)
        tokens = [uuid.uuid4().hex for _ in range(limit)]
        flat = await self._claim(
            keys=[k.outbox_ready(channel), k.outbox_delayed(channel), k.outbox_leased(channel)],
            args=[to_us(now), limit, to_us(until), k.outbox_state_prefix, *tokens],
        )
        rows = [flat[i : i + 4] for i in range(0, len(flat), 4)]
        if not rows:
            return []
        messages = await self.redis.hmget(k.outbox_messages, [row[0] for row in rows])
        return [
            OutboxItem(message_from_json(msg), tokens[n], until, int(attempts), err, opt_dt(_opt_int(unknown)))
            for n, ((_, attempts, err, unknown), msg) in enumerate(zip(rows, messages))
        ]

    async def _script_on(self, script: Any, message_id: str, args: list[Any]) -> bool:
        channel = await self.redis.hget(self.keys.outbox_state(message_id), "channel")
        if channel is None:
            return False
        return bool(await script(keys=self._state_keys(message_id, channel), args=args))

    async def outbox_sending(self, message_id: str, lease_token: str) -> bool:
        """Mark a leased message as being sent (its lease expiring now makes it UNKNOWN, not pending)."""
        return bool(await self._sending(keys=[self.keys.outbox_state(message_id)], args=[lease_token]))

    async def outbox_ack(self, message_id: str, lease_token: str, receipt: dict[str, Any] | None = None) -> bool:
        """Mark delivered with the channel's receipt; idempotent. False if the lease was lost."""
        text = "" if receipt is None else dumps(receipt)
        return await self._script_on(self._settle, message_id, [lease_token, "done", "", 0, text])

    async def outbox_begin_send(
        self, leases: Sequence[tuple[str, str]], actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> AuditEntry | None:
        """Mark leased messages (id, token) sending and append the attempt's audit entry, in one write.

        All or nothing: None, and nothing written, if any of the leases was lost.
        """
        k = self.keys
        at = self.clock()
        record = dumps({"at": to_us(at), "actor": actor, "action": action, "target": target, "detail": detail})
        seq = await self._begin_send(
            keys=[k.audit_seq, k.audit, *(k.outbox_state(mid) for mid, _ in leases)],
            args=[record, *(token for _, token in leases)],
        )
        return AuditEntry(int(seq), at, actor, action, target, detail) if seq else None

    async def outbox_ack_many(self, leases: Sequence[tuple[str, str]], receipt: dict[str, Any] | None = None) -> list[bool]:
        """`outbox_ack` for several messages (id, token) with one receipt, in one write; each one's answer."""
        if not leases:
            return []
        text = "" if receipt is None else dumps(receipt)
        async with self.redis.pipeline(transaction=False) as pipe:
            for mid, _ in leases:
                pipe.hget(self.keys.outbox_state(mid), "channel")
            channels = await pipe.execute()
        # one MULTI/EXEC: the settles land together (each is also the script outbox_ack runs)
        async with self.redis.pipeline(transaction=True) as pipe:
            for (mid, token), channel in zip(leases, channels):
                if channel is not None:
                    await self._settle(keys=self._state_keys(mid, channel), args=[token, "done", "", 0, text], client=pipe)
            answers = iter(await pipe.execute())
        return [channel is not None and bool(next(answers)) for channel in channels]

    async def outbox_fail(
        self, message_id: str, lease_token: str, error: str, retry_at: datetime | None
    ) -> bool:
        """Record a failed attempt; retry at `retry_at`, or give up (dead) when it is None."""
        if retry_at is None:
            return await self._script_on(self._settle, message_id, [lease_token, "dead", error, 0, ""])
        return await self._script_on(self._settle, message_id, [lease_token, "retry", error, to_us(retry_at), ""])

    async def outbox_reclaim(self) -> int:
        """Expired leases: LEASED back to pending, SENDING to UNKNOWN; the number reclaimed."""
        k = self.keys
        now_us = to_us(self.clock())
        total = 0
        for channel in sorted(await self.redis.smembers(k.outbox_channels)):
            total += await self._reclaim(
                keys=[k.outbox_ready(channel), k.outbox_leased(channel)], args=[now_us, k.outbox_state_prefix]
            )
        return total

    async def outbox_state(self, message_id: str) -> tuple[OutboxState, int] | None:
        """A message's state and attempt count."""
        state, attempts = await self.redis.hmget(self.keys.outbox_state(message_id), ["state", "attempts"])
        return (OutboxState(state), int(attempts)) if state else None

    async def _records(self, ids: list[str]) -> list[tuple[int, str, OutboxRecord]]:
        """(order, channel, record) of each id that exists."""
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id in ids:
                pipe.hmget(self.keys.outbox_state(message_id), _RECORD_FIELDS)
            pipe.hmget(self.keys.outbox_messages, ids)
            *states, messages = await pipe.execute()
        out = []
        for (state, attempts, error, receipt, unknown_at, order, channel), message in zip(states, messages):
            if state is None or message is None:
                continue
            record = OutboxRecord(
                message_from_json(message), OutboxState(state), int(attempts), error,
                None if receipt is None else json.loads(receipt), opt_dt(_opt_int(unknown_at)),
            )
            out.append((int(order or 0), channel, record))
        return out

    async def outbox_get(self, message_id: str) -> OutboxRecord | None:
        """One message with its state, attempts, last error and receipt."""
        found = await self._records([message_id])
        return found[0][2] if found else None

    async def outbox_list(
        self, channel: str | None = None, states: Iterable[OutboxState] | None = None, limit: int = 1000
    ) -> list[OutboxRecord]:
        """Messages of a channel (or all) in the given states (or any), in insertion order."""
        # No per-state index: the outbox holds what a storm produced (thousands), read in one pipeline.
        wanted = None if states is None else {OutboxState(s) for s in states}
        ids = await self.redis.hkeys(self.keys.outbox_messages)
        rows = [
            (order, record)
            for order, ch, record in await self._records(ids)
            if (channel is None or ch == channel) and (wanted is None or record.state in wanted)
        ]
        rows.sort(key=lambda row: row[0])
        return [record for _, record in rows[:limit]]

    async def outbox_hold(self, message_id: str, reason: str, lease_token: str | None = None) -> bool:
        """Keep a queued, unknown or failed message (or, with its token, a leased one) back: HELD."""
        return await self._script_on(self._move, message_id, ["held", lease_token or "", reason])

    async def outbox_release(self, message_id: str) -> bool:
        """Queue a held, unknown or failed message again (an operator's approval); False otherwise."""
        return await self._script_on(self._move, message_id, ["pending", "", ""])

    async def outbox_mark_sent(self, message_id: str, receipt: dict[str, Any]) -> bool:
        """Record that an unknown or held message did reach its channel (found posted): DONE."""
        return await self._script_on(self._move, message_id, ["done", "", dumps(receipt)])
