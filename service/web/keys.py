"""Typed application keys of what the web layer builds from the publishers and shares between handlers."""
from __future__ import annotations

from aiohttp import web

from publishers.dispatcher import Dispatcher
from publishers.event_page import EventPages
from publishers.lalert import DocumentCache
from publishers.portal.state import Portal
from publishers.portal_snapshot import PortalSnapshot
from publishers.shelter_pages import ShelterPages

PORTAL_KEY: web.AppKey[Portal] = web.AppKey("portal", Portal)
SNAPSHOT_KEY: web.AppKey[PortalSnapshot] = web.AppKey("portal_snapshot", PortalSnapshot)
EVENT_PAGES_KEY: web.AppKey[EventPages] = web.AppKey("event_pages", EventPages)
SHELTER_PAGES_KEY: web.AppKey[ShelterPages] = web.AppKey("shelter_pages", ShelterPages)
# L-Alert documents of the events in force: the feed's and the channel's
DOCUMENTS_KEY: web.AppKey[DocumentCache] = web.AppKey("lalert_documents", DocumentCache)
# channel name -> its dispatcher, once the push context has started
DISPATCHERS_KEY: web.AppKey[dict[str, Dispatcher]] = web.AppKey("dispatchers")
