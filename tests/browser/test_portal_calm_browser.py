"""The portal in calm weather, over a base map served by a local tile server.

Calm is where "no warnings" may be said, and only while every source is fresh: axe checks it in
every language at phone and desktop size, and the base map is drawn from the configured tile URL
with its credit while the Content-Security-Policy lets exactly that origin in.
"""
from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from PIL import Image

from tests.browser.conftest import axe_violations, map_ready
from tests.browser.world import DESKTOP, PHONE, running_world

# one worker runs the module: its browser and storm are set up once
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("portal_calm_browser")]


def tile_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (238, 238, 232)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tiles() -> AsyncIterator[tuple[str, list[str]]]:
    """A tile server on loopback: (URL template, paths requested)."""
    requested: list[str] = []
    body = tile_png()

    async def tile(request: web.Request) -> web.Response:
        requested.append(request.path)
        return web.Response(body=body, content_type="image/png")

    app = web.Application()
    app.router.add_get("/pale/{z}/{x}/{y}.png", tile)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/pale/{{z}}/{{x}}/{{y}}.png", requested
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory, tiles) -> AsyncIterator[tuple]:
    """The calm scenario two hours in, every source polled, tiles from the local server."""
    # Without the orders feed: with no document in calm it reads as stale (its newest content is old).
    tmp = tmp_path_factory.mktemp("portal-calm")
    async with running_world(tmp, "calm", 2, tile_url=tiles[0], without=("publiccommons",)) as world:
        yield world


async def test_calm_answer_says_no_warnings_only_because_every_source_is_fresh(page):
    await page.goto("/list?lang=en&area=17201")
    answer = await page.locator("#answer").inner_text()
    assert "No alert level" in answer and "No warnings are in force." in answer
    assert (await page.title()).startswith("[No alert level] Kanazawa | ")


async def test_base_map_tiles_from_the_configured_url_with_their_credit(page, tiles):
    _, requested = tiles
    response = await page.goto("/")
    await map_ready(page)
    await page.locator("img.leaflet-tile-loaded").first.wait_for(timeout=10000)
    assert requested, "no tile was asked for"
    assert "地理院タイル" in await page.locator(".leaflet-control-attribution").inner_text()
    origin = tiles[0].split("/pale/")[0]
    assert origin in response.headers["content-security-policy"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("path", ["/", "/list?lang=en", "/?lang=easy&area=17204", "/list?lang=easy", "/?lang=en&area=17201"])
async def test_axe_reports_no_wcag_a_aa_violations_in_calm(page, path, viewport):
    await page.set_viewport_size(viewport)
    await page.goto(path)
    if path.startswith("/?") or path == "/":
        await map_ready(page)
    violations = await axe_violations(page)
    assert violations == [], json.dumps(violations, ensure_ascii=False, indent=1)
