"""Portal pages rendered: `/` (map and list), `/list` (list only, no script), `/about`.

HTML is rendered by Jinja2 with autoescaping, one environment per language with its catalog
installed. The routes that answer with these pages are in service/web/portal.py.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from geo.model import Kind
from geo.store.base import Store
from publishers.http_cache import Representation
from publishers.portal import i18n
from publishers.portal.levels import level_view
from publishers.portal.page_cache import PAGE_CACHE_CONTROL, statuses_fingerprint
from publishers.portal.state import Portal
from publishers.portal.view import Clock, near_view, shape_view
from service.current_events import CurrentEvents

# The list page as nginx serves its materialised files (config/nginx.conf): rebuilt on every change
# and every minute, so browsers may reuse it briefly. The other pages revalidate every time.
LIST_CACHE_CONTROL = "public, max-age=10"
CACHE_CONTROL = {"list.html": LIST_CACHE_CONTROL}  # by template; the others: PAGE_CACHE_CONTROL
# Credit lines of the upstreams themselves (the geo data's lines come from the region's).
SOURCE_CREDITS = [
    "出典：気象庁ホームページ（防災情報XML）",
    "出典：国土交通省「川の防災情報」（水位・河川カメラ）",
    "出典：国土交通省「道路情報提供システム」（通行規制）",
]


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
    view = shape_view(events, statuses, portal.region, portal.settings, clock, _, area, lang, first)
    near = near_view(report, portal.region, lang, _) if report is not None else None
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


async def data_page(portal: Portal, current: CurrentEvents, store: Store, now: Callable[[], datetime], template: str,
                    lang: str, area: str | None = None) -> Representation:
    """The page as of now (current events, source statuses, minute), from the page cache or rendered once.

    The portal snapshot calls this after every change for the pages it materialises, so the bytes
    it writes for nginx are the very bytes the app serves.
    """
    clock = Clock(portal.zone, now())
    statuses = await store.source_statuses()
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


async def about_page(portal: Portal, lang: str) -> Representation:
    """The about page: what the site is, the alert levels, and the data credits."""
    tiles = ["地図：" + portal.tiles["attribution"]] if portal.tiles["url"] and portal.tiles["attribution"] else []
    credits = SOURCE_CREDITS + tiles + portal.region.credits
    return await portal.pages.get(("about.html", lang), None, _about_render(portal, lang, credits))


def _about_render(portal: Portal, lang: str, credits: list[str]):
    async def render() -> bytes:
        orders = [level_view(n, Kind.EVACUATION, lang) for n in (5, 4, 3, 2, 1)]
        return _render(portal, "about.html", lang, credits=credits, orders=orders, selected_area=None)

    return render
