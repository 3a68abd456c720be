"""公共情報コモンズ (L-Alert) XML v1.x: the EDXL-DE envelope with the commons extension, read into records.

A document is an `edxlde:EDXLDistribution` (bare, or inside a SOAP `publish` request) whose
`commons:contentObject` embeds a `Report` (Control / Head / Body, modelled on JMA XML) and ends
with a trailer: documentID, documentRevision, category, urgency, severity, certainty and the
publishing office. The public samples use several schema versions at once (`pcxml1/2`, `/3`,
`/4`; `informationBasis3/` and `4/`; body namespaces `evacuation3`, `evacuation4`…), so elements
are found by their local name inside the publiccommons, EDXL-DE and commons namespaces rather
than by one fixed URI.

This module knows nothing of events or the store: collectors/publiccommons.py maps its records.
The operation of a revision is read from the message: EDXL-DE `distributionType` Cancel is a 取消;
a revision whose title or description says 訂正 is a correction; revision 1 is new, later ones updates.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from collectors.base import PayloadError
from collectors.timestamps import parse_jst
from collectors.xmlsafe import parse_xml

EDXL = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
COMMONS = "http://xml.publiccommons.ne.jp/xml/edxl/"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
PCX_PREFIX = "http://xml.publiccommons.ne.jp/"
MAX_BYTES = 2_000_000

OPERATIONS = ("new", "update", "correction", "cancel")
STATUSES = ("Actual", "Exercise", "System", "Test")


@dataclass(frozen=True, slots=True)
class Location:
    """A named place: a 地区 of an order, or a shelter."""

    name: str
    kana: str = ""
    jis6: str = ""  # 団体コード (6 digits, check digit)
    town_code: str = ""  # ooAzaTyouTyouMokuCode (大字・町丁目)
    lat: float | None = None
    lon: float | None = None
    address: str = ""


@dataclass(frozen=True, slots=True)
class OrderArea:
    """One 地区 of an order detail and the time the order was given there."""

    location: Location
    at: datetime | None


@dataclass(frozen=True, slots=True)
class OrderDetail:
    """One kind of order (Sort: 高齢者等避難 / 避難指示 / 緊急安全確保, or the pre-2021 terms) issued or lifted."""

    sort: str
    issue_or_lift: str  # 発令 / 解除
    areas: tuple[OrderArea, ...]


@dataclass(frozen=True, slots=True)
class EvacuationBody:
    """An EvacuationOrder body: the disaster and its order details."""

    disaster: str
    details: tuple[OrderDetail, ...]


@dataclass(frozen=True, slots=True)
class ShelterInfo:
    """One shelter of a Shelter body."""

    location: Location
    type: str  # 避難所 / 避難場所 / 福祉避難所 ...
    sort: str  # 未開設 / 開設 / 閉鎖 / 不明 / 常設
    at: datetime | None  # when it was opened or closed
    capacity: int | None
    status: str  # 空き / 混雑 / 定員一杯 / 不明
    head_count: int | None
    households: int | None
    checked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ShelterBody:
    """A Shelter body: a municipality's shelters and their totals."""

    disaster: str
    head_count: int | None
    households: int | None
    shelters: tuple[ShelterInfo, ...]


@dataclass(frozen=True, slots=True)
class CommonsDocument:
    """One revision of a 公共情報コモンズ document, envelope and Report together."""

    distribution_id: str
    sender_id: str
    sent: datetime | None
    status: str  # Actual / Exercise / System / Test
    distribution_type: str  # Report / Update / Cancel
    target_areas: tuple[str, ...]  # jisX0402 as written (6-digit 団体コード)
    target_names: tuple[str, ...]
    description: str
    document_id: str
    revision: int
    category: str  # EvacuationOrder, Shelter, ...
    urgency: str
    severity: str
    certainty: str
    office_name: str
    office_id: str
    title: str
    headline: str
    report_time: datetime | None
    valid_time: datetime | None
    body: EvacuationBody | ShelterBody | None

    @property
    def operation(self) -> str:
        """new, update, correction or cancel (取消), as the message states it."""
        if self.distribution_type == "Cancel":
            return "cancel"
        if "訂正" in self.title or self.description.startswith(("訂正", "【訂正】")):
            return "correction"
        return "new" if self.revision <= 1 else "update"


def local(elem) -> str:
    """Local name of an element (without its namespace)."""
    tag = elem.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _ns(elem) -> str:
    tag = elem.tag
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _ours(elem) -> bool:
    ns = _ns(elem)
    return ns.startswith(PCX_PREFIX) or ns in (EDXL, "")


def child(elem, name: str):
    """First child element called `name` in a publiccommons, commons or EDXL-DE namespace, or None."""
    if elem is None:
        return None
    for sub in elem:
        if local(sub) == name and _ours(sub):
            return sub
    return None


def children(elem, name: str) -> list:
    """Every child element called `name` (see `child`)."""
    if elem is None:
        return []
    return [sub for sub in elem if local(sub) == name and _ours(sub)]


def text(elem, *path: str) -> str:
    """Stripped text at a path of local names below `elem`; "" when any step is missing."""
    for name in path:
        elem = child(elem, name)
        if elem is None:
            return ""
    return (elem.text or "").strip()


def _time(value: str, where: str) -> datetime | None:
    if not value:
        return None
    try:
        return parse_jst(value)
    except ValueError as exc:
        raise PayloadError(f"{where}: {exc}") from None


def _int(value: str, where: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise PayloadError(f"{where}: {value!r} is not a whole number") from None


def _location(elem, where: str) -> Location:
    lat = lon = None
    circle = text(elem, "circle")
    if circle:
        try:
            lat, lon = (float(v) for v in circle.split(",")[:2])
        except ValueError:
            raise PayloadError(f"{where}/circle: {circle!r} is not 'lat,lon,radius'") from None
    return Location(
        name=text(elem, "areaName"),
        kana=text(elem, "areaNameKana"),
        jis6=text(elem, "jisX0402"),
        town_code=text(elem, "ooAzaTyouTyouMokuCode"),
        lat=lat,
        lon=lon,
        address=text(elem, "Address"),
    )


def _evacuation(body) -> EvacuationBody:
    details = []
    for n, detail in enumerate(children(body, "Detail"), 1):
        where = f"EvacuationOrder/Detail[{n}]"
        sort, action = text(detail, "Sort"), text(detail, "IssueOrLift")
        if not sort:
            raise PayloadError(f"{where}/Sort is missing")
        if action not in ("発令", "解除"):
            raise PayloadError(f"{where}/IssueOrLift is {action!r}, not 発令 or 解除")
        areas = []
        for m, area in enumerate(children(child(detail, "Areas"), "Area"), 1):
            loc = child(area, "Location")
            areas.append(OrderArea(_location(loc, f"{where}/Areas/Area[{m}]/Location") if loc is not None
                                   else Location(name=""), _time(text(area, "DateTime"), f"{where}/Area[{m}]/DateTime")))
        details.append(OrderDetail(sort, action, tuple(areas)))
    return EvacuationBody(text(body, "Disaster", "DisasterName"), tuple(details))


def _shelter(body) -> ShelterBody:
    shelters = []
    for n, info in enumerate(children(child(body, "Informations"), "Information"), 1):
        where = f"Shelter/Informations/Information[{n}]"
        loc = child(info, "Location")
        if loc is None or not text(loc, "areaName"):
            raise PayloadError(f"{where}/Location/areaName is missing")
        shelters.append(ShelterInfo(
            location=_location(loc, f"{where}/Location"),
            type=text(info, "Type"),
            sort=text(info, "Sort"),
            at=_time(text(info, "DateTime"), f"{where}/DateTime"),
            capacity=_int(text(info, "Capacity"), f"{where}/Capacity"),
            status=text(info, "Status"),
            head_count=_int(text(info, "NumberOf", "HeadCount"), f"{where}/NumberOf/HeadCount"),
            households=_int(text(info, "NumberOf", "Households"), f"{where}/NumberOf/Households"),
            checked_at=_time(text(info, "CheckedDateTime"), f"{where}/CheckedDateTime"),
        ))
    return ShelterBody(
        disaster=text(body, "Disaster", "DisasterName"),
        head_count=_int(text(body, "TotalNumber", "HeadCount"), "Shelter/TotalNumber/HeadCount"),
        households=_int(text(body, "TotalNumber", "Households"), "Shelter/TotalNumber/Households"),
        shelters=tuple(shelters),
    )


BODY_READERS = {"EvacuationOrder": _evacuation, "Shelter": _shelter}


def distribution(root):
    """The EDXLDistribution element of a bare document or of a SOAP `publish` request."""
    if local(root) == "EDXLDistribution" and _ns(root) == EDXL:
        return root
    if local(root) == "Envelope" and _ns(root) == SOAP:
        for elem in root.iter(f"{{{EDXL}}}EDXLDistribution"):
            return elem
    raise PayloadError(f"root element {local(root)!r} is neither an EDXL-DE EDXLDistribution nor a SOAP Envelope")


def read_document(root) -> CommonsDocument:
    """A parsed (hardened) XML tree -> CommonsDocument, or PayloadError naming the missing part."""
    dist = distribution(root)
    content = child(dist, "contentObject")
    if content is None:
        raise PayloadError("commons:contentObject is missing")
    embedded = child(child(content, "xmlContent"), "embeddedXMLContent")
    report = child(embedded, "Report")
    if report is None:
        raise PayloadError("contentObject/xmlContent/embeddedXMLContent/Report is missing")
    head = child(report, "Head")
    document_id = text(content, "documentID") or text(head, "documentID")
    if not document_id:
        raise PayloadError("commons:documentID is missing")
    category = text(content, "category")
    if not category:
        raise PayloadError("commons:category is missing")
    revision = _int(text(content, "documentRevision") or text(head, "documentRevision") or "1", "documentRevision")
    if revision is None or revision < 1:
        raise PayloadError(f"documentRevision {revision} is not a positive number")
    status = text(dist, "distributionStatus") or text(report, "Control", "distributionStatus")
    if status not in STATUSES:
        raise PayloadError(f"distributionStatus {status!r} is not one of {', '.join(STATUSES)}")
    body = None
    for elem in report:
        reader = BODY_READERS.get(local(elem))
        if reader is not None and local(elem) == category:
            body = reader(elem)
    areas = [child(a, "jisX0402") for a in children(dist, "targetArea")]
    names = [child(a, "areaName") for a in children(dist, "targetArea")]
    return CommonsDocument(
        distribution_id=text(dist, "distributionID"),
        sender_id=text(dist, "senderID"),
        sent=_time(text(dist, "dateTimeSent"), "dateTimeSent"),
        status=status,
        distribution_type=text(dist, "distributionType") or text(head, "distributionType") or "Report",
        target_areas=tuple((a.text or "").strip() for a in areas if a is not None and a.text),
        target_names=tuple((a.text or "").strip() for a in names if a is not None and a.text),
        description=text(content, "contentDescription"),
        document_id=document_id,
        revision=revision,
        category=category,
        urgency=text(content, "urgency"),
        severity=text(content, "severity"),
        certainty=text(content, "certainty"),
        office_name=text(content, "publishingOfficeName"),
        office_id=text(content, "publishingOfficeID"),
        title=text(head, "Title"),
        headline=text(head, "Headline", "Text"),
        report_time=_time(text(head, "ReportDateTime"), "Head/ReportDateTime"),
        valid_time=_time(text(head, "ValidDateTime"), "Head/ValidDateTime"),
        body=body,
    )


def parse_document(data: bytes, max_bytes: int = MAX_BYTES) -> CommonsDocument:
    """Untrusted bytes (a document or a SOAP publish request) -> CommonsDocument, or PayloadError."""
    return read_document(parse_xml(data, max_bytes))
