"""Validation of JMA reports against JMA's own schema (jmx.xsd, shipped in collectors/jma/xsd/).

The schema is loose where JMA extends the format (the Body is `processContents="lax"`), so a
document passing it is only known to have a well-formed Control/Head and typed Body elements;
the parsers still check what they read. Useful for replaying recorded payloads and in tests.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from collectors.base import PayloadError

XSD_DIR = Path(__file__).parent / "xsd"


class SchemaViolation(PayloadError):
    """A JMA report that does not conform to jmx.xsd."""


@cache
def _schema() -> etree.XMLSchema:
    # The schema is our own copy; imports resolve to sibling files, never to the network.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD_DIR / "jmx.xsd"), parser))


def validate_jmx(element: etree._Element) -> None:
    """Raise SchemaViolation (with the first error's line and message) unless `element` conforms to jmx.xsd."""
    schema = _schema()
    if not schema.validate(element):
        error = schema.error_log.last_error
        raise SchemaViolation(f"JMA report violates jmx.xsd at line {error.line}: {error.message}")
