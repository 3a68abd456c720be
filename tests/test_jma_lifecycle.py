"""Sequences, message status, InfoType and the prefecture filter, on real samples and edited copies."""
from __future__ import annotations

import random

import pytest

from collectors.base import PayloadError
from collectors.jma import UnsupportedDocument, parse_document, to_events
from geo.codes import AreaCodes
from geo.model import Event
from tests.upstreams import SHARED

DATA = SHARED / "jma_xml/samples"
CODES = AreaCodes.load()
SEQUENCES = {
    "渡島・檜山": sorted(DATA.glob("17_02_*_VXWW50.xml")),
    "岡山": sorted(DATA.glob("17_03_*_VXWW50.xml")),
    "神奈川": sorted(DATA.glob("17_04_*_VXWW50.xml")),
}


def events(data: bytes, all_areas: bool = True) -> list[Event]:
    return to_events(parse_document(data), CODES, "jma_extra", all_areas=all_areas)


def apply(current: dict[str, Event], batch: list[Event]) -> None:
    """What the pipeline does with ordering: a late older serial of the same upstream id is dropped."""
    for event in batch:
        held = current.get(event.id)
        if held and held.source.upstream_id == event.source.upstream_id and held.source.sequence > event.source.sequence:
            continue
        current[event.id] = event


@pytest.mark.parametrize("region", sorted(SEQUENCES))
def test_issue_continue_lift_sequence_ends_with_nothing_active(region):
    current: dict[str, Event] = {}
    seen_active = set()
    for path in SEQUENCES[region]:
        apply(current, events(path.read_bytes()))
        seen_active |= {i for i, e in current.items() if e.state == "active"}
    assert seen_active, "the sequence raises warnings before lifting them"
    assert {i: e.state.value for i, e in current.items()} == {i: "lifted" for i in seen_active}
    assert all(e.level == 0 for e in current.values())


@pytest.mark.parametrize("region", sorted(SEQUENCES))
def test_out_of_order_delivery_ends_the_same(region):
    paths = list(SEQUENCES[region])
    random.Random(4).shuffle(paths)
    current: dict[str, Event] = {}
    for path in paths:
        apply(current, events(path.read_bytes()))
    assert {e.state.value for e in current.values()} == {"lifted"}


def test_okayama_serial_7_lifts_some_and_keeps_others():
    current: dict[str, Event] = {}
    for path in SEQUENCES["岡山"][:7]:
        apply(current, events(path.read_bytes()))
    active = sorted(i for i, e in current.items() if e.state == "active")
    # 17_03_07: 解除 for 3320400 3321600 3342300 3344500 3358600, the 22 others continue
    assert len(active) == 22
    assert {"sediment:33204", "sediment:33216", "sediment:33423"}.isdisjoint(active)
    assert current["sediment:33423"].state == "lifted"


ISHIKAWA_SEDIMENT = (
    (DATA / "17_02_01_190529_VXWW50.xml").read_bytes()
    .replace(b"0133100", b"1720100")  # 松前町 -> 金沢市's code
    .replace(b"0133200", b"1746100")  # 福島町 -> 能登町's code
)


def test_only_the_configured_prefecture_is_kept():
    kept = events(ISHIKAWA_SEDIMENT, all_areas=False)
    assert [(e.id, e.areas, e.level) for e in kept] == [
        ("sediment:17201", ("17201",), 4),
        ("sediment:17461", ("17461",), 4),
    ]
    assert kept[0].properties["area_name"] == "松前町"  # names come from the message


@pytest.mark.parametrize(
    ("control_status", "status", "suffix"), [("通常", "actual", ""), ("訓練", "exercise", "#exercise"), ("試験", "test", "#test")]
)
def test_control_status_maps_and_keeps_drills_apart(control_status, status, suffix):
    data = ISHIKAWA_SEDIMENT.replace("<Status>通常</Status>".encode(), f"<Status>{control_status}</Status>".encode())
    got = events(data, all_areas=False)
    assert [(e.id, e.status.value) for e in got] == [
        (f"sediment:17201{suffix}", status),
        (f"sediment:17461{suffix}", status),
    ]


def test_cancellation_cancels_every_listed_area():
    data = ISHIKAWA_SEDIMENT.replace("<InfoType>発表</InfoType>".encode(), "<InfoType>取消</InfoType>".encode())
    got = events(data, all_areas=False)
    assert [(e.id, e.state.value, e.level) for e in got] == [("sediment:17201", "cancelled", 0), ("sediment:17461", "cancelled", 0)]


def test_correction_is_a_normal_update_marked_as_such():
    data = ISHIKAWA_SEDIMENT.replace("<InfoType>発表</InfoType>".encode(), "<InfoType>訂正</InfoType>".encode())
    got = events(data, all_areas=False)
    assert all(e.state == "active" and e.level == 4 and e.properties["correction"] for e in got)
    assert not any(e.properties["correction"] for e in events(ISHIKAWA_SEDIMENT, all_areas=False))


def test_flood_in_the_prefecture_by_its_municipalities():
    data = (DATA / "16_02_02_220728_VXKOii.xml").read_bytes().replace(b"4120600", b"1720300")  # 武雄市 -> 小松市
    (event,) = events(data, all_areas=False)
    assert event.id == "flood:890904000100" and event.areas == ("17203",) and event.level == 3
    stations = event.properties["stations"]
    assert stations and stations[0]["thresholds"] and stations[0]["readings"][0]["time"].startswith("2021-08-13")


def test_r06_flood_kinds_in_order_of_level():
    names = {
        "16_08_01_260312_VXKOii.xml": "レベル２氾濫注意報",
        "16_09_01_260312_VXKOii.xml": "レベル３氾濫警報",
        "16_10_01_260312_VXKOii.xml": "レベル４氾濫危険警報",
        "16_11_01_260312_VXKOii.xml": "レベル５氾濫特別警報",
    }
    for name, kind in names.items():
        (event,) = events((DATA.parent / "samples_r06" / name).read_bytes())
        assert event.properties["kind_name"] == kind
        assert event.level == int(kind[3])
        assert event.severity == {2: "Moderate", 3: "Severe", 4: "Severe", 5: "Extreme"}[event.level]


def test_unknown_kind_is_unsupported_not_malformed():
    data = ISHIKAWA_SEDIMENT.replace("<Name>警戒</Name>".encode(), "<Name>謎</Name>".encode()).replace(
        b"<Code>3</Code>", b"<Code>7</Code>"
    )
    with pytest.raises(UnsupportedDocument, match="謎"):
        events(data)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("<Serial>1</Serial>", "<Serial>one</Serial>", "Serial 'one' is not a number"),
        ("<InfoType>発表</InfoType>", "<InfoType>速報</InfoType>", "InfoType '速報'"),
        ("<Status>通常</Status>", "<Status>本番</Status>", "Control/Status '本番'"),
        ("<ReportDateTime>2013-08-23T15:15:00+09:00", "<ReportDateTime>2013-08-23T15:15:00", "has no UTC offset"),
        ("<ReportDateTime>2013-08-23T15:15:00+09:00", "<ReportDateTime>yesterday", "not an ISO 8601"),
        ("<Status>通常</Status>", "", "has no Control/Status"),
        ("<Status>通常</Status>", "<Status> </Status>", "has no Control/Status"),
        ("<InfoType>発表</InfoType>", "<InfoType/>", "has no Head/InfoType"),
        ("<Control>", "<Ctrl>", "malformed XML"),
    ],
)
def test_bad_head_values_are_precise_payload_errors(old, new, message):
    data = ISHIKAWA_SEDIMENT.replace(old.encode(), new.encode())
    with pytest.raises(PayloadError, match=message) as info:
        parse_document(data)
    assert not isinstance(info.value, UnsupportedDocument)


def test_missing_control_or_head_is_named():
    start, end = ISHIKAWA_SEDIMENT.index(b"<Control>"), ISHIKAWA_SEDIMENT.index(b"</Control>") + 10
    with pytest.raises(PayloadError, match="has no Control$"):
        parse_document(ISHIKAWA_SEDIMENT[:start] + ISHIKAWA_SEDIMENT[end:])
    start, end = ISHIKAWA_SEDIMENT.index(b"<Head "), ISHIKAWA_SEDIMENT.index(b"</Head>") + 7
    with pytest.raises(PayloadError, match="has no Head$"):
        parse_document(ISHIKAWA_SEDIMENT[:start] + ISHIKAWA_SEDIMENT[end:])


def test_control_and_head_values_are_stripped_and_the_first_of_a_repeated_element_counts():
    data = (
        ISHIKAWA_SEDIMENT.replace("<Status>通常</Status>".encode(), "<Status>\n 訓練 </Status><Status>通常</Status>".encode())
        .replace(b"<Serial>1</Serial>", b"<Serial> 7\n</Serial><Serial>8</Serial>")
        .replace(b"<EventID>", b"<EventID>  ")
    )
    report = parse_document(data)
    assert (report.control.status, report.head.serial) == ("訓練", 7)
    assert report.head.event_id == parse_document(ISHIKAWA_SEDIMENT).head.event_id


def test_not_a_jma_report():
    with pytest.raises(PayloadError, match="not a JMA report"):
        parse_document(b"<feed xmlns='http://www.w3.org/2005/Atom'/>")


@pytest.mark.parametrize("pad", [" ", "\u3000", "\u00a0", "&#13;"])
def test_item_values_with_white_space_around_read_like_clean_ones(pad):
    clean = parse_document(ISHIKAWA_SEDIMENT)
    padded = ISHIKAWA_SEDIMENT.replace(b"<Code>1720100</Code>", f"<Code>{pad}1720100{pad}</Code>".encode())
    padded = padded.replace("<Name>警戒</Name>".encode(), f"<Name>{pad}警戒</Name>".encode())
    report = parse_document(padded)
    assert report.items == clean.items
    assert [e.id for e in events(padded, all_areas=False)] == ["sediment:17201", "sediment:17461"]


@pytest.mark.parametrize("inside", ["\t", "\n", " ", "x"])
def test_an_area_code_that_is_not_a_number_is_refused(inside):
    data = ISHIKAWA_SEDIMENT.replace(b"<Code>1720100</Code>", f"<Code>17201{inside}00</Code>".encode())
    with pytest.raises(PayloadError, match="Area/Code .* is not a number"):
        parse_document(data)


def test_a_tab_or_line_break_inside_a_name_is_kept():
    data = ISHIKAWA_SEDIMENT.replace("<Name>松前町</Name>".encode(), "<Name>松前\t町\n</Name>".encode())
    names = {item.area.code: item.area.name for item in parse_document(data).items}
    assert names["1720100"] == "松前\t町"


def test_white_space_inside_an_item_value_is_kept():
    data = ISHIKAWA_SEDIMENT.replace("<Name>松前町</Name>".encode(), "<Name>松前\u3000町𠮷 </Name>".encode())
    names = {item.area.code: item.area.name for item in parse_document(data).items}
    assert names["1720100"] == "松前\u3000町𠮷"


def test_report_items_are_immutable_records():
    from collectors.jma.report import Area
    from collectors.jma.sediment import SedimentItem

    item = next(i for i in parse_document(ISHIKAWA_SEDIMENT).items if i.area.code == "1720100")
    expected = SedimentItem(Area("1720100", item.area.name, item.area.code_type), "警戒", "3", "発表")
    assert item == expected and hash(item) == hash(expected) and repr(item) == repr(expected)
    with pytest.raises(AttributeError):
        item.status = "解除"  # type: ignore[misc]

@pytest.mark.parametrize("pad", ["", " ", "\u3000"])
def test_sediment_lines_with_nothing_in_force_are_left_out(pad):
    data = ISHIKAWA_SEDIMENT.replace("<Status>なし</Status>".encode(), f"<Status>{pad}なし{pad}</Status>".encode())
    report = parse_document(data)
    # 17_02_01 lists 19 municipalities, two of them warned; its 17 なし lines carry nothing
    assert data.count(f"<Status>{pad}なし{pad}</Status>".encode()) == 17
    assert [(i.area.code, i.kind_name, i.status) for i in report.items] == [
        ("1720100", "警戒", "発表"), ("1746100", "警戒", "発表"),
    ]


def test_sediment_lift_is_kept_while_nothing_lines_are_not():
    lifted = parse_document((DATA / "17_02_03_190529_VXWW50.xml").read_bytes())
    assert lifted.items and {(i.kind_name, i.status) for i in lifted.items} == {("解除", "解除")}


WARNINGS_H27 = (SHARED / "jma_xml/samples/15_14_01_170216_VPWW54.xml").read_bytes()


@pytest.mark.parametrize("pad", ["", " "])
def test_municipalities_without_any_warning_are_left_out(pad):
    data = WARNINGS_H27.replace("<Status>発表警報・注意報はなし</Status>".encode(),
                                f"<Status>{pad}発表警報・注意報はなし{pad}</Status>".encode())
    report = parse_document(data)
    # of the 62 municipalities of 東京都, four have warnings: the others' lines carry nothing
    assert [(i.area.name, [k.name for k in i.kinds]) for i in report.items] == [
        ("新宿区", ["大雨特別警報"]), ("荒川区", ["大雨警報", "洪水警報"]), ("足立区", ["大雨警報", "洪水警報"]),
        ("奥多摩町", ["大雨特別警報", "洪水警報"]),
    ]


def test_sediment_item_is_read_by_its_first_kind():
    first = "<Kind>\n          <Name>警戒</Name>\n          <Code>3</Code>\n          <Status>発表</Status>\n        </Kind>"
    second = "<Kind><Name>なし</Name><Code>0</Code><Status>なし</Status></Kind>"
    data = ISHIKAWA_SEDIMENT.replace(first.encode(), (first + second).encode(), 1)
    assert data != ISHIKAWA_SEDIMENT
    assert [(i.area.code, i.kind_name) for i in parse_document(data).items] == [("1720100", "警戒"), ("1746100", "警戒")]
