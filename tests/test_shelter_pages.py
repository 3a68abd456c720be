"""Shelter Wi-Fi pages over the whole service: content, size, no script, text browser, static copies,
regeneration on the changes that concern a page, the stale note and the municipality index."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from collectors.base import Snapshot
from collectors.publiccommons import order_event
from geo.model import Event, Kind, Severity, SourceRef
from geo.region import Region
from geo.store.base import SourceState, SourceStatus
from publishers.shelter_pages import ShelterPages
from service.keys import PIPELINE_KEY, STORE_KEY
from service.web.keys import SHELTER_PAGES_KEY
from tests.service_client import service_client

SITE = "E1720100102111"  # 伏見台小学校, 金沢市窪 (136.638004, 36.526654)
FAR_SITE = "E1720400045111"  # 輪島市立鳳至小学校（体育館）
NOW = datetime(2026, 7, 10, 4, 0, tzinfo=timezone.utc)
LIMIT = 30 * 1024


def _events() -> list[Event]:
    codes = Region.default().codes
    src = SourceRef(source_id="test")
    order = order_event(codes, "17201", [{"sort": "避難指示", "level": 4, "action": "発令", "districts": ["湯涌地区"],
                                          "at": NOW.isoformat()}], NOW, source=src, issued_at=NOW)
    sediment = Event(id="sediment:17201", kind=Kind.SEDIMENT_WARNING, level=4, severity=Severity.SEVERE,
                     areas=("17201",), title="石川県レベル４土砂災害危険警報（金沢市）", issued_at=NOW, source=src)
    gauge = Event(id="gauge:9999", kind=Kind.GAUGE, level=3, areas=("17201",), title="伏見川 窪",
                  geometry={"type": "Point", "coordinates": (136.640, 36.530)}, observed_at=NOW, source=src,
                  properties={"name": "伏見川（窪）", "level_m": 2.35, "trend_m_per_10min": 0.08})
    road = Event(id="road:r1", kind=Kind.ROAD_CLOSURE, level=2, title="国道157号 通行止",
                 text="国道157号 窪〜三馬: 通行止（冠水）", source=src,
                 geometry={"type": "LineString", "coordinates": ((136.635, 36.524), (136.630, 36.520))})
    shelter = Event(id=f"shelter:{SITE}", kind=Kind.SHELTER, areas=("17201",), title="伏見台小学校 開設",
                    issued_at=NOW, source=src, properties={"status": "open", "head_count": 25, "capacity": 400})
    return [order, sediment, gauge, road, shelter]


async def _ingest(client, *events: Event) -> None:
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot("test", list(events)))
    await client.app[SHELTER_PAGES_KEY].wait_built(entries[-1].seq, timeout_s=60)


def _static(client) -> Path:
    return client.app[SHELTER_PAGES_KEY].static_dir


@pytest.fixture
async def client(tmp_path):
    def faster(app):
        app[SHELTER_PAGES_KEY].status_tick_s = 0.2

    async with service_client(tmp_path, faster) as client:
        # the first request of a page writes its files; from then on the changes that concern it do
        for path in (f"/shelters/{SITE}/", f"/shelters/{FAR_SITE}/", "/shelters/area/17201/"):
            assert (await client.get(path)).status == 200
        await _ingest(client, *_events())
        yield client


async def test_the_page_shows_everything_in_force_in_three_languages(client):
    expected = {
        "ja": ["伏見台小学校", "石川県金沢市窪5-335", "開設中", "25人", "400人", "避難指示", "警戒レベル４",
               "危険な場所から全員避難", "湯涌地区", "土砂災害警戒情報", "警戒レベル４相当", "伏見川（窪）",
               "避難判断水位", "2.35 m", "上昇中", "国道157号", "洪水"],
        "en": ["Open", "Evacuation instruction", "Alert level 4 equivalent", "Sediment disaster alert", "rising",
               "Flood", "Everyone in a dangerous place must evacuate"],
        "easy": ["あいて います", "ひなん しじ", "けいかいレベル４", "ふえて います"],
    }
    for lang, words in expected.items():
        resp = await client.get(f"/shelters/{SITE}/?lang={lang}", headers={"Accept-Encoding": "identity"})
        assert resp.status == 200 and resp.content_type == "text/html"
        body = await resp.read()
        html = body.decode()
        assert len(body) < LIMIT, len(body)
        assert "<script" not in html.lower() and "<link" not in html.lower() and "src=" not in html
        for word in words:
            assert word in html, (lang, word)
        static = (_static(client) / f"shelters/{SITE}/index.{lang}.html").read_bytes()
        assert static == body  # the copy nginx serves is the page the app serves
    ja = (await (await client.get(f"/shelters/{SITE}/?lang=ja")).read()).decode()
    assert "避難指示相当" not in ja and "警戒レベル４相当：危険" not in ja.split("気象庁")[0]  # order words only for the order


@pytest.mark.skipif(shutil.which("w3m") is None and os.environ.get("CI") != "true", reason="w3m is not installed")
async def test_text_browser_reads_the_warnings(client):
    page = _static(client) / f"shelters/{SITE}/index.ja.html"
    out = subprocess.run(["w3m", "-dump", "-T", "text/html", "-I", "UTF-8", "-O", "UTF-8", str(page)],
                         capture_output=True, check=True, timeout=30).stdout.decode()
    for word in ("伏見台小学校", "開設中", "【警戒レベル４】避難指示", "【警戒レベル４相当】土砂災害警戒情報", "伏見川（窪）"):
        assert word in out, (word, out)


async def test_a_change_rewrites_the_pages_it_concerns_and_only_those(client):
    static = _static(client)
    far = static / f"shelters/{FAR_SITE}/index.ja.html"
    far_before = far.stat().st_mtime_ns
    store = client.app[STORE_KEY]
    shelter = await store.get(f"shelter:{SITE}")
    crowded = shelter.model_copy(update={"properties": {**shelter.properties, "status": "crowded", "head_count": 390}})
    await _ingest(client, crowded)
    html = (static / f"shelters/{SITE}/index.ja.html").read_text()
    assert "混雑" in html and "390人" in html
    index = (static / "shelters/area/17201/index.ja.html").read_text()
    assert "伏見台小学校</a>: 混雑" in index
    assert far.stat().st_mtime_ns == far_before  # 輪島市's page is not concerned

    lifted = order_event(Region.default().codes, "17201", [
        {"sort": "避難指示", "level": 4, "action": "解除", "districts": ["湯涌地区"], "at": NOW.isoformat()}],
        NOW + timedelta(hours=1), source=SourceRef(source_id="test"))
    await _ingest(client, lifted)
    html = (static / f"shelters/{SITE}/index.ja.html").read_text()
    assert "発令中の避難情報はありません" in html and "避難指示" not in html


async def test_stale_sources_are_named_on_the_pages(client):
    store = client.app[STORE_KEY]
    await store.set_source_status(SourceStatus("jma_extra", SourceState.STALE, content_time=NOW, last_success=NOW))
    page = _static(client) / f"shelters/{SITE}/index.ja.html"
    for _ in range(600):
        if "更新が遅れています" in page.read_text():
            break
        await asyncio.sleep(0.1)
    html = page.read_text()
    assert "更新が遅れています" in html and "jma_extra（07/10 13:00 時点）" in html
    await store.set_source_status(SourceStatus("jma_extra", SourceState.OK, content_time=NOW, last_success=NOW))
    for _ in range(600):
        if "更新が遅れています" not in page.read_text():
            break
        await asyncio.sleep(0.1)
    assert "更新が遅れています" not in page.read_text()


async def test_index_and_unknown_ids(client):
    resp = await client.get("/shelters/area/17201/?lang=ja")
    html = await resp.text()
    assert resp.status == 200 and "金沢市の避難所" in html and "<script" not in html
    assert html.index("伏見台小学校") < html.index("緑小学校")  # shelters recorded open come first
    assert (await client.get("/shelters/E0000000000000/")).status == 404
    assert (await client.get("/shelters/area/99999/")).status == 404


async def test_prewrite_writes_every_page_at_start_and_removes_an_earlier_runs(tmp_path):
    old = tmp_path / "var" / "static" / "shelters" / "E0000000000000" / "index.ja.html"
    old.parent.mkdir(parents=True)
    old.write_text("from an earlier run")

    def prewrite(app):
        app[SHELTER_PAGES_KEY].prewrite = True
        app[SHELTER_PAGES_KEY].background_duty = 1.0

    async with service_client(tmp_path, prewrite) as client:
        pages: ShelterPages = client.app[SHELTER_PAGES_KEY]
        for _ in range(1200):
            if pages.written_sites and not pages._background and not pages._writing.locked():
                break
            await asyncio.sleep(0.1)
        assert not old.exists()
        assert len(pages.written_sites) == len(pages.sites)
        files = list((_static(client) / "shelters").glob("*/index.easy.html"))
        assert len(files) == len(pages.sites)
        assert all(len(f.read_bytes()) < LIMIT for f in files)
        assert (_static(client) / "shelters/area/17201/index.en.html").exists()



async def test_every_municipality_list_fits_in_30_kb_in_three_languages(client):
    """金沢市 lists 514 sites: its shelters (and any site with a record) on the index, its other
    evacuation sites on a linked `places/` page; every page, in every language, stays under 30 KB with
    an order in force and a shelter open, and between them they link every site of the municipality."""
    pages: ShelterPages = client.app[SHELTER_PAGES_KEY]
    assert len(pages.by_town["17201"]) > 500
    for code, members in sorted(pages.by_town.items()):
        for lang in ("ja", "en", "easy"):
            html = ""
            for path in (f"/shelters/area/{code}/", f"/shelters/area/{code}/places/"):
                resp = await client.get(f"{path}?lang={lang}", headers={"Accept-Encoding": "identity"})
                body = await resp.read()
                assert resp.status == 200 and len(body) < LIMIT, (path, lang, len(body))
                assert b"<script" not in body.lower()
                html += body.decode().replace('href="../../../', 'href="../../')  # places/ is one level down
            assert all(f'<a href="../../{pages.sites[n].id}/">' in html for n in members), (code, lang)
    index = await (await client.get("/shelters/area/17201/?lang=ja")).text()
    places = await (await client.get("/shelters/area/17201/places/?lang=ja")).text()
    assert '<a href="places/">ほかの指定緊急避難場所（公園など）' in index and '<a href="../">金沢市の避難所一覧</a>' in places
    assert "伏見台小学校</a>: 開設中" in index and "伏見台小学校" not in places  # recorded open: on the index, first
    assert "【警戒レベル４】" in index and "【警戒レベル４】" in places  # the order on both
    assert (await client.get("/shelters/area/99999/places/")).status == 404


@pytest.mark.skipif(shutil.which("w3m") is None and os.environ.get("CI") != "true", reason="w3m is not installed")
async def test_text_browser_follows_the_index_links(client):
    await client.get("/shelters/area/17201/places/")
    for file, links in (("shelters/area/17201/index.ja.html", (f"/shelters/{SITE}/", "/shelters/area/17201/places/")),
                        ("shelters/area/17201/places/index.ja.html", ("/shelters/area/17201/", "/shelters/E1720100008201/"))):
        out = subprocess.run(["w3m", "-dump", "-o", "display_link_number=1", "-T", "text/html", "-I", "UTF-8",
                              "-O", "UTF-8", str(_static(client) / file)],
                             capture_output=True, check=True, timeout=30).stdout.decode()
        assert "【警戒レベル４】" in out, out[:400]
        assert all(f"{_static(client)}{link}" in out.replace("file://", "") for link in links), (file, out[-300:])
