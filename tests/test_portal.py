"""The resident portal over real HTTP: pages, languages, stale banner, near me, assets, catalogs."""
from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
from datetime import timedelta

import brotli
import pytest
from aiohttp.test_utils import TestClient, TestServer
from babel.messages.pofile import read_po
from lxml import html as lxml_html

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, utcnow
from geo.store.base import SourceState, SourceStatus
from service.app import create_app
from service.keys import CLOCK_KEY, PIPELINE_KEY, STORE_KEY, STORE_READY_KEY
from service.portal import i18n
from service.portal.assets import BUILD_DIR
from service.settings import load_settings


def warning(code: str, level: int, title: str = "土砂災害警戒情報") -> Event:
    return Event(
        id=f"sediment_warning:{code}",
        kind=Kind.SEDIMENT_WARNING,
        level=level,
        areas=(code,),
        title=title,
        issued_at=utcnow(),
        source=SourceRef(source_id="jma_extra"),
    )


def gauge(station: str, level: int, lon: float = 136.66, lat: float = 36.55) -> Event:
    return Event(
        id=f"gauge:{station}",
        kind=Kind.GAUGE,
        level=level,
        areas=("17201",),
        title="犀川 御影大橋",
        geometry={"type": "Point", "coordinates": [lon, lat]},
        observed_at=utcnow(),
        properties={"name": "御影大橋", "level_m": 2.31, "trend_m_per_10min": 0.04},
        source=SourceRef(source_id="crisis_gauges"),
    )


def road() -> Event:
    return Event(
        id="road_closure:r1",
        kind=Kind.ROAD_CLOSURE,
        level=0,
        areas=("17201",),
        title="国道157号",
        geometry={"type": "LineString", "coordinates": [[136.60, 36.50], [136.62, 36.49]]},
        properties={"route": "国道157号", "section": "金沢市 末町～熊走町", "reason": "雨量規制", "regulation": "全面通行止め"},
        source=SourceRef(source_id="road_closures"),
    )


async def mark(store, source_id: str, state: SourceState, minutes_ago: int = 1) -> None:
    when = utcnow() - timedelta(minutes=minutes_ago)
    await store.set_source_status(
        SourceStatus(source_id, state=state, last_attempt=utcnow(), last_success=when, content_time=when)
    )


@pytest.fixture
async def client(tmp_path):
    settings = load_settings(overrides={"store": {"url": str(tmp_path / "portal.sqlite3")}})
    app = create_app(settings)
    async with TestClient(TestServer(app)) as c:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        yield c


async def feed(client, *events: Event) -> None:
    await client.app[PIPELINE_KEY].ingest(Snapshot("jma_extra", list(events)))


def text_of(body: str, xpath: str) -> str:
    doc = lxml_html.fromstring(body)
    return " ".join(" ".join(n.itertext()) for n in doc.xpath(xpath))


async def test_portal_lists_active_warning_with_level_words_and_colour_class(client):
    await feed(client, warning("17201", 4), gauge("g1", 3), road())
    await mark(client.app[STORE_KEY], "jma_extra", SourceState.OK)
    resp = await client.get("/", headers={"Accept-Language": "ja"})
    assert resp.status == 200 and resp.content_type == "text/html"
    body = await resp.text()
    warnings = text_of(body, "//section[@aria-labelledby='warnings-h']")
    assert "金沢市" in warnings and "警戒レベル4" in warnings and "避難指示" in warnings
    assert "危険な場所から全員避難してください。" in warnings
    doc = lxml_html.fromstring(body)
    assert doc.xpath("//section[@aria-labelledby='warnings-h']//span[contains(@class,'badge') and contains(@class,'lv4')]")
    assert "御影大橋" in text_of(body, "//section[@aria-labelledby='gauges-h']")
    assert "全面通行止め" in text_of(body, "//section[@aria-labelledby='roads-h']")
    assert doc.xpath("/html/@lang") == ["ja"]
    assert len(doc.xpath("//h1")) == 1 and doc.xpath("//main") and doc.xpath("//header") and doc.xpath("//footer")


@pytest.mark.parametrize(
    ("lang", "html_lang", "expected", "absent"),
    [
        ("en", "en", "Evacuation instruction", "避難指示"),
        ("easy", "ja", "みんな にげて", "避難指示"),
        ("ja", "ja", "避難指示", "Evacuation instruction"),
    ],
)
async def test_language_switch_changes_text_and_is_remembered(client, lang, html_lang, expected, absent):
    await feed(client, warning("17201", 4))
    resp = await client.get(f"/?lang={lang}")
    body = await resp.text()
    section = text_of(body, "//section[@aria-labelledby='warnings-h']")
    assert expected in section and absent not in section
    assert lxml_html.fromstring(body).xpath("/html/@lang") == [html_lang]
    # the source's own Japanese title is marked as Japanese inside an English page, not otherwise
    marked = lxml_html.fromstring(body).xpath("//li[@class='card']//span[@lang='ja']/text()")
    assert marked == (["土砂災害警戒情報"] if lang == "en" else [])
    assert resp.cookies["lang"].value == lang
    # the cookie now decides, over the browser's language
    again = await client.get("/list", headers={"Accept-Language": "en" if lang != "en" else "ja"})
    assert expected in text_of(await again.text(), "//section[@aria-labelledby='warnings-h']")


async def test_easy_japanese_gives_readings_of_place_names(client):
    await feed(client, warning("17201", 3))
    body = await (await client.get("/list?lang=easy")).text()
    assert lxml_html.fromstring(body).xpath("//ruby[contains(., '金沢市')]/rt[text()='かなざわし']")


async def test_accept_language_picks_english_without_cookie(client):
    body = await (await client.get("/about", headers={"Accept-Language": "en-GB,en;q=0.8"})).text()
    assert "About this site" in body and "出典：気象庁ホームページ" in body


async def test_stale_or_failing_source_shows_banner_and_never_no_warnings(client):
    store = client.app[STORE_KEY]
    await mark(store, "jma_extra", SourceState.OK)
    body = await (await client.get("/list?lang=en")).text()
    assert "No warnings are in force." in body
    assert not lxml_html.fromstring(body).xpath("//section[@class='stale']")

    await mark(store, "jma_extra", SourceState.FAILING, minutes_ago=42)
    body = await (await client.get("/list?lang=en")).text()
    banner = text_of(body, "//section[@class='stale' and @role='alert']")
    assert "not up to date" in banner and "jma_extra" in banner and "cannot be reached" in banner
    assert re.search(r"last data as of \d\d:\d\d", banner)
    assert "No warnings are in force." not in body
    assert "this does not mean there is none" in body

    await mark(store, "jma_extra", SourceState.STALE, minutes_ago=90)
    body = await (await client.get("/?lang=ja")).text()
    assert "一部の情報が更新されていません" in text_of(body, "//section[@class='stale']")
    assert "発表中の警報・警戒情報はありません。" not in body


async def test_no_source_status_yet_is_not_no_warnings(client):
    body = await (await client.get("/list?lang=en")).text()
    assert "No source has reported yet" in body and "No warnings are in force." not in body


async def test_area_picker_is_near_me_without_javascript(client):
    await feed(client, warning("17201", 4), warning("17202", 3))
    body = await (await client.get("/?lang=en&area=17201")).text()
    near = text_of(body, "//section[@class='near']")
    assert "Your area: Kanazawa" in near and "Level 4" in near
    assert lxml_html.fromstring(body).xpath("//section[@class='near']//ol/li")  # nearest shelters listed
    warnings = text_of(body, "//section[@aria-labelledby='warnings-h']")
    assert "Kanazawa" in warnings and "Nanao" not in warnings
    resp = await client.get("/?area=99999")
    assert resp.status == 400 and resp.content_type == "application/problem+json"


async def test_titles_are_escaped(client):
    await feed(client, warning("17201", 4, title="<script>alert(1)</script>"))
    body = await (await client.get("/list")).text()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


async def test_page_etag_revalidates(client):
    resp = await client.get("/about?lang=en")
    etag = resp.headers["ETag"]
    again = await client.get("/about?lang=en", headers={"If-None-Match": etag, "Cookie": "lang=en"})
    assert again.status == 304


async def test_list_fragment_for_live_updates(client):
    await feed(client, warning("17201", 5))
    body = await (await client.get("/?lang=en&partial=list")).text()
    doc = lxml_html.fragment_fromstring(body, create_parent="div")
    assert [d.get("id") for d in doc.xpath("./div")] == ["portal-status", "portal-list"]
    assert "Level 5" in body and "Emergency safety measures" in body and "<html" not in body


async def test_boundaries_layer_compressed_and_cacheable(client):
    resp = await client.get("/portal/areas.geojson", headers={"Accept-Encoding": "br"}, auto_decompress=False)
    assert resp.status == 200 and resp.headers["Content-Encoding"] == "br"
    collection = json.loads(brotli.decompress(await resp.read()))
    codes = {f["properties"]["code"] for f in collection["features"]}
    assert len(codes) == 19 and "17201" in codes
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in collection["features"])
    again = await client.get("/portal/areas.geojson", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


def _built() -> bool:
    return (BUILD_DIR / "manifest.json").exists()


async def test_static_assets_hashed_immutable_and_precompressed(client):
    if not _built():
        if os.environ.get("CI") == "true":
            pytest.fail("portal assets are not built: run `npm ci && npm run build`")
        pytest.skip("portal assets not built (npm run build)")
    body = await (await client.get("/")).text()
    doc = lxml_html.fromstring(body)
    scripts = doc.xpath("//script/@src")
    assert any(re.fullmatch(r"/static/leaflet\.[0-9a-f]{12}\.js", s) for s in scripts)
    assert not [s for s in scripts + doc.xpath("//link/@href") if s.startswith("http")], "nothing from a CDN"
    portal_js = next(s for s in scripts if "/portal." in s)
    resp = await client.get(portal_js, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert resp.status == 200 and resp.headers["Cache-Control"].endswith("immutable")
    assert resp.headers.get("Content-Encoding") == "gzip"
    assert b"EventSource" in gzip.decompress(await resp.read())
    assert (await client.get("/static/../pages.py")).status == 404
    assert (await client.get("/static/nothing.js")).status == 404


def test_every_message_translated_in_japanese_catalogs():
    for code in ("ja", "easy"):
        with open(i18n.LOCALES_DIR / code / "LC_MESSAGES" / "messages.po", "rb") as fh:
            catalog = read_po(fh)
        untranslated = [m.id for m in catalog if m.id and not m.string]
        assert not untranslated, (code, untranslated)
    with open(i18n.LOCALES_DIR / "messages.pot", "rb") as fh:
        template_ids = {m.id for m in read_po(fh) if m.id}
    with open(i18n.LOCALES_DIR / "ja" / "LC_MESSAGES" / "messages.po", "rb") as fh:
        assert template_ids <= {m.id for m in read_po(fh) if m.id}


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("en", None, "ja", "en"),
        ("xx", "easy", "en", "easy"),
        (None, None, "en-US,en;q=0.9", "en"),
        (None, None, "fr-FR", "ja"),
        (None, None, None, "ja"),
    ],
)
def test_negotiate(query, cookie, accept, expected):
    assert i18n.negotiate(query, cookie, accept) == expected


def test_catalog_template_matches_the_code():
    """Every message the code and templates use is in messages.pot (so translators see it)."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    portal_dir = i18n.LOCALES_DIR.parent
    found = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            portal_dir,
            method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
            options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords={**DEFAULT_KEYWORDS, "N_": None},
        )
    }
    with open(i18n.LOCALES_DIR / "messages.pot", "rb") as fh:
        template_ids = {m.id for m in read_po(fh) if m.id}
    assert found - template_ids == set(), "run pybabel extract (see service/portal/babel.cfg)"


async def test_page_rendered_once_until_data_changes(tmp_path, monkeypatch):
    """Eight requests at once render a page once, and each change of what it shows renders it once more.

    The portal snapshot renders the list page in every language through the same page cache (after
    each change and every tick), so only the slot these requests ask for, ("list.html", "en"), is
    counted: whoever asks first renders it, everyone else at the same version shares that render.
    """
    from publishers.portal_snapshot import SNAPSHOT_KEY
    from service.portal import pages

    renders = []
    real = pages._render
    settings = load_settings(overrides={"store": {"url": str(tmp_path / "portal.sqlite3")}})
    app = create_app(settings)
    frozen = utcnow()
    app[CLOCK_KEY].source = lambda: frozen  # the shown minute is part of a page's version: no rollover mid-test
    async with TestClient(TestServer(app)) as client:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        await app[SNAPSHOT_KEY].wait_built(0)  # its first pages (no source status yet) are not this test's
        monkeypatch.setattr(pages, "_render", lambda *a, **k: renders.append(a[1:3]) or real(*a, **k))
        ours = lambda: [r for r in renders if r == ("list.html", "en")]  # noqa: E731
        await mark(app[STORE_KEY], "jma_extra", SourceState.OK)
        bodies = await asyncio.gather(*(client.get("/list?lang=en") for _ in range(8)))
        assert {r.headers["ETag"] for r in bodies} and len({r.headers["ETag"] for r in bodies}) == 1
        assert len(ours()) == 1  # eight requests at once, one render
        assert "No warnings are in force." in await bodies[0].text()
        await feed(client, warning("17201", 4))
        after = await client.get("/list?lang=en")
        assert after.headers["ETag"] != bodies[0].headers["ETag"] and "Level 4" in await after.text()
        await mark(app[STORE_KEY], "jma_extra", SourceState.FAILING, minutes_ago=30)
        assert "cannot be reached" in await (await client.get("/list?lang=en")).text()
        await asyncio.sleep(app[SNAPSHOT_KEY].page_tick_s * 1.5)  # let the snapshot's tick ask for the page too
        assert len(ours()) == 3


async def test_list_page_may_be_reused_briefly_and_the_portal_is_revalidated(client):
    listing = await client.get("/list")
    portal = await client.get("/")
    assert listing.status == 200 and listing.headers["Cache-Control"] == "public, max-age=10"
    assert portal.status == 200 and portal.headers["Cache-Control"] == "no-cache"
    again = await client.get("/list", headers={"If-None-Match": listing.headers["ETag"]})
    assert again.status == 304 and again.headers["Cache-Control"] == "public, max-age=10"
