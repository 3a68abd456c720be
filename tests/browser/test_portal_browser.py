"""The portal in headless Chromium against the service fed by the upstream simulator.

One module-wide world: the heavy-rain scenario is stepped (paused clock, 5-minute jumps) to
mid-storm through the service's own pollers, so the page shows real collector output: sediment
warnings, flood forecasts, gauges above normal, road closures and camera frames.
"""
from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
import pytest_asyncio

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, State
from geo.store.base import SourceState
from service.keys import PIPELINE_KEY, POLLERS_KEY, STORE_KEY
from service.web.keys import PORTAL_KEY, SHELTER_PAGES_KEY
from tests.browser.conftest import axe_violations, map_ready, watch_csp
from tests.browser.world import DESKTOP, PHONE, running_world

# one worker runs the module: its browser and storm are set up once
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("portal_browser")]

MID_STORM_H = 13


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory) -> AsyncIterator[tuple]:
    """(simulator, app, base URL of the service) with the storm stepped to mid-storm."""
    async with running_world(tmp_path_factory.mktemp("portal-browser"), "heavy-rain", MID_STORM_H) as world:
        yield world


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
    assert await page.locator("#map path[stroke-dasharray]").count() + await page.locator(".pin.road").count() > 0
    # pins close together are clustered (a 44 px target each), never stacked on one another
    assert await page.locator(".pin.cluster").count() > 0
    boxes = await page.locator(".leaflet-marker-icon.pin-wrap").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect()).map(r => [r.width, r.height])")
    assert boxes and all(w >= 44 and h >= 44 for w, h in boxes)
    await page.locator("#map").scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "portal-ja-phone.png"))
    # choosing an area zooms the map to it; a pin named in the address is shown on its own
    await page.goto("/?area=17201#show=camera:104353128")
    await map_ready(page)
    chosen = await page.locator("#map path[stroke-width='4']").bounding_box()  # Kanazawa, outlined
    assert chosen["width"] > 150 or chosen["height"] > 150, chosen
    await page.locator(".leaflet-popup-content").wait_for(timeout=10000)
    await page.locator(".leaflet-popup-close-button").click()
    await page.locator(".leaflet-popup").wait_for(state="detached", timeout=15000)
    # a camera's popup opens from the keyboard and shows its latest frame from the API
    await page.locator(".leaflet-marker-icon:has(.pin.camera:not(.flagged))").first.focus()
    await page.keyboard.press("Enter")
    image = page.locator(".leaflet-popup-content img")
    await image.wait_for(timeout=15000)
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await image.element_handle())
    assert await image.get_attribute("alt")


async def reveal(page, locator, tries: int = 8) -> None:
    """Open clusters (zoom in, then spread) until `locator` is a pin of its own on the map."""
    for _ in range(tries):
        if await locator.count():
            return
        await page.locator(".pin.cluster").evaluate_all(
            "els => { const c = els.map(e => e.closest('.leaflet-marker-icon'))"
            ".find(e => { const r = e.getBoundingClientRect(); return r.width > 0; }); if (c) c.click(); }")
        await page.wait_for_timeout(600)
    assert await locator.count(), "pin not reachable through its clusters"


async def test_list_shows_active_warning_with_level_words(page, shots):
    await page.goto("/")
    section = page.locator("section[aria-labelledby='warnings-h']")
    cards = section.locator("li.card")
    assert await cards.count() > 0
    text = await cards.first.inner_text()
    assert re.search("警戒レベル[１-５]", text)
    await cards.first.locator("summary").click()  # collapsed per municipality: opens on demand
    opened = await cards.first.inner_text()
    assert any(name in opened for name in ("土砂災害警戒情報", "危険警報", "避難指示", "緊急安全確保"))
    assert "危険な場所から全員避難" in opened or "直ちに安全確保" in opened
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
    assert "Alert level" in await page.locator("section[aria-labelledby='warnings-h']").inner_text()
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
    await result.locator("h3").wait_for(timeout=15000)
    assert "Kanazawa" in await result.inner_text()
    assert await result.locator("ol li").count() > 0
    texts = await result.locator("ol li").all_inner_texts()
    ranks = [0 if " — Open ·" in t else 1 if " — Open, crowded ·" in t else 2 for t in texts]
    assert ranks == sorted(ranks), texts  # shelters recorded open first, then crowded, then the rest
    assert re.match(r"[A-Za-z]", await result.locator("ol li .what").first.inner_text())  # romaji first
    # the answer is now the resident's municipality's: first screen, title and address follow
    await page.wait_for_function("() => document.title.includes('Kanazawa')", timeout=10000)
    assert "Kanazawa" in await page.locator("#answer h2").inner_text()
    assert "area=17201" in page.url
    await page.goto("/?lang=easy")
    await map_ready(page)
    await page.locator("#near-me").click()
    await page.locator("#near-result ol li ruby rt").first.wait_for(timeout=10000)  # furigana


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize(
    "path", ["/", "/list", "/?lang=en", "/list?lang=en&area=17201", "/?lang=easy&area=17203", "/list?lang=easy", "/about?lang=en"]
)
async def test_axe_reports_no_wcag_a_aa_violations_in_the_storm(page, path, viewport):
    await page.set_viewport_size(viewport)
    await page.goto(path)
    if path.startswith("/?") or path == "/":
        await map_ready(page)
    details = page.locator("details")
    for i in range(min(await details.count(), 3)):  # opened groups are checked too
        await details.nth(i).evaluate("d => d.open = true")
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
        for path in ("/about", "/about?lang=en", "/list?lang=easy"):  # long credit lines and readings wrap too
            await page.goto(path)
            overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"horizontal scrolling on {path} at {width}px: {overflow}px"
        await page.goto("/")
        await map_ready(page)
    await page.screenshot(path=str(shots / "portal-320.png"))
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    # map markers are reachable by keyboard and named
    marker = page.locator(".leaflet-marker-icon[tabindex='0'][title]").first
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
        # the answer and the title follow without a reload: level 5 is now the prefecture's worst
        await page.wait_for_function("() => document.title.startsWith('[Alert level 5')", timeout=15000)
        assert "Alert level 5" in await page.locator("#answer").inner_text()
        assert "Live update check" in await page.locator("section[aria-labelledby='warnings-h']").text_content()
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


TITLE = re.compile(r"^【警戒レベル[１-５](相当)?】(?P<place>\S+) \| 石川県 防災情報$")


@pytest.mark.parametrize("path", ["/", "/list", "/?area=17201", "/list?area=17204"])
async def test_answer_is_above_the_fold_on_a_phone_and_in_the_title(page, path, shots):
    """At 390x844, without scrolling: the level in its words, what to do and since when; the title says it."""
    await page.goto(path)
    answer = page.locator("#answer")
    box = await answer.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
    text = await answer.inner_text()
    assert re.search("警戒レベル[１-５]", text)
    assert re.search(r"\d+月\d+日 \d\d:\d\d から", text)  # since when, with its date
    action = answer.locator(".action")
    assert (await action.inner_text()).strip()
    assert (await action.bounding_box())["y"] + 10 < 844
    title = TITLE.match(await page.title())
    assert title, await page.title()
    assert title["place"] == {"/?area=17201": "金沢市", "/list?area=17204": "輪島市"}.get(path, "石川県")
    await page.screenshot(path=str(shots / f"answer-{path.strip('/').replace('?', '-') or 'index'}.png"))


async def test_incomplete_answer_never_says_no_action_needed(page, world):
    sim, app, _ = world
    store = app[STORE_KEY]
    before = await store.source_status("jma_extra")
    await store.set_source_status(replace(before, state=SourceState.FAILING))
    try:
        for lang, caveat in (("ja", "不明な点があります"), ("en", "It may be higher"), ("easy", "わからない ところが あります")):
            for path in (f"/?lang={lang}", f"/list?lang={lang}&area=17201", f"/list?lang={lang}&area=17463"):
                await page.goto(path)
                answer = await page.locator("#answer").inner_text()
                assert caveat in answer or "不明" in answer or "Unknown" in answer or "わかりません" in answer, answer
                body = await page.locator("body").inner_text()
                for calm in ("特別な行動は必要ありません", "No action needed", "No warnings are in force", "発表中の警報・警戒情報はありません"):
                    assert calm not in body, (path, calm)
                box = await page.locator("#answer .unknown, #answer .lvunknown").first.bounding_box()
                assert box["y"] + box["height"] <= 844, (path, box)
    finally:
        await store.set_source_status(before)


async def test_frozen_camera_is_flagged_in_the_list_and_its_popup(page, world):
    sim, app, _ = world
    frozen = sim.scenario.cameras.frozen
    assert frozen, "the heavy-rain scenario freezes one camera"
    camera = await app[STORE_KEY].get(f"camera:{frozen}")
    name = camera.properties["name"]
    await page.goto("/list")
    row = page.locator("section[aria-labelledby='cameras-h'] li", has_text=name)
    assert re.search("更新されていません|映像が変化していません", await row.inner_text())
    await page.goto(f"/?area={camera.areas[0]}#show=camera:{frozen}")  # the map zooms until the pin is its own
    await map_ready(page)
    marker = page.locator(f".leaflet-marker-icon[title*='{name}']")
    await marker.wait_for(timeout=10000)
    assert re.search("更新されていません|映像が変化していません", await marker.get_attribute("title"))
    popup = page.locator(".leaflet-popup-content", has_text=name)
    await popup.wait_for(timeout=10000)
    assert re.search("更新されていません|映像が変化していません", await popup.inner_text())


async def test_axe_in_the_incomplete_state(page, world):
    sim, app, _ = world
    poller = app[POLLERS_KEY]["road_closures"]
    sim.set_fault("/wzdx/*", "status", status=500)
    try:
        assert (await poller.run_once()).state == SourceState.FAILING
        for path in ("/?area=17201", "/list?lang=easy"):
            await page.goto(path)
            assert await axe_violations(page) == []
    finally:
        sim.clear_faults()
        assert (await poller.run_once()).state == SourceState.OK


def hostile(field: str) -> str:
    """Markup that runs script if it ever reaches the DOM as HTML; `field` tells which field leaked."""
    mark = f"window.__xss=(window.__xss||[]).concat('{field}')"
    return f'<img src=x onerror="{mark}"><script>{mark}</script>"\'><svg onload="{mark}">{field}'


def hostile_events() -> list[Event]:
    """An event of every kind the portal shows, with markup in every text field it displays."""
    source = SourceRef(source_id="portal-xss")
    at = {"type": "Point", "coordinates": [137.18, 37.30]}  # one spot: the pins must spread to be reached
    return [
        Event(id="notice:xss", kind=Kind.NOTICE, level=3, areas=("17463",), title=hostile("notice-title"), source=source),
        Event(id="weather_warning:xss", kind=Kind.WEATHER_WARNING, level=3, areas=("17463",), title=hostile("weather-title"),
              properties={"kind_name": hostile("weather-kind"), "family": hostile("weather-family")}, source=source),
        Event(id="evacuation:xss", kind=Kind.EVACUATION, level=3, areas=("17463",), title=hostile("order-title"), source=source),
        Event(id="gauge:xss", kind=Kind.GAUGE, level=2, areas=("17463",), title=hostile("gauge-title"), geometry=at,
              properties={"name": hostile("gauge-name"), "level_m": 1.0, "thresholds": {"danger_m": 2.0}}, source=source),
        Event(id="camera:xss", kind=Kind.CAMERA, areas=("17463",), title=hostile("camera-title"), geometry=at,
              properties={"name": hostile("camera-name"), "frozen": True}, source=source),
        Event(id="shelter:xss", kind=Kind.SHELTER, areas=("17463",), title=hostile("shelter-title"), geometry=at,
              properties={"name": hostile("shelter-name"), "status": "open", "address": hostile("shelter-address")},
              source=source),
        Event(id="road_closure:xss-point", kind=Kind.ROAD_CLOSURE, areas=("17463",), title=hostile("road-title"),
              geometry=at, properties={"route": hostile("road-route"), "section": hostile("road-section"),
                                       "reason": hostile("road-reason"), "regulation": hostile("road-regulation")},
              source=source),
        Event(id="road_closure:xss-line", kind=Kind.ROAD_CLOSURE, areas=("17463",), title=hostile("line-title"),
              geometry={"type": "LineString", "coordinates": [[137.10, 37.25], [137.16, 37.28]]},
              properties={"route": hostile("line-route"), "section": hostile("line-section"),
                          "reason": hostile("line-reason"), "regulation": hostile("line-regulation")},
              source=source),
    ]


async def test_upstream_markup_never_runs_anywhere_on_the_page(browser, world):
    """Markup in every text field the portal shows is text: in the list, the answer, popups and tooltips.

    The page's Content-Security-Policy is bypassed, so what is checked is the page's own handling.
    """
    sim, app, base = world
    pipeline = app[PIPELINE_KEY]
    events = hostile_events()
    await pipeline.ingest(Snapshot("portal-xss", events))
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB", base_url=base, bypass_csp=True)
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    try:
        for path in ("/list?lang=en", "/list?lang=ja&area=17463", "/list?lang=easy&area=17463"):
            await page.goto(path)
            await page.locator("details").evaluate_all("ds => ds.forEach(d => d.open = true)")
            text = await page.locator("main").inner_text()
            for field in ("notice-title", "gauge-name", "road-route", "road-regulation", "camera-name"):
                assert "<img src=x onerror=" in text and field in text, (path, field)
            assert await page.evaluate("window.__xss") is None, path
        await page.goto("/?lang=en&area=17463")
        await map_ready(page)
        # the road line's tooltip (hover) and popup
        line = page.locator("#map path[stroke-dasharray]").last
        await page.locator("#map").scroll_into_view_if_needed()
        box = await page.locator("#map").bounding_box()
        await line.dispatch_event("mouseover", {"clientX": box["x"] + 50, "clientY": box["y"] + 50, "bubbles": True})
        tooltip = page.locator(".leaflet-tooltip", has_text="line-route")
        await tooltip.wait_for(state="attached", timeout=15000)  # opened where the (synthetic) pointer is
        assert "<img" in await tooltip.text_content()
        # the pins at one spot: clusters open until every pin is its own (spread at the closest zoom)
        for field in ("gauge-name", "camera-name", "shelter-name", "road-route"):
            marker = page.locator(f".leaflet-marker-icon[title*='{field}']")
            await reveal(page, marker)
            await marker.first.focus()
            await page.keyboard.press("Enter")
            popup = page.locator(".leaflet-popup-content", has_text=field)
            await popup.wait_for(timeout=15000)
            assert "<img" in await popup.inner_text(), field
            await page.keyboard.press("Escape")
        # a live update swaps the server's list in: still text
        await pipeline.ingest(Snapshot("portal-xss", [events[0].model_copy(update={"level": 4})] + events[1:]))
        await page.wait_for_timeout(8000)  # the page's settling pass has fetched and swapped the list in
        assert await page.evaluate("window.__xss") is None
        assert dialogs == []
    finally:
        await context.close()
        ended = [e.model_copy(update={"state": State.LIFTED, "level": 0}) for e in events]
        await pipeline.ingest(Snapshot("portal-xss", ended))


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


async def test_recommended_shelters_are_drawn_with_their_status(page):
    await page.goto("/?area=17201")
    await map_ready(page)
    listed = await page.locator("section.near ol li").count()
    drawn = page.locator(".leaflet-marker-icon:has(.pin.shelter.recommended)")
    await drawn.first.wait_for(timeout=10000)
    assert await drawn.count() == listed > 0  # the same shelters the list recommends
    title = await drawn.first.get_attribute("title")
    assert title.startswith("避難所") and any(w in title for w in ("開設", "混雑", "閉鎖", "不明")), title


@pytest.mark.parametrize(
    ("path", "level", "since", "title"),
    [
        ("/?lang=en&area=17201", r"Alert level [1-5]", r"In force since \d+/\d+ \d\d:\d\d",
         r"^\[Alert level [1-5]( equivalent)?\] Kanazawa \| Disaster information for Ishikawa$"),
        ("/list?lang=easy&area=17203", r"けいかいレベル[１-５]", r"\d+がつ\d+にち \d\d:\d\d から",
         r"^【けいかいレベル[１-５](（そうとう）)?】小松市 \| "),
    ],
)
async def test_answer_above_the_fold_in_english_and_easy_japanese(page, path, level, since, title, shots):
    await page.goto(path)
    box = await page.locator("#answer").bounding_box()
    assert box["y"] + box["height"] <= 844, box
    text = await page.locator("#answer").inner_text()
    assert re.search(level, text) and re.search(since, text), text
    assert (await page.locator("#answer .action").inner_text()).strip()
    assert re.match(title, await page.title()), await page.title()
    await page.screenshot(path=str(shots / f"answer-{path.strip('/').replace('?', '-').replace('&', '-')}.png"))


async def test_area_tooltip_uses_order_words_only_for_a_municipal_order(page, world):
    sim, app, _ = world
    orders = {e.areas[0] for e in await app[STORE_KEY].query(kinds=[Kind.EVACUATION]) if e.level >= 3}
    await page.goto("/")
    await map_ready(page)
    texts = await page.evaluate(
        "() => { const out = []; document.querySelectorAll('#map path.leaflet-interactive').forEach(p => {"
        " p.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: 10, clientY: 10}));"
        " const ts = document.querySelectorAll('.leaflet-tooltip'); if (ts.length) out.push(ts[ts.length - 1].textContent);"
        " p.dispatchEvent(new MouseEvent('mouseout', {bubbles: true})); }); return out; }")
    names = {app[PORTAL_KEY].region.codes.municipality(code).name for code in orders}
    said = {t for t in texts if " — " in t}
    ordered = {t for t in said if any(w in t for w in ("避難指示", "高齢者等避難", "緊急安全確保"))}
    assert ordered and {t.split(" — ")[0] for t in ordered} <= names, (ordered, names)
    assert all("相当" not in t for t in ordered), ordered
    assert any("相当" in t for t in said - ordered), said  # JMA's levels, as equivalents
