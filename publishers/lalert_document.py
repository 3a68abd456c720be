"""L-Alert documents: the public 公共情報コモンズ XML v1.x structure, written from plain records.

This is the one module that knows the document layout; the live L-Alert runs "XML version 2",
whose specification its operator gives participants with a conformance test, and a v2 writer
replaces this module behind the same `write` / `soap_publish` functions.

Layout, as the public samples show it (tests/data/reference/lalert_publiccommons/): an EDXL-DE
`EDXLDistribution` with the commons extension (`commons:targetArea/jisX0402`, a
`commons:contentObject` which OASIS's edxlde-1_0.xsd does not accept) carrying a `Report`
(Control / Head / body) and ending with the trailer documentID, documentRevision, category,
urgency, severity, certainty and publishing office. Empty elements the samples always carry
(contact details, office location) are written empty, as the samples do.

Lifecycle: one documentID per thing reported, its documentRevision counting up from 1. A 取消 is a
revision with distributionType Cancel; a correction (訂正) is an Update whose title and description
say 訂正, so it is never mistaken for a new issue or opening. 通常 / 訓練 is distributionStatus
Actual / Exercise (Test for 試験).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from lxml import etree

EDXL = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
COMMONS = "http://xml.publiccommons.ne.jp/xml/edxl/"
PCXML = "http://xml.publiccommons.ne.jp/pcxml1/4"
IB = "http://xml.publiccommons.ne.jp/pcxml1/informationBasis4/"
EB = "http://xml.publiccommons.ne.jp/pcxml1/elementBasis4/"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
PCSOAP = "http://soap.publiccommons.ne.jp/"
BODY_NS = {
    "EvacuationOrder": "http://xml.publiccommons.ne.jp/pcxml1/body/evacuation4",
    "Shelter": "http://xml.publiccommons.ne.jp/pcxml1/body/shelter4",
    "SedimentDisastersWarning": "http://xml.publiccommons.ne.jp/pcxml1/body/SedimentDisastersWarning4",
    "floodcontrolwarning": "http://xml.publiccommons.ne.jp/pcxml1/body/floodcontrolwarning4",
    "GeneralInformation": "http://xml.publiccommons.ne.jp/pcxml1/body/GeneralInformation4",
}
NSMAP = {
    "edxlde": EDXL, "commons": COMMONS, "pcxml": PCXML, "pcx_ib": IB, "pcx_eb": EB,
    "pcx_ev": BODY_NS["EvacuationOrder"], "pcx_sh": BODY_NS["Shelter"], "pcx_sd": BODY_NS["SedimentDisastersWarning"],
    "pcx_fc": BODY_NS["floodcontrolwarning"], "pcx_gi": BODY_NS["GeneralInformation"],
}
JST = timezone(timedelta(hours=9))
DISTRIBUTION_STATUS = {"actual": "Actual", "exercise": "Exercise", "test": "Test"}
DISTRIBUTION_TYPE = {"new": "Report", "update": "Update", "correction": "Update", "cancel": "Cancel"}
CONTACT_TYPES = ("phone", "fax", "e-mail", "personResponsible")


@dataclass(frozen=True, slots=True)
class Place:
    """A named place: a 地区 of an order or a shelter; `lat`/`lon` optional."""

    name: str
    jis6: str = ""
    kana: str = ""
    town_code: str = ""
    lat: float | None = None
    lon: float | None = None
    address: str = ""


@dataclass(frozen=True, slots=True)
class Order:
    """One kind of order issued (発令) or lifted (解除) in the places named."""

    sort: str  # 高齢者等避難 / 避難指示 / 緊急安全確保
    issue_or_lift: str  # 発令 / 解除
    places: tuple[tuple[Place, datetime | None], ...]


@dataclass(frozen=True, slots=True)
class ShelterEntry:
    """One shelter's line in a Shelter body."""

    place: Place
    sort: str  # 未開設 / 開設 / 閉鎖 / 不明 / 常設
    status: str = "不明"  # 空き / 混雑 / 定員一杯 / 不明
    type: str = "避難所"
    at: datetime | None = None
    capacity: int | None = None
    head_count: int | None = None
    households: int | None = None
    checked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Office:
    """The publishing (and editorial) office: a municipality or the prefecture."""

    name: str  # e.g. 危機管理監室
    organization: str  # e.g. 石川県金沢市
    jis6: str  # 団体コード


@dataclass(frozen=True, slots=True)
class Document:
    """One revision of one document, everything the writer needs."""

    category: str  # EvacuationOrder, Shelter, SedimentDisastersWarning, floodcontrolwarning, GeneralInformation
    document_id: str
    revision: int
    operation: str  # new, update, correction, cancel
    status: str  # actual, exercise, test
    office: Office
    area_name: str  # the target area, e.g. 石川県金沢市
    area_jis6: str
    title: str
    headline: str
    sent: datetime
    report_time: datetime
    first_created: datetime | None = None
    valid_until: datetime | None = None
    disaster: str = ""
    urgency: str = "Unknown"
    severity: str = "Unknown"
    certainty: str = "Unknown"
    sender_id: str = "bosai-hub"
    orders: tuple[Order, ...] = ()
    shelters: tuple[ShelterEntry, ...] = ()
    head_count: int | None = None
    households: int | None = None
    # Sediment warnings and flood information: (kind of information, status, areas) lines.
    items: tuple[tuple[str, str, tuple[Place, ...]], ...] = field(default_factory=tuple)


def _iso(t: datetime | None) -> str:
    return t.astimezone(JST).isoformat(timespec="seconds") if t is not None else ""


def _sub(parent, ns: str, name: str, text: str | None = None, **attrib: str):
    elem = etree.SubElement(parent, f"{{{ns}}}{name}", {f"{{{EB}}}{k}" if k == "contactType" else k: v
                                                         for k, v in attrib.items()})
    if text:
        elem.text = text
    return elem


def _location(parent, ns: str, name: str, place: Place, with_kana: bool = True, with_address: bool = False):
    loc = _sub(parent, ns, name)
    _sub(loc, EDXL, "circle", f"{place.lat},{place.lon},0" if place.lat is not None and place.lon is not None else None)
    _sub(loc, EDXL, "polygon")
    _sub(loc, COMMONS, "areaName", place.name)
    if with_kana:
        _sub(loc, COMMONS, "areaNameKana", place.kana)
        _sub(loc, COMMONS, "jisX0402", place.jis6)
    _sub(loc, COMMONS, "ooAzaTyouTyouMokuCode", place.town_code)
    if with_address:
        _sub(loc, EB, "Address", place.address)
    return loc


def _office_info(parent, office: Office) -> None:
    _sub(parent, EB, "OrganizationCode", office.jis6)
    for kind in CONTACT_TYPES:
        _sub(parent, EB, "ContactInfo", contactType=kind)
    _sub(parent, EB, "OfficeName", office.name)
    _sub(parent, EB, "OfficeNameKana")
    _location(parent, EB, "OfficeLocation", Place(name=""), with_kana=False)
    _sub(parent, EB, "OfficeDomainName")
    _sub(parent, EB, "OrganizationName", office.organization)


def _control(report, doc: Document) -> None:
    control = _sub(report, PCXML, "Control")
    _sub(control, PCXML, "Title", doc.category)
    _sub(control, EDXL, "distributionStatus", DISTRIBUTION_STATUS[doc.status])
    _office_info(_sub(control, PCXML, "EditorialOffice"), doc.office)
    _office_info(_sub(_sub(control, PCXML, "PublishingOffice"), EB, "OfficeInfo"), doc.office)


def _head(report, doc: Document, distribution_id: str) -> None:
    head = _sub(report, IB, "Head")
    _sub(head, IB, "Title", doc.title)
    _sub(head, IB, "CreateDateTime", _iso(doc.sent))
    _sub(head, IB, "FirstCreateDateTime", _iso(doc.first_created or doc.sent))
    _sub(head, IB, "ReportDateTime", _iso(doc.report_time))
    _sub(head, IB, "TargetDateTime", _iso(doc.report_time))
    _sub(head, IB, "ValidDateTime", _iso(doc.valid_until))
    _sub(head, EDXL, "distributionID", distribution_id)
    _sub(head, EDXL, "distributionType", DISTRIBUTION_TYPE[doc.operation])
    _sub(head, COMMONS, "documentRevision", str(doc.revision))
    _sub(head, COMMONS, "documentID", doc.document_id)
    headline = _sub(head, IB, "Headline")
    _sub(headline, IB, "Text", doc.headline)
    _location(_sub(headline, IB, "Areas"), IB, "Area", Place(doc.area_name, doc.area_jis6))


def _evacuation(report, doc: Document) -> None:
    ns = BODY_NS["EvacuationOrder"]
    body = _sub(report, ns, "EvacuationOrder")
    _sub(_sub(body, EB, "Disaster"), EB, "DisasterName", doc.disaster)
    _sub(body, ns, "ComplementaryInfo")
    _sub(body, ns, "TotalNumber")
    for order in doc.orders:
        detail = _sub(body, ns, "Detail")
        _sub(detail, ns, "Sort", order.sort)
        _sub(detail, ns, "IssueOrLift", order.issue_or_lift)
        _sub(detail, ns, "Object")
        areas = _sub(detail, ns, "Areas")
        for place, at in order.places:
            area = _sub(areas, ns, "Area")
            _location(area, EB, "Location", place)
            _sub(area, ns, "DateTime", _iso(at))
            _sub(area, ns, "Object")


def _number(parent, ns: str, name: str, head_count: int | None, households: int | None) -> None:
    total = _sub(parent, ns, name)
    _sub(total, ns, "HeadCount", "" if head_count is None else str(head_count))
    _sub(total, ns, "Households", "" if households is None else str(households))


def _shelter(report, doc: Document) -> None:
    ns = BODY_NS["Shelter"]
    body = _sub(report, ns, "Shelter")
    _sub(_sub(body, EB, "Disaster"), EB, "DisasterName", doc.disaster)
    _number(body, ns, "TotalNumber", doc.head_count, doc.households)
    _sub(body, ns, "TotalNumberOfShelter", str(sum(1 for s in doc.shelters if s.sort in ("開設", "常設"))))
    infos = _sub(body, ns, "Informations")
    for entry in doc.shelters:
        info = _sub(infos, ns, "Information")
        _location(info, EB, "Location", entry.place, with_address=True)
        _sub(info, ns, "Type", entry.type)
        _sub(info, ns, "Sort", entry.sort)
        _sub(info, ns, "DateTime", _iso(entry.at))
        _sub(info, ns, "Capacity", "" if entry.capacity is None else str(entry.capacity))
        _sub(info, ns, "Status", entry.status)
        _number(info, ns, "NumberOf", entry.head_count, entry.households)
        _sub(info, ns, "CheckedDateTime", _iso(entry.checked_at))


def _information(report, doc: Document) -> None:
    """Sediment warnings, flood information and notices: information lines per kind and area."""
    ns = BODY_NS[doc.category]
    body = _sub(report, ns, doc.category)
    _sub(_sub(body, EB, "Disaster"), EB, "DisasterName", doc.disaster)
    for kind, status, places in doc.items:
        item = _sub(body, ns, "Information")
        _sub(item, ns, "Kind", kind)
        _sub(item, ns, "Status", status)
        areas = _sub(item, ns, "Areas")
        for place in places:
            _location(areas, ns, "Area", place)
    _sub(body, ns, "Text", doc.headline)


BODY_WRITERS = {"EvacuationOrder": _evacuation, "Shelter": _shelter, "SedimentDisastersWarning": _information,
                "floodcontrolwarning": _information, "GeneralInformation": _information}
CATEGORIES = tuple(BODY_WRITERS)


def distribution_id(doc: Document) -> str:
    """The distributionID of one revision: stable, so a retried delivery is the same message."""
    return f"{doc.document_id}-r{doc.revision}"


def build(doc: Document) -> etree._Element:
    """The EDXLDistribution element of one document revision."""
    if doc.category not in BODY_WRITERS:
        raise ValueError(f"category {doc.category!r} is not one of {', '.join(CATEGORIES)}")
    if doc.operation not in DISTRIBUTION_TYPE:
        raise ValueError(f"operation {doc.operation!r} is not one of {', '.join(DISTRIBUTION_TYPE)}")
    if doc.status not in DISTRIBUTION_STATUS:
        raise ValueError(f"status {doc.status!r} is not one of {', '.join(DISTRIBUTION_STATUS)}")
    dist_id = distribution_id(doc)
    root = etree.Element(f"{{{EDXL}}}EDXLDistribution", nsmap=NSMAP)
    _sub(root, EDXL, "distributionID", dist_id)
    _sub(root, EDXL, "senderID", doc.sender_id)
    _sub(root, EDXL, "dateTimeSent", _iso(doc.sent))
    _sub(root, EDXL, "distributionStatus", DISTRIBUTION_STATUS[doc.status])
    _sub(root, EDXL, "distributionType", DISTRIBUTION_TYPE[doc.operation])
    _sub(root, EDXL, "combinedConfidentiality", "UNCLASSIFIED AND NOT SENSITIVE")
    _sub(root, EDXL, "language", "ja-JP")
    target = _sub(root, COMMONS, "targetArea")
    _sub(target, COMMONS, "areaName", doc.area_name)
    _sub(target, COMMONS, "jisX0402", doc.area_jis6)
    content = _sub(root, COMMONS, "contentObject")
    _sub(content, EDXL, "contentDescription", doc.headline)
    report = _sub(_sub(_sub(content, EDXL, "xmlContent"), EDXL, "embeddedXMLContent"), PCXML, "Report")
    _control(report, doc)
    _head(report, doc, dist_id)
    if doc.operation != "cancel":  # a 取消 carries its reason in the headline and no body
        BODY_WRITERS[doc.category](report, doc)
    _sub(content, COMMONS, "publishingOfficeName", doc.office.name)
    _sub(content, COMMONS, "publishingOfficeID", doc.office.jis6)
    _sub(content, COMMONS, "documentRevision", str(doc.revision))
    _sub(content, COMMONS, "documentID", doc.document_id)
    _sub(content, COMMONS, "category", doc.category)
    _sub(content, COMMONS, "urgency", doc.urgency)
    _sub(content, COMMONS, "severity", doc.severity)
    _sub(content, COMMONS, "certainty", doc.certainty)
    return root


def write(doc: Document) -> bytes:
    """One document revision as UTF-8 XML bytes."""
    return etree.tostring(build(doc), xml_declaration=True, encoding="UTF-8")


def soap_publish(doc: Document) -> bytes:
    """The SOAP 1.1 `publish` request that delivers one document revision."""
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    message = _sub(_sub(_sub(envelope, SOAP, "Body"), PCSOAP, "publish"), PCSOAP, "message")
    message.append(build(doc))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
