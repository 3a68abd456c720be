"""Event pages in headless Chromium: axe-core finds no WCAG 2.1 A/AA violation in any language, the
page breaks no Content-Security-Policy rule, reads the same with JavaScript off and fits a phone."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio
from aiohttp import web

from collectors.base import Snapshot
from collectors.publiccommons import order_event
from geo.model import Event, Kind, Severity, SourceRef, Status
from geo.region import Region
from service.keys import PIPELINE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.web.keys import EVENT_PAGES_KEY
from tests.browser.conftest import axe_violations, watch_csp
from tests.service_client import build_app

# one worker runs the module: its browser and storm are set up once
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("event_page_browser")]

T1 = datetime(2026, 7, 10, 4, 0, tzinfo=timezone.utc)
PHONE = {"width": 390, "height": 844}
# The elements reaching past the viewport's right edge, named for the failure message.
WIDE = """w => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w)
  .slice(0, 5).map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40))"""
PAGES = ["/events/sediment:17201", "/events/evacuation:17201", "/events/gauge:1700000124",
         "/events/sediment:17204", "/events/nothing:here"]


def _events() -> list[tuple[str, Event]]:
    src = SourceRef(source_id="jma_extra", upstream_id="VXWW50", url="https://www.data.jma.go.jp/developer/xml/x.xml")
    codes = Region.default().codes
    sediment = Event(id="sediment:17201", kind=Kind.SEDIMENT_WARNING, level=4, severity=Severity.SEVERE,
                     areas=("17201", "17203", "17206"), title="石川県土砂災害警戒情報",
                     text="<b>土砂災害の危険度</b>が高まっています", issued_at=T1, source=src)
    order = order_event(codes, "17201", [{"sort": "避難指示", "level": 4, "action": "発令", "districts": ["湯涌地区"],
                                          "at": T1.isoformat()}], T1, source=SourceRef(source_id="orders"),
                        issued_at=T1)
    gauge = Event(id="gauge:1700000124", kind=Kind.GAUGE, level=3, areas=("17201",), title="犀川 御影大橋",
                  geometry={"type": "Point", "coordinates": (136.645, 36.552)}, observed_at=T1,
                  source=SourceRef(source_id="river"), properties={"level_m": 2.4})
    drill = Event(id="sediment:17204", kind=Kind.SEDIMENT_WARNING, level=4, areas=("17204",), status=Status.EXERCISE,
                  title="訓練 土砂災害警戒情報", issued_at=T1, source=src)
    raised = sediment.model_copy(update={"level": 5, "issued_at": T1 + timedelta(hours=3),
                                         "received_at": T1 + timedelta(hours=3)})
    return [("jma_extra", sediment), ("orders", order), ("river", gauge), ("jma_extra", drill), ("jma_extra", raised)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory) -> AsyncIterator[str]:
    """The base URL of the whole service on a real port, with a warning, an order, a gauge and a drill."""
    tmp = tmp_path_factory.mktemp("event-browser")
    settings = load_settings(overrides={"store": {"url": str(tmp / "bosai.sqlite3")},
                                        "service": {"data_dir": str(tmp / "var")}})
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        for source, event in _events():
            entries = await app[PIPELINE_KEY].ingest(Snapshot(source, [event]))
            await app[EVENT_PAGES_KEY].wait_built(entries[-1].seq, timeout_s=60)
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("lang", ["ja", "en", "easy"])
async def test_axe_finds_no_violation_and_nothing_breaks_the_policy(browser, served, lang):
    context = await browser.new_context(viewport=PHONE, locale="ja-JP", base_url=served)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    violations = await watch_csp(page)
    try:
        for path in PAGES:
            response = await page.goto(f"{path}?lang={lang}")
            assert response is not None and response.status == (404 if "nothing" in path else 200), path
            assert await axe_violations(page) == [], (path, lang)
            # Fits a phone: nothing scrolls sideways, the map included.
            wide = await page.evaluate(WIDE, PHONE["width"])
            assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (path, wide)
            assert await page.locator("script").count() == 0, path
        assert not errors and not violations, (errors, violations)
    finally:
        await context.close()


async def test_the_page_reads_the_same_without_javascript(browser, served):
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False, base_url=served)
    page = await context.new_page()
    try:
        await page.goto("/events/sediment:17201?lang=ja")
        body = await page.inner_text("main")
        for words in ("警戒レベル５相当", "大雨特別警報（土砂災害）", "金沢市", "小松市", "2026年7月10日 13:00",
                      "<b>土砂災害の危険度</b>が高まっています"):
            assert words in body, words
        assert "避難指示" not in body  # JMA speaks in levels equivalent, never in a municipality's order words
        assert await page.locator("svg[role=img] path").count() >= 19  # every municipality of the region
        await page.goto("/events/evacuation:17201?lang=easy")
        body = await page.inner_text("main")
        assert "ひなん しじ" in body and "そうとう" not in body
        await page.goto("/events/sediment:17204?lang=en")
        assert "[DRILL]" in await page.inner_text("h1")
    finally:
        await context.close()
