"""Repeated JMA items read as rows of strings by a compiled XSLT, without touching each element.

Reports list hundreds of items (one per municipality, each a handful of elements). Walking them
through lxml's Python element API costs several times the parse itself; a fixed stylesheet run in
libxml2 writes one tab-separated line per row instead, and a missing element is an empty field,
so fields keep their place in every row.
"""
from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

from lxml import etree

from collectors.base import PayloadError
from collectors.jma.report import NS_HEAD, NS_METE

_XSL = "http://www.w3.org/1999/XSL/Transform"
TAB = "<xsl:text>&#9;</xsl:text>"
NEWLINE = "<xsl:text>&#10;</xsl:text>"
# Values are written as they are (normalize-space or translate on every field would double the
# cost); a tab or line break inside an item's code or name would shift the row, so such a row is
# refused below rather than read wrongly. JMA never puts either inside these fields.
# Values are stripped as str.strip() does, but only in the rare output where some value starts or
# ends with white space: one search anchored on the separators (so it runs at C speed) instead of a
# strip per cell. SPACE is what str.isspace() accepts, less the two separators.
SPACE = "[\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# One pattern per separator: a literal first character makes the search skip ahead at C speed.
_PADDED = tuple(re.compile(f"{sep}(?:(?<={SPACE}{sep})|{SPACE})") for sep in "\t\n")
# Most outputs hold no white space at all, which one scan for any of it settles more cheaply.
_ANY_SPACE = re.compile(SPACE)


def line(tag: str, fields: list[str]) -> str:
    """Stylesheet text writing one record: `tag`, then the string value of each XPath in `fields`."""
    cells = "".join(f"{TAB}<xsl:value-of select={quoteattr(f)}/>" for f in fields)
    return f"<xsl:text>{tag}</xsl:text>{cells}{NEWLINE}"


def for_each(select: str, body: str) -> str:
    """Stylesheet text running `body` for each node `select` finds (XPath relative to the current node)."""
    return f"<xsl:for-each select={quoteattr(select)}>{body}</xsl:for-each>"


class Records:
    """Tagged records written by one stylesheet: each line is a tag and that tag's fields.

    `template` is the body of the stylesheet's root template (built with `line` and `for_each`,
    nested for-each loops instead of ancestor look-ups per field, which cost twice as much);
    `widths` gives each tag's field count, so a value with a tab or line break inside is refused.
    """

    def __init__(self, template: str, widths: dict[str, int]) -> None:
        stylesheet = f"""<xsl:stylesheet version="1.0" xmlns:xsl="{_XSL}" xmlns:h="{NS_HEAD}" xmlns:b="{NS_METE}">
  <xsl:output method="text"/>
  <xsl:template match="/">{template}</xsl:template>
</xsl:stylesheet>"""
        # No output encoding named: libxslt then writes UTF-8 as it is, where naming it would pass
        # the text through an encoder.
        # Our own stylesheet, and still no file, network or output access for it.
        self._transform = etree.XSLT(
            etree.XML(stylesheet.encode()), access_control=etree.XSLTAccessControl.DENY_ALL
        )
        self._widths = {tag: width + 1 for tag, width in widths.items()}

    def __call__(self, elem: etree._Element) -> list[list[str]]:
        """The records of the document `elem` belongs to: [tag, field...], values stripped, missing ones ""."""
        try:
            # An element given directly would be taken as the root of a document of its own.
            result = self._transform(elem.getroottree())
        except etree.XSLTError as exc:
            raise PayloadError(f"JMA report items could not be read: {exc}") from None
        # The serialised bytes, decoded here: str(result) would also run a regex over the whole
        # text to drop an XML declaration, which text output never has.
        text = bytes(result).decode("utf-8")
        widths = self._widths
        rows = [line.split("\t") for line in text.split("\n") if line]
        for cells in rows:
            if widths.get(cells[0]) != len(cells):
                raise PayloadError("JMA report item has a tab or line break inside a code or name")
        if _ANY_SPACE.search(text) and (_PADDED[0].search(text) or _PADDED[1].search(text)):
            rows = [[cell.strip() for cell in cells] for cells in rows]
        return rows


class RowQuery:
    """Rows selected by `rows` (XPath over the whole document), one field per XPath in `fields`."""

    def __init__(self, rows: str, fields: list[str]) -> None:
        self._records = Records(for_each(rows, line("r", fields)), {"r": len(fields)})

    def __call__(self, elem: etree._Element) -> list[list[str]]:
        """The rows of the document `elem` belongs to (without the tag); values stripped, missing ones ""."""
        return [row[1:] for row in self._records(elem)]
