"""L-Alert: the 公共情報コモンズ documents of the events in force, offered as `/feeds/lalert.atom`.

Each entry carries one event version's document inline (Atom `content` of type application/xml:
the EDXL-DE envelope around its Report), so a participant's relay can read the feed with the same
reader as the documents. Documents come from publishers/lalert_content.py (what to say, the
documentID / documentRevision lifecycle) and publishers/lalert_document.py (the public v1.x
structure, the one module a v2 writer replaces).
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

from aiohttp import web
from lxml import etree

from geo.codes import AreaCodes
from geo.model import Event, utcnow
from geo.store.base import Store
from publishers import lalert_document as ld
from publishers.lalert_content import document_for, sendable
from service.api import check_params
from service.cap import in_feed
from service.change_feed import feed_head
from service.http_cache import LIVE_CACHE_CONTROL, cached_response
from service.keys import AREA_CODES_KEY, CLOCK_KEY, SETTINGS_KEY, STORE_KEY

ATOM = "http://www.w3.org/2005/Atom"
FEED_PATH = "/feeds/lalert.atom"
ATOM_CONTENT_TYPE = "application/atom+xml; charset=utf-8"


class DocumentCache:
    """Each event version's document bytes, built once (a version never changes)."""

    def __init__(self, store: Store, codes: AreaCodes, sender: str) -> None:
        self.store = store
        self.codes = codes
        self.sender = sender
        self._documents: dict[str, tuple[ld.Document, etree._Element]] = {}
        self._feed: tuple[int, bytes, datetime | None] | None = None

    async def document(self, event: Event) -> tuple[ld.Document, etree._Element]:
        """The document of one event version and its EDXLDistribution element."""
        found = self._documents.get(event.version_ref)
        if found is None:
            history = await self.store.history(event.id)
            doc = document_for(event, history, self.codes, sender=self.sender)
            found = self._documents[event.version_ref] = (doc, ld.build(doc))
        return found

    async def feed(self, base_url: str, now: datetime) -> tuple[bytes, datetime | None]:
        """The Atom feed of the documents of every event in force or just ended (real ones only)."""
        head = await feed_head(self.store)
        seq = head.seq if head is not None else 0
        if self._feed is not None and self._feed[0] == seq:
            return self._feed[1], self._feed[2]
        events = [e for e in await self.store.query(include_ended=True) if sendable(e) and in_feed(e, now)]
        events.sort(key=lambda e: (e.received_at, e.id), reverse=True)
        root = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
        host = urlsplit(base_url).hostname or "localhost"
        etree.SubElement(root, f"{{{ATOM}}}id").text = f"tag:{host},2026:{FEED_PATH}"
        etree.SubElement(root, f"{{{ATOM}}}title").text = f"{self.codes.prefecture_name} L-Alert（公共情報コモンズ）"
        updated = head.at if head is not None else None
        etree.SubElement(root, f"{{{ATOM}}}updated").text = _iso(updated or now)
        etree.SubElement(root, f"{{{ATOM}}}link", rel="self", href=base_url.rstrip("/") + FEED_PATH)
        etree.SubElement(etree.SubElement(root, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = self.sender
        for event in events:
            doc, element = await self.document(event)
            entry = etree.SubElement(root, f"{{{ATOM}}}entry")
            etree.SubElement(entry, f"{{{ATOM}}}id").text = f"tag:{host},2026:lalert/{doc.document_id}/{doc.revision}"
            etree.SubElement(entry, f"{{{ATOM}}}title").text = doc.title
            etree.SubElement(entry, f"{{{ATOM}}}updated").text = _iso(event.received_at)
            etree.SubElement(entry, f"{{{ATOM}}}category", term=doc.category)
            content = etree.SubElement(entry, f"{{{ATOM}}}content", type="application/xml")
            content.append(_copy(element))
        body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        live = {e.version_ref for e in events}
        self._documents = {ref: d for ref, d in self._documents.items() if ref in live}
        self._feed = (seq, body, updated)
        return body, updated


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))  # an element has one parent; the cache keeps its own


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


DOCUMENTS_KEY: web.AppKey[DocumentCache] = web.AppKey("lalert_documents", DocumentCache)
routes = web.RouteTableDef()


@routes.get(FEED_PATH)
async def lalert_feed(request: web.Request) -> web.Response:
    """Atom feed of the L-Alert documents of the events in force."""
    check_params(request.query, frozenset())
    app = request.app
    clock = app.get(CLOCK_KEY) or utcnow
    body, updated = await app[DOCUMENTS_KEY].feed(app[SETTINGS_KEY].service.public_url, clock())
    return await cached_response(request, body, ATOM_CONTENT_TYPE, updated, LIVE_CACHE_CONTROL)


def install(app: web.Application) -> None:
    """Create the app's document cache (the feed's and the channel's)."""
    host = urlsplit(app[SETTINGS_KEY].service.public_url).hostname or "bosai-hub"
    app[DOCUMENTS_KEY] = DocumentCache(app[STORE_KEY], app[AREA_CODES_KEY], f"bosai-hub@{host}")
