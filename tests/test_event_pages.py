"""Event pages over the whole service: three languages, level words by voice, history with times,
caching (ETag, 304, encodings, invalidation by the change feed), static copies, unknown and hostile ids."""
from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

import pytest

from collectors.base import Snapshot
from collectors.publiccommons import order_event
from geo.model import Event, Kind, Severity, SourceRef, State, Status
from geo.region import Region
from geo.store.base import SourceState, SourceStatus
from geo.wording import level_words
from publishers.event_page import event_url, page_file
from publishers.rules import PushRules
from service.keys import PIPELINE_KEY, STORE_KEY
from service.web.keys import EVENT_PAGES_KEY
from tests.service_client import service_client

T1 = datetime(2026, 7, 10, 4, 0, tzinfo=timezone.utc)  # 13:00 JST
T2 = T1 + timedelta(minutes=40)  # 13:40 JST
T3 = T1 + timedelta(hours=3, minutes=5)  # 16:05 JST
SIZE_BUDGET = 30 * 1024  # identity bytes of one page, the map included (about 13 KB measured)
SRC = SourceRef(source_id="jma_extra", upstream_id="VXWW50-20260710", url="https://www.data.jma.go.jp/x.xml")


def sediment(level: int, at: datetime, state: State = State.ACTIVE, status: Status = Status.ACTUAL) -> Event:
    return Event(id="sediment:17201", kind=Kind.SEDIMENT_WARNING, level=level, severity=Severity.SEVERE,
                 areas=("17201", "17203"), title="石川県土砂災害警戒情報", issued_at=at, received_at=at,
                 state=state, status=status, source=SRC)


def order(level: int, sort: str, at: datetime) -> Event:
    codes = Region.default().codes
    return order_event(codes, "17201", [{"sort": sort, "level": level, "action": "発令", "districts": ["湯涌地区"],
                                         "at": at.isoformat()}], at, source=SourceRef(source_id="orders"),
                       issued_at=at)


@pytest.fixture
async def client(tmp_path):
    async with service_client(tmp_path) as client:
        yield client


async def ingest(client, source: str, *events: Event) -> None:
    """Ingest, then wait for the event pages (not the portal snapshot, whose first build is slow)."""
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot(source, list(events)))
    await client.app[EVENT_PAGES_KEY].wait_built(entries[-1].seq, timeout_s=60)  # a loaded machine renders slowly


async def text(client, path: str, **headers: str) -> tuple[int, str]:
    resp = await client.get(path, headers={"Accept-Encoding": "identity", **headers})
    return resp.status, await resp.text()


async def test_the_page_in_three_languages_with_level_words_history_and_source(client):
    await ingest(client, "jma_extra", sediment(4, T1))
    await ingest(client, "jma_extra", sediment(0, T3, State.LIFTED))
    expected = {
        "ja": ["石川県土砂災害警戒情報", "警戒レベル４相当", "土砂災害警戒情報", "解除", "金沢市", "小松市",
               "2026年7月10日 13:00", "2026年7月10日 16:05", "jma_extra", "VXWW50-20260710"],
        "en": ["Alert level 4 equivalent", "Sediment disaster alert", "Lifted", "Kanazawa", "Komatsu",
               "10 Jul 2026 13:00 JST", "10 Jul 2026 16:05 JST"],
        "easy": ["けいかいレベル４（そうとう）", "おわりました", "<ruby>金沢市", "2026ねん 7がつ10にち 13じ00ふん"],
    }
    html_lang = {"ja": "ja", "en": "en", "easy": "ja"}
    for lang, words in expected.items():
        status, body = await text(client, f"/events/sediment:17201?lang={lang}")
        assert status == 200, body
        assert f'<html lang="{html_lang[lang]}">' in body
        for word in words:
            assert word in body, (lang, word)
        # JMA information never speaks in a municipality's order words
        for order_word in ("避難指示", "高齢者等避難", "緊急安全確保", "Evacuation instruction", "ひなん しじ"):
            assert order_word not in body, (lang, order_word)
        assert "<script" not in body.lower()
        assert len(body.encode()) < SIZE_BUDGET, len(body.encode())
        assert "<svg" in body and 'role="img"' in body


async def test_history_lists_every_version_newest_first_with_times(client):
    await ingest(client, "jma_extra", sediment(4, T1))
    await ingest(client, "jma_extra", sediment(5, T2))
    await ingest(client, "jma_extra", sediment(0, T3, State.LIFTED))
    status, body = await text(client, "/events/sediment:17201?lang=ja")
    assert status == 200
    assert "<title>【警戒レベルなし】石川県土砂災害警戒情報（解除） | " in body  # a shared link says where it stands
    table = body.split('class="history"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*><td>(\d+)</td><td><time>([^<]+)</time></td><td>([^<]+)</td><td>([^<]+)</td>", table)
    assert [r[0] for r in rows] == ["3", "2", "1"]  # newest first
    assert [r[1] for r in rows] == ["2026年7月10日 16:05", "2026年7月10日 13:40", "2026年7月10日 13:00"]
    assert rows[2][2].startswith("警戒レベル４相当") and rows[1][2].startswith("警戒レベル５相当")
    assert [r[3] for r in rows] == ["解除", "発表中", "発表中"]


async def test_an_evacuation_order_speaks_in_order_words(client):
    await ingest(client, "orders", order(4, "避難指示", T1))
    for lang, words in {"ja": ["警戒レベル４", "避難指示", "危険な場所から全員避難", "湯涌地区"],
                        "en": ["Alert level 4", "Evacuation instruction"],
                        "easy": ["けいかいレベル４", "ひなん しじ"]}.items():
        status, body = await text(client, f"/events/evacuation:17201?lang={lang}")
        assert status == 200
        for word in words:
            assert word in body, (lang, word)
        assert '<p class="lead"><strong>' + level_words(4, Kind.EVACUATION, lang).headline in body
        assert "相当" not in body and "equivalent" not in body and "そうとう" not in body


async def test_an_exercise_is_stamped(client):
    await ingest(client, "jma_extra", sediment(4, T1, status=Status.EXERCISE))
    _, body = await text(client, "/events/sediment:17201?lang=ja")
    assert "【訓練】" in body.split("<h1", 1)[1].split("</h1>", 1)[0]
    _, body = await text(client, "/events/sediment:17201?lang=en")
    assert "[DRILL]" in body


async def test_the_map_fills_the_event_municipalities_in_the_level_colour(client):
    await ingest(client, "jma_extra", sediment(4, T1))
    _, body = await text(client, "/events/sediment:17201?lang=en")
    svg = body.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert svg.count("<path") == len(Region.default().boundaries.codes)
    assert svg.count('fill="#aa00aa"') == 2  # 金沢市 and 小松市, in level 4's purple
    assert "<title" in svg and "<desc" in svg


async def test_a_late_source_is_noted_on_the_page_and_its_file(tmp_path):
    def quick(app):
        app[EVENT_PAGES_KEY].status_tick_s = 0.05

    async with service_client(tmp_path, quick) as client:
        await ingest(client, "jma_extra", sediment(4, T1))
        pages = client.app[EVENT_PAGES_KEY]
        _, body = await text(client, "/events/sediment:17201?lang=ja")
        note = "この情報源は更新が遅れています"
        assert note not in body
        failing = SourceStatus("jma_extra", state=SourceState.FAILING, last_attempt=T2, last_success=T1)
        await client.app[STORE_KEY].set_source_status(failing)
        file = pages.static_dir / page_file("sediment:17201", "ja")
        for _ in range(200):  # the status tick notices within a few of its periods
            if note in file.read_text():
                break
            await asyncio.sleep(0.05)
        assert note in file.read_text()
        _, body = await text(client, "/events/sediment:17201?lang=ja")
        assert note in body and body == file.read_text()


async def test_etag_304_encodings_and_invalidation_by_the_change_feed(client):
    await ingest(client, "jma_extra", sediment(4, T1))
    first = await client.get("/events/sediment:17201?lang=ja", headers={"Accept-Encoding": "br"})
    assert first.status == 200 and first.headers["Content-Encoding"] == "br"
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert "Content-Security-Policy" in first.headers
    again = await client.get("/events/sediment:17201?lang=ja", headers={"If-None-Match": etag})
    assert again.status == 304
    since = await client.get("/events/sediment:17201?lang=ja", headers={"If-Modified-Since": modified})
    assert since.status == 304
    gz = await client.get("/events/sediment:17201?lang=ja", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip" and "警戒レベル４相当" in await gz.text()
    await ingest(client, "jma_extra", sediment(5, T2))
    changed = await client.get("/events/sediment:17201?lang=ja", headers={"If-None-Match": etag})
    assert changed.status == 200 and "警戒レベル５相当" in await changed.text()


async def test_static_copies_are_written_on_first_request_and_kept_current(client):
    await ingest(client, "jma_extra", sediment(4, T1))
    pages = client.app[EVENT_PAGES_KEY]
    path = pages.static_dir / page_file("sediment:17201", "en")
    assert not path.exists()
    status, body = await text(client, "/events/sediment:17201?lang=en")
    assert status == 200 and path.read_text() == body
    assert path.with_name(path.name + ".gz").exists() and path.with_name(path.name + ".br").exists()
    await ingest(client, "jma_extra", sediment(5, T2))
    assert "Alert level 5 equivalent" in path.read_text()
    _, body = await text(client, "/events/sediment:17201?lang=en")
    assert path.read_text() == body


HOSTILE = [
    "/events/nope:1", "/events/sediment:99999", "/events/..%2F..%2Fetc%2Fpasswd", "/events/a%00b",
    "/events/sediment:%0d%0aSet-Cookie:x=1", "/events/" + "x" * 5000, "/events/sediment:" + "7" * 5000,
    "/events/<script>alert(1)</script>", "/events/sediment:17201%2F..", "/events/noprefix", "/events/%ff%fe",
    "/events/sediment:17201%5C..%5C..", "/events/sediment:..", "/events/%2e%2e%2fetc",
]


async def test_unknown_and_hostile_ids_are_a_404_page_never_a_500(client):
    await ingest(client, "jma_extra", sediment(4, T1))
    for path in HOSTILE:
        resp = await client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert resp.status in (400, 404), (path, resp.status)
        body = await resp.text()
        assert resp.content_type == "text/html" and "Set-Cookie" not in resp.headers, path
        assert "<script" not in body.lower() and "404" in body and resp.headers["Cache-Control"] == "no-store"
    events_dir = client.app[EVENT_PAGES_KEY].static_dir / "events"
    assert not events_dir.exists() or not any(events_dir.iterdir())  # nothing written for any of them


async def test_unknown_id_page_in_english_and_problem_json_for_other_clients(client):
    status, body = await text(client, "/events/sediment:00000?lang=en", Accept="text/html")
    assert status == 404 and "This information was not found" in body and "sediment:00000" in body
    resp = await client.get("/events/sediment:00000", headers={"Accept": "application/json"})
    assert resp.status == 404 and resp.content_type == "application/problem+json"
    assert (await resp.json())["status"] == 404


def test_event_url_is_the_link_every_push_carries():
    rules = PushRules([], {}, Region.default().codes, "https://bosai.example.jp/")
    for event_id in ("sediment:17201", "gauge:1700000124", "shelter:172014-金沢市役所 第2庁舎"):
        assert event_url("https://bosai.example.jp/", event_id) == rules.event_url(event_id)
        assert event_url("https://bosai.example.jp", event_id) == rules.event_url(event_id)
    assert event_url("https://bosai.example.jp", "sediment:17201", "en") == \
        "https://bosai.example.jp/events/sediment:17201?lang=en"
    assert page_file("../etc:x", "ja") is None and page_file("sediment:..", "ja") is None
    assert page_file("sediment:17201", "ja") == "events/sediment:17201/index.ja.html"


async def test_the_link_a_push_carries_opens_the_page_even_for_a_japanese_id(client):
    shelter = Event(id="shelter:172014-金沢市役所 第2庁舎", kind=Kind.SHELTER, areas=("17201",), title="金沢市役所 開設",
                    issued_at=T1, source=SourceRef(source_id="operator"), properties={"status": "open"})
    await ingest(client, "operator", shelter, sediment(4, T1))
    rules = PushRules([], {}, Region.default().codes, "https://bosai.example.jp/")
    for event in (shelter, sediment(4, T1)):
        link = rules.event_url(event.id)  # what publishers/rules.py puts in every notice
        status, body = await text(client, link.removeprefix("https://bosai.example.jp"))
        assert status == 200 and event.title in body, link
    assert page_file(shelter.id, "ja") is None  # served by the app alone: no file named by such an id
