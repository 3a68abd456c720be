"""The JMA Atom PULL feed (regular.xml, extra.xml, eqvol.xml, other.xml and their *_l.xml).

Each entry names one report: its URL (entry id and link), title (the Control/Title, e.g.
土砂災害警戒情報), update time, issuing office and a headline. The file name carries the data type
code and the issuing office's area code: ``20240829124010_0_VXWW50_220000.xml``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from collectors.base import PayloadError
from collectors.jma.report import parse_datetime
from collectors.xmlsafe import parse_xml

A = "{http://www.w3.org/2005/Atom}"
DEFAULT_FEED_MAX_BYTES = 2_000_000
# <YYYYMMDDhhmmss>_<n>_<data type code>_<office area code>.xml
_FILE_NAME = re.compile(r"/(\d{14})_(\d+)_([A-Z]{4}\d{2})_(\d{6})\.xml$")


@dataclass(frozen=True, slots=True)
class AtomEntry:
    """One report listed in the feed."""

    id: str
    url: str
    title: str
    updated: datetime
    author: str
    content: str
    type_code: str | None  # e.g. VXWW50, VXKO52; None if the file name does not follow JMA's scheme
    office_code: str | None  # e.g. 170000 (the issuing office's area)


@dataclass(frozen=True, slots=True)
class AtomFeed:
    """A parsed feed: its own title and update time, and its entries in feed order."""

    title: str
    updated: datetime | None
    entries: tuple[AtomEntry, ...]


def _text(elem, path: str) -> str:
    return (elem.findtext(path) or "").strip()


def _entry(index: int, elem) -> AtomEntry:
    link = next((l.get("href") for l in elem.iterfind(A + "link") if l.get("href")), None)
    entry_id = _text(elem, A + "id")
    url = (link or entry_id).strip()
    if not url:
        raise PayloadError(f"Atom entry {index} has neither a link nor an id")
    updated = parse_datetime(_text(elem, A + "updated") or None, f"Atom entry {index} updated")
    if updated is None:
        raise PayloadError(f"Atom entry {index} ({url}) has no updated time")
    match = _FILE_NAME.search(url)
    return AtomEntry(
        id=entry_id or url,
        url=url,
        title=_text(elem, A + "title"),
        updated=updated,
        author=_text(elem, A + "author/" + A + "name"),
        content=_text(elem, A + "content"),
        type_code=match.group(3) if match else None,
        office_code=match.group(4) if match else None,
    )


def parse_feed(data: bytes, max_bytes: int = DEFAULT_FEED_MAX_BYTES) -> AtomFeed:
    """Parse a JMA Atom feed into its entries; a malformed feed or entry is a PayloadError."""
    root = parse_xml(data, max_bytes)
    if root.tag != A + "feed":
        raise PayloadError(f"not an Atom feed: root element is {root.tag!r}")
    entries = tuple(_entry(i, e) for i, e in enumerate(root.iterfind(A + "entry")))
    return AtomFeed(
        title=_text(root, A + "title"),
        updated=parse_datetime(_text(root, A + "updated") or None, "Atom feed updated"),
        entries=entries,
    )


def type_code_matches(code: str | None, pattern: str) -> bool:
    """True if `code` matches `pattern`; JMA's ``ii`` placeholder stands for two digits (VXKOii)."""
    if code is None:
        return False
    if pattern.endswith("ii"):
        return code.startswith(pattern[:-2]) and len(code) == len(pattern) and code[-2:].isdigit()
    return code == pattern


def select_entries(
    entries: Iterable[AtomEntry],
    titles: Iterable[str] | None = None,
    type_codes: Iterable[str] | None = None,
    office_codes: Iterable[str] | None = None,
) -> list[AtomEntry]:
    """Entries whose title, data type code (VXWW50, VXKOii...) and office code match every filter given."""
    titles = set(titles) if titles is not None else None
    patterns = list(type_codes) if type_codes is not None else None
    offices = set(office_codes) if office_codes is not None else None
    return [
        e
        for e in entries
        if (titles is None or e.title in titles)
        and (patterns is None or any(type_code_matches(e.type_code, p) for p in patterns))
        and (offices is None or e.office_code in offices)
    ]
