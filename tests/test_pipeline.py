"""The pipeline coordinator against the real SQLite store: diff, apply, end, expire, reject."""
from __future__ import annotations

from datetime import timedelta

import pytest

from collectors.base import CollectorError, PayloadError, Snapshot, SourceConfig
from geo.codes import AreaCodes
from geo.model import Event, Kind, Observation, SourceRef, State, Status
from geo.store import open_store
from geo.store.base import ChangeOp, OutboxMessage, SourceState
from service.pipeline import Pipeline
from service.poller import SourcePoller
from tests.conftest import T0


@pytest.fixture(params=["sqlite", "redis"])
async def store(request, tmp_path, clock):
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = str(tmp_path / "bosai.sqlite3")
    s = open_store(url, clock=clock)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def pipeline(store, clock) -> Pipeline:
    return Pipeline(store, AreaCodes.load(), clock=clock)


def sediment(code: str, level: int = 4, state: State = State.ACTIVE, serial: int = 1, **kw) -> Event:
    return Event(
        id=f"sediment:{code}",
        kind=Kind.SEDIMENT_WARNING,
        level=level,
        state=state,
        areas=(code,),
        title="土砂災害警戒情報",
        source=SourceRef(source_id="jma", upstream_id="EV1", sequence=serial),
        **kw,
    )


def road(key: str, lon: float = 136.6) -> Event:
    return Event(
        id=f"road:{key}",
        kind=Kind.ROAD_CLOSURE,
        level=2,
        areas=("17201",),
        geometry={"type": "LineString", "coordinates": [[lon, 36.5], [lon + 0.01, 36.51]]},
        source=SourceRef(source_id="roads"),
    )


async def test_new_event_is_created_once(pipeline, store):
    entries = await pipeline.ingest(Snapshot("jma", [sediment("17201")]))
    assert [(e.op, e.event_id, e.version) for e in entries] == [(ChangeOp.CREATED, "sediment:17201", 1)]
    assert await pipeline.ingest(Snapshot("jma", [sediment("17201")])) == []
    assert (await store.get("sediment:17201")).version == 1


async def test_material_change_makes_a_new_version_with_supersedes(pipeline, store):
    await pipeline.ingest(Snapshot("jma", [sediment("17201", level=3)]))
    entries = await pipeline.ingest(Snapshot("jma", [sediment("17201", level=4, serial=2)]))
    assert [(e.op, e.version) for e in entries] == [(ChangeOp.UPDATED, 2)]
    current = await store.get("sediment:17201")
    assert current.level == 4 and current.supersedes == "sediment:17201@1"
    assert [e.level for e in await store.history("sediment:17201")] == [3, 4]


async def test_same_content_with_newer_serial_is_not_a_new_version(pipeline, store):
    await pipeline.ingest(Snapshot("jma", [sediment("17201", serial=1)]))
    assert await pipeline.ingest(Snapshot("jma", [sediment("17201", serial=2)])) == []


async def test_a_moved_geometry_is_a_new_version_and_the_same_one_is_not(pipeline, store):
    await pipeline.ingest(Snapshot("roads", [road("a")]))
    assert await pipeline.ingest(Snapshot("roads", [road("a")])) == []
    # A fresh pipeline compares against the stored (decoded) version: still nothing material.
    assert await Pipeline(store, AreaCodes.load(), clock=pipeline.clock).ingest(Snapshot("roads", [road("a")])) == []
    entries = await pipeline.ingest(Snapshot("roads", [road("a", lon=136.61)]))
    assert [(e.op, e.version) for e in entries] == [(ChangeOp.UPDATED, 2)]
    assert (await store.get("road:a")).geometry["coordinates"][0] == (136.61, 36.5)


async def test_lifting_comes_from_the_message(pipeline, store):
    await pipeline.ingest(Snapshot("jma", [sediment("17201"), sediment("17202")]))
    # a later message that no longer mentions 17202 ends nothing (JMA feeds are not complete lists)
    await pipeline.ingest(Snapshot("jma", [sediment("17201", level=0, state=State.LIFTED, serial=2)]))
    assert (await store.get("sediment:17201")).state == State.LIFTED
    assert (await store.get("sediment:17202")).state == State.ACTIVE


async def test_lifting_something_never_seen_stores_nothing(pipeline, store):
    assert await pipeline.ingest(Snapshot("jma", [sediment("17203", level=0, state=State.LIFTED)])) == []
    assert await store.get("sediment:17203") is None


async def test_late_older_serial_never_overwrites_newer(pipeline, store):
    await pipeline.ingest(Snapshot("jma", [sediment("17201", level=0, state=State.LIFTED, serial=3)]))
    await pipeline.ingest(Snapshot("jma", [sediment("17201", level=4, serial=4)]))
    assert await pipeline.ingest(Snapshot("jma", [sediment("17201", level=3, serial=2)])) == []
    assert (await store.get("sediment:17201")).level == 4


async def test_reissue_after_lift_is_a_new_occurrence(pipeline, store):
    await pipeline.ingest(Snapshot("jma", [sediment("17201", serial=1)]))
    await pipeline.ingest(Snapshot("jma", [sediment("17201", level=0, state=State.LIFTED, serial=2)]))
    entries = await pipeline.ingest(
        Snapshot("jma", [sediment("17201", serial=1).model_copy(update={"source": SourceRef(source_id="jma", upstream_id="EV2", sequence=1)})])
    )
    assert [(e.op, e.version) for e in entries] == [(ChangeOp.CREATED, 3)]


async def test_complete_snapshot_ends_absent_items_incomplete_does_not(pipeline, store):
    await pipeline.ingest(Snapshot("roads", [road("a"), road("b", 136.7)], complete=True))
    entries = await pipeline.ingest(Snapshot("roads", [road("a")], complete=True))
    assert [(e.op, e.event_id) for e in entries] == [(ChangeOp.LIFTED, "road:b")]
    ended = await store.get("road:b")
    assert ended.state == State.LIFTED and ended.properties["ended_reason"]
    await pipeline.ingest(Snapshot("jma", [sediment("17201")]))
    assert await pipeline.ingest(Snapshot("jma", [])) == []
    assert (await store.get("sediment:17201")).state == State.ACTIVE


async def test_bad_events_are_rejected_and_counted_the_rest_applies(pipeline, store):
    bowtie = {"type": "Polygon", "coordinates": [[[136.6, 36.5], [136.7, 36.6], [136.7, 36.5], [136.6, 36.6], [136.6, 36.5]]]}
    outside = {"type": "Point", "coordinates": [236.6, 36.5]}
    events = [
        sediment("17201"),
        sediment("13101"),  # Tokyo: not a municipality of the configured prefecture
        road("bow").model_copy(update={"geometry": bowtie}),
        road("far").model_copy(update={"geometry": outside}),
    ]
    entries = await pipeline.ingest(Snapshot("mixed", events))
    assert [e.event_id for e in entries] == ["sediment:17201"]
    assert pipeline.rejected == {"area": 1, "geometry": 2}
    assert await store.get("road:bow") is None


async def test_expiry_is_applied_by_time_not_absence(pipeline, store, clock):
    await pipeline.ingest(Snapshot("jma", [sediment("17201", expires_at=T0 + timedelta(hours=1))]))
    assert await pipeline.expire() == []
    clock.now = T0 + timedelta(hours=1, seconds=1)
    entries = await pipeline.expire()
    assert [(e.op, e.version) for e in entries] == [(ChangeOp.EXPIRED, 2)]
    assert (await store.get("sediment:17201")).state == State.EXPIRED
    assert await store.query() == []


async def test_observations_are_stored_with_their_changes(pipeline, store):
    obs = [Observation("1700000124", T0 - timedelta(minutes=10 * i), 1.0 + i / 10) for i in range(3)]
    await pipeline.ingest(Snapshot("gauges", [], obs))
    got = await store.observations("1700000124")
    assert [o.value for o in got] == [1.2, 1.1, 1.0]


async def test_rules_enqueue_outbox_rows_in_the_same_apply(store, clock):
    def rules(change, previous):
        if change.event.status == Status.ACTUAL and change.event.level >= 4:
            yield OutboxMessage(
                id=f"x:{change.event.version_ref}", channel="x", event_id=change.event.id,
                version=change.event.version, payload={"text": change.event.title},
            )

    pipeline = Pipeline(store, AreaCodes.load(), clock=clock, rules=rules)
    await pipeline.ingest(Snapshot("jma", [sediment("17201"), sediment("17202", level=3)]))
    claimed = await store.outbox_claim("x", 10, 30)
    assert [c.message.id for c in claimed] == ["x:sediment:17201@1"]


class ScriptedCollector:
    """A collector whose next outcome the test sets: a snapshot or an error."""

    def __init__(self) -> None:
        self.source_id = "scripted"
        self.config = SourceConfig(type="scripted", url="http://127.0.0.1/x", expected_cadence_s=600)
        self.next: Snapshot | Exception = Snapshot("scripted")

    async def poll(self, now):
        if isinstance(self.next, Exception):
            raise self.next
        return self.next


async def test_failed_poll_changes_nothing_and_recovery_is_recorded(pipeline, store, clock):
    collector = ScriptedCollector()
    poller = SourcePoller(collector, pipeline, store, clock=clock)
    collector.next = Snapshot("scripted", [sediment("17201")], content_time=T0)
    assert (await poller.run_once()).state == SourceState.OK
    for error in (CollectorError("connection reset"), PayloadError("malformed XML"), RuntimeError("bug")):
        collector.next = error
        status = await poller.run_once()
        assert status.state == SourceState.FAILING
        assert (await store.get("sediment:17201")).state == State.ACTIVE
    assert status.consecutive_failures == 3 and "bug" in status.last_error
    collector.next = Snapshot("scripted", [sediment("17201")], content_time=T0)
    assert (await poller.run_once()).state == SourceState.OK


async def test_http_200_with_old_content_is_stale_not_ok(pipeline, store, clock):
    collector = ScriptedCollector()
    poller = SourcePoller(collector, pipeline, store, clock=clock)
    collector.next = Snapshot("scripted", [], content_time=T0 - timedelta(hours=3))
    status = await poller.run_once()
    assert status.state == SourceState.STALE
    assert (await store.source_status("scripted")).state == SourceState.STALE


async def test_within_one_snapshot_every_serial_applies_in_order(pipeline, store):
    batch = [sediment("17201", level=4, serial=3), sediment("17201", level=3, serial=2)]
    await pipeline.ingest(Snapshot("jma", batch))
    assert (await store.get("sediment:17201")).source.sequence == 3
    assert [(e.source.sequence, e.level) for e in await store.history("sediment:17201")] == [(2, 3), (3, 4)]
    batch = [sediment("17202", level=3, serial=1), sediment("17202", level=0, state=State.LIFTED, serial=2)]
    await pipeline.ingest(Snapshot("jma", batch))
    # both reports count: a later 取消 of serial 2 brings serial 1's warning back
    assert [e.state for e in await store.history("sediment:17202")] == [State.ACTIVE, State.LIFTED]


async def test_a_cancellation_undoes_the_report_it_cancels(pipeline, store):
    from collectors.base import Cancellation

    await pipeline.ingest(Snapshot("jma", [sediment("17201", level=4, serial=4)]))
    report5 = [
        sediment("17201", level=4, serial=5, text="継続"),  # 金沢: still warned, new wording
        sediment("17463", level=4, serial=5),  # 能登町: newly warned by the report being cancelled
    ]
    await pipeline.ingest(Snapshot("jma", report5))
    entries = await pipeline.ingest(Snapshot("jma", [], cancellations=[Cancellation("EV1", 6)]))
    assert sorted((e.event_id, e.op) for e in entries) == [
        ("sediment:17201", ChangeOp.UPDATED),
        ("sediment:17463", ChangeOp.CANCELLED),
    ]
    kanazawa = await store.get("sediment:17201")
    assert kanazawa.state == State.ACTIVE and kanazawa.text == "" and kanazawa.source.sequence == 6
    noto = await store.get("sediment:17463")
    assert noto.state == State.CANCELLED and noto.level == 0
    # the cancelled report arriving late changes nothing
    assert await pipeline.ingest(Snapshot("jma", report5)) == []


@pytest.fixture
async def redis_store(redis_url, clock):
    s = open_store(redis_url, clock=clock)
    await s.open()
    yield s
    await s.close()


async def test_two_writers_on_one_redis_never_lose_a_version(redis_store, clock):
    """Two service processes on one Redis: neither may diff against a version the other replaced."""
    store = redis_store
    a = Pipeline(store, AreaCodes.load(), clock=clock)
    b = Pipeline(store, AreaCodes.load(), clock=clock)
    await a.ingest(Snapshot("jma", [sediment("17201", level=3, serial=1)]))
    await b.ingest(Snapshot("jma", [sediment("17201", level=4, serial=2)]))
    entries = await a.ingest(Snapshot("jma", [sediment("17201", level=5, serial=3)]))
    assert [(e.op, e.version) for e in entries] == [(ChangeOp.UPDATED, 3)]
    assert [e.level for e in await store.history("sediment:17201")] == [3, 4, 5]
    # and a stale memory never hides a change: a's view of the level-4 version was never read,
    # yet re-sending level 4 now is a real change back from 5
    entries = await b.ingest(Snapshot("jma", [sediment("17201", level=4, serial=4)]))
    assert [(e.op, e.version) for e in entries] == [(ChangeOp.UPDATED, 4)]
