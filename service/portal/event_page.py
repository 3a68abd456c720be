"""`/events/{id}`: one event's own page, the page every push links to.

Server-rendered, no script needed, in ja / en / やさしい日本語: what it is, its level in the one
wording table's words (警戒レベル相当 for JMA and gauges), its state, the municipalities it covers,
what to do, and its history with times. Rendered once per event version and language (the portal's
page cache, with ETag and compressed bodies) however many followers of a post open it at once.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from geo.model import Event, State
from geo.wording import level_words
from service.errors import NotFound, Unavailable
from service.keys import STORE_KEY, STORE_READY_KEY
from service.portal.pages import _language, _render, _respond
from service.portal.state import PORTAL_KEY, Portal

routes = web.RouteTableDef()

# The page's own labels (level words come from geo.wording only).
LABELS: dict[str, dict[str, str]] = {
    "ja": {"state": "状況", "areas": "対象の市町", "todo": "とるべき行動", "history": "これまでの発表",
           "time": "時刻", "level": "レベル", "what": "内容", "ended": "この情報は終わりました。",
           "issued": "発表", "updated": "更新", "all": "すべての情報を見る",
           State.ACTIVE: "発表中", State.LIFTED: "解除", State.CANCELLED: "取消", State.EXPIRED: "期限切れ"},
    "en": {"state": "Status", "areas": "Municipalities", "todo": "What to do", "history": "History",
           "time": "Time", "level": "Level", "what": "Details", "ended": "This information has ended.",
           "issued": "Issued", "updated": "Updated", "all": "See all information",
           State.ACTIVE: "In force", State.LIFTED: "Lifted", State.CANCELLED: "Cancelled", State.EXPIRED: "Expired"},
    "easy": {"state": "いまの ようす", "areas": "ばしょ", "todo": "すること", "history": "これまでの おしらせ",
             "time": "じかん", "level": "レベル", "what": "ないよう", "ended": "この おしらせは おわりました。",
             "issued": "でた じかん", "updated": "かわった じかん", "all": "ぜんぶの おしらせを みる",
             State.ACTIVE: "でています", State.LIFTED: "おわりました", State.CANCELLED: "とりけし",
             State.EXPIRED: "おわりました"},
}


def event_view(event: Event, history: list[Event], portal: Portal, lang: str) -> dict[str, Any]:
    """What the page shows, in `lang`."""
    labels = LABELS[lang]
    zone = portal.zone
    codes = portal.registry.codes

    def name(code: str) -> str:
        if code not in codes:
            return code
        m = codes.municipality(code)
        return m.name_en if lang == "en" else m.name

    def when(version: Event) -> str:
        return version.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    words = level_words(event.level, event.kind, lang)
    rows = [{
        "time": when(v), "level": level_words(v.level, v.kind, lang).label, "css": f"lv{v.level}",
        "state": labels[v.state], "text": v.text or v.title,
    } for v in reversed(history)]
    return {
        "labels": labels, "event": event, "title": event.title, "words": words, "css": f"lv{event.level}",
        "state": labels[event.state], "active": event.state == State.ACTIVE,
        "areas": [name(c) for c in event.areas],
        "issued": (event.issued_at or event.received_at).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "updated": when(event), "history": rows,
    }


@routes.get("/events/{event_id}")
async def event_page(request: web.Request) -> web.Response:
    """One event: level, state, areas, what to do and its history."""
    if not request.app[STORE_READY_KEY].is_set():
        raise Unavailable("the store is not open yet; try again shortly")
    store = request.app[STORE_KEY]
    portal = request.app[PORTAL_KEY]
    event_id = request.match_info["event_id"]
    event = await store.get(event_id)
    if event is None:
        raise NotFound(f"no event {event_id!r}")
    lang = _language(request)

    async def render() -> bytes:
        view = event_view(event, await store.history(event_id), portal, lang)
        return _render(portal, "event.html", lang, view=view, selected_area=None)

    page = await portal.pages.get(("event", event_id, lang), event.version, render)
    return await _respond(request, page, lang)
