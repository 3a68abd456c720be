"""JMA feeds and reports are parsed in a worker thread, never on the event loop that answers requests."""
from __future__ import annotations

import sys
from datetime import datetime, timezone

from collectors.http import Fetcher
from collectors.jma.atom import parse_feed
from collectors.jma.document import parse_document
from collectors.jma_feed import Config, JmaFeedCollector, read_report
from geo.codes import AreaCodes
from tests.upstreams import SAMPLES, FeedServer, as_ishikawa

NOW = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
PARSERS = {parse_feed.__code__: "parse_feed", read_report.__code__: "read_report",
           parse_document.__code__: "parse_document"}


async def test_feed_and_reports_are_parsed_off_the_event_loop():
    server = FeedServer()
    await server.start()
    server.add("20130902063700_0_VXWW50_170000.xml", as_ishikawa((SAMPLES / "17_03_01_190529_VXWW50.xml").read_bytes()),
               updated=NOW)
    on_loop: list[str] = []

    def profile(frame, event, arg):  # sees calls made on this thread (the loop's) only
        if event == "call" and frame.f_code in PARSERS:
            on_loop.append(PARSERS[frame.f_code])

    try:
        async with Fetcher() as fetcher:
            collector = JmaFeedCollector("jma", Config(url=server.base + "/feed", allow_private=True, retries=0),
                                         fetcher, AreaCodes.load())
            sys.setprofile(profile)
            try:
                snap = await collector.poll(NOW)
            finally:
                sys.setprofile(None)
    finally:
        await server.stop()
    assert [e.id for e in snap.events] == ["sediment:17201"]  # the report was parsed: in another thread
    assert on_loop == []
