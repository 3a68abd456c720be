"""Portal pages: `/` (map and list), `/list` (list only, no script), `/about`, the boundaries layer.

HTML is rendered by Jinja2 with autoescaping, one environment per language with its catalog
installed. Pages accept `lang` (remembered in a cookie) and `area` (a municipality code: the
JavaScript-free "near me"); other query parameters are ignored, since residents arrive through
links that carry tracking parameters.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from geo.model import Kind
from publishers.http_cache import Representation, send
from publishers.portal import i18n
from publishers.portal.assets import static_file
from publishers.portal.levels import level_view
from publishers.portal.page_cache import PAGE_CACHE_CONTROL, statuses_fingerprint
from publishers.portal.state import PORTAL_KEY, Portal
from publishers.portal.view import Clock, near_view, shape_view
from service.keys import CLOCK_KEY, CURRENT_EVENTS_KEY, STORE_KEY, STORE_READY_KEY
from service.web.errors import BadRequest, Unavailable

routes = web.RouteTableDef()

# The list page as nginx serves its materialised files (config/nginx.conf): rebuilt on every change
# and every minute, so browsers may reuse it briefly. The other pages revalidate every time.
LIST_CACHE_CONTROL = "public, max-age=10"
CACHE_CONTROL = {"list.html": LIST_CACHE_CONTROL}  # by template; the others: PAGE_CACHE_CONTROL
# Credit lines of the upstreams themselves (the geo data's lines come from the registry).
SOURCE_CREDITS = [
    "出典：気象庁ホームページ（防災情報XML）",
    "出典：国土交通省「川の防災情報」（水位・河川カメラ）",
    "出典：国土交通省「道路情報提供システム」（通行規制）",
]


def _language(request: web.Request) -> str:
    return i18n.negotiate(
        request.query.get("lang"), request.cookies.get(i18n.COOKIE), request.headers.get("Accept-Language")
    )


def _area(request: web.Request, portal: Portal) -> str | None:
    area = request.query.get("area") or None
    if area is not None and area not in portal.registry.codes:
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


def _render(portal: Portal, template: str, lang: str, **context: Any) -> bytes:
    return (
        portal.environments[lang]
        .get_template(template)
        .render(
            language=i18n.LANGUAGES[lang],
            languages=list(i18n.LANGUAGES.values()),
            prefecture=portal.prefecture_name(lang),
            assets=portal.manifest,
            legend=[level_view(n, Kind.NOTICE, lang) for n in (5, 4, 3, 2, 1)],
            **context,
        )
        .encode()
    )


def _shape_and_render(portal: Portal, template: str, lang: str, area: str | None, clock: Clock,
                      events: list, statuses: list, report: dict[str, Any] | None, first: dict) -> bytes:
    _ = portal.gettext(lang)
    clock = Clock(clock.zone, clock.now, _("%(m)d/%(d)d"))  # dates in the page's language
    view = shape_view(events, statuses, portal.registry, portal.settings, clock, _, area, lang, first)
    near = near_view(report, portal.registry, lang, _) if report is not None else None
    context = {
        "view": view, "near": near, "clock": clock, "selected_area": area,
        "area_place": near["place"] if near else None,
    }
    client = {**portal.client_data(lang), "now": clock.now.isoformat(), "near": _near_client(report)}
    return _render(portal, template, lang, client=client, **context)


def _near_client(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The chosen area's recommended shelters for the map script (drawn with their status)."""
    if report is None:
        return None
    keys = ("name", "lat", "lon", "status")
    return {"point": None, "shelters": [{k: s[k] for k in keys} for s in report["shelters"]]}


async def _data_page(request: web.Request, template: str) -> web.Response:
    """A page showing the store's data, re-rendered only when the data, statuses or minute changed."""
    if not request.app[STORE_READY_KEY].is_set():
        raise Unavailable("the store is not open yet; try again shortly")
    lang = _language(request)
    area = _area(request, request.app[PORTAL_KEY])
    return await _respond(request, await data_page(request.app, template, lang, area), lang)


async def data_page(app: web.Application, template: str, lang: str, area: str | None = None) -> Representation:
    """The page as of now (current events, source statuses, minute), from the page cache or rendered once.

    The portal snapshot calls this after every change for the pages it materialises, so the bytes
    it writes for nginx are the very bytes the app serves.
    """
    portal = app[PORTAL_KEY]
    store = app[STORE_KEY]
    clock = Clock(portal.zone, app[CLOCK_KEY]())
    statuses = await store.source_statuses()
    current = app[CURRENT_EVENTS_KEY]
    await current.refresh()  # past every commit so far, however many requests ask together
    events = current.active()  # as store.query() gives them; every language and area rendered now shares it
    version = (
        current.generation,
        statuses_fingerprint(statuses),
        clock.now.replace(second=0, microsecond=0),  # "as of HH:MM" on the page
    )

    async def render() -> bytes:
        first = await portal.first_issues(store, events)
        report = None
        if area is not None:
            report = await portal.what_affects(store, *portal.area_point(area))
        # Shaping and rendering a list of a few thousand items takes a tenth of a second: done in a
        # worker thread, so requests keep being answered meanwhile (it yields the GIL every few ms).
        return await asyncio.to_thread(_shape_and_render, portal, template, lang, area, clock, events, statuses, report, first)

    cache_control = CACHE_CONTROL.get(template, PAGE_CACHE_CONTROL)
    return await portal.pages.get((template, lang, area), version, render, cache_control)


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
    from publishers.portal_snapshot import SNAPSHOT_KEY, Paths  # it renders through this module

    snapshot = request.app.get(SNAPSHOT_KEY)
    if snapshot is not None and not request.query_string:
        lang = _language(request)
        if (page := snapshot.get(Paths.list_page(lang))) is not None:
            return await _respond(request, page, lang)
    return await _data_page(request, "list.html")


@routes.get("/about")
async def about(request: web.Request) -> web.Response:
    """What the site is, the alert levels, and the data credits."""
    lang = _language(request)
    portal = request.app[PORTAL_KEY]
    tiles = ["地図：" + portal.tiles["attribution"]] if portal.tiles["url"] and portal.tiles["attribution"] else []
    credits = SOURCE_CREDITS + tiles + portal.registry.credits
    page = await portal.pages.get(("about.html", lang), None, _about_render(portal, lang, credits))
    return await _respond(request, page, lang)


def _about_render(portal: Portal, lang: str, credits: list[str]):
    async def render() -> bytes:
        orders = [level_view(n, Kind.EVACUATION, lang) for n in (5, 4, 3, 2, 1)]
        return _render(portal, "about.html", lang, credits=credits, orders=orders, selected_area=None)

    return render


@routes.get("/portal/areas.geojson")
async def areas(request: web.Request) -> web.Response:
    """Municipality boundaries (code, names, reading) for the map's base layer."""
    return request.app[PORTAL_KEY].boundaries.response(request, "application/geo+json", "public, max-age=86400")


routes.get("/static/{name:[A-Za-z0-9._/-]+}")(static_file)
