"""One entry point from JMA XML bytes to a typed report, dispatching on Control/Title."""
from __future__ import annotations

from typing import Union

from collectors.base import PayloadError
from collectors.jma import flood, sediment, warnings
from collectors.jma.report import R, UnsupportedDocument, parse_control, parse_head
from collectors.xmlsafe import parse_xml

# JMA reports are tens of kB; the largest regular ones (時系列, 集約通報) stay under 5 MB.
DEFAULT_MAX_BYTES = 8_000_000

JmaReport = Union[sediment.SedimentReport, flood.FloodReport, warnings.WarningReport]


def parse_document(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> JmaReport:
    """Parse JMA XML bytes into a SedimentReport, FloodReport or WarningReport.

    Raises UnsupportedDocument for a well-formed JMA report of another kind, and PayloadError
    for anything malformed, hostile, oversized or not a JMA report at all.
    """
    root = parse_xml(data, max_bytes)
    if root.tag != R + "Report":
        raise PayloadError(f"not a JMA report: root element is {root.tag!r}")
    control = parse_control(root)
    title = control.title
    if title == sediment.CONTROL_TITLE:
        parse = sediment.parse_sediment
    elif title == flood.CONTROL_TITLE:
        parse = flood.parse_flood
    elif warnings.is_warning_title(title):
        parse = warnings.parse_warnings
    else:
        raise UnsupportedDocument(f"JMA report {title!r} is not a kind bosai-hub reads")
    return parse(control, parse_head(root), root)
