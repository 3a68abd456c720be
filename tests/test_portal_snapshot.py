"""The list page materialised per language: files written atomically, the app's bytes, kept current."""
from __future__ import annotations

import asyncio
import gzip
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import brotli
import pytest

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, utcnow
from geo.store.base import SourceState, SourceStatus
from publishers.portal import i18n
from publishers.portal_snapshot import Paths
from service.keys import CLOCK_KEY, PIPELINE_KEY, STORE_KEY
from service.web.keys import SNAPSHOT_KEY
from tests.service_client import PACING_KEY, ManualPacing, publish, service_client

LANGS = list(i18n.LANGUAGES)


def sediment(code: str, level: int) -> Event:
    return Event(id=f"sediment_warning:{code}", kind=Kind.SEDIMENT_WARNING, level=level, areas=(code,),
                 title="土砂災害警戒情報", issued_at=utcnow(), source=SourceRef(source_id="jma_extra"))


@pytest.fixture
async def client(tmp_path):
    frozen = utcnow()

    def prepare(app):
        app[SNAPSHOT_KEY].page_tick_s = 0.1  # the test waits on status changes, not on the production tick
        app[CLOCK_KEY].source = lambda: frozen  # the minute shown is part of the page: no rollover mid-test

    async with service_client(tmp_path, prepare) as c:
        yield c


async def ingest(client, *events: Event) -> None:
    await publish(client, "jma_extra", *events)


async def set_status(client, state: SourceState, minutes_ago: int = 1) -> None:
    when = utcnow() - timedelta(minutes=minutes_ago)
    await client.app[STORE_KEY].set_source_status(
        SourceStatus("jma_extra", state=state, last_attempt=utcnow(), last_success=when, content_time=when))


def page_file(client, lang: str) -> Path:
    return client.app[SNAPSHOT_KEY].static_dir / Paths.file_for(Paths.list_page(lang))


async def app_bytes(client, lang: str, by: str = "cookie") -> bytes:
    """The list page as the app serves it, identity-encoded, choosing the language by cookie or query."""
    client.session.cookie_jar.clear()  # only the language named here: not one a previous ?lang= set
    if by == "cookie":
        resp = await client.get("/list", headers={"Cookie": f"lang={lang}", "Accept-Encoding": "identity"})
    else:
        resp = await client.get(f"/list?lang={lang}", headers={"Accept-Encoding": "identity"})
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/html; charset=utf-8"
    return await resp.read()


async def file_changes(path: Path, old: bytes, timeout_s: float = 60) -> bytes:
    """The file's new bytes once they differ from `old` (the bound only names a file that never changes)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (now := path.read_bytes()) == old:
        assert asyncio.get_running_loop().time() < deadline, f"{path.name} did not change"
        await asyncio.sleep(0.05)
    return now


async def test_each_language_file_is_the_apps_bytes_with_encodings(client):
    await ingest(client, sediment("17201", 4))
    static = client.app[SNAPSHOT_KEY].static_dir
    for lang in LANGS:
        body = page_file(client, lang).read_bytes()
        assert body == await app_bytes(client, lang, "cookie") == await app_bytes(client, lang, "query"), lang
        assert f'<html lang="{i18n.LANGUAGES[lang].html_lang}"'.encode() in body
        assert gzip.decompress(page_file(client, lang).with_suffix(".html.gz").read_bytes()) == body
        assert brotli.decompress(page_file(client, lang).with_suffix(".html.br").read_bytes()) == body
        # The app serves the snapshot's compressed bytes; its ETag names the same content.
        doc = client.app[SNAPSHOT_KEY].get(Paths.list_page(lang))
        client.session.cookie_jar.clear()
        resp = await client.get("/list", headers={"Cookie": f"lang={lang}", "Accept-Encoding": "gzip"},
                                auto_decompress=False)
        assert resp.headers["Content-Encoding"] == "gzip" and await resp.read() == doc.encoded["gzip"]
        assert resp.headers["ETag"] == doc.etag("gzip") and resp.headers["Cache-Control"] == "public, max-age=10"
    assert "Alert level 4 equivalent" in page_file(client, "en").read_text()
    assert "警戒レベル４相当" in page_file(client, "ja").read_text()
    assert [p for p in static.rglob("*") if p.name.endswith(".tmp")] == []


async def test_a_change_replaces_the_files_by_rename_never_in_place(client):
    await ingest(client, sediment("17201", 3))
    target = page_file(client, "en")
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader() -> None:  # nginx's view: whatever the path names at each moment
        while not stop.is_set():
            seen.add(target.read_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=reader)
    thread.start()
    opened = [(target.open("rb"), target.read_bytes())]  # a reader holding a version, as nginx does mid-send
    try:
        for code in ("17202", "17203", "17204", "17205"):  # each change adds a warning: a new page
            await ingest(client, sediment(code, 4))
            opened.append((target.open("rb"), target.read_bytes()))
    finally:
        stop.set()
        await asyncio.to_thread(thread.join)
    for handle, body in opened:
        with handle:
            assert handle.read() == body, "a file was rewritten in place instead of replaced"
    assert len({body for _, body in opened}) == 5
    assert len(seen) >= 2 and all(b.rstrip().endswith(b"</html>") for b in seen), "a reader saw a partial page"
    assert target.read_bytes() == await app_bytes(client, "en")


async def test_files_follow_a_source_turning_stale_without_a_feed_entry(client):
    await set_status(client, SourceState.OK)
    await ingest(client, sediment("17201", 4))
    target = page_file(client, "en")
    before = target.read_bytes()
    assert b"not updated (stale)" not in before and b"up to date" in before
    seq = client.app[SNAPSHOT_KEY].built_seq
    await set_status(client, SourceState.STALE, minutes_ago=90)
    after = await file_changes(target, before)
    assert b"not updated (stale)" in after
    assert client.app[SNAPSHOT_KEY].built_seq == seq  # no feed entry: the page tick rebuilt it
    await client.app[SNAPSHOT_KEY].refresh_pages()  # waits for a write in progress; nothing left to change
    for lang in LANGS:
        assert page_file(client, lang).read_bytes() == await app_bytes(client, lang), lang


async def test_files_follow_the_minute_shown(client):
    start = datetime(2026, 7, 1, 3, 14, 30, tzinfo=timezone.utc)  # 12:14 in Japan
    client.app[CLOCK_KEY].source = lambda: start
    await ingest(client, sediment("17201", 4))
    target = page_file(client, "en")
    deadline = asyncio.get_running_loop().time() + 60
    while b"12:14" not in target.read_bytes():
        assert asyncio.get_running_loop().time() < deadline, "the page never showed the service clock's minute"
        await asyncio.sleep(0.05)
    before = target.read_bytes()
    client.app[CLOCK_KEY].source = lambda: start + timedelta(minutes=1)
    after = await file_changes(target, before)
    assert b"12:15" in after and after == await app_bytes(client, "en")


async def test_unchanged_pages_are_not_rewritten(client):
    await ingest(client, sediment("17201", 4))
    frozen = utcnow()
    client.app[CLOCK_KEY].source = lambda: frozen
    await client.app[SNAPSHOT_KEY].refresh_pages()
    stamp = os.stat(page_file(client, "ja")).st_mtime_ns
    await asyncio.sleep(0.5)  # several page ticks
    await client.app[SNAPSHOT_KEY].refresh_pages()
    assert os.stat(page_file(client, "ja")).st_mtime_ns == stamp


async def test_a_burst_of_changes_is_built_once_when_the_debounce_has_passed(client):
    """The debounce is a pause on the snapshot's clock: nothing is built until the test moves it."""
    snapshot = client.app[SNAPSHOT_KEY]
    await ingest(client, sediment("17201", 2))
    assert snapshot.debounce_s in client.app[PACING_KEY].pauses  # asked of the clock, not slept
    pacing = ManualPacing().drive(snapshot)
    builds = snapshot.builds
    for level in (3, 4, 5):
        entries = await client.app[PIPELINE_KEY].ingest(Snapshot("jma_extra", [sediment("17201", level)]))
    await pacing.paused.wait()  # the builder is in its debounce
    while snapshot.seen_seq < entries[-1].seq:  # the follower hands on the rest of the burst
        await asyncio.sleep(0.01)
    assert snapshot.builds == builds and not snapshot.current
    assert pacing.pauses == [snapshot.debounce_s]
    await pacing.advance(snapshot.debounce_s / 2)
    for _ in range(20):
        await asyncio.sleep(0)  # turns of the event loop, in which a due build would start
    assert snapshot.builds == builds  # half the debounce: still nothing
    await pacing.advance(snapshot.debounce_s / 2)
    await snapshot.wait_built(entries[-1].seq)
    assert snapshot.builds == builds + 1  # three changes, one build
    assert b'"level":5' in snapshot.get("/api/v1/events").body
