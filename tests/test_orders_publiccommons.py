"""公共情報コモンズ documents: the wire reader on the public samples, and municipal orders and shelter
status from the simulator's heavy-rain scenario, through the collector and the pipeline into SQLite."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from collectors.base import PayloadError
from collectors.http import Fetcher
from collectors.publiccommons import Config, PublicCommonsCollector
from collectors.publiccommons_wire import EvacuationBody, parse_document
from geo.model import Kind, State, Status
from geo.region import DEFAULT_SHELTERS, Region
from geo.store import open_store
from publishers import lalert_document as ld
from service.pipeline import Pipeline
from service.poller import SourcePoller
from simulator.server import running_simulator

SAMPLES = Path(__file__).parent / "data" / "reference" / "lalert_publiccommons"
JST = timezone(timedelta(hours=9))


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.xml")))
def test_every_public_sample_is_read(name):
    doc = parse_document((SAMPLES / name).read_bytes())
    assert doc.category == "EvacuationOrder"
    assert doc.revision == 1 and doc.operation == "new"
    assert doc.document_id in ("7e573043-fc3c-4a6b-bdb8-a9608233b0af", "74ee219a-970d-417f-a9ab-a9ff1d3fe316")


def test_soap_sample_body_is_read_whole():
    doc = parse_document((SAMPLES / "publiccommons-py_soap1.xml").read_bytes())
    assert doc.status == "Test" and doc.target_areas == ("131016",) and doc.office_id == "131016"
    assert (doc.urgency, doc.severity, doc.certainty) == ("Future", "Severe", "Observed")
    assert isinstance(doc.body, EvacuationBody)
    detail = doc.body.details[0]
    assert (detail.sort, detail.issue_or_lift) == ("避難準備", "発令")
    assert len(detail.areas) == 12
    first = detail.areas[0]
    assert first.location.name == "一ツ橋一丁目" and first.location.town_code == "131010001001"
    assert (first.location.lat, first.location.lon) == (35.691634, 139.756685)
    assert first.at == datetime(2013, 4, 10, 18, 55, tzinfo=JST)


@pytest.mark.parametrize(("payload", "message"), [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>', "DOCTYPE"),
    (b"<feed/>", "neither an EDXL-DE"),
    (b'<d:EDXLDistribution xmlns:d="urn:oasis:names:tc:emergency:EDXL:DE:1.0"/>', "contentObject is missing"),
    ((SAMPLES / "publiccommons-py_sample1.xml").read_bytes().replace(b"<commons:category>EvacuationOrder</commons:category>", b""),
     "category is missing"),
    ((SAMPLES / "publiccommons-py_soap1.xml").read_bytes().replace("発令".encode(), "発表".encode()),
     "IssueOrLift is '発表'"),
])
def test_bad_documents_are_refused_with_the_reason(payload, message):
    with pytest.raises(PayloadError, match=message):
        parse_document(payload)


def test_other_region_and_other_categories_are_skipped():
    geo = Region.default()
    collector = PublicCommonsCollector("pc", Config(url="http://127.0.0.1/"), None, geo.codes)
    now = datetime(2026, 7, 10, tzinfo=JST)
    assert collector.from_document((SAMPLES / "publiccommons-py_soap1.xml").read_bytes(), now) is None  # 千代田区


def _kanazawa_doc(revision: int, operation: str, orders: tuple) -> bytes:
    at = datetime(2026, 7, 10, 12, revision, tzinfo=JST)
    return ld.write(ld.Document(
        category="EvacuationOrder", document_id="doc-17201", revision=revision, operation=operation,
        status="actual", office=ld.Office("危機管理課", "石川県金沢市", "172014"), area_name="石川県金沢市",
        area_jis6="172014", title="石川県金沢市 避難情報", headline="金沢市 避難指示", sent=at, report_time=at,
        orders=orders,
    ))


async def test_cancel_undoes_the_revision_and_a_late_older_revision_changes_nothing(tmp_path):
    geo = Region.default()
    store = open_store(str(tmp_path / "s.sqlite3"))
    await store.open()
    try:
        pipeline = Pipeline(store, geo.codes, enrich=geo.enricher())
        collector = PublicCommonsCollector("pc", Config(url="http://127.0.0.1/"), None, geo.codes)
        now = datetime(2026, 7, 10, 12, 30, tzinfo=JST)
        place = (ld.Place("湯涌地区", "172014"), now)
        from collectors.base import Snapshot

        async def ingest(data: bytes):
            events, cancels = collector.from_document(data, now)
            return await pipeline.ingest(Snapshot("pc", events, cancellations=cancels))

        await ingest(_kanazawa_doc(1, "new", (ld.Order("高齢者等避難", "発令", (place,)),)))
        await ingest(_kanazawa_doc(2, "update", (ld.Order("避難指示", "発令", (place,)),)))
        assert (await store.get("evacuation:17201")).level == 4
        assert await ingest(_kanazawa_doc(1, "new", (ld.Order("高齢者等避難", "発令", (place,)),))) == []
        await ingest(_kanazawa_doc(3, "cancel", ()))
        event = await store.get("evacuation:17201")
        assert event.level == 3 and event.state == State.ACTIVE  # revision 2 undone: revision 1 stands
        assert event.properties["orders"][0]["sort"] == "高齢者等避難"
    finally:
        await store.close()


async def test_heavy_rain_orders_and_shelters_reach_the_store(tmp_path):
    async with running_simulator("heavy-rain", speed=1, seed=1, port=0) as sim, Fetcher() as fetcher:
        sim.clock.pause()
        geo = Region.default()
        store = open_store(str(tmp_path / "bosai.sqlite3"))
        await store.open()
        try:
            pipeline = Pipeline(store, geo.codes, enrich=geo.enricher(), clock=sim.clock.now)
            config = Config(url=f"{sim.base_url}/publiccommons/feed.atom", allow_private=True, retries=0, timeout_s=2)
            poller = SourcePoller(PublicCommonsCollector("orders", config, fetcher, geo.codes), pipeline, store,
                                  clock=sim.clock.now)

            async def at(hours: float):
                sim.clock.jump_elapsed(hours)
                await poller.run_once()

            await at(9.0)
            assert await store.query(kinds=[Kind.EVACUATION, Kind.SHELTER]) == []
            await at(10.6)
            order = await store.get("evacuation:17201")
            assert (order.level, order.state, order.status) == (3, State.ACTIVE, Status.ACTUAL)
            assert "高齢者等避難" in order.title and "警戒レベル３" in order.title
            assert order.properties["orders"][0]["districts"] == ["湯涌地区", "犀川地区"]
            assert order.geometry is not None  # the municipality's area, from enrichment
            shelter = await store.get("shelter:E1720100102111")  # 伏見台小学校, resolved by name to its 共通ID
            assert shelter.properties["status"] == "open" and shelter.properties["registered"] is True
            assert shelter.properties["capacity"] == 400

            await at(10.8)  # the correction: a new version marked as such, the same level
            order = await store.get("evacuation:17201")
            assert order.version == 2 and order.properties["correction"] is True
            assert order.properties["orders"][0]["districts"] == ["湯涌地区", "犀川地区", "浅川地区"]

            await at(14.1)
            assert (await store.get("evacuation:17201")).level == 4
            assert (await store.get("evacuation:17203")).level == 4
            assert (await store.get("shelter:E1720100102111")).properties["status"] == "crowded"
            assert (await store.get("shelter:E1720100102111")).properties["head_count"] == 380

            await at(21.5)  # 金沢市 lifts everything (解除), then closes its shelter
            order = await store.get("evacuation:17201")
            assert (order.level, order.state) == (0, State.LIFTED)
            assert [o["action"] for o in order.properties["orders"]] == ["解除", "解除"]
            assert (await store.get("shelter:E1720100102111")).properties["status"] == "closed"
            assert (await store.get("evacuation:17204")).level == 3
            history = await store.history("evacuation:17201")
            assert [e.level for e in history] == [3, 3, 4, 0]
            status = await store.source_status("orders")
            assert status.state.value == "ok"
        finally:
            await store.close()


def test_the_drill_scenario_publishes_kunren_documents():
    from simulator.server import Simulator

    sim = Simulator("drill")
    docs = [parse_document(m.xml) for m in sim.commons.messages]
    assert {d.category for d in docs} == {"EvacuationOrder", "Shelter"}
    assert {d.status for d in docs} == {"Exercise"}
    geo = Region.default()
    collector = PublicCommonsCollector("pc", Config(url="http://127.0.0.1/"), None, geo.codes)
    events = [e for m in sim.commons.messages for e in collector.from_document(m.xml, datetime(2026, 9, 1, tzinfo=JST))[0]]
    assert all(e.status == Status.EXERCISE for e in events)
    # never the real records' ids
    assert {e.id for e in events} == {"evacuation:17201:exercise", "shelter:E1720100102111:exercise"}


@pytest.mark.parametrize(("scenario", "hours"), [
    ("calm", (0.1, 1.0, 5.0, 12.0, 23.5)),  # no document all day
    ("drill", (3.0, 4.2, 8.2, 11.5)),  # before, between and hours after the drill's documents
])
async def test_a_feed_read_is_current_even_with_no_new_document(tmp_path, scenario, hours):
    """An empty feed (or one whose newest document is hours old) read successfully says "no (new)
    orders as of the feed's time": the source stays ok, dated by the feed, never stale."""
    async with running_simulator(scenario, speed=1, seed=1, port=0) as sim, Fetcher() as fetcher:
        sim.clock.pause()
        geo = Region.default()
        store = open_store(str(tmp_path / "bosai.sqlite3"))
        await store.open()
        try:
            pipeline = Pipeline(store, geo.codes, enrich=geo.enricher(), clock=sim.clock.now)
            config = Config(url=f"{sim.base_url}/publiccommons/feed.atom", allow_private=True, retries=0, timeout_s=2)
            poller = SourcePoller(PublicCommonsCollector("orders", config, fetcher, geo.codes), pipeline, store,
                                  clock=sim.clock.now)
            for h in hours:
                sim.clock.jump_elapsed(h)
                await poller.run_once()
                status = await store.source_status("orders")
                now = sim.clock.now()
                assert status.state.value == "ok", (h, status)
                assert timedelta(0) <= now - status.content_time < timedelta(minutes=1), (h, status.content_time)
                sim.clock.jump_elapsed(h + 1 / 60)  # a second poll a minute later: 304 or not, still current
                await poller.run_once()
                assert (await store.source_status("orders")).state.value == "ok", h
        finally:
            await store.close()


async def test_the_shelter_name_index_is_built_off_the_event_loop(tmp_path):
    """The first Shelter document needs the name index (GSI lists, most of a second to read): the
    loop keeps answering meanwhile. The lists are read ten times over (20 files) to make the build
    long (seconds). One file's parse still holds the GIL, so the loop's longest pause is about a
    twentieth of the build; built on the loop it would be the whole build. The bound is a third of
    the poll, so a machine slow on both counts is judged the same as a fast one."""
    async with running_simulator("heavy-rain", speed=1, seed=1, port=0) as sim, Fetcher() as fetcher:
        sim.clock.pause()
        sim.clock.jump_elapsed(10.6)  # 金沢市's first order and its shelter opening are out
        geo = Region.default()
        config = Config(url=f"{sim.base_url}/publiccommons/feed.atom", allow_private=True, retries=0, timeout_s=5,
                        shelter_paths=list(DEFAULT_SHELTERS) * 10)
        collector = PublicCommonsCollector("orders", config, fetcher, geo.codes)
        loop = asyncio.get_running_loop()
        gaps: list[float] = []

        async def heartbeat():
            last = loop.time()
            while True:
                await asyncio.sleep(0.005)
                gaps.append(loop.time() - last)
                last = loop.time()

        beat = asyncio.create_task(heartbeat())
        try:
            await asyncio.sleep(0.02)  # beating before the poll: a build before its first await is seen too
            started = loop.time()
            snapshot = await collector.poll(sim.clock.now())  # builds the index (the first poll)
            poll_s = loop.time() - started
            await asyncio.sleep(0.05)  # the heartbeat records the gap the poll ended in
        finally:
            beat.cancel()
        shelter = next(e for e in snapshot.events if e.kind == Kind.SHELTER)
        assert shelter.id == "shelter:E1720100102111"  # resolved by name through the index
        assert max(gaps) < poll_s / 3, (max(gaps), poll_s)
