"""The resident portal over real HTTP: pages, languages, stale banner, near me, assets, catalogs."""
from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import brotli
import pytest
from aiohttp.test_utils import TestClient, TestServer
from babel.messages.pofile import read_po
from lxml import html as lxml_html

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, State, utcnow
from geo.store.base import SourceState, SourceStatus
from publishers.portal import i18n
from publishers.portal.assets import BUILD_DIR
from service.keys import CLOCK_KEY, PIPELINE_KEY, STORE_KEY, STORE_READY_KEY
from service.settings import load_settings
from tests.service_client import build_app


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
    app = build_app(settings)
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
    assert "金沢市" in warnings and "警戒レベル４相当" in warnings and "土砂災害警戒情報" in warnings
    assert "危険な場所から全員避難" in warnings
    assert "避難指示" not in body  # an order's words only on a municipality's order
    doc = lxml_html.fromstring(body)
    assert doc.xpath("//section[@aria-labelledby='warnings-h']//span[contains(@class,'badge') and contains(@class,'lv4')]")
    assert "御影大橋" in text_of(body, "//section[@aria-labelledby='gauges-h']")
    assert "全面通行止め" in text_of(body, "//section[@aria-labelledby='roads-h']")
    assert doc.xpath("/html/@lang") == ["ja"]
    assert len(doc.xpath("//h1")) == 1 and doc.xpath("//main") and doc.xpath("//header") and doc.xpath("//footer")


@pytest.mark.parametrize(
    ("lang", "html_lang", "expected", "absent"),
    [
        ("en", "en", "Alert level 4 equivalent", "避難指示"),
        ("easy", "ja", "みんな にげて", "避難指示"),
        ("ja", "ja", "警戒レベル４相当", "Alert level"),
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
    # the time, with the date when the last data is from another day (42 minutes before a run just after 00:00 JST)
    assert re.search(r"last data as of (\d{1,2}/\d{1,2} )?\d\d:\d\d", banner)
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
    assert "Your area: Kanazawa" in near and "Alert level 4 equivalent" in near  # the events covering it
    assert lxml_html.fromstring(body).xpath("//section[@class='near']//ol/li")  # nearest shelters listed
    warnings = text_of(body, "//section[@aria-labelledby='warnings-h']")
    assert "Kanazawa" in warnings and "Nanao" not in warnings
    resp = await client.get("/?area=99999")
    assert resp.status == 400 and resp.content_type == "application/problem+json"


async def test_titles_are_escaped(client):
    await feed(client, warning("17201", 4, title="<script>alert(1)</script>"))
    body = await (await client.get("/list?lang=en")).text()
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
    assert "Alert level 5 equivalent" in body and "Heavy rain emergency warning (landslides)" in body
    assert "Emergency safety measures" not in body and "<html" not in body
    assert lxml_html.fragment_fromstring(body, create_parent="div").xpath("./section[@id='answer']/@data-title")


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
    assert found - template_ids == set(), "run pybabel extract (see publishers/portal/babel.cfg)"


async def test_page_rendered_once_until_data_changes(tmp_path, monkeypatch):
    """Eight requests at once render a page once, and each change of what it shows renders it once more.

    The portal snapshot renders the list page in every language through the same page cache (after
    each change and every tick), so only the slot these requests ask for, ("list.html", "en"), is
    counted: whoever asks first renders it, everyone else at the same version shares that render.
    """
    from publishers.portal import pages
    from service.web.keys import SNAPSHOT_KEY

    renders = []
    real = pages._render
    settings = load_settings(overrides={"store": {"url": str(tmp_path / "portal.sqlite3")}})
    app = build_app(settings)
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
        assert after.headers["ETag"] != bodies[0].headers["ETag"]
        assert "Alert level 4 equivalent" in await after.text()
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


def evacuation(code: str, level: int) -> Event:
    return Event(
        id=f"evacuation:{code}",
        kind=Kind.EVACUATION,
        level=level,
        areas=(code,),
        title="避難指示",
        issued_at=utcnow(),
        source=SourceRef(source_id="city"),
    )


def answer_of(body: str) -> str:
    return text_of(body, "//section[@id='answer']")


async def test_answer_first_carries_level_action_since_and_title(client):
    """The first section under the heading answers for the area: level words, action, since when, title."""
    store = client.app[STORE_KEY]
    t0 = utcnow().replace(hour=1, minute=10, second=0, microsecond=0)
    await feed(client, warning("17201", 3).model_copy(update={"issued_at": t0}))
    became_4 = t0 + timedelta(minutes=40)
    await feed(client, warning("17201", 4).model_copy(update={"issued_at": became_4}))
    later = warning("17201", 4, title="土砂災害警戒情報（更新）").model_copy(update={"issued_at": became_4 + timedelta(hours=1)})
    await feed(client, later, warning("17202", 3))
    assert len(await store.history("sediment_warning:17201")) == 3
    await mark(store, "jma_extra", SourceState.OK)
    for path in ("/?area=17201", "/list?area=17201"):
        body = await (await client.get(path, headers={"Accept-Language": "ja"})).text()
        doc = lxml_html.fromstring(body)
        assert doc.findtext(".//title") == "【警戒レベル４相当】金沢市 | 石川県 防災情報"
        first = doc.xpath("//main/h1/following-sibling::*[1]")[0]
        assert first.get("id") == "answer"
        answer = answer_of(body)
        assert "金沢市" in answer and "警戒レベル４相当" in answer and "土砂災害警戒情報" in answer
        assert "危険な場所から全員避難" in answer
        local = t0.astimezone(ZoneInfo("Asia/Tokyo"))
        assert f"{local.month}月{local.day}日 {local:%H:%M} から" in answer  # first issued, read from its history
        assert "避難指示" not in body
    # without an area: the prefecture's worst level and where it is in force
    body = await (await client.get("/?lang=en")).text()
    doc = lxml_html.fromstring(body)
    assert doc.findtext(".//title") == "[Alert level 4 equivalent] Ishikawa | Disaster information for Ishikawa"
    assert "Where: Kanazawa" in answer_of(body) and "Nanao" not in answer_of(body)


async def test_incomplete_answer_says_unknown_never_no_action(client):
    store = client.app[STORE_KEY]
    await mark(store, "jma_extra", SourceState.FAILING, minutes_ago=30)
    expected = {"ja": ("不明", "【不明】"), "en": ("Unknown", "[Unknown]"), "easy": ("わかりません", "【わからない】")}
    for lang, (words, title) in expected.items():
        body = await (await client.get(f"/?lang={lang}&area=17201")).text()
        answer = answer_of(body)
        assert words in answer and lxml_html.fromstring(body).findtext(".//title").startswith(title)
        for calm in ("今は特別な行動は必要ありません", "No action needed", "No warnings are in force", "警戒レベルなし"):
            assert calm not in body
    await feed(client, warning("17201", 3))
    answer = answer_of(await (await client.get("/?lang=en&area=17201")).text())
    assert "Alert level 3 equivalent" in answer and "It may be higher: some sources are not up to date." in answer
    await mark(store, "jma_extra", SourceState.OK)
    await feed(client, warning("17201", 3).model_copy(update={"state": State.LIFTED, "level": 0}))
    body = await (await client.get("/?lang=en&area=17201")).text()
    assert "No warnings are in force." in answer_of(body) and "Unknown" not in answer_of(body)
    assert lxml_html.fromstring(body).findtext(".//title").startswith("[No alert level] Kanazawa")


async def test_a_municipal_order_speaks_in_order_words(client):
    await feed(client, warning("17201", 4))
    await client.app[PIPELINE_KEY].ingest(Snapshot("city", [evacuation("17201", 4)]))
    body = await (await client.get("/?area=17201&lang=ja")).text()
    answer = answer_of(body)
    assert "警戒レベル４" in answer and "避難指示" in answer and "金沢市が発令" in answer
    assert answer.index("避難指示") < answer.index("警戒レベル４相当")  # the decision before the 相当 information
    assert lxml_html.fromstring(body).findtext(".//title").startswith("【警戒レベル４】金沢市")



async def test_an_order_is_the_municipalitys_decision_shown_first_above_jma_equivalents(client):
    """高齢者等避難 (3) from 金沢市 beside JMA's レベル４相当: the order comes first, in its own words and
    labelled as 金沢市's decision, in the answer and in 金沢市's group; the 相当 information after it."""
    await feed(client, warning("17201", 4))
    order = evacuation("17201", 3).model_copy(update={"title": "金沢市 高齢者等避難（警戒レベル３）"})
    await client.app[PIPELINE_KEY].ingest(Snapshot("city", [order]))
    await mark(client.app[STORE_KEY], "jma_extra", SourceState.OK)
    await mark(client.app[STORE_KEY], "city", SourceState.OK)
    for lang, by, order_words, info in (("ja", "金沢市が発令", "高齢者等避難", "警戒レベル４相当"),
                                        ("en", "Issued by Kanazawa", "Elderly people evacuate", "Alert level 4 equivalent")):
        for path in (f"/?area=17201&lang={lang}", f"/?lang={lang}"):
            answer = answer_of(await (await client.get(path)).text())
            assert by in answer and order_words in answer and info in answer, (path, answer)
            assert answer.index(by) < answer.index(order_words) < answer.index(info), (path, answer)
        doc = lxml_html.fromstring(await (await client.get(f"/list?area=17201&lang={lang}")).text())
        items = doc.xpath("//section[@aria-labelledby='warnings-h']//ul[@class='items']/li")
        texts = [" ".join(" ".join(li.itertext()).split()) for li in items]
        assert len(items) == 2 and items[0].get("class") == "order", texts
        assert by in texts[0] and order_words in texts[0] and "相当" not in texts[0] and "equivalent" not in texts[0]
        assert info in texts[1] and by not in texts[1]


def test_shelters_recorded_open_come_first_in_the_near_list():
    """The nearest shelters (geo.here, by distance) list those recorded open first, distance order kept."""
    from geo.region import Region
    from publishers.portal.view import near_view

    shelters = [{"name": n, "address": "", "status": st, "distance_m": d}
                for n, st, d in (("A", "unknown", 100), ("B", "closed", 200), ("C", "open", 900),
                                 ("D", "crowded", 950), ("E", "open", 1200))]
    report = {"municipality": {"code": "17201"}, "level": 0, "events": [], "shelters": shelters, "gauges": []}
    view = near_view(report, Region.default(), "ja", lambda s: s)
    assert [s["name"] for s in view["shelters"]] == ["C", "E", "D", "A", "B"]

async def test_prefecture_list_grouped_per_municipality_collapsible_worst_first(client):
    await feed(client, warning("17202", 3), warning("17201", 4), warning("17203", 2))
    doc = lxml_html.fromstring(await (await client.get("/list?lang=en")).text())
    groups = doc.xpath("//section[@aria-labelledby='warnings-h']//li[@class='card']/details")
    assert [" ".join(g.xpath("./summary//span[@class='place']//text()")) for g in groups] == ["Kanazawa", "Nanao", "Komatsu"]
    assert [g.get("open") for g in groups] == [None, None, None]  # collapsed until chosen
    assert "Alert level 4 equivalent" in " ".join(groups[0].xpath("./summary//text()"))
    doc = lxml_html.fromstring(await (await client.get("/list?lang=en&area=17202")).text())
    assert [d.get("open") is not None for d in doc.xpath("//section[@aria-labelledby='warnings-h']//details")] == [True]


def test_cameras_flagged_and_missing_ones_listed_roads_without_internal_ids(tmp_path):
    """Frozen and old pictures are flagged, a configured camera that sent nothing is unavailable."""
    from geo.region import Region
    from publishers.portal.view import Clock, shape_view

    cam = {"type": "river_camera", "url": "http://127.0.0.1:9/obs/", "cameras": ["c1", "c2", "c3", "c4"],
           "image_dir": str(tmp_path), "stale_after_s": 1800}
    settings = load_settings(overrides={"store": {"url": str(tmp_path / "s.sqlite3")}, "sources": {"cams": cam}})
    now = utcnow()

    def camera(key: str, taken_min_ago: int, **flags) -> Event:
        taken = now - timedelta(minutes=taken_min_ago)
        return Event(id=f"camera:{key}", kind=Kind.CAMERA, areas=("17201",), title=f"{key} カメラ", observed_at=taken,
                     properties={"name": f"川{key}", "taken_at": taken.isoformat(), "frozen": False, "stale": False,
                                 "image": "x.jpg", **flags}, source=SourceRef(source_id="cams"))

    closure = road().model_copy(update={"properties": {
        "route": "国道157号", "section": "84-157-0001", "reason": "国道157号 白山市白峰〜福井県境: 事前通行規制（雨量）",
        "regulation": "通行止", "started_at": (now - timedelta(days=1)).isoformat()}})
    events = [camera("c1", 5), camera("c2", 5, frozen=True), camera("c3", 90), closure]
    view = shape_view(events, [], Region.default(), settings, Clock(ZoneInfo("Asia/Tokyo"), now), lambda s: s)
    by_key = {c["key"]: c for c in view.cameras}
    assert not by_key["c1"]["frozen"] and not by_key["c1"]["stale"] and not by_key["c1"]["missing"]
    assert by_key["c2"]["frozen"]
    assert by_key["c3"]["stale"]  # the collector said fresh an hour ago; the clock says the frame is old
    assert by_key["c4"]["missing"] and not by_key["c4"]["image"]
    (row,) = view.roads
    assert row["section"] is None and "84-157-0001" not in str(row)
    assert row["reason"].startswith("白山市白峰") and "/" in row["since"]  # yesterday: the date is shown


async def test_names_carry_readings_and_warnings_are_translated(client):
    """Romaji in English and furigana in easy Japanese for names; kinds and hazards in the page's language."""
    river = gauge("g2", 3).model_copy(update={"properties": {"name": "浅野川（鞍降橋）", "level_m": 1.2,
                                                             "thresholds": {"danger_m": 1.9}}})
    heavy_rain = Event(id="weather:17201:大雨", kind=Kind.WEATHER_WARNING, level=4, areas=("17201",),
                       title="金沢市 レベル４大雨危険警報", issued_at=utcnow(),
                       properties={"family": "大雨", "kind_name": "レベル４大雨危険警報"}, source=SourceRef(source_id="jma_extra"))
    await feed(client, river, heavy_rain)
    en = lxml_html.fromstring(await (await client.get("/list?lang=en&area=17201")).text())
    gauges = " ".join(en.xpath("//section[@aria-labelledby='gauges-h']//text()"))
    assert "Asanogawa (Kuraoribashi)" in gauges and "0.70 m below the level 4 threshold (Flood danger water level)" in gauges
    assert en.xpath("//section[@aria-labelledby='gauges-h']//details//img[@src='/api/v1/gauges/g2/chart.svg?lang=en']")
    warnings = " ".join(en.xpath("//section[@aria-labelledby='warnings-h']//text()"))
    assert "Heavy rain Danger warning" in warnings and "Alert level 4 equivalent" in warnings
    easy = lxml_html.fromstring(await (await client.get("/list?lang=easy&area=17201")).text())
    assert easy.xpath("//section[@aria-labelledby='gauges-h']//ruby[starts-with(., '浅野川')]/rt[text()='あさのがわ']")
    assert "おおあめ" in " ".join(easy.xpath("//section[@aria-labelledby='warnings-h']//text()"))


async def test_about_tells_orders_from_equivalent_levels_and_credits_the_base_map(client):
    doc = lxml_html.fromstring(await (await client.get("/about?lang=ja")).text())
    rows = [" ".join(" ".join(tr.itertext()).split()) for tr in doc.xpath("//table[@class='levels']/tbody/tr")]
    assert rows[1] == "警戒レベル４ 避難指示 危険な場所から全員避難", rows
    assert "地図：地理院タイル" in doc.xpath("//ul[@class='credits']/li/text()")
