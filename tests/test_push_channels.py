"""X and Mastodon channels over real HTTPS against local fakes, and the dispatcher delivering to them."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest
import trustme

from geo.codes import AreaCodes
from geo.model import Event, Kind, SourceRef, State
from geo.store.base import Batch, Change, ChangeOp, OutboxState
from geo.store.redis import RedisStore
from geo.store.sqlite import SQLiteStore
from publishers.channel import DryChannel, Post, RateLimited, Rejected, Unknown
from publishers.dispatcher import Dispatcher
from publishers.mastodon import MastodonChannel, MastodonConfig
from publishers.push import build_channel, start, stop
from publishers.rules import PushRules
from publishers.x import XChannel, XConfig
from service.push_config import DEFAULT_RULES
from service.settings import Secrets
from tests.fake_channels import MASTODON_HOST, FakeMastodon, FakeX, Fault, client_session

CODES = AreaCodes.load()
CREDS = ("key", "secret", "token", "token-secret")


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
async def fake_x(ca):
    fake = FakeX()
    await fake.start(ca)
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_mastodon(ca):
    fake = FakeMastodon()
    await fake.start(ca)
    yield fake
    await fake.stop()


@pytest.fixture
async def x(ca, fake_x):
    session = client_session(ca, fake_x, timeout_s=2)
    channel = XChannel("x", XConfig(timeout_s=1, coalesce_window_s=300), CREDS, session=session)
    yield channel
    await session.close()


@pytest.fixture
async def mastodon(ca, fake_mastodon):
    session = client_session(ca, fake_mastodon)
    config = MastodonConfig(base_url=f"https://{MASTODON_HOST}", timeout_s=1)
    channel = MastodonChannel("mastodon", config, "test-token", session=session)
    yield channel
    await session.close()


@pytest.fixture(params=["sqlite", "redis"])
async def store(request, tmp_path, clock):
    if request.param == "redis":  # a short XREAD block: a cancelled follower ends within it
        s = RedisStore(request.getfixturevalue("redis_url"), clock=clock, block_s=0.2)
    else:
        s = SQLiteStore(tmp_path / "s.sqlite3", clock=clock, poll_s=0.2)
    await s.open()
    yield s
    await s.close()


# -- the X channel alone --------------------------------------------------------------------------


async def test_x_201_gives_the_post_id_and_reads_the_rate_limit_headers(x, fake_x):
    receipt = await x.send(Post("警戒レベル４相当", "k1"))
    assert receipt.id == fake_x.posts[0]["id"] and receipt.url.endswith(receipt.id)
    assert x.quota.remaining == 99 and x.quota.reset_at > datetime.now(timezone.utc)
    reply = await x.send(Post("続報", "k2", reply_to=receipt.id))
    assert fake_x.posts[1]["reply_to"] == receipt.id and reply.id != receipt.id


async def test_x_429_is_rate_limited_until_the_reset(x, fake_x):
    reset = int(time.time()) + 600
    fake_x.faults.append(Fault(429, {"title": "Too Many Requests", "detail": "Too Many Requests"},
                               {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}))
    with pytest.raises(RateLimited) as info:
        await x.send(Post("a", "k"))
    assert info.value.retry_at == datetime.fromtimestamp(reset, timezone.utc)
    assert x.quota.remaining == 0 and fake_x.posts == []


async def test_x_403_duplicate_proves_a_resend_was_posted_but_refuses_a_first_send(x, fake_x):
    await x.send(Post("同じ文", "k"))
    assert (await x.send(Post("同じ文", "k", resend=True))).duplicate is True
    with pytest.raises(Rejected, match="duplicate"):
        await x.send(Post("同じ文", "k2"))
    assert len(fake_x.posts) == 1


async def test_x_401_is_refused_for_good(ca, fake_x):
    session = client_session(ca, fake_x)
    channel = XChannel("x", XConfig(), CREDS, session=session)
    fake_x.faults.append(Fault(401, {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}))
    with pytest.raises(Rejected, match="401"):
        await channel.send(Post("a", "k"))
    await session.close()


async def test_x_5xx_and_timeout_leave_the_outcome_unknown(x, fake_x):
    fake_x.faults.append(Fault(503, {"title": "Service Unavailable", "detail": "Service Unavailable"}, post_anyway=True))
    with pytest.raises(Unknown, match="503"):
        await x.send(Post("本文", "k"))
    fake_x.faults.append(Fault(201, hang_s=3))
    with pytest.raises(Unknown, match="no answer"):
        await x.send(Post("別の本文", "k2"))
    assert fake_x.texts() == ["本文"]


# -- the Mastodon channel alone -------------------------------------------------------------------


async def test_mastodon_threads_and_repeats_a_key_without_posting_twice(mastodon, fake_mastodon):
    first = await mastodon.send(Post("土砂災害警戒情報", "mastodon:ja:sediment:17201@1"))
    again = await mastodon.send(Post("土砂災害警戒情報", "mastodon:ja:sediment:17201@1", resend=True))
    assert again.id == first.id and len(fake_mastodon.posts) == 1
    reply = await mastodon.send(Post("解除", "mastodon:ja:sediment:17201@2", reply_to=first.id))
    assert fake_mastodon.posts[1]["reply_to"] == first.id and reply.url.endswith(reply.id)


async def test_mastodon_500_to_a_repeated_key_is_still_unknown(mastodon, fake_mastodon):
    fake_mastodon.faults.append(Fault(500, {"error": "oops"}))
    with pytest.raises(Unknown, match="repeated Idempotency-Key"):
        await mastodon.send(Post("a", "k", resend=True))
    fake_mastodon.faults.append(Fault(429, {"error": "Too many requests"}, {"X-RateLimit-Reset": "2026-07-10T01:05:00.000Z",
                                                                             "X-RateLimit-Remaining": "0"}))
    with pytest.raises(RateLimited) as info:
        await mastodon.send(Post("a", "k"))
    assert info.value.retry_at == datetime(2026, 7, 10, 1, 5, tzinfo=timezone.utc)


async def test_mastodon_bad_token_is_refused(ca, fake_mastodon):
    session = client_session(ca, fake_mastodon)
    channel = MastodonChannel("m", MastodonConfig(base_url=f"https://{MASTODON_HOST}"), "wrong", session=session)
    with pytest.raises(Rejected, match="401"):
        await channel.send(Post("a", "k"))
    await session.close()


# -- the dispatcher -------------------------------------------------------------------------------


def sediment(code: str, level: int = 4, state: State = State.ACTIVE, version: int = 1, at=None) -> Event:
    at = at or datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
    return Event(id=f"sediment:{code}", kind=Kind.SEDIMENT_WARNING, level=level, state=state, version=version,
                 areas=(code,), issued_at=at, received_at=at, title="土砂災害警戒情報",
                 source=SourceRef(source_id="jma", upstream_id="EV1", sequence=version))


def gauge(n: int, level: int, version: int = 2, at=None) -> Event:
    at = at or datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
    return Event(id=f"gauge:{n}", kind=Kind.GAUGE, level=level, version=version, areas=("17201",), issued_at=at,
                 received_at=at, title=f"川{n} 水位局", source=SourceRef(source_id="gauges", upstream_id=str(n)))


def outbox_for(channels, *pairs):
    rules = PushRules(DEFAULT_RULES, channels, CODES, "https://bosai.example/")
    return [m for change, previous in pairs for m in rules(change, previous)]


async def test_one_report_for_several_municipalities_is_one_post_and_updates_reply_in_its_thread(store, clock, x, fake_x):
    msgs = outbox_for({"x": x.config}, *[(Change(ChangeOp.CREATED, sediment(c)), None) for c in ("17201", "17203", "17210")])
    await store.apply(Batch(outbox=msgs))
    dispatcher = Dispatcher(x, store, clock)
    await dispatcher.step()
    assert len(fake_x.posts) == 1
    assert fake_x.posts[0]["text"].splitlines()[1] == "金沢市、小松市、白山市"
    assert fake_x.posts[0]["text"].endswith("https://bosai.example/events/sediment:17201")  # link: first post only
    for m in msgs:
        record = await store.outbox_get(m.id)
        assert record.state == OutboxState.DONE and record.receipt["id"] == fake_x.posts[0]["id"]
        assert record.receipt["cost_usd"] == 0.20  # a post with a URL (.example is no TLD: counted whole)
    clock.advance(3600)
    lift = outbox_for({"x": x.config}, (Change(ChangeOp.LIFTED, sediment("17203", 0, State.LIFTED, 2)), sediment("17203")))
    await store.apply(Batch(outbox=lift))
    await dispatcher.step()
    assert fake_x.posts[1]["reply_to"] == fake_x.posts[0]["id"]
    assert "https://" not in fake_x.posts[1]["text"]  # replies carry no link: $0.015, not $0.20
    assert (await store.outbox_get(lift[0].id)).receipt["cost_usd"] == 0.015
    # a restarted dispatcher finds the thread again from the receipts
    fresh = Dispatcher(x, store, clock)
    await fresh.load()
    assert fresh.roots[("sediment:17201", "ja")] == fake_x.posts[0]["id"]


async def test_urgent_first_and_lower_levels_coalesced_into_one_digest(store, clock, x, fake_x):
    pairs = [(Change(ChangeOp.UPDATED, gauge(n, 3)), gauge(n, 2, 1)) for n in (1, 2, 3)]
    pairs.append((Change(ChangeOp.CREATED, sediment("17201")), None))
    msgs = outbox_for({"x": x.config}, *pairs)
    await store.apply(Batch(outbox=msgs))
    dispatcher = Dispatcher(x, store, clock)
    await dispatcher.step()
    assert len(fake_x.posts) == 1 and fake_x.posts[0]["text"].startswith("【土砂災害警戒情報】")  # the gauges wait
    clock.advance(300)  # the coalescing window ends
    await dispatcher.step()
    assert len(fake_x.posts) == 2
    digest = fake_x.posts[1]["text"]
    assert digest.startswith("【まとめ】3件のお知らせ") and digest.count("避難判断水位") == 3
    assert {(await store.outbox_get(m.id)).state for m in msgs} == {OutboxState.DONE}


async def test_rate_limit_pauses_the_channel_until_reset_then_sends_once(store, clock, x, fake_x):
    msgs = outbox_for({"x": x.config}, (Change(ChangeOp.CREATED, sediment("17201")), None))
    await store.apply(Batch(outbox=msgs))
    reset = int(clock.now.timestamp()) + 120
    fake_x.faults.append(Fault(429, {"detail": "Too Many Requests"}, {"x-rate-limit-reset": str(reset)}))
    dispatcher = Dispatcher(x, store, clock)
    await dispatcher.step()
    assert dispatcher.paused_until == datetime.fromtimestamp(reset, timezone.utc)
    assert await store.outbox_state(msgs[0].id) == (OutboxState.PENDING, 1)
    clock.advance(60)
    assert await dispatcher.step() == pytest.approx(60)  # paused: nothing claimed, nothing sent
    assert fake_x.requests == 1
    clock.advance(60)
    await dispatcher.step()
    assert len(fake_x.posts) == 1 and (await store.outbox_get(msgs[0].id)).state == OutboxState.DONE


async def test_a_5xx_that_posted_anyway_is_settled_by_the_duplicate_answer_once(store, clock, x, fake_x):
    msgs = outbox_for({"x": x.config}, (Change(ChangeOp.CREATED, sediment("17201")), None))
    await store.apply(Batch(outbox=msgs))
    fake_x.faults.append(Fault(503, {"detail": "Service Unavailable"}, post_anyway=True))
    dispatcher = Dispatcher(x, store, clock)
    await dispatcher.step()
    assert (await store.outbox_get(msgs[0].id)).last_error.startswith("unknown")
    clock.advance(dispatcher.config.retry_max_s)
    await dispatcher.step()
    record = await store.outbox_get(msgs[0].id)
    assert record.state == OutboxState.DONE and record.receipt["duplicate"] is True
    assert len(fake_x.posts) == 1 and fake_x.requests == 2


async def test_401_fails_the_message_for_an_operator(store, clock, ca, fake_x):
    session = client_session(ca, fake_x)
    channel = XChannel("x", XConfig(), CREDS, session=session)
    msgs = outbox_for({"x": channel.config}, (Change(ChangeOp.CREATED, sediment("17201")), None))
    await store.apply(Batch(outbox=msgs))
    fake_x.faults.append(Fault(401, {"detail": "Unauthorized"}))
    await Dispatcher(channel, store, clock).step()
    (failed,) = await store.outbox_list("x", [OutboxState.DEAD])
    assert failed.message.id == msgs[0].id and "401" in failed.last_error
    await session.close()


async def test_budget_near_its_end_lets_only_level_4_5_and_cancellations_out(store, clock, x, fake_x):
    x.config = x.config.model_copy(update={"daily_budget_usd": 1.00, "coalesce_window_s": 0})
    pairs = [(Change(ChangeOp.CREATED, sediment("17201")), None),
             (Change(ChangeOp.UPDATED, gauge(1, 3)), gauge(1, 2, 1))]
    msgs = outbox_for({"x": x.config}, *pairs)
    await store.apply(Batch(outbox=msgs))
    dispatcher = Dispatcher(x, store, clock)
    dispatcher.spend.add("earlier", clock.now, 0.45)  # 0.55 left: 0.35 after the warning, under the 20% reserve
    await dispatcher.step()
    assert [p["text"].splitlines()[0] for p in fake_x.posts] == ["【土砂災害警戒情報】"]
    (held,) = await store.outbox_list("x", [OutboxState.HELD])
    assert held.message.event_id == "gauge:1" and held.last_error.startswith("budget reserve")
    assert dispatcher.budget_left()[0] == pytest.approx(0.35)


async def test_without_credentials_a_channel_runs_dry(store, clock, fake_x):
    channel = build_channel("x", XConfig(), Secrets(x_api_key=None))
    assert isinstance(channel, DryChannel) and channel.weigh("金沢") == 4
    msgs = outbox_for({"x": channel.config}, (Change(ChangeOp.CREATED, sediment("17201")), None))
    await store.apply(Batch(outbox=msgs))
    await Dispatcher(channel, store, clock).step()
    record = await store.outbox_get(msgs[0].id)
    assert record.state == OutboxState.DONE and record.receipt["dry"] is True and record.receipt["cost_usd"] == 0
    assert channel.sent[0].text.startswith("【土砂災害警戒情報】") and fake_x.requests == 0


class Killed(BaseException):
    """The process dying: nothing after it runs (not an error the dispatcher could handle)."""


class DiesAfterPosting:
    """A channel that makes the post and then the process dies before the answer is stored."""

    def __init__(self, channel) -> None:
        self.channel = channel

    def __getattr__(self, name):
        return getattr(self.channel, name)

    async def send(self, post):
        await self.channel.send(post)
        raise Killed


async def test_a_crash_mid_send_is_resolved_without_posting_twice(store, clock, x, fake_x, mastodon, fake_mastodon):
    channels = {"x": x.config, "mastodon": mastodon.config}
    msgs = outbox_for(channels, (Change(ChangeOp.CREATED, sediment("17201")), None),
                      (Change(ChangeOp.CREATED, sediment("17204", at=clock.now.replace(minute=5))), None))
    await store.apply(Batch(outbox=msgs))
    for channel in (x, mastodon):
        doomed = Dispatcher(DiesAfterPosting(channel), store, clock)
        posted, unsent = sorted(await doomed.plan(await store.outbox_claim(channel.name, 10, 30)), key=lambda p: p.key)
        with pytest.raises(Killed):
            await doomed.send(posted)  # posted; the process died before the receipt was stored
        for item in unsent.items:  # marked sending, died before the send was recorded or made
            await store.outbox_sending(item.message.id, item.lease_token)
    assert len(fake_x.posts) == 1 and len(fake_mastodon.posts) == 1
    clock.advance(30)  # the dead process's leases run out
    for channel in (x, mastodon):
        restarted = Dispatcher(channel, store, clock)
        await restarted.load()
        await store.outbox_reclaim()
        assert {r.message.event_id for r in await store.outbox_list(channel.name, [OutboxState.UNKNOWN])} == {
            "sediment:17201", "sediment:17204"}
        await restarted.resolve_unknown()
        await restarted.step()
        records = {m.event_id: await store.outbox_get(m.id) for m in msgs if m.channel == channel.name}
        assert {r.state for r in records.values()} == {OutboxState.DONE}
    # every message exactly once on each channel
    assert sorted(p["text"].splitlines()[1] for p in fake_x.posts) == ["輪島市", "金沢市"]
    assert sorted(p["text"].splitlines()[1] for p in fake_mastodon.posts) == ["輪島市", "金沢市"]
    x_first = next(m for m in msgs if m.channel == "x" and m.event_id == "sediment:17201")
    assert (await store.outbox_get(x_first.id)).receipt["duplicate"] is True  # X: the resend proved it posted
    m_first = next(m for m in msgs if m.channel == "mastodon" and m.event_id == "sediment:17201")
    assert (await store.outbox_get(m_first.id)).receipt["id"] == fake_mastodon.posts[0]["id"]  # same key, same status


async def test_dispatchers_are_woken_by_the_commit_and_a_jammed_channel_delays_no_other(
    store, clock, x, fake_x, mastodon, fake_mastodon
):
    fake_x.faults.append(Fault(201, hang_s=3))  # X hangs (its 1 s timeout will fire)
    dispatchers, tasks = start(store, {"x": x, "mastodon": mastodon}, clock)  # timers 60 s away: only commits wake
    try:
        await asyncio.sleep(0.3)  # both waiting
        event = sediment("17201")
        msgs = outbox_for({"x": x.config, "mastodon": mastodon.config}, (Change(ChangeOp.CREATED, event), None))
        started = time.monotonic()
        await store.apply(Batch(changes=[Change(ChangeOp.CREATED, event)], outbox=msgs))
        while not fake_mastodon.posts:
            assert time.monotonic() - started < 0.9, "Mastodon waited for X"
            await asyncio.sleep(0.01)
        assert fake_x.posts == []  # still hung
    finally:
        await stop(tasks, {})


async def test_a_commit_landing_while_a_post_is_sent_is_claimed_when_that_round_ends(
    store, clock, mastodon, fake_mastodon
):
    fake_mastodon.latency_s = 0.5  # the first post is made, its answer still on the way
    dispatchers, tasks = start(store, {"mastodon": mastodon}, clock)  # timers 60 s away: only commits wake
    try:
        await asyncio.sleep(0.3)
        first, second = sediment("17201"), sediment("17204")
        for n, event in enumerate((first, second)):
            msgs = outbox_for({"mastodon": mastodon.config}, (Change(ChangeOp.CREATED, event), None))
            await store.apply(Batch(changes=[Change(ChangeOp.CREATED, event)], outbox=msgs))
            started = time.monotonic()
            while len(fake_mastodon.posts) <= n:
                # the second commit's wake-up arrives mid-round: it must not wait for the 60 s timer
                assert time.monotonic() - started < 3, f"post {n + 1} waited for the timer"
                await asyncio.sleep(0.01)
        assert [p["text"].splitlines()[1] for p in fake_mastodon.posts] == ["金沢市", "輪島市"]
    finally:
        await stop(tasks, {})


async def test_a_stop_lets_the_post_on_its_way_settle_and_claims_nothing_more(store, clock, mastodon, fake_mastodon):
    fake_mastodon.latency_s = 0.5  # the post is made, its answer still on the way when the stop comes
    dispatchers, tasks = start(store, {"mastodon": mastodon}, clock)
    try:
        await asyncio.sleep(0.3)
        first, second = sediment("17201"), sediment("17204")
        msgs = outbox_for({"mastodon": mastodon.config}, (Change(ChangeOp.CREATED, first), None))
        await store.apply(Batch(changes=[Change(ChangeOp.CREATED, first)], outbox=msgs))
        async with asyncio.timeout(30):
            while fake_mastodon.requests == 0:
                await asyncio.sleep(0.01)
        assert await dispatchers["mastodon"].finish(5)  # waits for the answer rather than cutting it off
        msgs = outbox_for({"mastodon": mastodon.config}, (Change(ChangeOp.CREATED, second), None))
        await store.apply(Batch(changes=[Change(ChangeOp.CREATED, second)], outbox=msgs))
        await asyncio.sleep(0.5)
    finally:
        async with asyncio.timeout(30):
            await stop(tasks, {})
    states = {r.message.event_id: r.state for r in await store.outbox_list("mastodon")}
    assert states == {first.id: OutboxState.DONE, second.id: OutboxState.PENDING}  # the second waits for the next start
    assert len(fake_mastodon.posts) == 1
