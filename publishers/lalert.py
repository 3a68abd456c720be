"""L-Alert: the 公共情報コモンズ channel (SOAP `publish`) and `/feeds/lalert.atom`.

The channel (`type = "lalert"` in `[channels]`) publishes each outbox message the rules make for it
(orders, shelter status, sediment warnings, flood forecasts, 特別警報) as one document revision by
SOAP `publish` over HTTP(S); the push pipeline's dispatcher claims, retries and records the receipt
(publishers/dispatcher.py). Exercise and test events go only to a channel configured with
`drill = true` (the drill endpoint), as 訓練 / 試験 documents.

The feed's entries carry one event version's document each, inline (Atom `content` of type
application/xml: the EDXL-DE envelope around its Report), so a participant's relay can read the feed
with the same reader as the documents. Documents come from publishers/lalert_content.py (what to say, the
documentID / documentRevision lifecycle) and publishers/lalert_document.py (the public v1.x
structure, the one module a v2 writer replaces).
"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

import aiohttp
from lxml import etree

from collectors.base import PayloadError
from collectors.xmlsafe import parse_xml
from geo.codes import AreaCodes
from geo.model import Event
from geo.store.base import Store
from publishers import lalert_document as ld
from publishers.cap import in_feed
from publishers.channel import Post, Quota, RateLimited, Receipt, Rejected, Retryable
from publishers.lalert_content import document_for, sendable
from service.push_config import LAlertConfig

ATOM = "http://www.w3.org/2005/Atom"
FEED_PATH = "/feeds/lalert.atom"
ATOM_CONTENT_TYPE = "application/atom+xml; charset=utf-8"
MAX_ANSWER_BYTES = 1_000_000


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
        head = await self.store.feed_head()
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


# -- the channel: SOAP `publish` through the push pipeline's dispatcher and outbox ------------------

class LAlertChannel:
    """Publishes each outbox message's event version as one document revision.

    A message's key is its outbox id, `{channel}:{lang}:{event id}@{version}` (publishers/rules.py):
    the document is built from that version and its history, so every attempt sends the same
    bytes with the same distributionID, and a repeat is recognisable at the hub. That makes a
    resend after a timeout or a crash safe: timeouts are retried, and a duplicate answer is taken as
    the receipt of the earlier attempt.
    """

    resend_window_s = 24 * 3600.0  # the same distributionID: a resend is recognisable for as long as the hub keeps it

    def __init__(self, name: str, config: LAlertConfig, password: str | None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.name = name
        self.config = config
        self.limit = 1_000_000  # the dispatcher's rendered text is not what is sent
        self.dry = False
        self.quota = Quota()
        self.auth = aiohttp.encode_basic_auth(config.username, password or "") if config.username else None
        self._own_session = session is None
        self.session = session
        self.documents: DocumentCache | None = None
        self.sent_documents: list[ld.Document] = []  # what was published, for the console and tests

    def bind(self, store: Store, codes: AreaCodes) -> None:
        """The store and codes the documents are built from (given once the app has them)."""
        self.documents = DocumentCache(store, codes, self.config.sender_id)

    def weigh(self, text: str) -> int:
        """Length of the dispatcher's text (unused: the document is sent)."""
        return len(text)

    async def document(self, key: str) -> ld.Document:
        """The document of the event version an outbox message id names."""
        assert self.documents is not None, "bind() the channel to the store first"
        ref = key.split(":", 2)[2]
        event_id, _, version = ref.rpartition("@")
        history = await self.documents.store.history(event_id)
        event = next((e for e in history if e.version == int(version)), None)
        if event is None:
            raise Rejected(f"{ref}: no such event version in the store")
        return document_for(event, history, self.documents.codes, sender=self.config.sender_id,
                            office_name=self.config.office_name)

    async def send(self, post: Post) -> Receipt:
        """POST the SOAP publish request; classify the answer."""
        doc = await self.document(post.key)
        body = ld.soap_publish(doc)
        if self.session is None:
            self.session = aiohttp.ClientSession()
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"publish"'}
        if self.auth:
            headers["Authorization"] = self.auth
        try:
            async with self.session.post(self.config.endpoint, data=body, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=self.config.timeout_s)) as response:
                status, text = response.status, await response.read()
        except TimeoutError:
            raise Retryable(f"no answer within {self.config.timeout_s} s (a resend is the same document)") from None
        except aiohttp.ClientError as exc:
            raise Retryable(f"cannot reach {self.config.endpoint}: {exc}") from None
        if status == 429:
            raise RateLimited("the endpoint asks to slow down")
        if status >= 500:
            raise Retryable(f"HTTP {status} from {self.config.endpoint}")
        if status >= 400:
            raise Rejected(f"HTTP {status}: {text[:200]!r}")
        receipt_id, duplicate = _receipt(text)
        self.sent_documents.append(doc)
        return Receipt(id=receipt_id or ld.distribution_id(doc), url=None, duplicate=duplicate)

    async def close(self) -> None:
        """Release connections."""
        if self.session is not None and self._own_session:
            await self.session.close()


def _receipt(body: bytes) -> tuple[str | None, bool]:
    """The receipt id in a publishResponse (its `return` text) and whether it says duplicate."""
    try:
        root = parse_xml(body, MAX_ANSWER_BYTES)  # the hub's answer is untrusted input like any upstream's
    except PayloadError:
        return None, False
    text = next((e.text for e in root.iter() if isinstance(e.tag, str) and e.tag.endswith("}return")), None)
    duplicate = any(isinstance(e.tag, str) and e.tag.endswith("}duplicate") and (e.text or "").strip() == "true"
                    for e in root.iter())
    return (text.strip() if text else None), duplicate
