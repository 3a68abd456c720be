"""CAP 1.2 alerts per event version, and Atom feeds that carry them.

Each stored event version is one CAP message: identifier "{event id}@{version}", `sent` the time
that version was received, msgType Alert for a first version, Update for a later one and Cancel
for 取消, with `references` naming the superseded version. Feeds are Atom documents whose entries
carry the CAP alert inline (content type application/cap+xml), so every entry validates against
the OASIS schema. Documents are built as lxml trees, never by string formatting.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlsplit

from lxml import etree

from geo.codes import AreaCodes
from geo.model import Event, Kind, State, Status
from geo.wording import Voice, level_words

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_CONTENT_TYPE = "application/cap+xml; charset=utf-8"
ATOM_CONTENT_TYPE = "application/atom+xml; charset=utf-8"
JST = timezone(timedelta(hours=9))
GEOCODE_NAME = "JIS X 0402"

STATUS = {Status.ACTUAL: "Actual", Status.EXERCISE: "Exercise", Status.TEST: "Test"}
CATEGORY = {
    Kind.GAUGE: "Met",
    Kind.CAMERA: "Met",
    Kind.SEDIMENT_WARNING: "Geo",  # 土砂災害: landslide is geophysical in CAP's terms
    Kind.FLOOD_FORECAST: "Met",
    Kind.WEATHER_WARNING: "Met",
    Kind.ROAD_CLOSURE: "Transport",
    Kind.EVACUATION: "Safety",
    Kind.SHELTER: "Infra",
    Kind.NOTICE: "Other",
}
EVENT_NAME = {
    Kind.GAUGE: "河川水位",
    Kind.CAMERA: "河川カメラ",
    Kind.SEDIMENT_WARNING: "土砂災害警戒情報",
    Kind.FLOOD_FORECAST: "指定河川洪水予報",
    Kind.WEATHER_WARNING: "気象警報・注意報",
    Kind.ROAD_CLOSURE: "道路規制",
    Kind.EVACUATION: "避難情報",
    Kind.SHELTER: "避難所",
    Kind.NOTICE: "お知らせ",
}
# What residents should do at each 警戒レベル (Cabinet Office guidance), as CAP responseType; the
# instruction text comes from the one wording table (geo/wording.py), in the voice of who speaks.
RESPONSE = {5: "Shelter", 4: "Evacuate", 3: "Prepare", 2: "Monitor", 1: "Monitor", 0: "None"}


def instruction(event: Event) -> str | None:
    """The CAP instruction of an event in force: 「警戒レベル４相当：危険な場所から全員避難」 for JMA
    and gauges, the order's words (「警戒レベル４：避難指示 危険な場所から全員避難」) only for a
    municipality's order; None when ended or at level 0."""
    if event.ended or event.level <= 0:
        return None
    words = level_words(event.level, event.kind, "ja")
    if words.voice is Voice.ORDER and words.name:
        return f"{words.label}：{words.name} {words.action}"
    return words.headline


# Feeds list what is in force plus what ended recently, so readers see the Cancel/Update.
ENDED_KEPT = timedelta(hours=24)


def cap_time(moment: datetime) -> str:
    """A CAP dateTime: JST with an explicit offset and no fraction (the schema's pattern)."""
    return moment.astimezone(JST).replace(microsecond=0).isoformat()


@dataclass(frozen=True, slots=True)
class CapContext:
    """What every document shares: who sends, where links point, and the municipality names."""

    sender: str
    base_url: str  # ends with "/"
    codes: AreaCodes

    @classmethod
    def from_settings(cls, settings, codes: AreaCodes) -> CapContext:
        """Sender from the public URL's host (CAP: no spaces, commas, < or &)."""
        base = settings.service.public_url.rstrip("/") + "/"
        host = urlsplit(base).hostname or "bosai-hub"
        return cls(sender=f"bosai-hub@{host}", base_url=base, codes=codes)

    def cap_url(self, event_id: str) -> str:
        """Where the CAP document of an event is served."""
        return f"{self.base_url}feeds/cap/{quote(event_id, safe=':')}.xml"


def in_feed(event: Event, now: datetime) -> bool:
    """Whether an event belongs in the public CAP feeds: real, not a camera, in force or just ended."""
    if event.status is not Status.ACTUAL or event.kind is Kind.CAMERA:
        return False
    if event.ended:
        return now - event.received_at <= ENDED_KEPT
    return event.kind is not Kind.GAUGE or event.level >= 1


def _sub(parent: etree._Element, tag: str, text: str | None = None, ns: str = CAP_NS) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        element.text = text
    return element


def msg_type(event: Event) -> str:
    """Alert for a first version, Cancel for 取消, Update otherwise."""
    if event.state is State.CANCELLED:
        return "Cancel"
    return "Alert" if event.version == 1 or event.supersedes is None else "Update"


def _rings(geometry: dict) -> Iterable[list]:
    if geometry["type"] == "Polygon":
        yield geometry["coordinates"][0]
    elif geometry["type"] == "MultiPolygon":
        for polygon in geometry["coordinates"]:
            yield polygon[0]


def _area(info: etree._Element, event: Event, ctx: CapContext) -> None:
    area = etree.SubElement(info, f"{{{CAP_NS}}}area")
    names = [ctx.codes.municipalities[c].name for c in event.areas if c in ctx.codes.municipalities]
    _sub(area, "areaDesc", "、".join(names) or ctx.codes.prefecture_name)
    geometry = event.geometry
    if geometry is not None:
        for ring in _rings(geometry):
            if len(ring) >= 4:
                _sub(area, "polygon", " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat, *_ in ring))
        if geometry["type"] == "Point":
            lon, lat = geometry["coordinates"][:2]
            _sub(area, "circle", f"{lat:.6f},{lon:.6f} 0")
    for code in event.areas or ():
        geocode = _sub(area, "geocode")
        _sub(geocode, "valueName", GEOCODE_NAME)
        _sub(geocode, "value", code)


def alert(event: Event, ctx: CapContext, previous: Event | None = None) -> etree._Element:
    """The CAP 1.2 <alert> for one event version; `previous` is the version it supersedes."""
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", event.version_ref)
    _sub(root, "sender", ctx.sender)
    _sub(root, "sent", cap_time(event.received_at))
    _sub(root, "status", STATUS[event.status])
    _sub(root, "msgType", msg_type(event))
    _sub(root, "source", event.source.source_id)
    _sub(root, "scope", "Public")
    if event.status is not Status.ACTUAL:
        _sub(root, "note", "訓練または試験の情報です（実際の災害情報ではありません）")
    if previous is not None and msg_type(event) != "Alert":
        _sub(root, "references", f"{ctx.sender},{previous.version_ref},{cap_time(previous.received_at)}")
    info = _sub(root, "info")
    _sub(info, "language", "ja-JP")
    _sub(info, "category", CATEGORY[event.kind])
    _sub(info, "event", EVENT_NAME[event.kind])
    _sub(info, "responseType", "AllClear" if event.ended else RESPONSE[event.level])
    _sub(info, "urgency", "Past" if event.ended else event.urgency.value)
    _sub(info, "severity", event.severity.value)
    _sub(info, "certainty", event.certainty.value)
    if event.issued_at:
        _sub(info, "effective", cap_time(event.issued_at))
    if event.observed_at:
        _sub(info, "onset", cap_time(event.observed_at))
    if event.expires_at:
        _sub(info, "expires", cap_time(event.expires_at))
    _sub(info, "senderName", "bosai-hub")
    _sub(info, "headline", event.title or EVENT_NAME[event.kind])
    if event.text:
        _sub(info, "description", event.text)
    text = instruction(event)
    if text is not None:
        _sub(info, "instruction", text)
    _sub(info, "web", f"{ctx.base_url}api/v1/events/{quote(event.id, safe=':')}")
    for name, value in (("警戒レベル", str(event.level)), ("state", event.state.value)):
        parameter = _sub(info, "parameter")
        _sub(parameter, "valueName", name)
        _sub(parameter, "value", value)
    _area(info, event, ctx)
    return root


def alert_document(event: Event, ctx: CapContext, previous: Event | None = None) -> bytes:
    """The CAP document of one event version, UTF-8 with an XML declaration."""
    return etree.tostring(alert(event, ctx, previous), xml_declaration=True, encoding="UTF-8")


def previous_version(history: Sequence[Event], event: Event) -> Event | None:
    """The version `event` supersedes, from its history (oldest first)."""
    older = [h for h in history if h.version < event.version]
    return older[-1] if older else None


def atom_entry(event: Event, ctx: CapContext, previous: Event | None = None) -> etree._Element:
    """The Atom <entry> of one event version, with its CAP alert inline."""
    host = urlsplit(ctx.base_url).hostname or "localhost"
    entry = etree.Element(f"{{{ATOM_NS}}}entry", nsmap={None: ATOM_NS})
    _sub(entry, "id", f"tag:{host},2024:{event.version_ref}", ATOM_NS)
    _sub(entry, "title", event.title or EVENT_NAME[event.kind], ATOM_NS)
    _sub(entry, "updated", event.received_at.replace(microsecond=0).isoformat(), ATOM_NS)
    etree.SubElement(
        entry, f"{{{ATOM_NS}}}link", rel="alternate", type="application/cap+xml", href=ctx.cap_url(event.id)
    )
    if event.text:
        _sub(entry, "summary", event.text, ATOM_NS)
    content = _sub(entry, "content", None, ATOM_NS)
    content.set("type", "application/cap+xml")
    content.append(alert(event, ctx, previous))
    return entry


def atom_entry_bytes(event: Event, ctx: CapContext, previous: Event | None = None) -> bytes:
    """The serialised Atom <entry> of one event version (a version's entry never changes: cache it)."""
    return etree.tostring(atom_entry(event, ctx, previous), encoding="UTF-8")


def atom_feed(
    entries: Sequence[bytes],
    ctx: CapContext,
    *,
    path: str,
    title: str,
    updated: datetime,
) -> bytes:
    """An Atom feed (RFC 4287) of serialised entries (see `atom_entry_bytes`), in the order given.

    The entries are spliced in as bytes: a feed of every municipality's alerts is rebuilt after
    each change, and copying and re-serialising thousands of cached elements would cost more than
    the rest of the build. Each entry declares its own namespaces, which XML allows.
    """
    feed = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
    host = urlsplit(ctx.base_url).hostname or "localhost"
    _sub(feed, "id", f"tag:{host},2024:{path}", ATOM_NS)
    _sub(feed, "title", title, ATOM_NS)
    _sub(feed, "updated", updated.astimezone(timezone.utc).replace(microsecond=0).isoformat(), ATOM_NS)
    etree.SubElement(feed, f"{{{ATOM_NS}}}link", rel="self", href=ctx.base_url + path.lstrip("/"))
    author = _sub(feed, "author", None, ATOM_NS)
    _sub(author, "name", "bosai-hub", ATOM_NS)
    head = etree.tostring(feed, xml_declaration=True, encoding="UTF-8")
    close = b"</feed>"
    assert head.endswith(close)  # the feed has children, so it is never written as an empty element
    return head[: -len(close)] + b"".join(entries) + close
