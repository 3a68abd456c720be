"""JMA 防災情報XML: the Atom PULL feed, the report parsers and their mapping to Events.

Wire format only: nothing here knows the store or HTTP. `parse_document` turns bytes into a typed
report, `to_events` maps a report to Events, `parse_feed` reads the Atom feed listing new reports.
"""
from collectors.jma.atom import AtomEntry, AtomFeed, parse_feed, select_entries
from collectors.jma.document import DEFAULT_MAX_BYTES, JmaReport, parse_document
from collectors.jma.flood import FloodReport
from collectors.jma.normalise import to_events
from collectors.jma.report import UnsupportedDocument
from collectors.jma.sediment import SedimentReport
from collectors.jma.validation import SchemaViolation, validate_jmx
from collectors.jma.warnings import WarningReport

__all__ = [
    "AtomEntry",
    "AtomFeed",
    "DEFAULT_MAX_BYTES",
    "FloodReport",
    "JmaReport",
    "SchemaViolation",
    "SedimentReport",
    "UnsupportedDocument",
    "WarningReport",
    "parse_document",
    "parse_feed",
    "select_entries",
    "to_events",
    "validate_jmx",
]
