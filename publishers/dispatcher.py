"""One dispatcher per channel: claims its outbox rows and delivers them, once, in priority order.

Each channel's dispatcher is its own long-running task, woken by commits that add outbox rows (the
change feed; the store commits rows and feed entries together) and by its own timers (a retry or
a coalescing window falling due) — it never polls. A round claims due messages with a lease,
groups them into posts (one post per report for all its municipalities; lower-level messages
claimed together become one digest), and sends the most urgent first:

    pending -> leased -> sending -> done (receipt: post id, URL, cost)
                      \\-> pending (retry with backoff) / dead (failed) / held (budget, operator)
    sending + crash (lease expired) -> unknown -> resolved (below) or left for an operator

Before each send the post is written to the audit log (ids, attempts, text, reply target), in the
same store write that marks its messages `sending`, and all are acknowledged in one more: after a
crash an `unknown` message with no such record was never sent and is queued again; one with a
record is re-sent exactly as recorded, where the channel makes that safe (Mastodon's
Idempotency-Key within its hour; X answers 403 "duplicate content" if it was posted) — otherwise
it stays `unknown` for an operator. A jammed or rate-limited channel waits in its own task only.
"""
from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from geo.store.base import OutboxItem, OutboxState, Store
from publishers.channel import Channel, ChannelError, Post, RateLimited, Receipt
from publishers.posts import Planned, Spend, digests, groups, single
from publishers.rules import URGENT

log = structlog.get_logger(__name__)
SEND_ACTION = "outbox.send"
AUDIT_SCAN = 5000  # audit entries searched for the record of an interrupted send


class Dispatcher:
    """Delivers one channel's outbox."""

    def __init__(
        self, channel: Channel, store: Store, clock: Callable[[], datetime], batch: int = 50,
        speed: Callable[[], float] = lambda: 1.0,
    ) -> None:
        self.channel = channel
        self.speed = speed  # clock seconds per real second (a simulator's scenario clock runs faster)
        self.name = channel.name
        self.config = channel.config
        self.store = store
        self.clock = clock
        self.batch = batch
        self.spend = Spend()
        self.roots: dict[tuple[str, str], str] = {}  # (event id, lang) -> id of the thread's first post
        self.recent: deque[datetime] = deque()  # send times inside the quota window
        self.paused_until: datetime | None = None
        self.tried_unknown: set[str] = set()
        self.next_retry: datetime | None = None  # the earliest retry this dispatcher scheduled
        self._wake = asyncio.Event()
        self._loaded = False
        self._stopping = False  # set by finish(): claim nothing more
        self._idle = asyncio.Event()  # clear while a round claims, plans and sends
        self._idle.set()

    def wake(self) -> None:
        """A commit added outbox rows (or an operator released one): look now."""
        self._wake.set()

    async def finish(self, timeout_s: float) -> bool:
        """Claim nothing more and let the round in progress settle: a post already on its way gets
        its answer rather than being cut off into `unknown`. False if it outlived `timeout_s`."""
        self._stopping = True
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    # -- state read back at start ---------------------------------------------------------

    async def load(self) -> None:
        """Threads, spend and quota use from the receipts of what this channel already sent."""
        for rec in await self.store.outbox_list(self.name, [OutboxState.DONE], limit=1_000_000):
            receipt = rec.receipt or {}
            if receipt.get("id") and not receipt.get("digest"):
                self.roots.setdefault((rec.message.event_id, rec.message.payload.get("lang", "ja")), receipt["id"])
            if "at" in receipt:
                at = datetime.fromisoformat(receipt["at"])
                self.spend.add(receipt.get("key", rec.message.id), at, float(receipt.get("cost_usd", 0)))
                self.recent.append(at)
        self.recent = deque(sorted(self.recent))
        self._loaded = True

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver forever (run under supervision: an error ends the task, which is restarted)."""
        if not self._loaded:
            await self.load()
        await self.store.outbox_reclaim()
        await self.resolve_unknown()
        next_check = self.clock() + timedelta(seconds=self.config.lease_s)
        while True:
            # cleared before the claim, not after the round: a commit landing while this round
            # sends sets it again and is claimed at once, instead of waiting out the timer
            self._wake.clear()
            self._idle.clear()
            try:
                wait_s = await self.step()
                if self.clock() >= next_check and not self._stopping:
                    await self.resolve_unknown()
                    next_check = self.clock() + timedelta(seconds=self.config.lease_s)
            finally:
                self._idle.set()
            if wait_s is None:
                continue  # claimed a full batch: there may be more
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # a library call (Redis, aiohttp) took our cancellation for its own: honour it here
                raise asyncio.CancelledError
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
                # that arrives as the wake-up does, and the task would then outlive its shutdown
                async with asyncio.timeout(max(0.0, wait_s) / self.speed()):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def step(self) -> float | None:
        """One round: claim, plan and send. Returns seconds to wait (None: go again at once)."""
        now = self.clock()
        if self._stopping:
            return self.config.lease_s  # until the cancellation comes
        if self.paused_until is not None and now < self.paused_until:
            return (self.paused_until - now).total_seconds()
        items = await self.store.outbox_claim(self.name, self.batch, self.config.lease_s)
        if items:
            await self._deliver(items)
        if len(items) == self.batch:
            return None
        return self._next_due(self.clock())

    def _next_due(self, now: datetime) -> float:
        """Seconds until something may fall due: a coalescing window's end, a retry, a lease check."""
        wait = self.config.lease_s
        window = self.config.coalesce_window_s
        if window > 0:  # windows are aligned (publishers.rules.coalesce_until): the next edge is known
            wait = min(wait, window - now.timestamp() % window + 0.001)
        if self.next_retry is not None:
            if self.next_retry <= now:
                self.next_retry = None
                return 0.0
            wait = min(wait, (self.next_retry - now).total_seconds())
        if self.paused_until is not None and self.paused_until > now:
            wait = min(wait, (self.paused_until - now).total_seconds())
        return wait

    # -- planning ---------------------------------------------------------------------------

    async def _deliver(self, items: list[OutboxItem]) -> None:
        planned = sorted(await self.plan(items), key=lambda p: -p.priority)
        for n, post in enumerate(planned):
            if self._stopping:
                for rest in planned[n:]:  # not begun: back to the queue for the next start
                    for item in rest.items:
                        await self.store.outbox_fail(item.message.id, item.lease_token, "service stopping", self.clock())
                return
            wait = self._quota_wait()
            if wait is not None:
                for rest in planned[n:]:  # back to the queue until the quota window opens
                    for item in rest.items:
                        await self.store.outbox_fail(item.message.id, item.lease_token, "quota", wait)
                self.paused_until = self.next_retry = wait
                return
            if await self._over_budget(post):
                continue
            await self.send(post)

    async def plan(self, items: list[OutboxItem]) -> list[Planned]:
        """Posts for claimed messages: resends as recorded, urgent ones per group, the rest as a digest."""
        posts: list[Planned] = []
        fresh: list[OutboxItem] = []
        resends = [i for i in items if self._is_resend(i)]
        records = await self._send_records({i.message.id for i in resends}) if resends else {}
        by_record: dict[int, list[OutboxItem]] = {}
        for item in items:
            record = records.get(item.message.id)
            if record is None:
                fresh.append(item)
            else:
                by_record.setdefault(record[0], []).append(item)
        for group in by_record.values():
            detail = records[group[0].message.id][1]
            posts.append(Planned(group, detail["text"], detail.get("reply_to"), bool(detail.get("has_link")), True))
        urgent = [i for i in fresh if i.message.priority >= URGENT]
        routine = [i for i in fresh if i.message.priority < URGENT]
        for group in groups(urgent):
            posts.append(single(group, self.roots, self.config.link, self.channel))
        routine_groups = groups(routine)
        if len(routine_groups) > 1 and self.config.coalesce_window_s > 0:
            posts.extend(digests(routine, self.config.link, self.channel))
        else:
            posts.extend(single(g, self.roots, self.config.link, self.channel) for g in routine_groups)
        return posts

    def _is_resend(self, item: OutboxItem) -> bool:
        return item.unknown_at is not None or (item.last_error or "").startswith("unknown")

    # -- quota and budget -------------------------------------------------------------------

    def _quota_wait(self) -> datetime | None:
        """When the next post may go, if not now (configured quota or the channel's own headers)."""
        now = self.clock()
        window = timedelta(seconds=self.config.quota_window_s)
        while self.recent and self.recent[0] <= now - window:
            self.recent.popleft()
        if len(self.recent) >= self.config.posts_per_window:
            return self.recent[0] + window
        quota = self.channel.quota
        if quota.remaining is not None and quota.remaining <= 0 and quota.reset_at and quota.reset_at > now:
            return quota.reset_at
        return None

    def cost(self, post: Planned) -> float:
        """What the post will cost (a post with a URL costs more on X)."""
        if self.channel.dry:
            return 0.0
        return self.config.cost_per_link_post_usd if post.has_link else self.config.cost_per_post_usd

    def budget_left(self) -> tuple[float | None, float | None]:
        """Remaining spend today and this month (None: no budget set); the console shows it."""
        day, month = self.spend.totals(self.clock())
        d, m = self.config.daily_budget_usd, self.config.monthly_budget_usd
        return (None if d is None else d - day, None if m is None else m - month)

    async def _over_budget(self, post: Planned) -> bool:
        """Hold the post's messages when it would overspend, or when only the reserve is left and it is routine."""
        cost = self.cost(post)
        if cost == 0:
            return False
        reason = None
        for left, budget in zip(self.budget_left(), (self.config.daily_budget_usd, self.config.monthly_budget_usd)):
            if left is None or budget is None:
                continue
            if left < cost:
                reason = f"budget: {left:.3f} USD left of {budget:.2f}"
            elif left - cost < budget * self.config.reserve_fraction and post.priority < URGENT:
                reason = f"budget reserve: {left:.3f} USD left of {budget:.2f}, kept for level 4-5 and cancellations"
        if reason is None:
            return False
        for item in post.items:
            await self.store.outbox_hold(item.message.id, reason, item.lease_token)
        log.warning("push_held", channel=self.name, ids=[i.message.id for i in post.items], reason=reason)
        return True

    # -- sending ----------------------------------------------------------------------------

    async def send(self, post: Planned) -> None:
        """Mark sending, record the attempt, call the channel, settle every message of the post."""
        leases = [(i.message.id, i.lease_token) for i in post.items]
        # one write: the messages turn `sending` together with the record a crash is resolved from
        begun = await self.store.outbox_begin_send(leases, f"dispatcher:{self.name}", SEND_ACTION, self.name, {
            "ids": {i.message.id: i.attempts for i in post.items}, "text": post.text,
            "reply_to": post.reply_to, "has_link": post.has_link, "key": post.key,
        })
        if begun is None:
            # a lease ran out before the send (someone may hold it now): send nothing, and let
            # the messages still ours be claimed again at once
            for mid, token in leases:
                await self.store.outbox_fail(mid, token, "lease lost before sending", self.clock())
            log.warning("push_lease_lost", channel=self.name, ids=[mid for mid, _ in leases])
            return
        try:
            receipt = await self.channel.send(Post(post.text, post.key, post.reply_to, post.resend))
        except ChannelError as exc:
            await self._failed(post, exc)
            return
        await self._sent(post, receipt)

    def _receipt(self, post: Planned, receipt: Receipt, digest: bool) -> dict[str, Any]:
        now = self.clock()
        # a duplicate answer proves an earlier attempt was posted: it was paid for then
        cost = 0.0 if receipt.duplicate and post.resend else self.cost(post)
        return {"id": receipt.id, "url": receipt.url, "duplicate": receipt.duplicate, "dry": self.channel.dry,
                "cost_usd": cost, "at": now.isoformat(), "key": post.key, "digest": digest}

    async def _sent(self, post: Planned, receipt: Receipt) -> None:
        digest = len({i.message.payload.get("group") for i in post.items}) > 1
        data = self._receipt(post, receipt, digest)
        await self.store.outbox_ack_many([(i.message.id, i.lease_token) for i in post.items], data)
        now = self.clock()
        self.recent.append(now)
        self.spend.add(post.key, now, data["cost_usd"])
        if receipt.id:
            for root in post.roots:
                self.roots.setdefault(root, receipt.id)
        log.info("push_sent", channel=self.name, ids=[i.message.id for i in post.items], post_id=receipt.id,
                 dry=self.channel.dry, reply_to=post.reply_to)

    async def _failed(self, post: Planned, exc: ChannelError) -> None:
        now = self.clock()
        error = f"{exc.outcome}: {exc}"
        if isinstance(exc, RateLimited):
            self.paused_until = exc.retry_at or now + timedelta(seconds=self.config.quota_window_s)
        for item in post.items:
            mid, token = item.message.id, item.lease_token
            if exc.outcome == "unknown" and post.resend:
                # the safe resend did not settle it either: an operator decides
                await self.store.outbox_hold(mid, f"unknown: {exc}", token)
            elif exc.outcome == "failed" or item.attempts >= self.config.max_attempts:
                await self.store.outbox_fail(mid, token, error, None)
            else:
                await self.store.outbox_fail(mid, token, error, self.retry_at(item.attempts, exc.retry_at))
        log.warning("push_failed", channel=self.name, ids=[i.message.id for i in post.items],
                    outcome=exc.outcome, error=str(exc))

    def retry_at(self, attempts: int, hint: datetime | None) -> datetime:
        """Exponential backoff with jitter; never before the channel's own reset time."""
        delay = min(self.config.retry_max_s, self.config.retry_base_s * 2 ** max(0, attempts - 1))
        at = self.clock() + timedelta(seconds=delay * random.uniform(0.5, 1.0))
        at = max(at, hint) if hint else at
        self.next_retry = at if self.next_retry is None else min(self.next_retry, at)
        return at

    # -- after a crash ----------------------------------------------------------------------

    async def _send_records(self, ids: set[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """For each id, the audit record (seq, detail) of its latest recorded send attempt."""
        found: dict[str, tuple[int, dict[str, Any]]] = {}
        for entry in await self.store.audit(AUDIT_SCAN):
            if entry.action != SEND_ACTION or entry.target != self.name:
                continue
            for mid in ids & set(entry.detail["ids"]):
                found.setdefault(mid, (entry.seq, entry.detail))
        return found

    async def resolve_unknown(self) -> None:
        """Settle messages a crash left `unknown`: queue the never-sent, re-send the safely re-sendable."""
        unknown = [r for r in await self.store.outbox_list(self.name, [OutboxState.UNKNOWN])
                   if r.message.id not in self.tried_unknown]
        if not unknown:
            return
        records = await self._send_records({r.message.id for r in unknown})
        now = self.clock()
        for rec in unknown:
            mid = rec.message.id
            record = records.get(mid)
            if record is None or record[1]["ids"][mid] != rec.attempts or self.channel.dry:
                # no send was recorded for this attempt: the channel was never called
                await self.store.outbox_release(mid)
                self.wake()
                continue
            window = getattr(self.channel, "resend_window_s", None)
            # the channel keeps keys for real seconds; on a scenario clock they pass `speed` times faster
            if window is not None and rec.unknown_at and now - rec.unknown_at > timedelta(seconds=window * self.speed()):
                self.tried_unknown.add(mid)  # too late to make a resend safe: an operator decides
                log.warning("push_unknown", channel=self.name, id=mid, reason="resend window passed")
                continue
            # release: the claim hands it back with unknown_at set, and plan() re-sends the record
            await self.store.outbox_release(mid)
            self.wake()

