"""config/nginx.conf serves the shelter pages' static copies by the `lang` cookie, and the app otherwise."""
from __future__ import annotations

import asyncio

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, utcnow
from publishers.shelter_pages import index_file, page_file
from service.keys import PIPELINE_KEY
from service.web.keys import SHELTER_PAGES_KEY
from tests.test_portal_snapshot_nginx import fetch, stack  # noqa: F401 - the fixture is used by name

SITE = "E1720100102111"


async def test_nginx_serves_the_shelter_page_file_for_each_language(stack):  # noqa: F811
    client, base = stack
    pages = client.app[SHELTER_PAGES_KEY]
    event = Event(id=f"shelter:{SITE}", kind=Kind.SHELTER, areas=("17201",), title="伏見台小学校 開設",
                  issued_at=utcnow(), source=SourceRef(source_id="operator"), properties={"status": "open"})
    for lang in ("ja", "en", "easy"):  # the first request writes the files nginx then serves
        assert (await client.get(f"/shelters/{SITE}/?lang={lang}")).status == 200
    client.session.cookie_jar.clear()
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot("operator", [event]))
    await pages.wait_built(entries[-1].seq, timeout_s=60)
    for lang in ("ja", "en", "easy"):
        file = pages.static_dir / page_file(SITE, lang)
        status, headers, body = await asyncio.to_thread(fetch, f"{base}/shelters/{SITE}/", Cookie=f"lang={lang}")
        assert status == 200 and body == file.read_bytes(), lang
        assert "set-cookie" not in headers and headers["content-type"] == "text/html; charset=utf-8"
    # a query string (switching language) goes to the app, which sets the cookie
    status, headers, body = await asyncio.to_thread(fetch, f"{base}/shelters/{SITE}/?lang=en")
    assert status == 200 and "lang=en" in headers.get("set-cookie", "") and b"Open" in body
    status, _, _ = await asyncio.to_thread(fetch, f"{base}/shelters/E0000000000000/", Cookie="lang=ja")
    assert status == 404


async def test_nginx_serves_both_parts_of_a_municipality_list_from_their_files(stack):  # noqa: F811
    client, base = stack
    pages = client.app[SHELTER_PAGES_KEY]
    assert (await client.get("/shelters/area/17201/?lang=ja")).status == 200  # writes both parts' files
    client.session.cookie_jar.clear()
    for part, path in (("index", "/shelters/area/17201/"), ("places", "/shelters/area/17201/places/")):
        file = pages.static_dir / index_file("17201", "ja", part)
        file.write_bytes(file.read_bytes() + f"<!-- {part} file -->".encode())  # only nginx reads it back
        status, headers, body = await asyncio.to_thread(fetch, base + path, Cookie="lang=ja")
        assert status == 200 and body.endswith(f"<!-- {part} file -->".encode()), (part, body[-80:])
        assert headers["content-type"] == "text/html; charset=utf-8"
