"""Two services, the same storm, seed and clock; faults on one only. After recovery both hold the same.

Twin B meets a maintenance page (200 text/html) on two 土砂災害警戒情報 documents, a 404 on a flood
forecast, and a feed outage across two reports of one EventID followed by the 取消 of the second;
twin A reads everything as it comes. Whatever B missed or read late, it ends where A is.
"""
from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta

import pytest

from collectors.http import Fetcher
from collectors.jma_feed import Config as JmaConfig
from collectors.jma_feed import JmaFeedCollector
from geo.model import Kind, State
from geo.region import Region
from geo.store import open_store
from geo.store.base import SourceState
from service.pipeline import Pipeline
from service.poller import SourcePoller
from simulator.server import running_simulator

STEP = timedelta(minutes=5)
JMA_KINDS = (Kind.SEDIMENT_WARNING, Kind.FLOOD_FORECAST, Kind.WEATHER_WARNING)


def in_force(events) -> dict[str, tuple[str, int]]:
    return {e.id: (e.state.value, e.level) for e in events if e.kind in JMA_KINDS}


async def twin(stack: AsyncExitStack, tmp_path, name: str, geo: Region):
    """One service: its simulator, store and JMA poller; the fetcher's circuit breaker on the storm's clock."""
    sim = await stack.enter_async_context(running_simulator("heavy-rain", speed=1, seed=1, port=0))
    sim.clock.pause()
    fetcher = await stack.enter_async_context(Fetcher(clock=lambda: sim.clock.now().timestamp()))
    store = open_store(str(tmp_path / f"{name}.sqlite3"))
    await store.open()
    stack.push_async_callback(store.close)
    feeds = f"{sim.base_url}/developer/xml/feed"
    config = JmaConfig(url=f"{feeds}/extra.xml", catchup_url=f"{feeds}/extra_l.xml", allow_private=True,
                       retries=0, timeout_s=1.0)
    poller = SourcePoller(
        JmaFeedCollector("jma", config, fetcher, geo.codes),
        Pipeline(store, geo.codes, enrich=geo.enricher(), clock=sim.clock.now), store, clock=sim.clock.now,
    )
    return sim, store, poller


@pytest.mark.long
async def test_faults_on_one_twin_end_in_the_same_state(tmp_path):
    geo = Region.default()
    async with AsyncExitStack() as stack:
        sim_a, store_a, jma_a = await twin(stack, tmp_path, "a", geo)
        sim_b, store_b, jma_b = await twin(stack, tmp_path, "b", geo)
        start = sim_a.scenario.scenario.start  # one clock for both
        sim_a.clock.jump(start)
        sim_b.clock.jump(start)
        faults_at, outage_from, outage_until = (start + timedelta(hours=h, minutes=m) for h, m in
                                                ((9, 45), (14, 25), (15, 5)))
        check, end = start + timedelta(hours=15, minutes=30), start + timedelta(hours=24, minutes=30)
        b_states = []
        outage = None
        while sim_a.clock.now() <= end:
            now = sim_a.clock.now()
            if now == faults_at:  # the 10:00 and 10:12 土砂災害警戒情報 come as a maintenance page
                sim_b.set_fault("/developer/xml/data/*_VXWW50_*", "wrong_type", count=2)
                sim_b.set_fault("/developer/xml/data/*_VXKO*", "status", status=404, count=1)
            if now == outage_from:  # JMA out of reach for 40 minutes, across the 14:30 and 15:00 reports
                outage = sim_b.set_fault("/developer/xml/feed/extra.xml", "status", status=503)
            if now == outage_until and outage is not None:
                sim_b.clear_faults(outage.id)
            assert (await jma_a.run_once()).state == SourceState.OK
            b_states.append((now, (await jma_b.run_once()).state))
            if now == check:  # after the 取消 of the report that only added 能登町
                a, b = in_force(await store_a.query()), in_force(await store_b.query())
                assert a == b
                assert a["sediment:17204"] == a["sediment:17205"] == ("active", 4)  # 輪島市, 珠洲市
                assert "sediment:17463" not in a  # 能登町: cancelled
            step = now + STEP
            sim_a.clock.jump(step)
            sim_b.clock.jump(step)
        final_a = in_force(await store_a.query(include_ended=True))
        final_b = in_force(await store_b.query(include_ended=True))
        assert final_a == final_b
        assert not [i for i, (state, _) in final_a.items() if state == "active" and i.startswith("sediment:")]
        # B was failing while reports were unread, and recovered
        assert any(state == SourceState.FAILING for _, state in b_states)
        assert b_states[-1][1] == SourceState.OK
        status = await store_b.source_status("jma")
        assert status.details["failing_documents"] == [] and status.details["unreadable_documents"] == []
        # every VXWW50 report B met as a maintenance page was read in the end
        assert (await store_b.get("sediment:17201")).state == (await store_a.get("sediment:17201")).state
        assert State.ACTIVE in {e.state for e in await store_b.history("sediment:17201")}


@pytest.mark.long
async def test_a_service_restarted_on_a_store_that_outlived_the_storm_reaches_the_state_in_force(tmp_path):
    """Stopped mid-storm, started again after every 解除 has left the short feed: the long feed's
    newest report of each office and type ends what it no longer keeps in force."""
    geo = Region.default()
    async with AsyncExitStack() as stack:
        sim, store, jma = await twin(stack, tmp_path, "outlived", geo)
        steady_sim, steady_store, steady = await twin(stack, tmp_path, "steady", geo)
        start = sim.scenario.scenario.start
        for s in (sim, steady_sim):
            s.clock.jump(start)
        stop, restart = start + timedelta(hours=16), start + timedelta(hours=23)
        while sim.clock.now() <= restart:
            now = sim.clock.now()
            if now <= stop:
                await jma.run_once()
            await steady.run_once()
            for s in (sim, steady_sim):
                s.clock.jump(now + STEP)
        stale = in_force(await store.query())
        assert any(i.startswith("sediment:") for i in stale), "warnings in force when it stopped"
        # the same store, a new process: nothing remembered but what the store holds
        config = jma.collector.config
        fresh = SourcePoller(
            JmaFeedCollector("jma", config, jma.collector.fetcher, geo.codes),
            Pipeline(store, geo.codes, enrich=geo.enricher(), clock=sim.clock.now), store, clock=sim.clock.now,
        )
        assert config.catchup_url is not None
        assert (await fresh.run_once()).state == SourceState.OK
        assert in_force(await store.query()) == in_force(await steady_store.query())
        assert not [i for i in in_force(await store.query()) if i.startswith("sediment:")]
