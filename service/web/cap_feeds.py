"""CAP over HTTP: /feeds/cap.atom, /feeds/cap/{area}.atom and /feeds/cap/{event id}.xml.

The feeds are portal snapshot documents (rebuilt on change, see publishers/portal_snapshot.py);
an event's CAP document is rendered on request from its current version and the one it supersedes.
"""
from __future__ import annotations

from aiohttp import web

from publishers.cap import CAP_CONTENT_TYPE, alert_document, previous_version
from publishers.http_cache import LIVE_CACHE_CONTROL, cached_response, send
from publishers.portal_snapshot import FEED_PATH, Paths
from service.web.api import check_params, current_and_history
from service.web.errors import NotFound, Unavailable
from service.web.keys import SNAPSHOT_KEY

routes = web.RouteTableDef()


def _snapshot_document(request: web.Request, key: str):
    snapshot = request.app.get(SNAPSHOT_KEY)
    if snapshot is None or not snapshot.documents:
        raise Unavailable("the feeds are being built; try again in a few seconds")
    return snapshot.documents.get(key)  # feeds may trail a change by one debounce, never more


@routes.get(FEED_PATH)
async def feed(request: web.Request) -> web.Response:
    """Atom feed of CAP alerts for the whole prefecture."""
    check_params(request.query, frozenset())
    return await send(request, _snapshot_document(request, FEED_PATH))


@routes.get(r"/feeds/cap/{area:\d{5}}.atom")
async def area_feed(request: web.Request) -> web.Response:
    """Atom feed of CAP alerts for one municipality (JIS X 0402 code)."""
    check_params(request.query, frozenset())
    area = request.match_info["area"]
    rep = _snapshot_document(request, Paths.area_feed(area))
    if rep is None:
        raise NotFound(f"{area!r} is not a municipality served here")
    return await send(request, rep)


@routes.get("/feeds/cap/{event_id}.xml")
async def event_alert(request: web.Request) -> web.Response:
    """The CAP 1.2 document of an event's current version."""
    current, history = await current_and_history(request)
    previous = previous_version(history, current) if current.version > 1 else None
    snapshot = request.app[SNAPSHOT_KEY]
    body = alert_document(current, snapshot.cap, previous)
    return await cached_response(request, body, CAP_CONTENT_TYPE, current.received_at, LIVE_CACHE_CONTROL)
