"""config/nginx.conf serves the event pages' static copies by the `lang` cookie, and the app otherwise."""
from __future__ import annotations

import asyncio
import gzip
import re

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, utcnow
from publishers.event_page import page_file
from service.keys import PIPELINE_KEY
from service.web.keys import EVENT_PAGES_KEY
from tests.test_portal_snapshot_nginx import fetch, stack  # noqa: F401 - the fixture is used by name

EVENT_ID = "sediment:17201"


def sediment(level: int) -> Event:
    return Event(id=EVENT_ID, kind=Kind.SEDIMENT_WARNING, level=level, areas=("17201",), title="土砂災害警戒情報",
                 issued_at=utcnow(), source=SourceRef(source_id="jma_extra"))


async def test_nginx_serves_the_event_page_file_for_each_language_and_the_app_the_rest(stack):  # noqa: F811
    client, base = stack
    pages = client.app[EVENT_PAGES_KEY]
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot("jma_extra", [sediment(4)]))
    await pages.wait_built(entries[-1].seq, timeout_s=60)
    assert (await client.get(f"/events/{EVENT_ID}")).status == 200  # the first request writes the files
    client.session.cookie_jar.clear()
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot("jma_extra", [sediment(5)]))
    await pages.wait_built(entries[-1].seq, timeout_s=60)  # ... and every change rewrites them
    for lang, words in (("ja", "警戒レベル５相当"), ("en", "Alert level 5 equivalent"), ("easy", "けいかいレベル５")):
        file = pages.static_dir / page_file(EVENT_ID, lang)
        status, headers, body = await asyncio.to_thread(fetch, f"{base}/events/{EVENT_ID}", Cookie=f"lang={lang}")
        assert status == 200 and body == file.read_bytes() and words in body.decode(), lang
        assert "set-cookie" not in headers and headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src 'self'" in headers["content-security-policy"]
        assert not re.match(r'"[0-9a-f]{32}', headers["etag"])  # nginx's validator: the file, not the app
    status, headers, body = await asyncio.to_thread(fetch, f"{base}/events/{EVENT_ID}", Cookie="lang=ja",
                                                    **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert gzip.decompress(body) == (pages.static_dir / page_file(EVENT_ID, "ja")).read_bytes()
    # a query string goes to the app, which sets the cookie
    status, headers, body = await asyncio.to_thread(fetch, f"{base}/events/{EVENT_ID}?lang=en")
    assert status == 200 and "lang=en" in headers.get("set-cookie", "") and b"Alert level 5 equivalent" in body
    # unknown and hostile ids reach the app's 404, never a file outside the pages
    for path in ("/events/sediment:99999", "/events/..%2F..%2Fetc%2Fpasswd", "/events/sediment:17201%2F..%2F..",
                 "/events/a..b:c"):
        status, _, _ = await asyncio.to_thread(fetch, f"{base}{path}", Cookie="lang=ja", Accept="text/html")
        assert status in (400, 404), path
