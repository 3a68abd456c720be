"""Repeated JMA items read as rows of strings by a compiled XSLT, without touching each element.

Reports list hundreds of items (one per municipality, each a handful of elements). Walking them
through lxml's Python element API costs several times the parse itself; a fixed stylesheet run in
libxml2 writes one tab-separated line per row instead, and a missing element is an empty field,
so fields keep their place in every row.
"""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

from lxml import etree

from collectors.base import PayloadError
from collectors.jma.report import NS_HEAD, NS_METE

_XSL = "http://www.w3.org/1999/XSL/Transform"
# Values are written as they are (normalize-space or translate on every field would double the
# cost); a tab or line break inside an item's code or name would shift the row, so such a row is
# refused below rather than read wrongly. JMA never puts either inside these fields.


def _select(expr: str) -> str:
    return quoteattr(expr)


class RowQuery:
    """Rows selected by `rows` (XPath over the whole document), one field per XPath in `fields`."""

    def __init__(self, rows: str, fields: list[str]) -> None:
        cells = '<xsl:text>&#9;</xsl:text>'.join(
            f"<xsl:value-of select={_select(f)}/>" for f in fields
        )
        stylesheet = f"""<xsl:stylesheet version="1.0" xmlns:xsl="{_XSL}" xmlns:h="{NS_HEAD}" xmlns:b="{NS_METE}">
  <xsl:output method="text" encoding="utf-8"/>
  <xsl:template match="/">
    <xsl:for-each select={quoteattr(rows)}>{cells}<xsl:text>&#10;</xsl:text></xsl:for-each>
  </xsl:template>
</xsl:stylesheet>"""
        # Our own stylesheet, and still no file, network or output access for it.
        self._transform = etree.XSLT(
            etree.XML(stylesheet.encode()), access_control=etree.XSLTAccessControl.DENY_ALL
        )
        self._width = len(fields)

    def __call__(self, elem: etree._Element) -> list[tuple[str | None, ...]]:
        """The rows of the document `elem` belongs to; empty fields are None, values stripped."""
        try:
            # An element given directly would be taken as the root of a document of its own.
            result = self._transform(elem.getroottree())
        except etree.XSLTError as exc:
            raise PayloadError(f"JMA report items could not be read: {exc}") from None
        out = []
        for line in str(result).split("\n"):
            if not line:
                continue
            cells = line.split("\t")
            if len(cells) != self._width:
                raise PayloadError("JMA report item has a tab or line break inside a code or name")
            out.append(tuple(c.strip() or None for c in cells))
        return out
