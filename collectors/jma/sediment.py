"""土砂災害警戒情報 (VXWW50): one report per prefecture (or 地方), one item per municipality.

The Body lists every municipality of the target area with its kind (警戒 / 解除 / なし) and status
(発表 / 継続 / 解除 / なし). From 2026 the Head/Title says「レベル４土砂災害危険警報」while
Control/Title stays「土砂災害警戒情報」, so both wordings arrive here.
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from collectors.base import PayloadError
from collectors.jma.report import B, Area, Control, Head, area_of, text

CONTROL_TITLE = "土砂災害警戒情報"


@dataclass(frozen=True, slots=True)
class SedimentItem:
    """One municipality's line of the report."""

    area: Area
    kind_name: str
    kind_code: str
    status: str


@dataclass(frozen=True, slots=True)
class SedimentReport:
    """A parsed 土砂災害警戒情報."""

    control: Control
    head: Head
    target_area: Area | None
    items: tuple[SedimentItem, ...]


def parse_sediment(control: Control, head: Head, body: etree._Element | None) -> SedimentReport:
    """Read the Body of a VXWW50 report."""
    items: list[SedimentItem] = []
    if body is not None:
        for warning in body.iterfind(B + "Warning"):
            for item in warning.iterfind(B + "Item"):
                kind = item.find(B + "Kind")
                area = area_of(item.find(B + "Area"), B)
                if area is None or not area.code:
                    raise PayloadError("土砂災害警戒情報 item has no Area/Code")
                items.append(
                    SedimentItem(
                        area=area,
                        kind_name=text(kind, B + "Name") or "",
                        kind_code=text(kind, B + "Code") or "",
                        status=text(kind, B + "Status") or "",
                    )
                )
    target = area_of(body.find(B + "TargetArea"), B) if body is not None else None
    return SedimentReport(control=control, head=head, target_area=target, items=tuple(items))
