"""気象警報・注意報: VPWW53 (気象特別警報・警報・注意報), VPWW54 (Ｈ２７) and the Ｒ０６ VPWW55–61.

Each report covers one prefecture (or 地方) and, in its「気象警報・注意報（市町村等）」Warning, lists
every municipality with all the kinds in force there, each with a status (発表 / 継続 / 解除, or
「発表警報・注意報はなし」 for a municipality without any). A report keeps the municipalities with
kinds; those without (most of them, on most reports) are left out: what a newer report does not keep
in force has ended, which the pipeline reads from the report's scope (see normalise.scope_state).
Since 2026 the old-format reports also list the level-named kinds in force in Body/Notice
(「〈レベル４大雨危険警報〉松江市」), read as `notices`. The Ｒ０６ reports are split by hazard
(大雨, 土砂, 高潮, 暴風, 波浪, その他) and name the kinds by level (レベル３大雨警報,
レベル４土砂災害危険警報). The 集約通報 VPWS50 bundles these; it is read the same way, by its
municipality Warning elements, but no real sample of it has been checked.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree

from collectors.base import PayloadError
from collectors.jma.report import Area, B, Control, Head, body_of, child, coded_area, text_of

TITLE_LEGACY = "気象特別警報・警報・注意報"  # VPWW53
TITLE_H27 = "気象警報・注意報（Ｈ２７）"  # VPWW54
TITLE_R06_PREFIX = "気象警報・注意報（Ｒ０６）"  # VPWW55–61 (and VPWS50)
MUNICIPALITY_WARNING = "気象警報・注意報（市町村等）"
NO_WARNINGS = "発表警報・注意報はなし"

# Kinds that are the same hazard at another strength: an upgrade from 強風注意報 to 暴風警報 replaces
# the 注意報 without a 解除 line, so both must share one family (one Event id).
_FAMILY_ALIASES = {"強風": "暴風", "風雪": "暴風雪"}
_LEVEL_PREFIX = re.compile(r"^レベル[0-9０-９]")
_SUFFIXES = ("特別警報", "危険警報", "警報", "注意報")


def is_warning_title(title: str) -> bool:
    """True for the Control/Title of a warnings report this module reads."""
    return title in (TITLE_LEGACY, TITLE_H27) or title.startswith(TITLE_R06_PREFIX)


def generation_of(title: str) -> str:
    """'legacy' (VPWW53), 'H27' (VPWW54) or 'R06' (VPWW55–61) from the Control/Title."""
    if title == TITLE_LEGACY:
        return "legacy"
    if title == TITLE_H27:
        return "H27"
    return "R06"


@functools.lru_cache(maxsize=1024)  # pure, and reports repeat each kind for every municipality
def family_of(kind_name: str) -> str:
    """The hazard a kind belongs to: レベル３大雨警報 -> 大雨, 強風注意報 -> 暴風, 土砂災害特別警報 -> 土砂災害."""
    name = _LEVEL_PREFIX.sub("", kind_name.strip())
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return _FAMILY_ALIASES.get(name, name)


class WarningKind(NamedTuple):
    """One kind in force (or lifted) in one municipality."""

    name: str
    code: str
    status: str
    last_name: str | None = None  # Ｒ０６: the kind this one replaced
    last_code: str | None = None


class WarningItem(NamedTuple):
    """One municipality's line: its area and every kind listed for it (at least one)."""

    area: Area
    kinds: tuple[WarningKind, ...]
    change_status: str | None


class NoticeLine(NamedTuple):
    """One line of Body/Notice naming a level-named kind and where it is in force:
    「〈レベル４大雨危険警報〉松江市　出雲市」 -> ("レベル４大雨危険警報", ("松江市", "出雲市"))."""

    kind_name: str
    places: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WarningReport:
    """A parsed weather-warning report (any of VPWW53–61)."""

    control: Control
    head: Head
    generation: str
    items: tuple[WarningItem, ...]
    # Since 2026 the old-format reports (VPWW53/54) name the level-named kinds in force only here.
    notices: tuple[NoticeLine, ...] = ()


# 「〈kind〉place　place」; places are separated by (full-width) spaces or 、; a river is marked ＊.
_NOTICE_LINE = re.compile(r"〈([^〉]+)〉(.*)")
_PLACE_SEPARATORS = re.compile(r"[\s、，,]+")


def parse_notices(texts: list[str]) -> tuple[NoticeLine, ...]:
    """The 〈kind〉 lines of Body/Notice texts; other lines (headings, remarks) are left out."""
    lines = []
    for text in texts:
        for raw in text.splitlines():
            match = _NOTICE_LINE.search(raw.strip())
            if match is None:
                continue
            places = tuple(p for p in _PLACE_SEPARATORS.split(match.group(2)) if p)
            if places:
                lines.append(NoticeLine(match.group(1).strip(), places))
    return tuple(lines)


_MUNICIPALITY_ITEMS = f"{B}Warning[@type='{MUNICIPALITY_WARNING}']/{B}Item"


def _kinds(item: etree._Element) -> list[WarningKind]:
    """The kinds listed for one municipality, less a「発表警報・注意報はなし」line."""
    kinds = []
    for kind in item.iterfind(B + "Kind"):
        name, status = text_of(kind, B + "Name"), text_of(kind, B + "Status")
        if not name:
            if status == NO_WARNINGS:
                continue
            raise PayloadError(f"warning item Kind has no Name (status {status or None!r})")
        last = child(kind, B + "LastKind")
        kinds.append(WarningKind(
            name, text_of(kind, B + "Code"), status,
            (text_of(last, B + "Name") or None) if last is not None else None,
            (text_of(last, B + "Code") or None) if last is not None else None,
        ))
    return kinds


def parse_warnings(control: Control, head: Head, root: etree._Element) -> WarningReport:
    """Read the municipality-level Warning elements of a weather-warning report (`root` its Report element).

    Municipalities with nothing in force (most of a report) are left out.
    """
    body = body_of(root)
    if body is None:
        return WarningReport(control, head, generation_of(control.title), ())
    items: list[WarningItem] = []
    for item in body.iterfind(_MUNICIPALITY_ITEMS):
        kinds = _kinds(item)
        if kinds:
            area = coded_area(child(item, B + "Area"), B, "weather-warning")
            items.append(WarningItem(area, tuple(kinds), text_of(item, B + "ChangeStatus") or None))
    notices = parse_notices([n.text for n in body.iterfind(B + "Notice") if n.text])
    return WarningReport(control, head, generation_of(control.title), tuple(items), notices)
