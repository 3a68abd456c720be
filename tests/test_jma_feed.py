"""The JMA feed collector against a real local Atom feed: each report fetched once, 304s, bad reports."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

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


async def test_a_hostile_report_is_retried_with_backoff_and_the_good_ones_arrive_at_once(upstream, collector):
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Report>&b;</Report>'
    bad = "20130902063800_0_VXWW50_170000.xml"
    upstream.add("20130902063700_0_VXWW50_170000.xml", ISSUE, updated=NOW)
    upstream.add(bad, bomb, updated=NOW)
    snap = await collector.poll(NOW)
    assert [e.id for e in snap.events] == ["sediment:17201"]  # what was read is applied
    assert bad in snap.failing and "not read yet" in snap.failing  # and the source is failing, naming it
    assert [d["url"].rsplit("/", 1)[1] for d in snap.status_details["failing_documents"]] == [bad]
    snap = await collector.poll(NOW + timedelta(seconds=30))  # not due yet: 304, still failing
    assert snap.not_modified and snap.failing and upstream.requests[bad] == 1
    snap = await collector.poll(NOW + timedelta(minutes=1))  # due: tried again, fails again
    assert upstream.requests[bad] == 2 and snap.failing
    assert snap.status_details["failing_documents"][0]["attempts"] == 2
    upstream.docs[bad] = (LIFT, "土砂災害警戒情報")  # it reads at last
    snap = await collector.poll(NOW + timedelta(minutes=3))
    assert upstream.requests[bad] == 3
    assert [(e.id, e.state) for e in snap.events] == [("sediment:17201", State.LIFTED)]
    assert snap.failing is None and snap.status_details["failing_documents"] == []
    snap = await collector.poll(NOW + timedelta(minutes=30))
    assert snap.not_modified and upstream.requests[bad] == 3  # read: never downloaded again


@pytest.mark.parametrize("fault", ["404", "maintenance page"])
async def test_a_report_that_never_reads_is_given_up_and_shown(upstream, collector, fault):
    bad = "20130902063800_0_VXWW50_170000.xml"
    upstream.add(bad, ISSUE, updated=NOW)
    if fault == "404":
        upstream.statuses[bad] = 404
    else:
        upstream.docs[bad] = (b"<html><body>maintenance</body></html>", "土砂災害警戒情報")
    snap = await collector.poll(NOW)
    assert snap.events == [] and bad in snap.failing
    day = NOW + timedelta(days=1, minutes=1)  # not read within retry_for_s (no long feed configured)
    snap = await collector.poll(day)
    assert snap.failing is None
    (gone,) = snap.status_details["unreadable_documents"]
    assert gone["url"].endswith(bad) and gone["reason"] == "not read within retry_for_s"
    assert gone["attempts"] >= 2

async def test_operators_see_the_documents_not_read_in_the_sources_api(upstream, collector, tmp_path):
    from service.freshness import judge_success
    from service.keys import STORE_KEY
    from tests.service_client import service_client

    bad = "20130902063800_0_VXWW50_170000.xml"
    upstream.add(bad, ISSUE, updated=NOW)
    upstream.statuses[bad] = 404
    snap = await collector.poll(NOW)
    status = judge_success(None, NOW, snap, expected_cadence_s=60)
    assert status.state == "failing" and bad in status.last_error
    async with service_client(tmp_path) as client:
        await client.app[STORE_KEY].set_source_status(status)
        (row,) = (await (await client.get("/api/v1/sources")).json())["sources"]
    assert row["state"] == "failing" and bad in row["last_error"]
    assert [d["url"].rsplit("/", 1)[1] for d in row["failing_documents"]] == [bad]
    assert row["unreadable_documents"] == []


def test_a_failed_report_is_given_up_once_it_has_left_the_long_feed():
    from collectors.document_retry import FailedDocuments
    from collectors.jma.atom import AtomEntry

    def entry(name: str, minutes: int) -> AtomEntry:
        return AtomEntry(f"https://jma.test/data/{name}", f"https://jma.test/data/{name}", "土砂災害警戒情報",
                         NOW + timedelta(minutes=minutes), "金沢地方気象台", "", "VXWW50", "170000")

    failed = FailedDocuments(first_retry_s=60, max_retry_s=600, keep_for_s=86_400)
    old, listed = entry("old.xml", 0), entry("listed.xml", 5)
    for attempt in range(6):
        failed.failed(old, "HTTP 404", NOW + timedelta(minutes=attempt))
    assert failed.failing[old.url].retry_at == NOW + timedelta(minutes=5, seconds=600)  # doubled, capped
    failed.failed(listed, "HTTP 404", NOW)
    assert failed.due(NOW + timedelta(minutes=2)) == [listed]
    # the long feed (oldest entry 00:03) lists `listed` only: `old` has left it, `listed` is kept
    gone = failed.give_up(NOW + timedelta(minutes=10), (frozenset({listed.url}), NOW + timedelta(minutes=3)))
    assert gone == [old.url] and list(failed.failing) == [listed.url]
    assert failed.unreadable[old.url]["reason"] == "left the long feed"
    assert "listed.xml" in failed.summary()


async def test_a_report_is_retried_while_the_long_feed_lists_it_and_given_up_once_it_does_not(upstream):
    bad, good = "20130902063800_0_VXWW50_170000.xml", "20130902085000_0_VXWW50_170000.xml"
    feed = upstream.base + "/feed"  # this server's one feed serves as the long feed too
    config = Config(url=feed, catchup_url=feed, allow_private=True, retries=0)
    async with Fetcher() as fetcher:
        collector = JmaFeedCollector("jma", config, fetcher, AreaCodes.load())
        upstream.add(bad, ISSUE, updated=NOW)
        upstream.statuses[bad] = 404
        snap = await collector.poll(NOW)
        assert bad in snap.failing
        snap = await collector.poll(NOW + timedelta(minutes=5))  # still listed: kept, retried
        assert bad in snap.failing and upstream.requests[bad] >= 2
        upstream.order.remove(bad)  # the long feed no longer lists it
        upstream.add(good, LIFT, updated=NOW + timedelta(hours=2))
        snap = await collector.poll(NOW + timedelta(hours=2))
        assert snap.failing is None
        (gone,) = snap.status_details["unreadable_documents"]
        assert gone["url"].endswith(bad) and gone["reason"] == "left the long feed"


class TimedFeedServer(FeedServer):
    """A FeedServer whose entries carry their own `updated`, as JMA's long feed lists them."""

    def __init__(self) -> None:
        super().__init__()
        self.entry_times: dict[str, datetime] = {}

    def add(self, name: str, body: bytes, title: str = "土砂災害警戒情報", updated: datetime | None = None) -> None:
        super().add(name, body, title, updated)
        self.entry_times[name] = self.updated

    async def _feed(self, request):
        response = await super()._feed(request)
        if response.status != 200:
            return response
        body = response.body.decode()
        for name, at in self.entry_times.items():  # each entry's own time instead of the feed's
            body = body.replace(f"<updated>{self.updated.isoformat()}</updated><author><name>金沢地方気象台</name>"
                                f"</author><link type=\"application/xml\" href=\"{self.base}/data/{name}\"/>",
                                f"<updated>{at.isoformat()}</updated><author><name>金沢地方気象台</name>"
                                f"</author><link type=\"application/xml\" href=\"{self.base}/data/{name}\"/>")
        response.body = body.encode()
        return response


async def test_a_gap_larger_than_one_poll_reads_is_filled_over_several_polls_each_report_once():
    server = TimedFeedServer()
    await server.start()
    feed = server.base + "/feed"  # the one feed serves as the long feed too
    config = Config(url=feed, catchup_url=feed, allow_private=True, retries=0, max_documents_per_poll=2)
    try:
        async with Fetcher() as fetcher:
            collector = JmaFeedCollector("jma", config, fetcher, AreaCodes.load())
            server.add("20260701030000_0_VXWW50_170000.xml", ISSUE, updated=NOW)
            assert (await collector.poll(NOW)).status_details["fetched"] == 1
            missed = [f"2026070104{m:02d}00_0_VXWW50_170000.xml" for m in range(5)]  # while out of reach
            for minute, name in enumerate(missed):
                server.add(name, ISSUE, updated=NOW + timedelta(hours=1, minutes=minute))
            server.updated = back = NOW + timedelta(hours=2)
            fetched, gaps = [], []
            for poll in range(4):
                snap = await collector.poll(back + timedelta(minutes=poll))
                fetched.append(snap.status_details.get("fetched"))
                gaps.append(snap.status_details.get("gap"))
            assert fetched == [2, 2, 1, None] and snap.not_modified  # then nothing new: a 304
            assert gaps[0] is not None and gaps[1] is not None and gaps[2] is None
            assert all(server.requests[name] == 1 for name in missed)
    finally:
        await server.stop()
