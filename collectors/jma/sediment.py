"""土砂災害警戒情報 (VXWW50): one report per prefecture (or 地方), one line per municipality.

The Body lists every municipality of the target area with its kind (警戒 / 解除 / なし) and status
(発表 / 継続 / 解除 / なし). A なし line says only that the municipality has no warning (most of them,
on most reports), so a report keeps the others: warnings issued, continued and lifted. Since every
municipality is listed, a report is the whole state of its prefecture: what an earlier report put in
force and a newer one lists as なし has ended, even if the 解除 between them was never read (the
pipeline applies this from the report's scope, see normalise.scope_state). From 2026 the Head/Title says
「レベル４土砂災害危険警報」while Control/Title stays「土砂災害警戒情報」, so both wordings arrive here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree

from collectors.jma.report import Area, B, Control, Head, area_of, body_of, child, coded_area, text_of

CONTROL_TITLE = "土砂災害警戒情報"
NONE = "なし"
_NOTHING = frozenset({NONE, ""})


class SedimentItem(NamedTuple):
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
    items: tuple[SedimentItem, ...]  # the municipalities with a kind other than なし


_ITEMS = f"{B}Warning/{B}Item"


def parse_sediment(control: Control, head: Head, root: etree._Element) -> SedimentReport:
    """Read the Body of a VXWW50 report (`root` is its Report element).

    An item is read by its first Kind; a line with なし (or no status) says nothing is in force there.
    """
    body = body_of(root)
    if body is None:
        return SedimentReport(control=control, head=head, target_area=None, items=())
    items = []
    for item in body.iterfind(_ITEMS):
        kind = child(item, B + "Kind")
        if kind is None:
            continue
        name, status = text_of(kind, B + "Name"), text_of(kind, B + "Status")
        if name == NONE or status in _NOTHING:
            continue
        area = coded_area(child(item, B + "Area"), B, "土砂災害警戒情報")
        items.append(SedimentItem(area, name, text_of(kind, B + "Code"), status))
    target = area_of(child(body, B + "TargetArea"), B)
    return SedimentReport(control=control, head=head, target_area=target, items=tuple(items))
