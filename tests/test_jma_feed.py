"""The JMA feed collector against a real local Atom feed: each report fetched once, 304s, bad reports."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from collectors.base import PayloadError
from collectors.http import Fetcher
from collectors.jma_feed import Config, JmaFeedCollector
from geo.codes import AreaCodes
from geo.model import State
from tests.upstreams import SAMPLES, FeedServer, as_ishikawa

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
ISSUE = as_ishikawa((SAMPLES / "17_03_01_190529_VXWW50.xml").read_bytes())
LIFT = as_ishikawa((SAMPLES / "17_03_02_190529_VXWW50.xml").read_bytes())


@pytest.fixture
async def upstream():
    server = FeedServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def collector(upstream):
    config = Config(url=upstream.base + "/feed", allow_private=True, retries=0)
    async with Fetcher() as fetcher:
        yield JmaFeedCollector("jma", config, fetcher, AreaCodes.load())


async def test_each_report_is_fetched_once(upstream, collector):
    upstream.add("20130902063700_0_VXWW50_170000.xml", ISSUE, updated=NOW)
    snap = await collector.poll(NOW)
    assert [(e.id, e.level, e.state) for e in snap.events] == [("sediment:17201", 4, State.ACTIVE)]
    assert snap.content_time == NOW
    upstream.add("20130902085000_0_VXWW50_170000.xml", LIFT, updated=NOW + timedelta(minutes=1))
    snap = await collector.poll(NOW + timedelta(minutes=1))
    assert [(e.id, e.state) for e in snap.events] == [("sediment:17201", State.LIFTED)]
    assert upstream.requests["20130902063700_0_VXWW50_170000.xml"] == 1
    assert upstream.requests["20130902085000_0_VXWW50_170000.xml"] == 1


async def test_unchanged_feed_is_a_304(upstream, collector):
    upstream.add("20130902063700_0_VXWW50_170000.xml", ISSUE, updated=NOW)
    await collector.poll(NOW)
    snap = await collector.poll(NOW + timedelta(minutes=1))
    assert snap.not_modified and snap.events == []
    assert upstream.requests["/feed"] == 2


async def test_other_offices_and_types_are_not_downloaded(upstream, collector):
    upstream.add("20130902063700_0_VXWW50_330000.xml", ISSUE, updated=NOW)
    upstream.add("20130902063700_0_VPOA50_170000.xml", ISSUE, title="記録的短時間大雨情報", updated=NOW)
    snap = await collector.poll(NOW)
    assert snap.events == []
    assert upstream.requests["20130902063700_0_VXWW50_330000.xml"] == 0
    assert upstream.requests["20130902063700_0_VPOA50_170000.xml"] == 0


async def test_a_hostile_report_fails_the_poll_and_good_ones_arrive_next_time(upstream, collector):
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Report>&b;</Report>'
    upstream.add("20130902063700_0_VXWW50_170000.xml", ISSUE, updated=NOW)
    upstream.add("20130902063800_0_VXWW50_170000.xml", bomb, updated=NOW)
    with pytest.raises(PayloadError, match="1 report"):
        await collector.poll(NOW)
    snap = await collector.poll(NOW + timedelta(minutes=1))  # feed unchanged: 304, pending events delivered
    assert [e.id for e in snap.events] == ["sediment:17201"]
    assert upstream.requests["20130902063800_0_VXWW50_170000.xml"] == 1  # never downloaded again
    snap = await collector.poll(NOW + timedelta(minutes=2))
    assert snap.not_modified
