"""The JMA Atom PULL feed: entries, data type codes from file names, filters."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from collectors.base import PayloadError
from collectors.jma import parse_feed, select_entries

# The head of a real extra.xml (2026-01-12) and a real VXWW50 entry, as SOURCES.md records them,
# plus a flood and a warnings entry in the same shape.
FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" lang="ja">
  <title>高頻度（随時）</title>
  <subtitle>JMAXML publishing feed</subtitle>
  <updated>2026-01-12T15:57:24+09:00</updated>
  <id>https://www.data.jma.go.jp/developer/xml/feed/extra.xml#short_1768201044</id>
  <link rel="related" href="https://www.jma.go.jp/"/>
  <link rel="self" href="https://www.data.jma.go.jp/developer/xml/feed/extra.xml"/>
  <link rel="hub" href="http://alert-hub.appspot.com/"/>
  <entry>
    <title>土砂災害警戒情報</title>
    <id>https://www.data.jma.go.jp/developer/xml/data/20240829124010_0_VXWW50_220000.xml</id>
    <updated>2024-08-29T12:40:09Z</updated>
    <author><name>静岡県 静岡地方気象台</name></author>
    <link type="application/xml" href="https://www.data.jma.go.jp/developer/xml/data/20240829124010_0_VXWW50_220000.xml"/>
    <content type="text">【静岡県土砂災害警戒情報】＜概況＞ 降り続く大雨のため、…</content>
  </entry>
  <entry>
    <title>指定河川洪水予報</title>
    <id>https://www.data.jma.go.jp/developer/xml/data/20240829125500_0_VXKO52_170000.xml</id>
    <updated>2024-08-29T12:55:00Z</updated>
    <author><name>金沢地方気象台</name></author>
    <link type="application/xml" href="https://www.data.jma.go.jp/developer/xml/data/20240829125500_0_VXKO52_170000.xml"/>
    <content type="text">【警戒レベル２相当情報［洪水］】</content>
  </entry>
  <entry>
    <title>気象警報・注意報（Ｒ０６）（大雨）</title>
    <id>https://www.data.jma.go.jp/developer/xml/data/20240829125600_0_VPWW55_170000.xml</id>
    <updated>2024-08-29T12:56:00Z</updated>
    <author><name>金沢地方気象台</name></author>
    <link type="application/xml" href="https://www.data.jma.go.jp/developer/xml/data/20240829125600_0_VPWW55_170000.xml"/>
    <content type="text">加賀では、土砂災害に警戒してください。</content>
  </entry>
</feed>""".encode()


def test_entries_are_read_with_type_and_office_codes():
    feed = parse_feed(FEED)
    assert feed.title == "高頻度（随時）"
    assert feed.updated == datetime(2026, 1, 12, 6, 57, 24, tzinfo=timezone.utc)
    first = feed.entries[0]
    assert first.url == "https://www.data.jma.go.jp/developer/xml/data/20240829124010_0_VXWW50_220000.xml"
    assert first.id == first.url
    assert (first.title, first.type_code, first.office_code) == ("土砂災害警戒情報", "VXWW50", "220000")
    assert first.author == "静岡県 静岡地方気象台"
    assert first.updated == datetime(2024, 8, 29, 12, 40, 9, tzinfo=timezone.utc)
    assert first.content.startswith("【静岡県土砂災害警戒情報】")
    assert [e.type_code for e in feed.entries] == ["VXWW50", "VXKO52", "VPWW55"]


def test_select_by_type_code_with_jma_placeholder():
    entries = parse_feed(FEED).entries
    assert [e.type_code for e in select_entries(entries, type_codes=["VXKOii"])] == ["VXKO52"]
    assert [e.type_code for e in select_entries(entries, type_codes=["VXWW50", "VPWW55"])] == ["VXWW50", "VPWW55"]
    assert select_entries(entries, type_codes=["VXKO5"]) == []


def test_select_by_title_and_office():
    entries = parse_feed(FEED).entries
    assert [e.type_code for e in select_entries(entries, office_codes=["170000"])] == ["VXKO52", "VPWW55"]
    assert [e.type_code for e in select_entries(entries, titles=["土砂災害警戒情報"], office_codes=["170000"])] == []
    assert len(select_entries(entries)) == 3


def test_entry_without_updated_is_a_payload_error():
    broken = FEED.replace(b"<updated>2024-08-29T12:40:09Z</updated>", b"")
    with pytest.raises(PayloadError, match="Atom entry 0 .* has no updated time"):
        parse_feed(broken)


def test_not_a_feed():
    with pytest.raises(PayloadError, match="not an Atom feed"):
        parse_feed(b'<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"/>')
