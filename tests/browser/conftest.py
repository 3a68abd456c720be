"""Browser fixtures: Debian's chromium driven by Playwright's driver (never `playwright install`).

Under CI=true a missing chromium, Playwright or node_modules is a failure; elsewhere the browser
tests skip with the reason shown.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from publishers.portal.assets import BUILD_DIR

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BOSAI_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BUILD_MANIFEST = BUILD_DIR / "manifest.json"  # what `make portal` builds and the app serves
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not AXE.exists() or not BUILD_MANIFEST.exists():
        return "node_modules or the portal build is missing (npm ci && npm run build)"
    return None


def require_browser() -> None:
    """Fail under CI, skip elsewhere, when the browser tests cannot run."""
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[object]:
    """One headless chromium for the module."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: BOSAI_SCREENSHOT_DIR if set (to look at them), else the test's tmp dir."""
    target = Path(os.environ.get("BOSAI_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser, world):
    """A fresh phone-sized page (no cookies) with the location set to Kanazawa; fails on any script error."""
    from tests.browser.world import PHONE

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
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now."""
    # Evaluated through the DevTools protocol, not as an inline <script>: the pages' CSP allows none.
    await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", WCAG_TAGS
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
