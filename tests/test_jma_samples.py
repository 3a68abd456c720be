"""Every real JMA sample through parse_document and to_events, with expectations read from the XML.

The samples are from all over Japan (none from Ishikawa), so most rows map with all_areas=True; a
7-digit JMA code outside the table keeps its first five digits as the area.
"""
from __future__ import annotations

import pytest

from collectors.jma import (
    FloodReport,
    SedimentReport,
    UnsupportedDocument,
    WarningReport,
    parse_document,
    to_events,
    validate_jmx,
)
from collectors.xmlsafe import parse_xml
from geo.codes import AreaCodes
from tests.upstreams import SHARED

DATA = SHARED / "jma_xml"
ALL_SAMPLES = sorted((DATA / "samples").glob("*.xml")) + sorted((DATA / "samples_r06").glob("*.xml"))
CODES = AreaCodes.load()


def sample(name: str) -> bytes:
    folder = "samples_r06" if (DATA / "samples_r06" / name).exists() else "samples"
    return (DATA / folder / name).read_bytes()


def jis(codes: str) -> list[str]:
    return [c[:5] for c in codes.split()]


def sediment_expect(issued: str = "", continued: str = "", lifted: str = "") -> dict:
    out = {f"sediment:{c}": (4, "active") for c in jis(issued) + jis(continued)}
    out.update({f"sediment:{c}": (0, "lifted") for c in jis(lifted)})
    return out


# name -> (serial, {event id: (level, state)}), from Body/Warning items with status other than なし.
SEDIMENT = {
    "17_02_01_190529_VXWW50.xml": (1, sediment_expect(issued="0133100 0133200")),
    "17_02_02_190529_VXWW50.xml": (2, sediment_expect(issued="0133300", continued="0133100 0133200")),
    "17_02_03_190529_VXWW50.xml": (3, sediment_expect(lifted="0133100 0133200 0133300")),
    "17_03_01_190529_VXWW50.xml": (1, sediment_expect(issued="3320900")),
    "17_03_02_190529_VXWW50.xml": (2, sediment_expect(lifted="3320900")),
    "17_03_03_190529_VXWW50.xml": (3, sediment_expect(
        issued="3320200 3320300 3320500 3320700 3321300 3321400 3321500 3321600 3344500 3346100 3362200 3362300 3366300",
        continued="3310000 3320800 3320900 3321000 3360600 3366600 3368100")),
    "17_03_04_190529_VXWW50.xml": (4, sediment_expect(
        issued="3321100 3321200 3334600 3342300 3358600",
        continued="3310000 3320200 3320300 3320500 3320700 3320800 3320900 3321000 3321300 3321400 3321500 "
                  "3321600 3344500 3346100 3360600 3362200 3362300 3366300 3366600 3368100")),
    "17_03_05_190529_VXWW50.xml": (5, sediment_expect(
        issued="3364300",
        continued="3310000 3320200 3320300 3320500 3320700 3320800 3320900 3321000 3321100 3321200 3321300 "
                  "3321400 3321500 3321600 3334600 3342300 3344500 3346100 3358600 3360600 3362200 3362300 "
                  "3366300 3366600 3368100")),
    "17_03_06_190529_VXWW50.xml": (6, sediment_expect(
        issued="3320400",
        continued="3310000 3320200 3320300 3320500 3320700 3320800 3320900 3321000 3321100 3321200 3321300 "
                  "3321400 3321500 3321600 3334600 3342300 3344500 3346100 3358600 3360600 3362200 3362300 "
                  "3364300 3366300 3366600 3368100")),
    "17_03_07_190529_VXWW50.xml": (7, sediment_expect(
        continued="3310000 3320200 3320300 3320500 3320700 3320800 3320900 3321000 3321100 3321200 3321300 "
                  "3321400 3321500 3334600 3346100 3360600 3362200 3362300 3364300 3366300 3366600 3368100",
        lifted="3320400 3321600 3342300 3344500 3358600")),
    "17_03_08_190529_VXWW50.xml": (8, sediment_expect(
        continued="3320700 3320800 3320900 3321100 3321500 3362200 3364300 3366600 3368100",
        lifted="3310000 3320200 3320300 3320500 3321000 3321200 3321300 3321400 3334600 3346100 3360600 "
               "3362300 3366300")),
    "17_03_09_190529_VXWW50.xml": (9, sediment_expect(
        continued="3320700", lifted="3320800 3320900 3321100 3321500 3362200 3364300 3366600 3368100")),
    "17_03_10_190529_VXWW50.xml": (10, sediment_expect(lifted="3320700")),
    "17_04_01_250630_VXWW50.xml": (1, sediment_expect(issued="1420600 1438300 1438400")),
    "17_04_02_250630_VXWW50.xml": (2, sediment_expect(issued="1438200", continued="1420600 1438300 1438400")),
    "17_04_03_250630_VXWW50.xml": (3, sediment_expect(lifted="1420600 1438200 1438300 1438400")),
}

# name -> (forecast area, level, state, serial, areas from 浸水想定地区 CityCode; 0000000 is a placeholder)
FLOOD = {
    "16_01_01_220728_VXKOii.xml": ("123456789012", 2, "active", 1, ""),
    "16_02_01_220728_VXKOii.xml": ("123456789012", 3, "active", 3, ""),
    "16_02_02_220728_VXKOii.xml": ("890904000100", 3, "active", 1, "4142300 4120900 4120600 4142400 4142500"),
    "16_03_01_220728_VXKOii.xml": ("123456789012", 3, "active", 3, ""),
    "16_04_01_220728_VXKOii.xml": ("123456789012", 5, "active", 3, ""),
    "16_05_01_210630_VXKOii.xml": ("123456789012", 3, "active", 3, ""),
    "16_07_01_220728_VXKOii.xml": ("123456789012", 4, "active", 3, ""),
    "16_08_01_260312_VXKOii.xml": ("840410000100", 2, "active", 1, "1621000 1621100 1620900 1620800 1620200"),
    "16_08_02_260312_VXKOii.xml": ("840406000100", 2, "active", 1, "1634200 1634300 1620700"),
    "16_09_01_260312_VXKOii.xml": ("890904000300", 3, "active", 1, "4120100 4120400 4142300 4120800 4142400"),
    "16_10_01_260312_VXKOii.xml": (
        "890910000100", 4, "active", 3, "4344200 4321100 4321300 4344100 4310000 4344400 4334800"),
    "16_10_02_260312_VXKOii.xml": (
        "890910000100", 4, "active", 4, "4344200 4321100 4321300 4344100 4310000 4344400 4334800"),
    "16_11_01_260312_VXKOii.xml": (
        "820211000103", 5, "active", 3, "0634100 0636500 0621200 0636700 0620500 0620800 0636300"),
    "16_13_01_251222_VXKOii.xml": ("830303000103", 3, "active", 1, ""),
    "16_14_01_251222_VXKOii.xml": ("810111000100", 0, "lifted", 2, "0120800 0155000 0154900"),
}


def weather_expect(rows: list[tuple[str, int, str]]) -> dict:
    """rows of (family, level or -1 for 解除, 7-digit codes) -> expected {id: (level, state)}."""
    out: dict[str, tuple[int, str]] = {}
    for family, level, codes in rows:
        for code in jis(codes):
            key = f"weather:{code}:{family}"
            new = (0, "lifted") if level < 0 else (level, "active")
            if key not in out or new[0] > out[key][0]:
                out[key] = new
    return out


NARA_LIFTED = [
    ("大雨", -1, "2920100 2920200 2920400 2920500 2920600 2920701 2920800 2920900 2921200 2932200 2936300 2940100 "
                 "2940200 2942600 2944100 2944200 2944300"),
    ("大雨", -1, "2920702 2938500 2938600 2944400 2944600 2944700 2944900 2945000 2945100 2945200 2945300"),
    ("洪水", -1, "2920400 2920702 2921200 2932200 2940200 2944100 2944200 2944400 2944600 2944700"),
    ("洪水", -1, "2944900 2945000 2945100"),
]
TOKYO_2017 = [("大雨", 5, "1310400 1330800"), ("大雨", 3, "1311800 1312100"), ("洪水", 3, "1311800 1312100 1330800")]
SOYA_SEDIMENT = [("土砂災害", 4, "0121400"), ("土砂災害", 3, "0151100"),
                 ("土砂災害", 2, "0151200 0151300 0151400 0151600 0151700 0151800 0151900 0152000")]
SOYA_RAIN = [("大雨", 4, "0121400"), ("大雨", 3, "0151100"),
             ("大雨", 2, "0151200 0151300 0151400 0151600 0151700 0151800 0151900 0152000")]
KYOTO_SURGE = [("高潮", 4, "2620200 2620500 2646500"), ("高潮", 3, "2621200 2646300")]
SHIMANE_RAIN = [("大雨", 3, "3220100 3220200 3220300 3220400 3220500 3220600 3220700 3220900 3250100 3250500"),
                ("大雨", 2, "3234300 3238600 3244100 3244800 3244900"), ("大雨", -1, "3252800")]
SHIMANE_SEDIMENT = [("土砂災害", 2, "3220100 3220200 3220300 3220400 3220500 3220600 3220700 3234300 3238600 "
                                     "3244100 3244800 3244900 3250100"), ("土砂災害", 4, "3220900 3250500")]

# name -> expected events; wind, waves and other 注意報 have no 警戒レベル and make no Event.
WEATHER = {
    "15_08_05_130412_VPWW53.xml": weather_expect(NARA_LIFTED),
    "15_13_01_161226_VPWW53.xml": weather_expect([("大雨", 5, "1342100"), ("洪水", 3, "1342100"),
                                                   ("高潮", 5, "1342100")]),
    "15_14_01_170216_VPWW53.xml": weather_expect(TOKYO_2017),
    "15_14_01_170216_VPWW54.xml": weather_expect(TOKYO_2017),
    "15_15_01_220314_VPWW54.xml": weather_expect([("高潮", 4, "3640300")]),
    # Body/Notice:「〈レベル４大雨危険警報〉松江市」— the Kind says 大雨警報, the level JMA states is 4
    "15_17_01_250123_VPWW54.xml": weather_expect([
        ("大雨", 4, "3220100"),
        ("大雨", 3, "3220200 3220300 3220400 3220500 3220600 3220700 3220900 3250100 3250500"),
        ("大雨", 2, "3234300 3238600 3244100 3244800 3244900"), ("洪水", 2, "3220300 3220600 3220900"),
        ("洪水", 3, "3220400 3220700 3244100 3244800 3244900")]),
    "15_16_01_241031_VPWW56.xml": weather_expect(SOYA_SEDIMENT),
    "15_16_02_250630_VPWW57.xml": weather_expect(KYOTO_SURGE),
    "15_16_02_251222_VPWW57.xml": weather_expect(KYOTO_SURGE),
    "15_16_03_241226_VPWW55.xml": weather_expect(SOYA_RAIN),
    "15_16_04_250630_VPWW58.xml": {},
    "15_16_04_251222_VPWW58.xml": {},
    "15_16_05_241226_VPWW59.xml": {},
    "15_16_07_250825_VPWW61.xml": {},
    "15_17_01_250630_VPWW55.xml": weather_expect(SHIMANE_RAIN),
    "15_17_01_251222_VPWW55.xml": weather_expect(SHIMANE_RAIN),
    "15_17_01_250630_VPWW56.xml": weather_expect(SHIMANE_SEDIMENT),
    "15_17_01_251222_VPWW56.xml": weather_expect(SHIMANE_SEDIMENT),
}

UNSUPPORTED = {
    "18_01_01_100806_VPOA50.xml": "記録的短時間大雨情報",
    "18_02_01_111226_VPOA50.xml": "記録的短時間大雨情報",
    "18_03_01_190412_VPOA50.xml": "記録的短時間大雨情報",
    "81_01_01_250630_VPWP50.xml": "気象警報・注意報時系列情報（Ｒ０６）",
}


def test_every_sample_has_a_row():
    names = {p.name for p in ALL_SAMPLES}
    assert len(names) == 53
    assert names == set(SEDIMENT) | set(FLOOD) | set(WEATHER) | set(UNSUPPORTED)


def events_of(name: str, all_areas: bool = True):
    report = parse_document(sample(name))
    return report, to_events(report, CODES, "jma_extra", url=f"https://example.test/{name}", all_areas=all_areas)


@pytest.mark.parametrize("name", sorted(SEDIMENT))
def test_sediment_samples(name):
    serial, expected = SEDIMENT[name]
    report, events = events_of(name)
    assert isinstance(report, SedimentReport)
    assert {e.id: (e.level, e.state.value) for e in events} == expected
    for e in events:
        assert e.kind == "sediment_warning" and e.status == "actual"
        assert e.areas == (e.id.split(":")[1],)
        assert e.source.sequence == serial == report.head.serial
        assert e.source.upstream_id == report.head.event_id
        assert e.issued_at == report.head.report_datetime
        assert e.severity == ("Severe" if e.level == 4 else "Minor")
        assert e.text == report.head.headline_text and e.text


@pytest.mark.parametrize("name", sorted(FLOOD))
def test_flood_samples(name):
    area, level, state, serial, cities = FLOOD[name]
    report, events = events_of(name)
    assert isinstance(report, FloodReport)
    assert [(e.id, e.level, e.state.value, e.status.value) for e in events] == [
        (f"flood:{area}", level, state, "actual")
    ]
    (event,) = events
    assert event.kind == "flood_forecast"
    assert event.areas == tuple(sorted(jis(cities)))
    assert event.source.sequence == serial and event.source.upstream_id == report.head.event_id
    assert event.title == report.head.title
    assert event.properties["forecast_area"]["code"] == area


@pytest.mark.parametrize("name", sorted(WEATHER))
def test_weather_samples(name):
    report, events = events_of(name)
    assert isinstance(report, WarningReport)
    # the old system's reports (VPWW53/54) are events of their own beside the Ｒ０６ ones
    suffix = ":old" if "VPWW53" in name or "VPWW54" in name else ""
    assert {e.id: (e.level, e.state.value) for e in events} == {k + suffix: v for k, v in WEATHER[name].items()}
    for e in events:
        assert e.kind == "weather_warning" and e.status == "actual"
        # weather reports have no Serial: the report time orders them
        assert e.source.sequence == int(report.head.report_datetime.timestamp())


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_samples(name):
    with pytest.raises(UnsupportedDocument, match=UNSUPPORTED[name]):
        parse_document(sample(name))


@pytest.mark.parametrize("name", sorted(set(SEDIMENT) | set(FLOOD) | set(WEATHER)))
def test_outside_the_prefecture_nothing_is_kept(name):
    _, events = events_of(name, all_areas=False)
    assert events == []


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: p.name)
def test_samples_validate_against_jmx_schema(path):
    validate_jmx(parse_xml(path.read_bytes(), 10_000_000))


def test_schema_violation_is_reported():
    root = parse_xml(sample("17_02_01_190529_VXWW50.xml"), 1_000_000)
    control = root.find("{http://xml.kishou.go.jp/jmaxml1/}Control")
    control.remove(control.find("{http://xml.kishou.go.jp/jmaxml1/}Status"))
    from collectors.jma import SchemaViolation

    with pytest.raises(SchemaViolation, match="jmx.xsd at line"):
        validate_jmx(root)


def test_flood_record_keeps_stations_series_and_thresholds():
    report = parse_document(sample("16_02_02_220728_VXKOii.xml"))
    assert [a.name for a in report.rivers] == ["六角川", "武雄川"]
    assert report.kind_name == "氾濫警戒情報" and report.kind_code == "30"
    station = report.stations[0]
    assert station.measure == "水位" and station.unit == "m"
    assert station.readings and all(r.time is not None for r in station.readings)
    assert {t.name for t in station.thresholds} >= {"レベル２氾濫注意水位", "レベル４氾濫危険水位"}
    discharge = parse_document(sample("16_08_02_260312_VXKOii.xml")).stations[0]
    assert discharge.measure == "流量" and discharge.unit == "立方メートル毎秒"
    assert discharge.thresholds[0].name == "レベル１水防団待機流量"
