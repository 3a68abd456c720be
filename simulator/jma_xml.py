"""Common parts of JMA 防災情報XML documents (Control, Head, Headline), built with lxml."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from lxml import etree

JMX = "http://xml.kishou.go.jp/jmaxml1/"
IB = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
METE = "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/"
EB = "http://xml.kishou.go.jp/jmaxml1/elementBasis1/"
JST = timezone(timedelta(hours=9))

OFFICE = "金沢地方気象台"
OFFICE_CODE = "170000"  # the office code JMA puts in document file names
PREF_NAME = "石川県"
PREF_AREA = "170000"
DATA_URL_PATH = "/developer/xml/data/"


@dataclass(frozen=True)
class JmaMessage:
    """One published document: when it appears, which feed lists it, and its bytes."""

    at: datetime  # Control/DateTime: when JMA publishes it
    data_type: str  # VXWW50, VXKO61, VPWW54, ...
    feed: str  # "extra" or "regular"
    title: str  # Control/Title (the feed entry's title)
    author: str  # issuing office(s) (the feed entry's author)
    headline: str  # Head/Headline/Text (the feed entry's content)
    xml: bytes

    @property
    def name(self) -> str:
        """File name under /developer/xml/data/, in JMA's pattern."""
        return f"{self.at.astimezone(timezone.utc):%Y%m%d%H%M%S}_0_{self.data_type}_{OFFICE_CODE}.xml"


def sub(parent: etree._Element, tag: str, text: str | None = None, ns: str | None = None, **attrs) -> etree._Element:
    """Append a child in the parent's namespace (or `ns`) with optional text and attributes."""
    if ns is None:
        ns = etree.QName(parent).namespace
    el = etree.SubElement(parent, f"{{{ns}}}{tag}" if ns else tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def iso_jst(t: datetime) -> str:
    """2026-07-10T10:00:00+09:00"""
    return t.astimezone(JST).replace(microsecond=0).isoformat()


def iso_utc(t: datetime) -> str:
    """2026-07-10T01:00:12Z"""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def publish_time(report: datetime, seed: int, key: str) -> datetime:
    """Control/DateTime: a few seconds after the Head's minute-precision ReportDateTime."""
    return report + timedelta(seconds=random.Random(f"{seed}:pub:{key}").randint(5, 50))


def report(
    *, control_title: str, status: str, at: datetime, editorial: str, publishing: str,
    head_title: str, report_dt: datetime, event_id: str | None, info_type: str, serial: str | None,
    info_kind: str, version: str, headline: str, extra_ns: dict[str, str] | None = None,
) -> tuple[etree._Element, etree._Element, etree._Element]:
    """The Report root with Control and Head filled in; returns (root, headline, body)."""
    nsmap = {None: JMX, "jmx": JMX, **(extra_ns or {})}
    root = etree.Element(f"{{{JMX}}}Report", nsmap=nsmap)
    control = sub(root, "Control")
    sub(control, "Title", control_title)
    sub(control, "DateTime", iso_utc(at))
    sub(control, "Status", status)
    sub(control, "EditorialOffice", editorial)
    sub(control, "PublishingOffice", publishing)
    head = etree.SubElement(root, f"{{{IB}}}Head", nsmap={None: IB})
    sub(head, "Title", head_title)
    sub(head, "ReportDateTime", iso_jst(report_dt))
    sub(head, "TargetDateTime", iso_jst(report_dt))
    sub(head, "EventID", event_id)
    sub(head, "InfoType", info_type)
    sub(head, "Serial", serial)
    sub(head, "InfoKind", info_kind)
    sub(head, "InfoKindVersion", version)
    hl = sub(head, "Headline")
    sub(hl, "Text", headline)
    body = etree.SubElement(root, f"{{{METE}}}Body", nsmap={None: METE, "jmx_eb": EB})
    return root, hl, body


def information(headline: etree._Element, info_type: str, items: list[tuple[str, str, str | None, str, list[tuple[str, str]]]]) -> None:
    """Headline/Information: items of (kind name, kind code, condition, areas codeType, [(name, code)])."""
    info = sub(headline, "Information", type=info_type)
    for name, code, condition, code_type, areas in items:
        item = sub(info, "Item")
        kind = sub(item, "Kind")
        sub(kind, "Name", name)
        sub(kind, "Code", code)
        if condition is not None:
            sub(kind, "Condition", condition)
        wrap = sub(item, "Areas", codeType=code_type)
        for area_name, area_code in areas:
            a = sub(wrap, "Area")
            sub(a, "Name", area_name)
            sub(a, "Code", area_code)


def serialize(root: etree._Element) -> bytes:
    """UTF-8 bytes with the XML declaration, as JMA publishes."""
    # lxml writes the declaration with single quotes; JMA's documents use double quotes.
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8", pretty_print=True)
