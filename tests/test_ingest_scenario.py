"""Collectors + pipeline against the simulator: the heavy-rain storm end to end, and every fault mode.

The simulator's clock is paused and jumped, and the service polls on that clock, so a 24-hour
storm runs in seconds and every assertion is about scenario time.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from collectors.http import Fetcher
from collectors.jma import parse_document, to_events
from collectors.jma_feed import Config as JmaConfig
from collectors.jma_feed import JmaFeedCollector
from collectors.river_camera import Config as CameraConfig
from collectors.river_camera import RiverCameraCollector
from collectors.river_gauge import Config as GaugeConfig
from collectors.river_gauge import RiverGaugeCollector
from collectors.road_closure import Config as RoadConfig
from collectors.road_closure import RoadClosureCollector
from geo.model import Kind, State
from geo.region import Region
from geo.store import open_store
from geo.store.base import SourceState
from service.pipeline import Pipeline
from service.poller import SourcePoller
from simulator.cameras import CAMERAS
from simulator.server import running_simulator

STEP = timedelta(minutes=5)


@pytest.fixture
async def world(tmp_path):
    """A paused simulator, a store, and one poller per upstream kind on the simulator's clock."""
    async with running_simulator("heavy-rain", speed=1, seed=1, port=0) as sim, Fetcher() as fetcher:
        sim.clock.pause()
        base = sim.base_url
        geo = Region.default()
        store = open_store(str(tmp_path / "bosai.sqlite3"))
        await store.open()
        pipeline = Pipeline(store, geo.codes, enrich=geo.enricher(), clock=sim.clock.now)
        common = {"allow_private": True, "retries": 0, "timeout_s": 1.0}
        collectors = {
            "jma": JmaFeedCollector("jma", JmaConfig(url=f"{base}/developer/xml/feed/extra.xml", **common), fetcher, geo.codes),
            "gauges": RiverGaugeCollector(
                "gauges",
                GaugeConfig(url=f"{base}/swin/files/area_info/current/17000.json", format="area_info", **common),
                fetcher,
                geo.codes,
            ),
            "roads": RoadClosureCollector(
                "roads",
                RoadConfig(
                    url=f"{base}/wzdx/v4.2/road-events.geojson",
                    extra_urls=[f"{base}/wzdx/v4.2/road-restrictions.geojson"],
                    format="wzdx",
                    **common,
                ),
                fetcher,
                geo.codes,
            ),
            "cameras": RiverCameraCollector(
                "cameras",
                CameraConfig(
                    url=f"{base}/kawabou/file/files/master/obs/scam/",
                    cameras=[c.id for c in CAMERAS],
                    image_dir=tmp_path / "cameras",
                    **common,
                ),
                fetcher,
                geo.codes,
            ),
        }
        pollers = {name: SourcePoller(c, pipeline, store, clock=sim.clock.now) for name, c in collectors.items()}
        try:
            yield sim, store, pollers
        finally:
            await store.close()


@pytest.mark.long
async def test_heavy_rain_events_appear_rise_and_lift(world):
    sim, store, pollers = world
    start = sim.clock.now()
    peak: dict[str, int] = {}
    sediment_active_max = 0
    roads_seen: set[str] = set()
    step = 0
    while sim.clock.now() <= start + timedelta(hours=24, minutes=30):
        for name in ("jma", "gauges") + (("roads",) if step % 3 == 0 else ()) + (("cameras",) if step % 24 == 0 else ()):
            status = await pollers[name].run_once()
            # the scenario's missing camera (listed as unavailable) is the only failing part of any source
            failing_parts = {sim.scenario.cameras.missing} if name == "cameras" else set()
            assert set(status.details.get("camera_errors", {})) == failing_parts, (name, sim.clock.now(), status.last_error)
            assert (status.state == SourceState.FAILING) == bool(failing_parts), (name, status.state)
        active = await store.query()
        for e in active:
            peak[e.id] = max(peak.get(e.id, 0), e.level)
        sediment_active_max = max(sediment_active_max, sum(e.kind == Kind.SEDIMENT_WARNING for e in active))
        roads_seen |= {e.id for e in active if e.kind == Kind.ROAD_CLOSURE}
        sim.clock.jump(sim.clock.now() + STEP)
        step += 1

    # it rose: several municipalities under 土砂災害警戒情報, a flood forecast at level 4, gauges past danger
    assert sediment_active_max >= 2
    assert max(v for k, v in peak.items() if k.startswith("flood:")) >= 4
    assert max(v for k, v in peak.items() if k.startswith("gauge:")) >= 4
    assert roads_seen, "rain closures appeared"
    # and it lifted: the messages ended every warning; the road source no longer lists its closures
    final = await store.query(include_ended=True)
    warnings = [e for e in final if e.kind in (Kind.SEDIMENT_WARNING, Kind.FLOOD_FORECAST)]
    still = [(e.id, e.level, e.source.sequence, e.title) for e in warnings if e.state == State.ACTIVE]
    assert warnings and not still, still
    ended = await store.get_many(roads_seen)
    assert all(e.state != State.ACTIVE for e in ended.values())
    history = await store.history(next(e.id for e in warnings if e.kind == Kind.SEDIMENT_WARNING))
    assert history[0].level == 4 and history[-1].state == State.LIFTED
    # after the rain the gauge list is empty again: that is news, not a stale source
    assert (await store.source_status("gauges")).state == SourceState.OK
    cams = {e.id.removeprefix("camera:"): e.properties for e in final if e.kind == Kind.CAMERA}
    plan = sim.scenario.cameras
    assert set(cams) == {c.id for c in CAMERAS}
    assert cams[plan.missing]["image_state"] == "unavailable" and cams[plan.frozen]["stale"] is True
    assert cams[plan.stuck]["frozen"] is True  # its capture time advanced, its picture did not
    assert all(p["image_state"] == "ok" for cam, p in cams.items() if cam not in (plan.missing, plan.frozen, plan.stuck))


FAULTS = [
    ("gauges", "/swin/files/area_info/*", "latency", {"latency_ms": 3000}, SourceState.FAILING),
    ("gauges", "/swin/files/area_info/*", "status", {"status": 503}, SourceState.FAILING),
    ("gauges", "/swin/files/area_info/*", "reset", {}, SourceState.FAILING),
    ("gauges", "/swin/files/area_info/*", "hang", {"hang_s": 5}, SourceState.FAILING),
    ("gauges", "/swin/files/area_info/*", "truncate", {}, SourceState.FAILING),
    ("gauges", "/swin/files/area_info/*", "wrong_type", {}, SourceState.FAILING),
    ("gauges", "/swin/files/area_info/*", "stale", {}, SourceState.STALE),
    ("gauges", "/swin/files/area_info/*", "oversized", {"size_mb": 8}, SourceState.FAILING),
    ("gauges", "/swin/files/area_info/*", "gzip_bomb", {"size_mb": 64}, SourceState.FAILING),
    ("gauges", "/swin/files/area_info/*", "slow_drip", {"interval_s": 0.5}, SourceState.FAILING),
    ("jma", "/developer/xml/feed/*", "malformed_xml", {}, SourceState.FAILING),
    ("jma", "/developer/xml/feed/*", "entity_bomb", {}, SourceState.FAILING),
    ("jma", "/developer/xml/data/*", "status", {"status": 500}, SourceState.FAILING),
]


@pytest.mark.parametrize(("source", "path", "mode", "knobs", "expected"), FAULTS, ids=[f[2] + "-" + f[0] for f in FAULTS])
async def test_fault_modes_mark_the_source_and_change_nothing(world, source, path, mode, knobs, expected):
    sim, store, pollers = world
    sim.clock.jump_elapsed(13)  # mid-storm: warnings in force, gauges high
    for name in ("jma", "gauges"):
        assert (await pollers[name].run_once()).state == SourceState.OK
    before = {e.id: e.version for e in await store.query(include_ended=True)}
    assert before
    sim.set_fault(path, mode, **knobs)
    if mode == "stale":  # content frozen now, looked at an hour later
        sim.clock.jump(sim.clock.now() + timedelta(hours=1))
    elif path.startswith("/developer/xml/data/"):  # a new report must be listed for its fetch to fail
        now = sim.clock.now()
        sim.clock.jump(min(m.at for m in sim.jma.messages if m.at > now and m.feed == "extra") + timedelta(seconds=1))
    else:
        sim.clock.jump(sim.clock.now() + timedelta(minutes=5))
    status = await pollers[source].run_once()
    assert status.state == expected, status.last_error
    if expected == SourceState.FAILING:
        assert status.last_error
        assert {e.id: e.version for e in await store.query(include_ended=True)} == before
    sim.clear_faults()
    assert (await pollers[source].run_once()).state == SourceState.OK


async def test_a_service_started_mid_storm_catches_up_from_the_long_feed(world):
    """The short feed lists 10 minutes; the long feed gives the warnings already in force at start."""
    sim, store, pollers = world
    sim.clock.jump_elapsed(13)
    base = sim.base_url
    late = pollers["jma"].collector
    cold = JmaFeedCollector("cold", late.config, late.fetcher, late.codes)
    missed = {e.id for e in (await cold.poll(sim.clock.now())).events}
    assert not any(i.startswith("sediment:") for i in missed)  # the 12:00 report left the short feed
    config = late.config.model_copy(update={"catchup_url": f"{base}/developer/xml/feed/extra_l.xml"})
    warm = JmaFeedCollector("warm", config, late.fetcher, late.codes)
    snapshot = await warm.poll(sim.clock.now())
    ids = {e.id for e in snapshot.events if e.state == State.ACTIVE}
    assert any(i.startswith("sediment:") for i in ids), ids
    assert any(i.startswith("flood:") for i in ids), ids
    assert snapshot.status_details["caught_up_from_long_feed"] >= 2
    # the long-feed reports are now known: the next poll fetches only what is new
    again = await warm.poll(sim.clock.now())
    assert again.not_modified or not again.events


def downloaded(sim) -> list[str]:
    """The JMA reports the simulator has served, by file name, in order."""
    return [e["path"].rsplit("/", 1)[-1] for e in sim.served if e["path"].startswith("/developer/xml/data/")]


async def test_reports_missed_while_jma_was_out_of_reach_come_from_the_long_feed(world):
    """An outage longer than the short feed's 10 minutes is a gap: stale until the long feed has been
    rebuilt past it, then filled from it, so warnings issued or lifted meanwhile are not missed."""
    sim, store, pollers = world
    jma = pollers["jma"]
    config = jma.collector.config.model_copy(update={"catchup_url": f"{sim.base_url}/developer/xml/feed/extra_l.xml"})
    jma.collector = JmaFeedCollector("jma", config, jma.collector.fetcher, jma.collector.codes)
    ours = [m for m in sim.jma.messages if m.feed == "extra" and m.data_type.startswith(("VXWW", "VXKO"))]

    def last_of_its_kind(m) -> bool:  # no later report of its kind before the long feed's next rebuild
        rebuilt = m.at.replace(minute=0, second=0) + timedelta(hours=1)
        return not any(o.data_type == m.data_type and m.at < o.at <= rebuilt for o in ours)

    # a 土砂災害警戒情報 or 洪水予報 published between :15 and :35 past an hour of the storm
    missed = next(m for m in ours if 15 <= m.at.minute <= 35 and last_of_its_kind(m))
    hour = missed.at.replace(minute=0, second=0)
    sim.clock.jump(hour + timedelta(minutes=1))  # the long feed was rebuilt a minute ago: nothing missing
    status = await jma.run_once()
    assert status.state == SourceState.OK and status.details["gap"] is None, status.details

    # back 20 minutes after it: the short feed no longer lists it, the long feed is not rebuilt yet;
    # the source is fresh (what the short feed lists now is current) and notes the gap being filled
    sim.clock.jump(missed.at + timedelta(minutes=20))
    status = await jma.run_once()
    assert status.state == SourceState.OK, "recovered means recovered: no stale banner over current warnings"
    assert status.details["gap"] is not None and status.details["gap"]["until"]
    assert status.content_time > missed.at
    assert missed.name not in downloaded(sim)  # (reports still in the short feed are read as usual)

    # after the long feed's next rebuild the gap is filled and the source is fresh again
    sim.clock.jump(sim.clock.now().replace(minute=1, second=0) + timedelta(hours=1))
    status = await jma.run_once()
    assert status.state == SourceState.OK, status.details
    assert status.details["caught_up_from_long_feed"] >= 1
    assert status.details["gap"] is None
    assert downloaded(sim).count(missed.name) == 1, "the missed report was read, once"
    assert len(downloaded(sim)) == len(set(downloaded(sim))), "no report downloaded twice"


async def test_polling_hourly_with_the_long_feed_ends_as_polling_every_five_minutes(world, tmp_path):
    """Every poll an hour apart is a gap; filled from the long feed, the storm ends in the same state."""
    sim, store, pollers = world
    steady = pollers["jma"]
    config = steady.collector.config.model_copy(update={"catchup_url": f"{sim.base_url}/developer/xml/feed/extra_l.xml"})
    hourly_store = open_store(str(tmp_path / "hourly.sqlite3"))
    await hourly_store.open()
    try:
        geo = Region.default()
        hourly = SourcePoller(
            JmaFeedCollector("jma", config, steady.collector.fetcher, geo.codes),
            Pipeline(hourly_store, geo.codes, enrich=geo.enricher(), clock=sim.clock.now), hourly_store,
            clock=sim.clock.now,
        )
        start = sim.clock.now()
        end = start + timedelta(hours=28, minutes=5)  # long after the storm, just after a rebuild
        gap_seen = False
        while sim.clock.now() <= end:
            await steady.run_once()
            if sim.clock.now().minute == 20:  # an hour apart, and 20 minutes past each rebuild
                status = await hourly.run_once()
                assert status.state == SourceState.OK, status.details  # its newest content is current
                gap_seen |= status.details["gap"] is not None
            sim.clock.jump(sim.clock.now() + STEP)
        await steady.run_once()
        assert (await hourly.run_once()).state == SourceState.OK

        def state(events):  # what is in force (a report cancelled before it was read never was)
            return {e.id: e.level for e in events if e.kind != Kind.GAUGE}

        assert gap_seen, "between rebuilds the hourly poller notes the gap it is filling"
        assert state(await hourly_store.query()) == state(await store.query())
        def lifted(events):
            return {e.id for e in events if e.state == State.LIFTED}

        assert lifted(await store.query(include_ended=True)), "the storm ended"
        assert lifted(await hourly_store.query(include_ended=True)) == lifted(await store.query(include_ended=True))
    finally:
        await hourly_store.close()


async def test_a_cancellation_read_with_the_report_it_cancels_leaves_nothing_of_it(world):
    """After an outage the long feed can give a report and its 取消 in one poll: nothing of it arrives."""
    sim, store, pollers = world
    jma = pollers["jma"]
    config = jma.collector.config.model_copy(update={"catchup_url": f"{sim.base_url}/developer/xml/feed/extra_l.xml"})
    jma.collector = JmaFeedCollector("jma", config, jma.collector.fetcher, jma.collector.codes)
    reports = [(m, parse_document(m.xml)) for m in sim.jma.messages if m.feed == "extra"]
    cancel_at = next(i for i, (_m, r) in enumerate(reports) if r.head.info_type == "取消")
    cancel, _ = reports[cancel_at]
    cancelled, report = next((m, r) for m, r in reversed(reports[:cancel_at]) if m.data_type == cancel.data_type)
    sim.clock.jump(cancelled.at - timedelta(minutes=5))
    await jma.run_once()
    # back after the long feed's rebuild that lists both
    sim.clock.jump(cancel.at.replace(minute=5, second=0) + timedelta(hours=1))
    assert (await jma.run_once()).state == SourceState.OK
    assert {cancelled.name, cancel.name} <= set(downloaded(sim))
    active = {e.id: e for e in await store.query()}
    upstream = report.head.event_id
    assert report.head.serial is not None and upstream is not None
    assert not [
        e.id for e in active.values() if e.source.upstream_id == upstream and e.source.sequence == report.head.serial
    ], "the cancelled report's events never arrive"
    assert any(e.state == State.ACTIVE for e in to_events(report, jma.collector.codes, "jma")), "it had some"
