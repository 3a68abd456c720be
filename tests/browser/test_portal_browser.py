"""The portal in headless Chromium against the service fed by the upstream simulator.

One module-wide world: the heavy-rain scenario is stepped (paused clock, 5-minute jumps) to
mid-storm through the service's own pollers, so the page shows real collector output: sediment
warnings, flood forecasts, gauges above normal, road closures and camera frames.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, State
from geo.store.base import SourceState
from publishers.shelter_pages import SHELTER_PAGES_KEY
from service.app import create_app
from service.keys import CLOCK_KEY, PIPELINE_KEY, POLLERS_KEY, STORE_KEY, STORE_READY_KEY
from service.settings import load_settings
from simulator import scenario as scenario_mod
from simulator.cameras import CAMERAS
from simulator.server import running_simulator
from tests.browser.conftest import AXE

pytestmark = pytest.mark.asyncio(loop_scope="module")

MID_STORM_H = 13
STEP = timedelta(minutes=5)
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"width": 390, "height": 844}
HEAVY_RAIN_MISSING_CAMERA = scenario_mod.load("heavy-rain").cameras.missing


def sources(base: str, image_dir: Path) -> dict:
    common = {"interval_s": 3600, "jitter_s": 0, "allow_private": True, "retries": 0, "timeout_s": 2}
    return {
        "jma_extra": {"type": "jma_feed", "url": f"{base}/developer/xml/feed/extra.xml", **common},
        "crisis_gauges": {
            "type": "river_gauge", "format": "area_info", "url": f"{base}/swin/files/area_info/current/17000.json", **common,
        },
        "road_closures": {"type": "road_closure", "format": "wzdx", "url": f"{base}/wzdx/v4.2/road-events.geojson",
                          "extra_urls": [f"{base}/wzdx/v4.2/road-restrictions.geojson"], **common},
        "river_cameras": {
            "type": "river_camera", "url": f"{base}/kawabou/file/files/master/obs/scam/",
            # all but the storm's missing camera, which would (rightly) leave the camera source failing
            "cameras": [c.id for c in CAMERAS if c.id != HEAVY_RAIN_MISSING_CAMERA], "image_dir": str(image_dir),
            **common,
        },
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory) -> AsyncIterator[tuple]:
    """(simulator, app, base URL of the service) with the storm stepped to mid-storm."""
    tmp = tmp_path_factory.mktemp("portal-browser")
    async with running_simulator("heavy-rain", speed=1, seed=1, port=0) as sim:
        sim.clock.pause()
        settings = load_settings(
            overrides={"store": {"url": str(tmp / "bosai.sqlite3")}, "sources": sources(sim.base_url, tmp / "cameras")}
        )
        app = create_app(settings)
        app[CLOCK_KEY].source = sim.clock.now
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
            pollers = app[POLLERS_KEY]
            end = sim.clock.now() + timedelta(hours=MID_STORM_H)
            while sim.clock.now() < end:
                await pollers["jma_extra"].run_once()
                sim.clock.jump(sim.clock.now() + STEP)
            for source_id in ("jma_extra", "crisis_gauges", "road_closures", "river_cameras"):
                status = await pollers[source_id].run_once()
                assert status.state == SourceState.OK, (source_id, status.last_error)
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            await served_events_match_store(base, app)
            yield sim, app, base
        finally:
            await runner.cleanup()


async def served_events_match_store(base: str, app: web.Application, timeout_s: float = 20) -> None:
    """Wait until /api/v1/events (a snapshot rebuilt after changes) serves what the store holds."""
    expected = {e.id for e in await app[STORE_KEY].query()}
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{base}/api/v1/events") as resp:
                served = {f["id"] for f in (await resp.json(content_type=None))["features"]}
            if served == expected:
                return
            assert asyncio.get_running_loop().time() < deadline, f"events served {len(served)}, stored {len(expected)}"
            await asyncio.sleep(0.2)


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser, world):
    """A fresh phone-sized page (no cookies) with the world's location set to Kanazawa."""
    context = await browser.new_context(
        viewport=PHONE, locale="ja-JP", geolocation={"latitude": 36.5613, "longitude": 136.6562},
        permissions=["geolocation"], base_url=world[2],
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    violations = await watch_csp(page)
    yield page
    await context.close()
    assert not errors, errors
    assert not violations, f"Content-Security-Policy violations: {violations}"


async def watch_csp(page) -> list[str]:
    """Every Content-Security-Policy violation on the page, from its event and from the console."""
    violations: list[str] = []
    await page.expose_function("bosaiCspViolation", lambda text: violations.append(text))
    # An init script is the browser's own (not subject to the page's policy) and runs in every document.
    await page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => window.bosaiCspViolation("
        "e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ': ' + (e.sample || '')))"
    )
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    return violations


async def map_ready(page) -> int:
    """Wait until the map has drawn the events; the number of features drawn."""
    await page.wait_for_selector("#map[data-features]", timeout=15000)
    return int(await page.get_attribute("#map", "data-features"))


async def axe_violations(page) -> list[dict]:
    # Evaluated by the driver rather than added as a <script>: the page's policy forbids inline script.
    await page.evaluate(AXE.read_text())
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


async def test_map_shows_gauges_areas_roads_and_cameras(page, world, shots):
    await page.goto("/")
    features = await map_ready(page)
    assert features > 10
    areas = await page.locator("#map path.leaflet-interactive").count()
    assert areas >= 19  # every municipality drawn: the map reads without a base map
    # gauges above normal: coloured by level and labelled with the level number
    labelled = page.locator(".pin.gauge:not(.lv0)")
    assert await labelled.count() > 0
    first = labelled.first
    assert (await first.inner_text()).strip() in {"1", "2", "3", "4", "5"}
    assert "警戒レベル" in (await page.locator(".leaflet-marker-icon:has(.pin.gauge:not(.lv0))").first.get_attribute("title"))
    # warning areas carry their level number on the map, not colour alone
    area_label = page.locator(".pin.area:not(.lv0)").first
    assert (await area_label.inner_text()).strip() in {"1", "2", "3", "4", "5"}
    assert await page.locator(".pin.camera").count() >= 5
    assert await page.locator("#map path[stroke-dasharray]").count() + await page.locator(".pin.road").count() > 0
    await page.locator("#map").scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "portal-ja-phone.png"))
    # a camera's popup opens from the keyboard and shows its latest frame from the API
    await page.locator(".leaflet-marker-icon:has(.pin.camera)").first.focus()
    await page.keyboard.press("Enter")
    image = page.locator(".leaflet-popup-content img")
    await image.wait_for(timeout=5000)
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await image.element_handle())
    assert await image.get_attribute("alt")


async def test_list_shows_active_warning_with_level_words(page, shots):
    await page.goto("/")
    section = page.locator("section[aria-labelledby='warnings-h']")
    cards = section.locator("li.card")
    assert await cards.count() > 0
    text = await cards.first.inner_text()
    assert "警戒レベル" in text
    assert any(name in text for name in ("緊急安全確保", "避難指示", "高齢者等避難", "大雨・洪水・高潮注意報"))
    assert "河川水位" in await page.locator("table.sources").inner_text()
    await page.locator("#warnings-h").evaluate("h => h.scrollIntoView()")
    await page.screenshot(path=str(shots / "portal-list-ja-phone.png"))


async def test_list_view_works_without_javascript(browser, world):
    context = await browser.new_context(java_script_enabled=False, viewport=PHONE, locale="ja-JP", base_url=world[2])
    page = await context.new_page()
    await page.goto("/list")
    assert await page.locator("section[aria-labelledby='warnings-h'] li.card").count() > 0
    await page.select_option("#area", "17201")
    await page.click("form.picker button[type=submit]")
    await page.wait_for_url("**area=17201**")
    assert "金沢市" in await page.locator("section.near h2").inner_text()
    await context.close()


async def test_switching_language_changes_text_and_is_remembered(page, shots):
    await page.goto("/")
    assert "石川県" in await page.locator("h1").inner_text()
    await page.click("nav.langs a[hreflang='en']")
    await page.wait_for_url("**lang=en**")
    assert await page.locator("h1").inner_text() == "Disaster information for Ishikawa"
    assert await page.get_attribute("html", "lang") == "en"
    assert "Level" in await page.locator("section[aria-labelledby='warnings-h']").inner_text()
    await map_ready(page)
    await page.screenshot(path=str(shots / "portal-en-phone.png"))
    await page.click("nav.langs a:has-text('やさしい にほんご')")
    await page.wait_for_url("**lang=easy**")
    assert "さいがいの じょうほう" in await page.locator("h1").inner_text()
    assert "けいかいレベル" in await page.locator("section[aria-labelledby='warnings-h']").inner_text()
    await page.goto("/")  # no ?lang=: the cookie remembers
    assert "さいがいの じょうほう" in await page.locator("h1").inner_text()
    await page.screenshot(path=str(shots / "portal-easy-phone.png"))


async def test_near_me_uses_location_and_the_here_api(page):
    await page.goto("/?lang=en")
    await map_ready(page)
    button = page.locator("#near-me")
    assert await button.is_visible()
    async with page.expect_response(lambda r: "/api/v1/here?" in r.url) as answer:
        await button.click()
    assert (await answer.value).status == 200
    result = page.locator("#near-result")
    await result.locator("h3").wait_for(timeout=5000)
    assert "Kanazawa" in await result.inner_text()
    assert await result.locator("ol li").count() > 0


@pytest.mark.parametrize("path", ["/", "/list", "/?lang=en", "/list?lang=easy&area=17201", "/about?lang=en"])
async def test_axe_reports_no_wcag_a_aa_violations(page, path):
    await page.goto(path)
    if path.startswith("/?") or path == "/":
        await map_ready(page)
    violations = await axe_violations(page)
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=1)


async def test_readable_at_200_percent_zoom_and_keyboard(page, shots):
    # 1280 px at 200 % is 640 CSS px; WCAG reflow asks for 320 px without sideways scrolling.
    for width in (640, 320):
        await page.set_viewport_size({"width": width, "height": 800})
        await page.goto("/")
        await map_ready(page)
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"horizontal scrolling at {width}px: {overflow}px"
    await page.screenshot(path=str(shots / "portal-320.png"))
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    # map markers are reachable by keyboard and named
    marker = page.locator(".leaflet-marker-icon[tabindex='0']").first
    assert await marker.get_attribute("title")


async def test_live_update_over_sse_without_reload(page, world):
    sim, app, _ = world
    await page.goto("/?lang=en")
    await map_ready(page)
    notice = Event(
        id="notice:portal-live", kind=Kind.NOTICE, level=5, areas=("17463",), title="Live update check",
        source=SourceRef(source_id="portal-test"),
    )
    await app[PIPELINE_KEY].ingest(Snapshot("portal-test", [notice]))
    try:
        await page.locator("section[aria-labelledby='warnings-h']:has-text('Live update check')").wait_for(timeout=10000)
        await page.locator(".pin.area.lv5").first.wait_for(timeout=15000)
    finally:
        ended = notice.model_copy(update={"state": State.LIFTED, "level": 0})
        await app[PIPELINE_KEY].ingest(Snapshot("portal-test", [ended]))


async def test_stale_banner_when_the_simulator_freezes_a_source(page, world, shots):
    sim, app, _ = world
    poller = app[POLLERS_KEY]["crisis_gauges"]
    sim.clock.jump(sim.clock.now() + timedelta(minutes=60))
    sim.set_fault("/swin/files/area_info/*", "stale")
    try:
        assert (await poller.run_once()).state == SourceState.OK  # frozen now; not yet old
        sim.clock.jump(sim.clock.now() + timedelta(minutes=60))
        status = await poller.run_once()
        assert status.state == SourceState.STALE, status
        await page.goto("/")
        banner = page.locator("section.stale[role='alert']")
        await banner.wait_for()
        text = await banner.inner_text()
        assert "一部の情報が更新されていません" in text and "河川水位" in text
        await page.screenshot(path=str(shots / "portal-stale.png"))
        assert await axe_violations(page) == []
    finally:
        sim.clear_faults()
        assert (await poller.run_once()).state == SourceState.OK
    await page.goto("/")
    assert await page.locator("section.stale").count() == 0
    assert await app[STORE_KEY].source_status("crisis_gauges") is not None


async def test_every_page_has_a_policy_without_inline_script_and_breaks_nothing(browser, world):
    context = await browser.new_context(viewport=PHONE, base_url=world[2])
    page = await context.new_page()
    violations = await watch_csp(page)
    try:
        shelter = next(iter(world[1][SHELTER_PAGES_KEY].index))
        for path in ("/", "/list", "/about", "/?lang=en", f"/shelters/{shelter}/", "/shelters/area/17201/"):
            response = await page.goto(path)
            policy = dict(d.split(" ", 1) for d in response.headers["content-security-policy"].split("; "))
            assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == "'none'", policy
            if path.startswith("/?") or path == "/":
                await map_ready(page)  # the scripts ran and read their JSON data block
        assert violations == []
        # The watch sees what the policy blocks: markup that slipped in as HTML cannot run.
        await page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
            " document.body.appendChild(s); }"
        )
        await page.wait_for_timeout(200)
        assert await page.evaluate("() => window.ran") is None
        assert any("script-src" in v for v in violations), violations
    finally:
        await context.close()
