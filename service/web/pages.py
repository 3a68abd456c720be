"""Routes of the event pages (`/events/{id}`) and the shelter Wi-Fi pages (`/shelters/...`), and the
contexts that keep their documents current (publishers/event_page.py, publishers/shelter_pages.py)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from publishers import shelter_pages
from publishers.event_page import EVENT_ID, MAX_ID_LENGTH, EventPages
from publishers.event_page import TASK_NAME as EVENT_PAGES_TASK
from publishers.http_cache import Representation, send
from publishers.portal import i18n
from publishers.portal.page_cache import PAGE_CACHE_CONTROL
from publishers.shelter_pages import ShelterPages
from service.keys import CLOCK_KEY, CURRENT_EVENTS_KEY, REGION_KEY, SETTINGS_KEY, STORE_KEY, STORE_READY_KEY
from service.supervisor import supervised_once_store_ready
from service.web.errors import NotFound, Unavailable
from service.web.keys import EVENT_PAGES_KEY, PORTAL_KEY, SHELTER_PAGES_KEY

event_routes = web.RouteTableDef()
shelter_routes = web.RouteTableDef()


def _lang(request: web.Request) -> str:
    return i18n.negotiate(request.query.get("lang"), request.cookies.get(i18n.COOKIE),
                          request.headers.get("Accept-Language"))


def _vary(request: web.Request, response: web.StreamResponse, lang: str) -> web.StreamResponse:
    response.headers["Vary"] = "Cookie, Accept-Language, Accept-Encoding"
    if request.query.get("lang") == lang and request.cookies.get(i18n.COOKIE) != lang:
        # Remembered, so the static copies nginx picks by this cookie are in the same language.
        response.set_cookie(i18n.COOKIE, lang, max_age=i18n.COOKIE_MAX_AGE_S, samesite="Lax", path="/")
        response.headers["Cache-Control"] = "private, " + response.headers.get("Cache-Control", PAGE_CACHE_CONTROL)
    return response


def _wants_html(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/html" in accept or "application/xhtml+xml" in accept


@event_routes.get(r"/events/{event_id:[\s\S]+}")  # any tail: a malformed id gets the same readable 404 page
async def event_page(request: web.Request) -> web.StreamResponse:
    """An event's page (`?lang=ja|en|easy`); an unknown or malformed id is a 404 page (problem+json
    unless the client accepts HTML)."""
    if not request.app[STORE_READY_KEY].is_set():
        raise Unavailable("the store is not open yet; try again shortly")
    pages, lang, event_id = request.app[EVENT_PAGES_KEY], _lang(request), request.match_info["event_id"]
    page = await pages.page(event_id, lang) if EVENT_ID.fullmatch(event_id) else None
    if page is None:
        if not _wants_html(request):  # a script or API client: the problem+json every other route answers
            raise NotFound(f"no event {event_id[:MAX_ID_LENGTH]!r}")
        body = await asyncio.to_thread(pages.missing_page, event_id, lang)
        response = web.Response(status=404, body=body, content_type="text/html", charset="utf-8",
                                headers={"Cache-Control": "no-store"})
        return _vary(request, response, lang)
    return _vary(request, await send(request, page), lang)


def install_event_pages(app: web.Application) -> None:
    """Create the app's event pages (under EVENT_PAGES_KEY, after the portal) and the context that runs them."""
    settings = app[SETTINGS_KEY]
    app[EVENT_PAGES_KEY] = EventPages(app[STORE_KEY], app[CURRENT_EVENTS_KEY], app[PORTAL_KEY],
                                      Path(settings.service.data_dir) / "static", clock=app[CLOCK_KEY])
    app.cleanup_ctx.append(_event_pages_ctx)


async def _event_pages_ctx(app: web.Application) -> AsyncIterator[None]:
    async for _ in supervised_once_store_ready(app, EVENT_PAGES_TASK, app[EVENT_PAGES_KEY].run):
        yield


async def _send(request: web.Request, body: bytes, pages: ShelterPages) -> web.StreamResponse:
    rep = Representation(body, "text/html; charset=utf-8", pages.world.changed_at, shelter_pages.CACHE_CONTROL)
    response = await send(request, rep)
    response.headers["Vary"] = "Cookie, Accept-Language, Accept-Encoding"
    lang = request.query.get("lang")
    if lang in i18n.LANGUAGES and request.cookies.get(i18n.COOKIE) != lang:
        # remembered, so the static copies nginx picks by this cookie are in the same language
        response.set_cookie(i18n.COOKIE, lang, max_age=i18n.COOKIE_MAX_AGE_S, samesite="Lax", path="/")
        response.headers["Cache-Control"] = "private, " + shelter_pages.CACHE_CONTROL
    return response


@shelter_routes.get("/shelters/{shelter_id}/")
async def shelter_page(request: web.Request) -> web.StreamResponse:
    """A shelter's Wi-Fi page (`?lang=ja|en|easy`)."""
    pages, lang = request.app[SHELTER_PAGES_KEY], _lang(request)
    n = pages.index.get(request.match_info["shelter_id"])
    if n is None:
        raise NotFound(f"no designated shelter has the id {request.match_info['shelter_id']}")
    return await _send(request, await pages.site_page(n, lang), pages)


@shelter_routes.get("/shelters/area/{code}/")
async def shelter_index(request: web.Request) -> web.StreamResponse:
    """A municipality's shelter list."""
    return await _town_page(request, "index")


@shelter_routes.get("/shelters/area/{code}/places/")
async def shelter_places(request: web.Request) -> web.StreamResponse:
    """A municipality's evacuation sites that are not shelters and have no recorded status."""
    return await _town_page(request, "places")


async def _town_page(request: web.Request, part: str) -> web.StreamResponse:
    pages, lang, code = request.app[SHELTER_PAGES_KEY], _lang(request), request.match_info["code"]
    if code not in pages.by_town:
        raise NotFound(f"no shelters are listed for municipality {code}")
    return await _send(request, await pages.town_page(code, lang, part), pages)


def install_shelter_pages(app: web.Application) -> None:
    """Create the app's shelter pages (under SHELTER_PAGES_KEY) and the cleanup context that runs them."""
    settings = app[SETTINGS_KEY]
    app[SHELTER_PAGES_KEY] = ShelterPages(
        app[STORE_KEY], app[CURRENT_EVENTS_KEY], app[REGION_KEY], Path(settings.service.data_dir) / "static",
        clock=app[CLOCK_KEY],  # storm time in the demo
    )
    app.cleanup_ctx.append(_shelter_pages_ctx)


async def _shelter_pages_ctx(app: web.Application) -> AsyncIterator[None]:
    async for _ in supervised_once_store_ready(app, shelter_pages.TASK_NAME, app[SHELTER_PAGES_KEY].run):
        yield
