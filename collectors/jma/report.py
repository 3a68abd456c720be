"""The parts every JMA XML report shares: Control, Head and its Headline, and the errors.

JMA 防災情報XML documents are `<Report>` with a `<Control>` (what and whether real), a `<Head>`
(who, when, which event, which serial) and a kind-specific `<Body>`. The family parsers in this
package read the Body; this module reads the rest into plain records.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from lxml import etree

from collectors.base import PayloadError

NS_REPORT = "http://xml.kishou.go.jp/jmaxml1/"
NS_HEAD = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
NS_METE = "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/"
NS_EB = "http://xml.kishou.go.jp/jmaxml1/elementBasis1/"

R = "{%s}" % NS_REPORT
H = "{%s}" % NS_HEAD
B = "{%s}" % NS_METE
EB = "{%s}" % NS_EB

CONTROL_STATUSES = frozenset({"通常", "訓練", "試験"})
# 遅延 marks a late delivery of an otherwise normal report.
INFO_TYPES = frozenset({"発表", "訂正", "取消", "遅延"})


class UnsupportedDocument(PayloadError):
    """A well-formed JMA report of a kind this package does not read (e.g. 記録的短時間大雨情報)."""


class Area(NamedTuple):
    """An area as JMA names it: its code in `code_type` (7-digit municipality, 6-digit region...)."""

    code: str
    name: str
    code_type: str | None = None


@dataclass(frozen=True, slots=True)
class HeadlineItem:
    """One Head/Headline/Information/Item: a kind (and its condition) over a list of areas."""

    info_type: str
    kind_name: str
    kind_code: str
    condition: str | None
    areas: tuple[Area, ...]


@dataclass(frozen=True, slots=True)
class Control:
    """Report/Control: which message, whether real (通常) or an exercise (訓練) or a test (試験)."""

    title: str
    date_time: datetime
    status: str
    editorial_office: str
    publishing_office: str


@dataclass(frozen=True, slots=True)
class Head:
    """Report/Head: the human title, times, EventID/Serial ordering keys and the headline."""

    title: str
    report_datetime: datetime
    target_datetime: datetime | None
    valid_datetime: datetime | None
    event_id: str | None
    info_type: str
    serial: int | None
    info_kind: str
    info_kind_version: str
    headline_text: str
    headline_items: tuple[HeadlineItem, ...]


def parse_datetime(value: str | None, where: str) -> datetime | None:
    """ISO 8601 with an offset (JMA always gives one) -> aware datetime; a bad value is a PayloadError."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"JMA {where} {value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"JMA {where} {value!r} has no UTC offset")
    return parsed


def _area(elem: etree._Element, ns: str, code_type: str | None) -> Area:
    fields, _ = _leaves(elem)
    return Area(
        code=fields.get(ns + "Code") or "",
        name=fields.get(ns + "Name") or "",
        code_type=elem.get("codeType") or code_type,
    )


def area_of(elem: etree._Element | None, ns: str) -> Area | None:
    """A single <Area> element as an Area."""
    return None if elem is None else _area(elem, ns, None)


def coded_area(elem: etree._Element | None, ns: str, where: str) -> Area:
    """An item's <Area>, whose Code must be a number (a JMA area code); a precise PayloadError if not."""
    area = area_of(elem, ns)
    if area is None or not area.code:
        raise PayloadError(f"{where} item has no Area/Code")
    if not (area.code.isascii() and area.code.isdigit()):
        raise PayloadError(f"{where} Area/Code {area.code!r} is not a number")
    return area


def child(parent: etree._Element, tag: str) -> etree._Element | None:
    """The first child of `parent` with `tag`, as `parent.find(tag)` gives, without a path search.

    ElementPath costs several times a walk over the few children of Report, Control or Head.
    """
    for elem in parent:
        if elem.tag == tag:
            return elem
    return None


def text_of(parent: etree._Element, tag: str) -> str:
    """The stripped text of the first child of `parent` with `tag`, "" when absent or empty."""
    elem = child(parent, tag)
    value = None if elem is None else elem.text
    return value.strip() if value else ""


def _leaves(elem: etree._Element) -> tuple[dict[str, str | None], dict[str, etree._Element]]:
    """Tag -> stripped text (None if empty), and tag -> element, of the first child with each tag.

    The values `elem.findtext(tag)` (stripped) and `elem.find(tag)` give, read in one pass.
    """
    texts: dict[str, str | None] = {}
    elements: dict[str, etree._Element] = {}
    for node in elem:
        tag = node.tag
        if tag not in texts:
            value = node.text
            texts[tag] = (value.strip() or None) if value else None
            elements[tag] = node
    return texts, elements


def _required(fields: dict[str, str | None], tag: str, where: str) -> str:
    value = fields.get(tag)
    if value is None:
        raise PayloadError(f"JMA report has no {where}")
    return value


def parse_control(root: etree._Element) -> Control:
    """Read Report/Control."""
    control = child(root, R + "Control")
    if control is None:
        raise PayloadError("JMA report has no Control")
    fields, _ = _leaves(control)
    status = _required(fields, R + "Status", "Control/Status")
    if status not in CONTROL_STATUSES:
        raise PayloadError(f"JMA Control/Status {status!r} is not one of 通常, 訓練, 試験")
    return Control(
        title=_required(fields, R + "Title", "Control/Title"),
        date_time=parse_datetime(_required(fields, R + "DateTime", "Control/DateTime"), "Control/DateTime"),
        status=status,
        editorial_office=fields.get(R + "EditorialOffice") or "",
        publishing_office=fields.get(R + "PublishingOffice") or "",
    )


def parse_head(root: etree._Element) -> Head:
    """Read Report/Head with its headline text; its Information items are left to the family parsers.

    Only flood forecasts read their areas from the headline items (see flood.py); other reports
    skip them, which is a third of the cost of reading a warning.
    """
    head = child(root, H + "Head")
    if head is None:
        raise PayloadError("JMA report has no Head")
    fields, elements = _leaves(head)
    get = fields.get
    info_type = _required(fields, H + "InfoType", "Head/InfoType")
    if info_type not in INFO_TYPES:
        raise PayloadError(f"JMA Head/InfoType {info_type!r} is not one of {sorted(INFO_TYPES)}")
    serial_text = get(H + "Serial")
    serial = None
    if serial_text is not None:
        if not serial_text.isdecimal():
            raise PayloadError(f"JMA Head/Serial {serial_text!r} is not a number")
        serial = int(serial_text)
    headline = elements.get(H + "Headline")
    headline_text = None if headline is None else child(headline, H + "Text")
    if headline_text is not None:
        headline_text = headline_text.text
    return Head(
        title=_required(fields, H + "Title", "Head/Title"),
        report_datetime=parse_datetime(
            _required(fields, H + "ReportDateTime", "Head/ReportDateTime"), "Head/ReportDateTime"
        ),
        target_datetime=parse_datetime(get(H + "TargetDateTime"), "Head/TargetDateTime"),
        valid_datetime=parse_datetime(get(H + "ValidDateTime"), "Head/ValidDateTime"),
        event_id=get(H + "EventID"),
        info_type=info_type,
        serial=serial,
        info_kind=get(H + "InfoKind") or "",
        info_kind_version=get(H + "InfoKindVersion") or "",
        headline_text=(headline_text and headline_text.strip()) or "",
        headline_items=(),
    )


def body_of(root: etree._Element) -> etree._Element | None:
    """Report/Body in the meteorology namespace (None when a report carries none)."""
    return child(root, B + "Body")
