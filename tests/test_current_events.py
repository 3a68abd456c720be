"""The read model of the current events against real SQLite and a real redis-server: it follows
every writer's commits, takes the pipeline's own at once, and reloads once (losing nothing) when
the feed past its cursor is gone or too long."""
from __future__ import annotations

import asyncio
import sqlite3
import uuid
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from collectors.base import Snapshot
from geo.codes import AreaCodes
from geo.model import Event, Kind, SourceRef, State
from geo.store.base import Batch, Change, ChangeOp, Store
from geo.store.redis import RedisStore
from geo.store.sqlite import SQLiteStore
from service.current_events import CurrentEvents
from service.keys import CURRENT_EVENTS_KEY, PIPELINE_KEY, STORE_READY_KEY
from service.pipeline import Pipeline
from service.settings import load_settings
from service.web.keys import SNAPSHOT_KEY
from tests.service_client import build_app

CODES = AreaCodes.load()


def warning(code: str, level: int = 4, serial: int = 1, state: State = State.ACTIVE) -> Event:
    return Event(id=f"sediment:{code}", kind=Kind.SEDIMENT_WARNING, level=level, state=state, areas=(code,),
                 title="土砂災害警戒情報", source=SourceRef(source_id="jma", upstream_id="EV1", sequence=serial))


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path):
    """Opens stores of one backend that share their data, as the service processes of a deployment do."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    prefix = f"t{uuid.uuid4().hex[:8]}"

    @asynccontextmanager
    async def process(clock):
        store: Store = (RedisStore(url, clock=clock, prefix=prefix, block_s=0.2) if url
                        else SQLiteStore(tmp_path / "bosai.sqlite3", clock=clock, poll_s=0.1))
        await store.open()
        try:
            yield store
        finally:
            await store.close()

    return process


async def reaches(model: CurrentEvents, seq: int, timeout_s: float = 10) -> None:
    async def wait() -> None:
        while model.seq < seq:
            await model.wait_moved(model.generation)

    await asyncio.wait_for(wait(), timeout_s)


@asynccontextmanager
async def following(model: CurrentEvents):
    task = asyncio.create_task(model.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def trim_feed(store: Store, upto: int) -> None:
    """Drop the feed entries up to `upto`, as an operator trimming the stream or table would."""
    if isinstance(store, RedisStore):
        client = aioredis.Redis.from_url(store.url)
        await client.xtrim(store.keys.feed, minid=f"{upto + 1}-0", approximate=False)
        await client.aclose()
    else:
        with sqlite3.connect(store.path) as conn:
            conn.execute("DELETE FROM feed WHERE seq <= ?", (upto,))


async def test_a_reader_stops_showing_an_event_another_process_ended(backend, clock):
    async with backend(clock) as mine, backend(clock) as theirs:
        model = CurrentEvents(mine)
        writer = Pipeline(theirs, CODES, clock=clock)  # another service process
        async with following(model):
            (created,) = await writer.ingest(Snapshot("jma", [warning("17201", 4)]))
            await reaches(model, created.seq)
            assert [e.id for e in model.active()] == ["sediment:17201"]
            (lifted,) = await writer.ingest(Snapshot("jma", [warning("17201", 0, 2, State.LIFTED)]))
            await reaches(model, lifted.seq)
            assert model.active() == []  # the feed ended it: no reader may still show it
            assert model.get("sediment:17201").state is State.LIFTED
            assert model.ordered() == await mine.query(include_ended=True, include_exercise=True)
        assert model.reloads == 1  # the first load only: every later change read by id



async def test_the_events_in_force_of_a_kind_are_what_the_store_answers(backend, clock):
    async with backend(clock) as store:
        model = CurrentEvents(store)
        writer = Pipeline(store, CODES, clock=clock)
        shelter = Event(id="shelter:E1720100102111", kind=Kind.SHELTER, areas=("17201",), title="伏見台小学校 開設",
                        source=SourceRef(source_id="orders"), properties={"status": "open"})
        async with following(model):
            await writer.ingest(Snapshot("jma", [warning("17201"), warning("17204")]))
            await writer.ingest(Snapshot("orders", [shelter]))
            (*_, last) = await writer.ingest(Snapshot("jma", [warning("17201"), warning("17204", 0, 2, State.LIFTED)]))
            await reaches(model, last.seq)
            assert [e.id for e in model.active_of(Kind.SEDIMENT_WARNING)] == ["sediment:17201"]  # lifted: not in force
            for kind in (Kind.SEDIMENT_WARNING, Kind.SHELTER, Kind.GAUGE):
                assert model.active_of(kind) == await store.query(kinds=[kind]), kind


async def test_the_pipeline_sees_its_own_commit_at_once_and_the_other_processes_on_its_next_diff(backend, clock):
    async with backend(clock) as mine, backend(clock) as theirs:
        model = CurrentEvents(mine)
        pipeline = Pipeline(mine, CODES, clock=clock, current=model)  # no follower running
        (first,) = await pipeline.ingest(Snapshot("jma", [warning("17201", 3)]))
        assert (model.seq, model.get("sediment:17201").level) == (first.seq, 3)
        other = Pipeline(theirs, CODES, clock=clock)
        await other.ingest(Snapshot("jma", [warning("17201", 4, 2)]))
        assert model.get("sediment:17201").level == 3  # not followed yet...
        # ...yet the next diff is against version 2: level 3 again is a real change, numbered 3
        (third,) = await pipeline.ingest(Snapshot("jma", [warning("17201", 3, 3)]))
        assert (third.version, third.op) == (3, ChangeOp.UPDATED)
        assert [e.level for e in await mine.history("sediment:17201")] == [3, 4, 3]
        assert model.get("sediment:17201").version == 3 and model.reloads == 1


async def test_a_feed_trimmed_past_the_cursor_reloads_once_and_loses_nothing(backend, clock):
    async with backend(clock) as mine, backend(clock) as theirs:
        model = CurrentEvents(mine)
        writer = Pipeline(theirs, CODES, clock=clock)
        await writer.ingest(Snapshot("jma", [warning("17201", 4), warning("17202", 3)]))
        await model.refresh()
        loaded = model.generation
        before = model.get("sediment:17202")
        await writer.ingest(Snapshot("jma", [warning("17202", 0, 2, State.LIFTED), warning("17203", 5, 2)]))
        (last,) = await writer.ingest(Snapshot("jma", [warning("17201", 5, 3)]))
        await trim_feed(theirs, last.seq - 1)  # the entries just past the model's cursor are gone
        await model.refresh()
        assert model.reloads == 2 and model.seq == last.seq
        assert model.ordered() == await mine.query(include_ended=True, include_exercise=True)
        assert [(e.id, e.level) for e in model.active()] == [("sediment:17201", 5), ("sediment:17203", 5)]
        changed = model.changed_since(loaded)  # readers still learn what the reload changed
        assert changed == {"sediment:17201": changed["sediment:17201"], "sediment:17202": before,
                           "sediment:17203": None}
        assert changed["sediment:17201"].level == 4


async def test_far_behind_it_reloads_once_instead_of_reading_every_id(backend, clock):
    async with backend(clock) as mine:
        model = CurrentEvents(mine, reload_past=3)
        await model.refresh()
        assert model.reloads == 1 and model.seq == 0 and model.ordered() == []
        await mine.apply(Batch([Change(ChangeOp.CREATED, warning(code).model_copy(update={"id": f"sediment:{code}"}))
                                for code in ("17201", "17202")]))
        await model.refresh()
        assert model.reloads == 1 and len(model.events) == 2  # two entries: read by id
        for code in ("17203", "17204", "17205"):
            await mine.apply(Batch([Change(ChangeOp.CREATED, warning(code))]))
        await model.refresh()
        assert model.reloads == 2 and model.seq == 5  # three entries: one query instead
        assert sorted(model.events) == [f"sediment:1720{n}" for n in range(1, 6)]


async def test_a_reader_too_far_behind_is_told_to_redo_everything(backend, clock):
    async with backend(clock) as mine:
        model = CurrentEvents(mine, remember=2)
        await model.refresh()
        start = model.generation
        for serial, level in enumerate((2, 3, 4), start=1):
            await Pipeline(mine, CODES, clock=clock, current=model).ingest(
                Snapshot("jma", [warning("17201", level, serial)]))
        assert model.changed_since(model.generation) == {}
        assert set(model.changed_since(model.generation - 2)) == {"sediment:17201"}
        assert model.changed_since(model.generation - 2)["sediment:17201"].level == 2
        assert model.changed_since(start) is None  # three advances back, two remembered


async def test_the_versions_remembered_for_readers_are_bounded(backend, clock):
    async with backend(clock) as mine:
        model = CurrentEvents(mine, remember_ids=3)
        pipeline = Pipeline(mine, CODES, clock=clock, current=model)
        await model.refresh()
        for serial, level in enumerate((2, 3, 4), start=1):  # two replaced versions per advance
            await pipeline.ingest(Snapshot("jma", [warning("17201", level, serial), warning("17202", level, serial)]))
        assert set(model.changed_since(model.generation - 1)) == {"sediment:17201", "sediment:17202"}
        assert model.changed_since(model.generation - 2) is None  # four versions would exceed three


async def test_a_second_service_on_redis_shows_the_firsts_writes_and_ends(redis_url, tmp_path):
    """Two service processes on one Redis: B's portal snapshot and pages follow what A ingests."""
    def app(name: str):
        settings = load_settings(overrides={"store": {"url": redis_url},
                                            "service": {"data_dir": str(tmp_path / name)}, "sources": {}})
        return build_app(settings)  # the snapshot's pauses on virtual time: built as soon as the loop is free

    async with TestClient(TestServer(app("a"))) as a, TestClient(TestServer(app("b"))) as b:
        for client in (a, b):
            await asyncio.wait_for(client.app[STORE_READY_KEY].wait(), 10)
        (created,) = await a.app[PIPELINE_KEY].ingest(Snapshot("jma", [warning("17201", 4)]))
        await b.app[SNAPSHOT_KEY].wait_built(created.seq, 10)
        body = await (await b.get("/api/v1/events")).json()
        assert [f["id"] for f in body["features"]] == ["sediment:17201"]
        assert "土砂災害警戒情報" in await (await b.get("/list?lang=ja&area=17201")).text()
        (lifted,) = await a.app[PIPELINE_KEY].ingest(Snapshot("jma", [warning("17201", 0, 2, State.LIFTED)]))
        await b.app[SNAPSHOT_KEY].wait_built(lifted.seq, 10)
        body = await (await b.get("/api/v1/events")).json()
        assert body["features"] == []  # ended on the shared feed: B shows it no more
        assert b.app[CURRENT_EVENTS_KEY].get("sediment:17201").state is State.LIFTED
        page = await (await b.get("/list?lang=ja&area=17201")).text()
        assert "土砂災害警戒情報" not in page
