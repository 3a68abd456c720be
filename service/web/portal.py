"""The resident portal's routes: `/` (map and list), `/list` (no script), `/about`, the boundaries layer,
the built assets; and the wiring of the portal snapshot that materialises its hot documents.

Pages accept `lang` (remembered in a cookie) and `area` (a municipality code: the JavaScript-free
"near me"); other query parameters are ignored, since residents arrive through links that carry
tracking parameters. The pages themselves are rendered in publishers/portal/.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

from aiohttp import web

from publishers.cap import CapContext
from publishers.http_cache import Representation, send
from publishers.portal import i18n
from publishers.portal.assets import BUILD_DIR, IMMUTABLE, load_manifest
from publishers.portal.pages import about_page, data_page
from publishers.portal.state import Portal
from publishers.portal_snapshot import LIST_TEMPLATE, Paths, PortalSnapshot
from service.keys import (
    AREA_CODES_KEY,
    CLOCK_KEY,
    CURRENT_EVENTS_KEY,
    REGION_KEY,
    SETTINGS_KEY,
    STORE_KEY,
    STORE_READY_KEY,
)
from service.supervisor import supervised_once_store_ready
from service.web import route_guard
from service.web.errors import BadRequest, NotFound, Unavailable
from service.web.keys import PORTAL_KEY, SNAPSHOT_KEY

SNAPSHOT_TASK = "portal_snapshot"  # its name in /healthz, /readyz and /metrics
routes = web.RouteTableDef()


def create(app: web.Application) -> None:
    """Build the portal's state (templates, catalogs, region, assets) from the app's settings and region."""
    app[PORTAL_KEY] = Portal(app[SETTINGS_KEY], app[REGION_KEY], load_manifest())


def add_routes(app: web.Application) -> None:
    """Register the portal's routes, each guarded."""
    route_guard.add_routes(app, routes)


def install_snapshot(app: web.Application) -> None:
    """Create the app's portal snapshot (under SNAPSHOT_KEY) from what it needs, and the context that runs it."""
    settings, store, codes, portal, clock = app[SETTINGS_KEY], app[STORE_KEY], app[AREA_CODES_KEY], app[PORTAL_KEY], app[CLOCK_KEY]
    current = app[CURRENT_EVENTS_KEY]
    app[SNAPSHOT_KEY] = PortalSnapshot(
        store,
        current,
        codes,
        CapContext.from_settings(settings, codes),
        Path(settings.service.data_dir) / "static",
        # The list page in every language, rendered as the app renders it (its clock, its cache).
        pages={Paths.list_page(lang): partial(data_page, portal, current, store, clock, LIST_TEMPLATE, lang)
               for lang in i18n.LANGUAGES},
        clock=clock,  # the service's clock: storm time in the demo
    )
    app.cleanup_ctx.append(snapshot_ctx)


async def snapshot_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the snapshot builder, supervised, once the store is open; stop it on shutdown."""
    async for _ in supervised_once_store_ready(app, SNAPSHOT_TASK, app[SNAPSHOT_KEY].run):
        yield


def _language(request: web.Request) -> str:
    return i18n.negotiate(
        request.query.get("lang"), request.cookies.get(i18n.COOKIE), request.headers.get("Accept-Language")
    )


def _area(request: web.Request, portal: Portal) -> str | None:
    area = request.query.get("area") or None
    if area is not None and area not in portal.region.codes:
        raise BadRequest(f"area {area!r} is not a municipality code of this region (5 digits, e.g. 17201)")
    return area


async def _respond(request: web.Request, page: Representation, lang: str) -> web.Response:
    response = await send(request, page)  # 304, or the identity, gzip or brotli bytes built once
    response.headers["Vary"] = "Cookie, Accept-Language, Accept-Encoding"
    if request.query.get("lang") == lang and request.cookies.get(i18n.COOKIE) != lang:
        response.set_cookie(i18n.COOKIE, lang, max_age=i18n.COOKIE_MAX_AGE_S, samesite="Lax", path="/")
        # A shared cache must not hand this resident's Set-Cookie to the next one.
        response.headers["Cache-Control"] = "private, " + response.headers["Cache-Control"]
    return response


async def _data_page(request: web.Request, template: str) -> web.Response:
    """A page showing the store's data, re-rendered only when the data, statuses or minute changed."""
    app = request.app
    if not app[STORE_READY_KEY].is_set():
        raise Unavailable("the store is not open yet; try again shortly")
    lang = _language(request)
    portal = app[PORTAL_KEY]
    area = _area(request, portal)
    page = await data_page(portal, app[CURRENT_EVENTS_KEY], app[STORE_KEY], app[CLOCK_KEY], template, lang, area)
    return await _respond(request, page, lang)


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    """The portal: map, "near me" and the list; `partial=list` is the part live updates swap in."""
    return await _data_page(request, "_live.html" if request.query.get("partial") == "list" else "index.html")


@routes.get("/list")
async def list_view(request: web.Request) -> web.Response:
    """Everything on the map as server-rendered text; no script needed.

    Without a query string (what nginx answers from the snapshot's file when the `lang` cookie
    names the file), the page the portal snapshot materialised for the language: the same bytes, at
    most a build or a page tick behind. Rendered per request instead, it was rendered again at every
    new feed head: a few answers a second while ingesting. `?lang=` and `?area=` render live.
    """
    snapshot = request.app.get(SNAPSHOT_KEY)
    if snapshot is not None and not request.query_string:
        lang = _language(request)
        if (page := snapshot.get(Paths.list_page(lang))) is not None:
            return await _respond(request, page, lang)
    return await _data_page(request, LIST_TEMPLATE)


@routes.get("/about")
async def about(request: web.Request) -> web.Response:
    """What the site is, the alert levels, and the data credits."""
    lang = _language(request)
    return await _respond(request, await about_page(request.app[PORTAL_KEY], lang), lang)


@routes.get("/portal/areas.geojson")
async def areas(request: web.Request) -> web.Response:
    """Municipality boundaries (code, names, reading) for the map's base layer."""
    return request.app[PORTAL_KEY].boundaries.response(request, "application/geo+json", "public, max-age=86400")


@routes.get("/static/{name:[A-Za-z0-9._/-]+}")
async def static_file(request: web.Request) -> web.FileResponse:
    """A built asset; hashed names are cached for a year."""
    name = request.match_info["name"]
    path = (BUILD_DIR / name).resolve()
    try:
        found = BUILD_DIR.resolve() in path.parents and path.is_file() and path.suffix not in (".gz", ".br")
    except OSError:  # a name longer than the file system allows (ENAMETOOLONG) names no asset either
        found = False
    if not found:
        raise NotFound(f"no static asset {name!r}")
    cache = IMMUTABLE if name != "manifest.json" else "no-cache"
    return web.FileResponse(path, headers={"Cache-Control": cache})
