"""One contract, two stores: every case runs against SQLite and against a real redis-server."""
from __future__ import annotations

import asyncio
import random
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import redis as redis_sync

from geo.model import Event, Kind, Observation, SourceRef, State, Status
from geo.store import open_store
from geo.store.base import (
    Batch,
    Change,
    ChangeOp,
    OutboxMessage,
    OutboxState,
    SourceState,
    SourceStatus,
    Store,
    StoreCorrupt,
    StoreUnavailable,
    VersionConflict,
)
from geo.store.redis import RedisStore
from geo.store.redis_connect import client_from_url, safe_url
from geo.store.rows import bbox_intersects, geometry_bbox
from geo.store.sqlite import SQLiteStore

KANAZAWA = (136.6562, 36.5613)  # 金沢市役所
WAJIMA = (136.8990, 37.3906)  # 輪島市役所
BOX_KANAZAWA = (136.5, 36.4, 136.8, 36.7)
T0 = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)  # the conftest clock's start


@pytest.fixture(params=["sqlite", "redis"])
async def store(request, tmp_path, clock):
    """An open store of each backend, empty, on the fake clock."""
    if request.param == "sqlite":
        s: Store = SQLiteStore(tmp_path / "nested" / "bosai.sqlite3", clock=clock, poll_s=0.2)
    else:
        url = request.getfixturevalue("redis_url")
        s = RedisStore(url, clock=clock, prefix=f"t{uuid.uuid4().hex[:8]}", block_s=0.2)
    await s.open()
    yield s
    await s.close()


def ev(event_id: str, version: int = 1, *, point=KANAZAWA, geometry=None, **kw) -> Event:
    """A test event of the kind its id names; at `point` unless `geometry` is given (none if point=None)."""
    kind = Kind(event_id.split(":")[0])
    if geometry is None and point is not None:
        geometry = {"type": "Point", "coordinates": list(point)}
    return Event(
        id=event_id,
        kind=kind,
        version=version,
        geometry=geometry,
        source=SourceRef(source_id=kw.pop("source", "src_a")),
        areas=kw.pop("areas", ("17201",)),
        **kw,
    )


def created(*events: Event) -> Batch:
    return Batch(changes=[Change(ChangeOp.CREATED if e.version == 1 else ChangeOp.UPDATED, e) for e in events])


def msg(mid: str, channel: str = "x", priority: int = 0, **kw) -> OutboxMessage:
    return OutboxMessage(id=mid, channel=channel, event_id="gauge:1", version=1, payload={"m": mid}, priority=priority, **kw)


# -- apply, get, history ------------------------------------------------------------------------


async def test_apply_stores_current_version_and_numbers_the_feed(store, clock):
    first = ev("gauge:1", title="犀川 桜橋", properties={"level_m": 1.23, "thresholds": [1.5, 2.0]})
    entries = await store.apply(created(first, ev("gauge:2")))
    assert [(e.seq, e.event_id, e.op, e.version, e.at) for e in entries] == [
        (1, "gauge:1", ChangeOp.CREATED, 1, clock.now),
        (2, "gauge:2", ChangeOp.CREATED, 1, clock.now),
    ]
    assert (await store.get("gauge:1")) == first
    assert await store.get("gauge:9") is None
    assert set(await store.get_many(["gauge:1", "gauge:2", "gauge:9"])) == {"gauge:1", "gauge:2"}


async def test_history_keeps_every_version_oldest_first(store):
    await store.apply(created(ev("sediment_warning:17201", level=3)))
    await store.apply(created(ev("sediment_warning:17201", 2, level=4)))
    await store.apply(Batch([Change(ChangeOp.LIFTED, ev("sediment_warning:17201", 3, level=0, state=State.LIFTED))]))
    history = await store.history("sediment_warning:17201")
    assert [(e.version, e.level) for e in history] == [(1, 3), (2, 4), (3, 0)]
    assert (await store.get("sediment_warning:17201")).state == State.LIFTED


@pytest.mark.parametrize("version", [2, 3])
async def test_new_event_must_start_at_version_one(store, version):
    with pytest.raises(VersionConflict, match="gauge:1"):
        await store.apply(created(ev("gauge:1", version)))
    assert await store.get("gauge:1") is None


async def test_version_must_be_exactly_one_past_stored(store):
    await store.apply(created(ev("gauge:1")))
    for stale in (1, 3):
        with pytest.raises(VersionConflict):
            await store.apply(created(ev("gauge:1", stale, level=2)))
    await store.apply(created(ev("gauge:1", 2, level=2)))
    assert (await store.get("gauge:1")).version == 2


async def test_conflict_rolls_back_the_whole_batch(store):
    await store.apply(created(ev("gauge:1")))
    batch = Batch(
        changes=[Change(ChangeOp.CREATED, ev("gauge:2")), Change(ChangeOp.UPDATED, ev("gauge:1", 5))],
        observations=[Observation("g2", T(0), 1.0)],
        outbox=[msg("m-rollback")],
    )
    with pytest.raises(VersionConflict):
        await store.apply(batch)
    assert await store.get("gauge:2") is None
    assert await store.observations("g2") == []
    assert await store.outbox_state("m-rollback") is None
    assert [e.seq for e in await store.feed_since(0)] == [1]
    assert (await store.apply(created(ev("gauge:2"))))[0].seq == 2


async def test_several_versions_of_one_event_in_one_batch(store):
    entries = await store.apply(created(ev("road_closure:a"), ev("road_closure:a", 2, level=1)))
    assert [e.version for e in entries] == [1, 2]
    assert [e.version for e in await store.history("road_closure:a")] == [1, 2]
    assert (await store.get("road_closure:a")).level == 1


async def test_concurrent_writers_of_one_version_exactly_one_wins(store):
    await store.apply(created(ev("gauge:1")))
    results = await asyncio.gather(
        *(store.apply(created(ev("gauge:1", 2, level=n))) for n in (1, 2, 3)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, VersionConflict) for r in results if isinstance(r, Exception))
    assert [e.version for e in await store.history("gauge:1")] == [1, 2]


async def test_data_survives_close_and_reopen(store):
    await store.apply(created(ev("gauge:1")))
    await store.close()
    await store.open()
    assert (await store.get("gauge:1")).id == "gauge:1"
    assert (await store.apply(created(ev("gauge:2"))))[0].seq == 2


# -- queries ------------------------------------------------------------------------------------


async def test_query_filters_kind_level_and_orders_by_id(store):
    await store.apply(created(ev("gauge:2", level=3), ev("gauge:1", level=1), ev("camera:1"), ev("shelter:1", level=4)))
    assert [e.id for e in await store.query()] == ["camera:1", "gauge:1", "gauge:2", "shelter:1"]
    assert [e.id for e in await store.query(kinds=[Kind.GAUGE])] == ["gauge:1", "gauge:2"]
    assert [e.id for e in await store.query(min_level=3)] == ["gauge:2", "shelter:1"]
    assert [e.id for e in await store.query(kinds=[Kind.GAUGE, Kind.SHELTER], min_level=2)] == ["gauge:2", "shelter:1"]
    assert await store.query(kinds=[]) == []


async def test_query_hides_exercise_and_ended_unless_asked(store):
    await store.apply(created(
        ev("notice:real"), ev("notice:drill", status=Status.EXERCISE), ev("notice:test", status=Status.TEST),
        ev("notice:lifted", state=State.LIFTED), ev("notice:cancelled", state=State.CANCELLED),
        ev("notice:expired", state=State.EXPIRED),
    ))
    assert [e.id for e in await store.query()] == ["notice:real"]
    assert [e.id for e in await store.query(include_exercise=True)] == ["notice:drill", "notice:real", "notice:test"]
    assert [e.id for e in await store.query(include_ended=True)] == [
        "notice:cancelled", "notice:expired", "notice:lifted", "notice:real"]


async def test_query_areas_match_any_overlap(store):
    await store.apply(created(
        ev("notice:a", areas=("17201", "17202")), ev("notice:b", areas=("17204",)), ev("notice:c", areas=()),
    ))
    assert [e.id for e in await store.query(areas=["17202"])] == ["notice:a"]
    assert [e.id for e in await store.query(areas=["17204", "17201"])] == ["notice:a", "notice:b"]
    assert await store.query(areas=["17999"]) == []
    await store.apply(created(ev("notice:a", 2, areas=("17204",))))
    assert [e.id for e in await store.query(areas=["17201"])] == []
    assert [e.id for e in await store.query(areas=["17204"])] == ["notice:a", "notice:b"]


async def test_query_bbox_finds_points_inside_and_on_the_edge(store):
    await store.apply(created(
        ev("gauge:in", point=KANAZAWA), ev("gauge:out", point=WAJIMA),
        ev("gauge:edge", point=(136.8, 36.4)), ev("notice:nogeom", point=None),
    ))
    assert [e.id for e in await store.query(bbox=BOX_KANAZAWA)] == ["gauge:edge", "gauge:in"]
    assert [e.id for e in await store.query(bbox=(136.0, 36.0, 137.5, 37.5))] == ["gauge:edge", "gauge:in", "gauge:out"]
    assert await store.query(bbox=(136.80001, 36.0, 137.0, 36.39999)) == []


async def test_query_bbox_finds_a_line_crossing_the_box_with_both_ends_outside(store):
    crossing = {"type": "LineString", "coordinates": [[136.4, 36.55], [136.9, 36.56]]}
    beside = {"type": "LineString", "coordinates": [[136.9, 36.5], [137.0, 36.6]]}
    await store.apply(created(ev("road_closure:r8", geometry=crossing), ev("road_closure:r249", geometry=beside)))
    assert [e.id for e in await store.query(bbox=BOX_KANAZAWA)] == ["road_closure:r8"]


async def test_query_bbox_finds_a_polygon_larger_than_the_box(store):
    noto = {"type": "Polygon", "coordinates": [[[136.0, 36.0], [137.5, 36.0], [137.5, 37.6], [136.0, 37.6], [136.0, 36.0]]]}
    await store.apply(created(ev("weather_warning:noto", geometry=noto)))
    assert [e.id for e in await store.query(bbox=(136.6, 36.5, 136.61, 36.51))] == ["weather_warning:noto"]
    assert await store.query(bbox=(138.0, 36.5, 138.1, 36.6)) == []


async def test_moving_geometry_moves_it_in_the_index(store):
    await store.apply(created(ev("camera:1", point=KANAZAWA)))
    await store.apply(created(ev("camera:1", 2, point=WAJIMA)))
    assert await store.query(bbox=BOX_KANAZAWA) == []
    line = {"type": "LineString", "coordinates": [[136.4, 36.5], [136.9, 36.6]]}
    await store.apply(created(ev("camera:1", 3, geometry=line)))
    assert [e.version for e in await store.query(bbox=BOX_KANAZAWA)] == [3]
    await store.apply(created(ev("camera:1", 4, point=WAJIMA)))
    assert await store.query(bbox=BOX_KANAZAWA) == []


async def test_bbox_query_agrees_with_brute_force_everywhere(store):
    rng = random.Random(17)
    events = []
    for n in range(150):
        lon, lat = rng.uniform(-179, 179), rng.choice([rng.uniform(-89, 89), rng.uniform(36, 38)])
        if n % 3:
            geometry = {"type": "Point", "coordinates": [lon, lat]}
        else:
            geometry = {"type": "LineString", "coordinates": [[lon, lat], [min(lon + rng.uniform(0, 3), 180),
                                                                          max(lat - rng.uniform(0, 3), -90)]]}
        events.append(ev(f"notice:{n:03d}", geometry=geometry))
    await store.apply(created(*events))
    hits = 0
    for _ in range(80):
        size = rng.choice([0.001, 0.5, 5, 60])
        # Boxes around a stored position, so each catches at least one and others fall near its edges.
        x, y = geometry_bbox(rng.choice(events).geometry)[:2]
        x0, y0 = max(x - size * rng.random(), -180), max(y - size * rng.random(), -90)
        box = (x0, y0, min(x + size * rng.random(), 180), min(y + size * rng.random(), 90))
        expected = [e.id for e in events if bbox_intersects(box, geometry_bbox(e.geometry))]
        assert [e.id for e in await store.query(bbox=box)] == expected, box
        hits += bool(expected)
    assert hits == 80


async def test_query_rejects_a_reversed_bbox(store):
    with pytest.raises(ValueError, match="bbox"):
        await store.query(bbox=(137.0, 36.0, 136.0, 37.0))


async def test_events_by_source_follows_the_latest_writer(store):
    await store.apply(created(ev("gauge:1", source="river"), ev("gauge:2", source="river"), ev("gauge:3", source="other")))
    await store.apply(created(ev("gauge:2", 2, source="other"), ev("gauge:1", 2, source="river", state=State.EXPIRED)))
    assert [e.id for e in await store.events_by_source("river")] == []
    assert [e.id for e in await store.events_by_source("river", include_ended=True)] == ["gauge:1"]
    assert [e.id for e in await store.events_by_source("other")] == ["gauge:2", "gauge:3"]


# -- observations -------------------------------------------------------------------------------


def T(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_observations_upsert_by_time_and_range_is_inclusive(store):
    await store.apply(Batch(observations=[Observation("g1", T(m), m / 10) for m in (20, 0, 10, 30)]))
    await store.apply(Batch(observations=[Observation("g1", T(10), None, "missing"), Observation("g2", T(10), 9.0)]))
    assert [(o.time, o.value, o.quality) for o in await store.observations("g1")] == [
        (T(0), 0.0, "ok"), (T(10), None, "missing"), (T(20), 2.0, "ok"), (T(30), 3.0, "ok")]
    assert [o.time for o in await store.observations("g1", since=T(10), until=T(20))] == [T(10), T(20)]
    assert [o.value for o in await store.observations("g1", since=T(25))] == [3.0]
    assert await store.observations("nope") == []


# -- outbox -------------------------------------------------------------------------------------


async def test_outbox_enqueue_is_exactly_once(store):
    await store.apply(Batch(outbox=[msg("m1"), msg("m1")]))
    await store.apply(Batch(outbox=[msg("m1", priority=9)]))
    claimed = await store.outbox_claim("x", 10, 30)
    assert [(i.message.id, i.message.priority) for i in claimed] == [("m1", 0)]


async def test_outbox_claims_priority_first_then_insertion_order(store, clock):
    await store.apply(Batch(outbox=[msg("low1"), msg("high", priority=5), msg("low2"), msg("other", channel="lalert")]))
    await store.apply(Batch(outbox=[msg("mid", priority=2), msg("low3")]))
    first = await store.outbox_claim("x", 3, 30)
    assert [i.message.id for i in first] == ["high", "mid", "low1"]
    assert all(i.attempts == 1 and i.lease_until == clock.now + timedelta(seconds=30) for i in first)
    assert len({i.lease_token for i in first}) == 3
    assert first[0].message == msg("high", priority=5)
    assert [i.message.id for i in await store.outbox_claim("x", 10, 30)] == ["low2", "low3"]
    assert await store.outbox_claim("x", 10, 30) == []
    assert await store.outbox_state("high") == (OutboxState.LEASED, 1)


async def test_outbox_not_before_holds_a_message_back(store, clock):
    await store.apply(Batch(outbox=[msg("later", not_before=clock.now + timedelta(minutes=5))]))
    assert await store.outbox_claim("x", 10, 30) == []
    clock.advance(minutes=5)
    assert [i.message.id for i in await store.outbox_claim("x", 10, 30)] == ["later"]


async def test_outbox_ack_is_idempotent(store):
    await store.apply(Batch(outbox=[msg("m1")]))
    (item,) = await store.outbox_claim("x", 1, 30)
    assert await store.outbox_ack("m1", item.lease_token) is True
    assert await store.outbox_ack("m1", item.lease_token) is True
    assert await store.outbox_state("m1") == (OutboxState.DONE, 1)
    assert await store.outbox_ack("m1", "forged") is False
    assert await store.outbox_ack("unknown", item.lease_token) is False
    assert await store.outbox_claim("x", 1, 30) == []


async def test_expired_lease_is_reclaimed_and_the_stale_token_loses(store, clock):
    await store.apply(Batch(outbox=[msg("m1")]))
    (first,) = await store.outbox_claim("x", 1, 30)
    clock.advance(29)
    assert await store.outbox_claim("x", 1, 30) == []
    clock.advance(1)
    (second,) = await store.outbox_claim("x", 1, 30)
    assert second.attempts == 2 and second.lease_token != first.lease_token
    assert await store.outbox_ack("m1", first.lease_token) is False
    assert await store.outbox_fail("m1", first.lease_token, "late", None) is False
    assert await store.outbox_ack("m1", second.lease_token) is True
    assert await store.outbox_state("m1") == (OutboxState.DONE, 2)


async def test_outbox_reclaim_returns_expired_leases_to_pending(store, clock):
    await store.apply(Batch(outbox=[msg("a"), msg("b"), msg("c", channel="lalert")]))
    await store.outbox_claim("x", 1, 10)
    await store.outbox_claim("lalert", 1, 60)
    clock.advance(10)
    assert await store.outbox_reclaim() == 1
    assert await store.outbox_state("a") == (OutboxState.PENDING, 1)
    assert await store.outbox_state("c") == (OutboxState.LEASED, 1)
    assert await store.outbox_reclaim() == 0
    assert [i.message.id for i in await store.outbox_claim("x", 5, 10)] == ["a", "b"]


async def test_outbox_fail_retries_later_or_goes_dead(store, clock):
    await store.apply(Batch(outbox=[msg("retry"), msg("dead")]))
    items = {i.message.id: i for i in await store.outbox_claim("x", 2, 30)}
    assert await store.outbox_fail("retry", items["retry"].lease_token, "HTTP 503", clock.now + timedelta(minutes=1))
    assert await store.outbox_fail("dead", items["dead"].lease_token, "HTTP 400", None)
    assert await store.outbox_state("retry") == (OutboxState.PENDING, 1)
    assert await store.outbox_state("dead") == (OutboxState.DEAD, 1)
    assert await store.outbox_fail("dead", items["dead"].lease_token, "again", None) is False
    assert await store.outbox_claim("x", 5, 30) == []
    clock.advance(minutes=1)
    (again,) = await store.outbox_claim("x", 5, 30)
    assert (again.message.id, again.attempts, again.last_error) == ("retry", 2, "HTTP 503")


async def test_outbox_sending_lease_expiry_makes_the_message_unknown_never_pending(store, clock):
    await store.apply(Batch(outbox=[msg("sent?"), msg("claimed")]))
    items = {i.message.id: i for i in await store.outbox_claim("x", 2, 30)}
    assert await store.outbox_sending("sent?", items["sent?"].lease_token) is True
    assert await store.outbox_sending("sent?", "forged") is False
    assert await store.outbox_state("sent?") == (OutboxState.SENDING, 1)
    clock.advance(30)
    assert await store.outbox_reclaim() == 2
    assert await store.outbox_state("sent?") == (OutboxState.UNKNOWN, 1)
    assert await store.outbox_state("claimed") == (OutboxState.PENDING, 1)
    # an unknown message is never claimed again by itself
    assert [i.message.id for i in await store.outbox_claim("x", 5, 30)] == ["claimed"]
    record = await store.outbox_get("sent?")
    assert (record.state, record.unknown_at, record.receipt) == (OutboxState.UNKNOWN, clock.now, None)


async def test_outbox_claim_also_turns_an_expired_send_unknown(store, clock):
    await store.apply(Batch(outbox=[msg("m1")]))
    (item,) = await store.outbox_claim("x", 1, 30)
    await store.outbox_sending("m1", item.lease_token)
    clock.advance(31)
    assert await store.outbox_claim("x", 1, 30) == []
    assert await store.outbox_state("m1") == (OutboxState.UNKNOWN, 1)
    # the interrupted holder's late answer still lands: it knows what happened
    assert await store.outbox_ack("m1", item.lease_token, {"id": "123"}) is True
    assert (await store.outbox_get("m1")).receipt == {"id": "123"}


async def test_outbox_ack_records_the_receipt(store):
    await store.apply(Batch(outbox=[msg("m1"), msg("m2")]))
    items = {i.message.id: i for i in await store.outbox_claim("x", 2, 30)}
    receipt = {"id": "1790000000000000001", "url": "https://x.com/i/status/1790000000000000001", "cost_usd": 0.2}
    assert await store.outbox_ack("m1", items["m1"].lease_token, receipt) is True
    assert await store.outbox_ack("m2", items["m2"].lease_token) is True
    record = await store.outbox_get("m1")
    assert (record.state, record.attempts, record.receipt, record.message) == (OutboxState.DONE, 1, receipt, msg("m1"))
    assert (await store.outbox_get("m2")).receipt is None
    assert await store.outbox_get("nope") is None


async def test_outbox_begin_send_marks_sending_and_records_the_attempt_in_one_write(store, clock):
    await store.apply(Batch(outbox=[msg("m1"), msg("m2"), msg("m3")]))
    items = {i.message.id: i for i in await store.outbox_claim("x", 3, 30)}
    detail = {"ids": {"m1": 1, "m2": 1}, "text": "大雨"}
    entry = await store.outbox_begin_send(
        [("m1", items["m1"].lease_token), ("m2", items["m2"].lease_token)], "dispatcher:x", "outbox.send", "x", detail
    )
    assert (entry.actor, entry.action, entry.target, entry.detail, entry.at) == (
        "dispatcher:x", "outbox.send", "x", detail, clock.now)
    assert (await store.audit(1))[0] == entry
    assert await store.outbox_state("m1") == (OutboxState.SENDING, 1)
    assert await store.outbox_state("m2") == (OutboxState.SENDING, 1)
    # a send cut short by its lease ends unknown, as with outbox_sending
    clock.advance(30)
    assert await store.outbox_reclaim() == 3
    assert await store.outbox_state("m1") == (OutboxState.UNKNOWN, 1)
    assert await store.outbox_state("m3") == (OutboxState.PENDING, 1)


async def test_outbox_begin_send_writes_nothing_when_any_lease_was_lost(store, clock):
    await store.apply(Batch(outbox=[msg("m1"), msg("m2")]))
    items = {i.message.id: i for i in await store.outbox_claim("x", 2, 30)}
    before = await store.audit(100)
    leases = [("m1", items["m1"].lease_token), ("m2", "forged")]
    assert await store.outbox_begin_send(leases, "dispatcher:x", "outbox.send", "x", {}) is None
    assert await store.outbox_begin_send([("nope", "t")], "dispatcher:x", "outbox.send", "x", {}) is None
    assert await store.audit(100) == before
    assert await store.outbox_state("m1") == (OutboxState.LEASED, 1)
    # already sending (a second begin with the same lease) counts as lost: never two records
    good = [("m1", items["m1"].lease_token)]
    assert await store.outbox_begin_send(good, "dispatcher:x", "outbox.send", "x", {}) is not None
    assert await store.outbox_begin_send(good, "dispatcher:x", "outbox.send", "x", {}) is None
    assert len(await store.audit(100)) == len(before) + 1


async def test_outbox_ack_many_settles_each_with_the_receipt(store, clock):
    await store.apply(Batch(outbox=[msg("m1"), msg("m2"), msg("m3")]))
    items = {i.message.id: i for i in await store.outbox_claim("x", 3, 30)}
    leases = [(m, items[m].lease_token) for m in ("m1", "m2")]
    await store.outbox_begin_send(leases, "dispatcher:x", "outbox.send", "x", {})
    receipt = {"id": "9", "key": "m1"}
    answers = await store.outbox_ack_many([*leases, ("m3", "forged"), ("nope", "t")], receipt)
    assert answers == [True, True, False, False]
    for mid in ("m1", "m2"):
        record = await store.outbox_get(mid)
        assert (record.state, record.receipt) == (OutboxState.DONE, receipt)
    assert await store.outbox_state("m3") == (OutboxState.LEASED, 1)
    assert await store.outbox_ack_many(leases, receipt) == [True, True]  # idempotent, like outbox_ack
    assert await store.outbox_ack_many([], receipt) == []


async def test_outbox_release_of_an_unknown_message_marks_the_resend(store, clock):
    await store.apply(Batch(outbox=[msg("m1")]))
    (first,) = await store.outbox_claim("x", 1, 10)
    await store.outbox_sending("m1", first.lease_token)
    clock.advance(10)
    await store.outbox_reclaim()
    unknown_at = clock.now
    assert await store.outbox_release("m1") is True
    assert await store.outbox_release("m1") is False  # already queued
    assert await store.outbox_ack("m1", first.lease_token) is False  # the released message has a new life
    (again,) = await store.outbox_claim("x", 1, 10)
    assert (again.message.id, again.attempts, again.unknown_at) == ("m1", 2, unknown_at)


async def test_outbox_hold_and_release_by_operator_and_by_lease(store, clock):
    await store.apply(Batch(outbox=[msg("queued"), msg("leased"), msg("done")]))
    assert await store.outbox_hold("queued", "operator: wording checked first") is True
    items = {i.message.id: i for i in await store.outbox_claim("x", 5, 30)}
    assert set(items) == {"leased", "done"}
    assert await store.outbox_hold("leased", "budget") is False  # a claimed message needs its token
    assert await store.outbox_hold("leased", "budget", items["leased"].lease_token) is True
    await store.outbox_ack("done", items["done"].lease_token)
    assert await store.outbox_hold("done", "late") is False
    held = await store.outbox_list(states=[OutboxState.HELD])
    assert [(r.message.id, r.last_error) for r in held] == [
        ("queued", "operator: wording checked first"), ("leased", "budget")]
    assert await store.outbox_claim("x", 5, 30) == []
    assert await store.outbox_release("leased") is True
    assert [i.message.id for i in await store.outbox_claim("x", 5, 30)] == ["leased"]


async def test_outbox_mark_sent_settles_an_unknown_or_held_message(store, clock):
    await store.apply(Batch(outbox=[msg("u"), msg("h"), msg("p")]))
    items = {i.message.id: i for i in await store.outbox_claim("x", 1, 10)}
    await store.outbox_sending("u", items["u"].lease_token)
    clock.advance(10)
    await store.outbox_reclaim()
    await store.outbox_hold("h", "operator")
    assert await store.outbox_mark_sent("u", {"duplicate": True}) is True
    assert await store.outbox_mark_sent("h", {"by": "operator"}) is True
    assert await store.outbox_mark_sent("p", {"by": "operator"}) is False  # queued: the dispatcher sends it
    assert (await store.outbox_get("u")).receipt == {"duplicate": True}
    assert await store.outbox_state("h") == (OutboxState.DONE, 0)


async def test_outbox_list_by_channel_and_state_in_insertion_order(store, clock):
    await store.apply(Batch(outbox=[msg("a"), msg("b", priority=5), msg("c", channel="mastodon"), msg("d")]))
    items = {i.message.id: i for i in await store.outbox_claim("x", 1, 30)}
    assert set(items) == {"b"}
    await store.outbox_fail("b", items["b"].lease_token, "HTTP 401", None)
    assert [r.message.id for r in await store.outbox_list()] == ["a", "b", "c", "d"]
    assert [r.message.id for r in await store.outbox_list("x")] == ["a", "b", "d"]
    assert [r.message.id for r in await store.outbox_list("x", limit=2)] == ["a", "b"]
    failed = await store.outbox_list("x", [OutboxState.DEAD])
    assert [(r.message.id, r.state, r.attempts, r.last_error) for r in failed] == [("b", OutboxState.DEAD, 1, "HTTP 401")]
    assert [r.message.id for r in await store.outbox_list(states=[OutboxState.PENDING])] == ["a", "c", "d"]
    assert await store.outbox_list(states=[]) == []
    assert await store.outbox_release("b") is True
    assert (await store.outbox_get("b")).state == OutboxState.PENDING


# -- change feed --------------------------------------------------------------------------------


async def _take(agen, n: int) -> list[int]:
    return [(await asyncio.wait_for(anext(agen), 5)).seq for _ in range(n)]


async def test_subscribe_delivers_backlog_then_waits_for_new_entries(store):
    await store.apply(created(ev("gauge:1"), ev("gauge:2")))
    sub = store.subscribe(0)
    assert await _take(sub, 2) == [1, 2]
    waiting = asyncio.ensure_future(anext(sub))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await store.apply(created(ev("gauge:3")))
    entry = await asyncio.wait_for(waiting, 5)
    assert (entry.seq, entry.event_id, entry.kind) == (3, "gauge:3", Kind.GAUGE)
    await sub.aclose()


async def test_subscriber_reconnecting_with_its_last_seq_misses_nothing(store):
    await store.apply(created(ev("gauge:1")))
    sub = store.subscribe(0)
    (last,) = await _take(sub, 1)
    await sub.aclose()
    for n in range(2, 6):  # written while disconnected
        await store.apply(created(ev(f"gauge:{n}")))
    sub = store.subscribe(last)
    assert await _take(sub, 4) == [2, 3, 4, 5]
    await sub.aclose()
    assert [e.seq for e in await store.feed_since(3, limit=1)] == [4]


async def test_subscribe_sees_writes_from_another_store_instance(store, tmp_path, request):
    other = SQLiteStore(store.path, clock=store.clock) if isinstance(store, SQLiteStore) else RedisStore(
        store.url, clock=store.clock, prefix=store.keys.prefix)
    await other.open()
    try:
        sub = store.subscribe(0)
        waiting = asyncio.ensure_future(anext(sub))
        await asyncio.sleep(0.05)
        await other.apply(created(ev("gauge:1")))
        assert (await asyncio.wait_for(waiting, 5)).event_id == "gauge:1"
        await sub.aclose()
    finally:
        await other.close()



async def test_a_feed_follower_ends_on_its_first_cancellation(store):
    """Cancelled at any moment (reading, waiting, or in the turn a commit wakes it) a follower ends,
    at most one blocking read later: a service stopping must not wait on it for ever."""
    writing = True

    async def write() -> None:
        n = 0
        while writing:
            n += 1
            await store.apply(created(ev(f"gauge:{n}")))
            await asyncio.sleep(random.uniform(0, 0.004))

    async def follow() -> None:
        async for _entry in store.subscribe(0):
            pass

    writer = asyncio.create_task(write())
    try:
        for attempt in range(150):
            follower = asyncio.create_task(follow())
            await asyncio.sleep(random.uniform(0, 0.02))
            follower.cancel()
            done, _ = await asyncio.wait({follower}, timeout=5)  # one read blocks 0.2 s at most
            assert done, f"cancellation {attempt + 1} was lost: the follower read on"
            assert follower.cancelled()
    finally:
        writing = False
        await writer


async def test_feed_head_is_the_newest_entry_including_another_writers(store, clock):
    assert await store.feed_head() is None  # an empty feed has no head
    await store.apply(created(ev("gauge:1"), ev("gauge:2")))
    clock.advance(30)
    (last,) = await store.apply(created(ev("gauge:1", 2, level=2)))
    assert await store.feed_head() == last
    assert (last.seq, last.event_id, last.version, last.at) == (3, "gauge:1", 2, clock.now)
    other = SQLiteStore(store.path, clock=store.clock) if isinstance(store, SQLiteStore) else RedisStore(
        store.url, clock=store.clock, prefix=store.keys.prefix)
    await other.open()
    try:
        (theirs,) = await other.apply(created(ev("road_closure:9")))
        assert await store.feed_head() == theirs  # the head another process wrote, in one read
        assert theirs.seq == 4
    finally:
        await other.close()

# -- audit and source status --------------------------------------------------------------------


async def test_audit_is_append_only_newest_first(store, clock):
    first = await store.audit_append("ops1", "drill.on", "system", {"reason": "訓練"})
    clock.advance(60)
    second = await store.audit_append("ops2", "outbox.hold", "x:m1", {})
    assert (first.seq, second.seq) == (1, 2)
    assert await store.audit() == [second, first]
    assert await store.audit(limit=1) == [second]
    assert (await store.audit())[1].detail == {"reason": "訓練"}


async def test_source_status_round_trips_every_field(store, clock):
    full = SourceStatus(
        source_id="river_gauge", state=SourceState.FAILING, last_attempt=clock.now,
        last_success=clock.now - timedelta(minutes=10), last_error="HTTP 502 from upstream",
        last_error_at=clock.now, consecutive_failures=3, latency_ms=812.5, items=42,
        content_time=clock.now - timedelta(minutes=12), details={"etag": "W/\"abc\"", "bytes": 1024},
    )
    await store.set_source_status(full)
    await store.set_source_status(SourceStatus(source_id="jma_extra"))
    assert await store.source_status("river_gauge") == full
    assert await store.source_status("missing") is None
    assert [s.source_id for s in await store.source_statuses()] == ["jma_extra", "river_gauge"]
    await store.set_source_status(SourceStatus(source_id="river_gauge", state=SourceState.OK))
    assert (await store.source_status("river_gauge")).last_error is None


# -- backend-specific failures and wiring -------------------------------------------------------


async def test_corrupt_sqlite_file_is_reported_by_name(tmp_path):
    path = tmp_path / "broken.sqlite3"
    path.write_bytes(b"this is not an sqlite database at all" * 200)
    with pytest.raises(StoreCorrupt, match="broken.sqlite3"):
        await SQLiteStore(path).open()
    assert path.read_bytes().startswith(b"this is not")


async def test_locked_sqlite_file_is_unavailable_by_name(tmp_path):
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="locked.sqlite3") as info:
            await SQLiteStore(path, busy_timeout_s=0.05).open()
        assert info.value.retryable
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_redis_unreachable_names_the_url_without_password():
    with socket_free_port() as port:
        store = RedisStore(f"redis://:s3cret@127.0.0.1:{port}/0", connect_timeout_s=1)
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}") as info:
            await store.open()
    assert "s3cret" not in str(info.value)


async def test_redis_keys_are_all_hash_tagged(redis_url, clock):
    store = RedisStore(redis_url, clock=clock, prefix="tagged")
    await store.open()
    try:
        line = {"type": "LineString", "coordinates": [[136.4, 36.5], [136.9, 36.6]]}
        await store.apply(Batch(
            changes=[Change(ChangeOp.CREATED, ev("road_closure:1", geometry=line)), Change(ChangeOp.CREATED, ev("gauge:1"))],
            observations=[Observation("g1", clock.now, 1.0)], outbox=[msg("m1"), msg("m2", not_before=clock.now)],
        ))
        (item, *_) = await store.outbox_claim("x", 5, 10)
        await store.outbox_ack(item.message.id, item.lease_token)
        await store.audit_append("a", "b", "c", {})
        await store.set_source_status(SourceStatus("s"))
        keys = redis_sync.Redis.from_url(redis_url, decode_responses=True).keys("*")
        assert len(keys) > 15
        assert all(k.startswith("{tagged}:") for k in keys), keys
    finally:
        await store.close()


def test_open_store_picks_the_backend_from_the_url(tmp_path):
    assert isinstance(open_store("redis://localhost:6379/0"), RedisStore)
    assert isinstance(open_store("rediss://user:pw@example.invalid:6380/1"), RedisStore)
    assert isinstance(open_store("redis+sentinel://h1:26379,h2:26379/mymaster"), RedisStore)
    assert open_store(str(tmp_path / "a.db")).path == tmp_path / "a.db"
    assert open_store(f"sqlite:///{tmp_path}/b.db").path == tmp_path / "b.db"
    assert str(open_store("sqlite:///var/bosai.db").path) == "var/bosai.db"
    with pytest.raises(ValueError, match="unknown scheme"):
        open_store("postgres://db/bosai")


def test_redis_urls_parse_and_never_show_the_password():
    assert safe_url("redis://:s3cret@db:6379/2") == "redis://:***@db:6379/2"
    assert safe_url("rediss://app:s3cret@db/0") == "rediss://app:***@db/0"
    assert safe_url("redis://db:6379/0") == "redis://db:6379/0"
    client = client_from_url("redis+sentinel://:pw@s1:26380,s2/bosai-master/3", 1.0)
    pool = client.connection_pool
    assert pool.service_name == "bosai-master"
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["password"] == "pw"
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in pool.sentinel_manager.sentinels] == [("s1", 26380), ("s2", 26379)]
    with pytest.raises(ValueError, match="service_name"):
        client_from_url("redis+sentinel://:pw@s1:26380", 1.0)


class socket_free_port:
    """A port nothing listens on: bound (so nobody else takes it) but never listening."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()


async def test_sqlite_file_of_the_first_schema_gains_the_outbox_receipt_columns(tmp_path, clock):
    path = tmp_path / "old.sqlite3"
    store = SQLiteStore(path, clock=clock)
    await store.open()
    await store.apply(Batch(outbox=[msg("m1")]))
    await store.close()
    with sqlite3.connect(path) as conn:  # as a file written before receipts existed
        conn.execute("ALTER TABLE outbox DROP COLUMN receipt")
        conn.execute("ALTER TABLE outbox DROP COLUMN unknown_at")
        conn.execute("PRAGMA user_version=1")
    conn.close()
    store = SQLiteStore(path, clock=clock)
    await store.open()
    try:
        (item,) = await store.outbox_claim("x", 1, 30)
        assert await store.outbox_ack("m1", item.lease_token, {"id": "1"})
        assert (await store.outbox_get("m1")).receipt == {"id": "1"}
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
    conn.close()
