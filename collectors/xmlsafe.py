"""Hardened XML parsing for every upstream that speaks XML (JMA, Atom, CAP, EDXL).

Upstream XML is untrusted: a document may try entity expansion ("billion laughs"), external
entities (XXE: local files, internal URLs), a DTD fetch, or simply be huge or broken. One parser
configuration is used everywhere so that no caller can forget a flag, and every failure becomes
a `PayloadError` whose message says what was wrong.
"""
from __future__ import annotations

import threading

from lxml import etree

from collectors.base import PayloadError

# A DOCTYPE (and so any ENTITY declaration, which only a DOCTYPE may hold) has no business in the
# feeds we read. Looking for it in the prolog before parsing rejects hostile input without handing
# it to libxml2 at all; the check on the parsed tree below also catches declarations in encodings
# other than ASCII-compatible ones.
_DECLARATIONS = (b"<!DOCTYPE", b"<!ENTITY")

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers keep per-parse state, so each thread gets its own.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_blank_text=True,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def _first_markup(data: bytes) -> int:
    """Offset of the first markup after the XML declaration, processing instructions and comments.

    A DOCTYPE can only stand there, before the root element; scanning just the prolog keeps the
    check independent of the payload's size.
    """
    at = data.find(b"<")
    while at >= 0:
        if data.startswith(b"<?", at):
            end, skip = data.find(b"?>", at + 2), 2
        elif data.startswith(b"<!--", at):
            end, skip = data.find(b"-->", at + 4), 3
        else:
            return at
        if end < 0:
            return at  # unterminated: the parser reports it
        at = data.find(b"<", end + skip)
    return len(data)


def parse_xml(data: bytes, max_bytes: int) -> etree._Element:
    """Parse untrusted XML bytes into an lxml element, or raise PayloadError saying why not."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PayloadError(f"XML payload must be bytes, got {type(data).__name__}")
    if not isinstance(data, bytes):
        data = bytes(data)
    if not data or data.isspace():
        raise PayloadError("XML payload is empty")
    if len(data) > max_bytes:
        raise PayloadError(f"XML payload is {len(data)} bytes, over the {max_bytes}-byte limit")
    at = _first_markup(data)
    for marker in _DECLARATIONS:
        if data.startswith(marker, at):
            raise PayloadError(
                f"XML payload declares {marker[2:].decode()} at byte {at}; DTDs and entities are refused"
            )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise PayloadError(f"malformed XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding declaration
        raise PayloadError(f"unreadable XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise PayloadError("XML payload has a DOCTYPE declaration; DTDs and entities are refused")
    return root
