"""The hardened XML parser refuses entity tricks, oversize and malformed input with precise reasons."""
from __future__ import annotations

import pytest

from collectors.base import PayloadError
from collectors.xmlsafe import parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""


def xxe(target: str) -> bytes:
    return f"""<?xml version="1.0"?>
<!DOCTYPE Report [<!ENTITY secret SYSTEM "{target}">]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&secret;</Title></Control></Report>""".encode()


def test_billion_laughs_is_refused():
    with pytest.raises(PayloadError, match="declares DOCTYPE at byte 22"):
        parse_xml(BILLION_LAUGHS, 1_000_000)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "http://127.0.0.1:1/secret"])
def test_external_entity_is_refused(target):
    with pytest.raises(PayloadError, match="DTDs and entities are refused"):
        parse_xml(xxe(target), 1_000_000)


def test_doctype_in_utf16_is_refused_after_parsing():
    # The byte scan cannot see an ASCII "<!DOCTYPE" in UTF-16; the parsed tree's docinfo can.
    text = xxe("file:///etc/passwd").decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    with pytest.raises(PayloadError, match="has a DOCTYPE declaration"):
        parse_xml(text.encode("utf-16"), 1_000_000)


def test_billion_laughs_in_utf16_is_refused_too():
    text = BILLION_LAUGHS.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    with pytest.raises(PayloadError, match="(entity amplification|DOCTYPE)"):
        parse_xml(text.encode("utf-16"), 1_000_000)


def test_undeclared_entity_reference_is_malformed():
    with pytest.raises(PayloadError, match="malformed XML: Entity 'secret' not defined"):
        parse_xml(b"<a>&secret;</a>", 1000)


def test_oversize_is_refused_before_parsing():
    with pytest.raises(PayloadError, match="is 2001 bytes, over the 2000-byte limit"):
        parse_xml(b"<a>" + b"x" * 1994 + b"</a>", 2000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<a><b></a>", "malformed XML: .*line 1"),
        (b"not xml", "malformed XML"),
        (b'<?xml version="1.0" encoding="no-such-charset"?><a/>', "(malformed|unreadable) XML"),
    ],
)
def test_malformed_input_has_a_reason(data, message):
    with pytest.raises(PayloadError, match=message):
        parse_xml(data, 1000)


def test_text_is_refused_only_bytes_accepted():
    with pytest.raises(PayloadError, match="must be bytes, got str"):
        parse_xml("<a/>", 1000)  # type: ignore[arg-type]


def test_well_formed_xml_parses_without_blank_text_or_comments():
    root = parse_xml(b"<a>\n  <!-- note -->\n  <b>x</b>\n</a>", 1000)
    assert [child.tag for child in root] == ["b"]
    assert root.findtext("b") == "x"


def test_doctype_after_comments_and_instructions_is_refused_before_parsing():
    prolog = b'<?xml version="1.0"?>\n<!-- <a> in a comment --><?note <b>?>\n'
    data = prolog + b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'
    with pytest.raises(PayloadError, match=f"declares DOCTYPE at byte {len(prolog)}"):
        parse_xml(data, 1000)


def test_declaration_text_inside_the_document_is_only_text():
    # Only the prolog can hold a DOCTYPE; the same characters in a CDATA section are content.
    root = parse_xml(b"<a><![CDATA[<!DOCTYPE x><!ENTITY y 'z'>]]></a>", 1000)
    assert root.text == "<!DOCTYPE x><!ENTITY y 'z'>"
