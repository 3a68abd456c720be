"""Readings of names (geo/readings.py): official readings first, pykakasi for the rest."""
from __future__ import annotations

import pytest

from geo.codes import AreaCodes
from geo.readings import Readings, name_readings, reading, ruby_parts
from geo.region import Region


def test_the_municipality_table_gives_the_19_official_readings():
    codes = AreaCodes.load()
    assert len(codes.municipalities) == 19
    for m in codes.municipalities.values():
        assert reading(m.name, "en") == m.name_en
        assert reading(m.name, "easy") == m.kana
        assert reading(m.name, "ja") == m.name
        assert ruby_parts(m.name) == ([(m.name, m.kana)] if any("\u4e00" <= c <= "\u9fff" for c in m.name) else [(m.name, "")])


def test_an_official_reading_wins_over_the_dictionary():
    # The dictionary alone reads 手取川 as てっとりかわ; MLIT's gauge list says てどりがわ.
    plain = Readings({})
    assert plain.reading("手取川左岸2.0k", "easy").startswith("てっとり")
    assert reading("手取川左岸2.0k", "easy") == "てどりがわさがん2.0k"
    assert reading("手取川左岸2.0k", "en") == "Tedorigawasagan 2.0k"
    # A municipality's reading also holds inside a longer name.
    assert ("輪島", "わじま") in ruby_parts("石川県立輪島高等学校（体育館）")
    assert reading("石川県立輪島高等学校（体育館）", "easy") == "いしかわけんりつわじまこうとうがっこう（たいいくかん）"
    assert reading("石川県立輪島高等学校（体育館）", "en") == "Ishikawa kenritsu Wajima Koutou gakkou (taiikukan)"


def test_gauge_names_read_as_mlit_publishes_them():
    assert ruby_parts("河原田川（美登里橋）") == [("河原田川", "かわらだがわ"), ("（", ""), ("美登里橋", "みどりばし"), ("）", "")]
    assert reading("河原田川（美登里橋）", "en") == "Kawaradagawa (Midoribashi)"
    # The distance marker stays as it is, without ruby.
    assert ruby_parts("梯川右岸7.8k") == [("梯川右岸", "かけはしがわうがん"), ("7.8k", "")]
    # A reading that does not line up with its name (JR -> じぇいあーる) is read part by part.
    parts = ruby_parts("梯川右岸3.8k（JR梯川橋梁上流）")
    assert "".join(b for b, _ in parts) == "梯川右岸3.8k（JR梯川橋梁上流）"
    assert ("梯川", "かけはしがわ") in parts and ("3.8k（JR", "") in parts


def test_dictionary_readings_for_the_rest():
    assert ruby_parts("金沢歌劇座") == [("金沢", "かなざわ"), ("歌劇", "かげき"), ("座", "ざ")]
    assert reading("国道157号", "en") == "Kokudou 157 gou"
    assert reading("犀川", "easy") == "さいがわ" and reading("犀川", "en") == "Saigawa"
    assert ruby_parts("金沢 市役所") == [("金沢", "かなざわ"), (" ", ""), ("市", "し"), ("役所", "やくしょ")]
    assert reading("ABC", "en") == "ABC" and ruby_parts("") == []
    with pytest.raises(ValueError, match="unknown language"):
        reading("金沢市", "fr")


def test_every_shelter_name_is_covered_exactly():
    for site in Region.default().shelters.items:
        parts = ruby_parts(site.name)
        assert "".join(base for base, _ in parts) == site.name
        assert all(kana == "" or any("\u3400" <= c <= "\u9fff" or c in "々ヶ" for c in base) for base, kana in parts)
        assert reading(site.name, "en").isascii()


def test_name_readings_for_json_answers():
    assert name_readings("河原田川（美登里橋）") == {
        "en": "Kawaradagawa (Midoribashi)",
        "easy": "かわらだがわ（みどりばし）",
        "ruby": [["河原田川", "かわらだがわ"], ["（", ""], ["美登里橋", "みどりばし"], ["）", ""]],
    }
