"""指定河川洪水予報 (VXKOii): one forecast area (予報区域) of a designated river.

The kind sits in Head/Headline (Information type「指定河川洪水予報（予報区域）」): code 10 解除,
20 氾濫注意, 30 氾濫警戒, 40/41 氾濫危険, 50-53 氾濫発生 — named 氾濫注意情報 … 氾濫発生情報 up to
2026 and レベル２氾濫注意報 … レベル５氾濫特別警報 after; the codes did not change. The Body adds
the main texts, the municipalities expected to flood (浸水想定地区, 7-digit CityCode), and per
station the water level or discharge series with its thresholds (基準水位/流量).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from lxml import etree

from collectors.jma.report import (
    NS_EB,
    NS_METE,
    Area,
    Control,
    Head,
    HeadlineItem,
    body_of,
    parse_datetime,
)
from collectors.jma.rows import Records, for_each, line

CONTROL_TITLE = "指定河川洪水予報"
INFO_FORECAST_AREA = "指定河川洪水予報（予報区域）"
INFO_RIVER = "指定河川洪水予報（河川）"
INFO_PREFECTURE = "指定河川洪水予報（府県予報区等）"
MEASURES = ("WaterLevel", "Discharge")


class Reading(NamedTuple):
    """One value of a station's series: observed (現況) or forecast (n時間後)."""

    time: datetime | None
    label: str
    value: float | None
    condition: str | None  # 上昇 / 正常 / 欠測 / 氾濫 ...
    level: int | None  # the level the value reaches (レベル)


class Threshold(NamedTuple):
    """One of a station's criteria, e.g. レベル２氾濫注意水位 142.5 m."""

    name: str
    value: float | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class FloodStation:
    """A water-level (or discharge) station of the forecast, with its series and thresholds."""

    code: str
    name: str
    location: str
    measure: str  # 水位 or 流量
    unit: str | None
    readings: tuple[Reading, ...]
    thresholds: tuple[Threshold, ...]


@dataclass(frozen=True, slots=True)
class FloodReport:
    """A parsed 指定河川洪水予報."""

    control: Control
    head: Head
    kind_name: str
    kind_code: str
    condition: str | None
    forecast_areas: tuple[Area, ...]
    rivers: tuple[Area, ...]
    prefecture_areas: tuple[Area, ...]
    main_texts: tuple[str, ...]
    municipalities: tuple[Area, ...]  # 浸水想定地区 cities, 7-digit codes
    stations: tuple[FloodStation, ...]


def _float(value: str) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # JMA writes an empty element for 欠測; anything else unreadable counts the same


_MEASURE = " or ".join(f"local-name()='{m}'" for m in MEASURES)
# The headline items ("h", each followed by its areas "a"), then per 水位・流量情報 block ("m") its
# time defines ("d") and stations ("s", each followed by its values "v"), the stations' criteria
# ("c", each followed by its thresholds "t") and the 浸水想定地区 cities ("p"), in document order.
_RECORDS = Records(
    for_each(
        "/*/h:Head/h:Headline/h:Information/h:Item",
        line("h", ["../@type", "h:Kind/h:Name", "h:Kind/h:Code", "h:Kind/h:Condition"])
        + for_each("h:Areas/h:Area", line("a", ["h:Code", "h:Name", "@codeType", "../@codeType"])),
    )
    + for_each(
        "/*/b:Body[1]/b:MeteorologicalInfos[@type='水位・流量情報']",
        line("m", [])
        + for_each("b:TimeSeriesInfo/b:TimeDefines/b:TimeDefine", line("d", ["@timeId", "b:DateTime", "b:Name"]))
        + for_each(
            "b:TimeSeriesInfo/b:Item[b:Station]",
            line("s", ["b:Station/b:Code", "b:Station/b:Name", "b:Station/b:Location"])
            + for_each(
                f"b:Kind/b:Property/*/*[{_MEASURE}]",
                line("v", ["@refID", "@type", "@unit", "@condition", "."]),
            ),
        ),
    )
    + for_each(
        "/*/b:Body[1]/b:AdditionalInfo/b:FloodForecastAddition/b:HydrometricStationPart[b:Criteria]",
        line("c", ["b:Area/b:Code"])
        + for_each(f"b:Criteria[1]/*[namespace-uri()='{NS_EB}']", line("t", ["@type", ".", "@unit"])),
    )
    + for_each("/*/b:Body[1]/b:Warning/b:Item/b:Areas/b:Area", line("p", ["b:CityCode", "b:City"])),
    {"h": 4, "a": 4, "m": 0, "d": 3, "s": 3, "v": 5, "c": 1, "t": 3, "p": 2},
)
# Main texts run over several lines, so they are read as elements (a few per report).
_MAIN_TEXTS = etree.XPath(
    "b:Warning/b:Item/b:Kind/b:Property[normalize-space(b:Type)='主文']/b:Text", namespaces={"b": NS_METE}
)


_NO_TIME: tuple[datetime | None, str] = (None, "")


@dataclass(slots=True)
class _Station:
    code: str
    name: str
    location: str
    defines: dict[str, tuple[datetime | None, str]]
    # refID -> [value, condition, level], in the order the refIDs first appear
    values: dict[str, list] = field(default_factory=dict)
    measure: str = "水位"
    unit: str | None = None

    def build(self, thresholds: dict[str, tuple[Threshold, ...]]) -> FloodStation:
        defines = self.defines
        readings = tuple(
            Reading(*defines.get(ref, _NO_TIME), value, condition, level)
            for ref, (value, condition, level) in self.values.items()
        )
        return FloodStation(self.code, self.name, self.location, self.measure, self.unit, readings,
                            thresholds.get(self.code, ()))


def _headline_items(records: list[list[str]]) -> tuple[HeadlineItem, ...]:
    items: list[tuple[list[str], list[Area]]] = []
    for row in records:
        tag = row[0]
        if tag == "h":
            items.append((row, []))
        elif tag == "a" and (row[1] or row[2]):
            _, code, name, code_type, areas_type = row
            items[-1][1].append(Area(code, name, code_type or areas_type or None))
    return tuple(
        HeadlineItem(info_type, name, code, condition or None, tuple(areas))
        for (_, info_type, name, code, condition), areas in items
    )


def _body(records: list[list[str]]) -> tuple[tuple[FloodStation, ...], tuple[Area, ...]]:
    stations: list[_Station] = []
    thresholds: dict[str, list[Threshold]] = {}
    cities: dict[str, Area] = {}
    defines: dict[str, tuple[datetime | None, str]] = {}
    criteria: list[Threshold] = []
    station = _Station("", "", "", defines)  # "v" records always follow their station's "s"
    values = station.values
    for row in records:
        tag = row[0]
        if tag == "v":
            _, ref, kind, unit, condition, value = row
            slot = values.get(ref)
            if slot is None:
                slot = values[ref] = [None, None, None]
            if kind == "レベル":
                slot[2] = int(value) if value.isdecimal() else None
            else:
                if kind:
                    station.measure = kind
                if unit:
                    station.unit = unit
                slot[0], slot[1] = _float(value), condition or None
        elif tag == "s":
            _, code, name, location = row
            station = _Station(code, name, location, defines)
            values = station.values
            stations.append(station)
        elif tag == "d":
            _, time_id, when, label = row
            defines[time_id] = (parse_datetime(when or None, "TimeDefine/DateTime"), label)
        elif tag == "m":
            defines = {}
        elif tag == "t":
            _, kind, value, unit = row
            criteria.append(Threshold(kind, _float(value), unit or None))
        elif tag == "c":
            # A later part for the same station replaces the earlier one.
            criteria = thresholds[row[1]] = []
        elif tag == "p":
            _, code, name = row
            if code and code not in cities:
                cities[code] = Area(code, name, "市町村")
    frozen = {code: tuple(values) for code, values in thresholds.items()}
    return tuple(s.build(frozen) for s in stations), tuple(cities.values())


def parse_flood(control: Control, head: Head, root: etree._Element) -> FloodReport:
    """Read a VXKOii report (`root` its Report element): the kind from the headline, the rest from the Body."""
    records = _RECORDS(root)
    head = replace(head, headline_items=_headline_items(records))
    stations, cities = _body(records)
    body = body_of(root)
    by_type: dict[str, list] = {}
    for item in head.headline_items:
        by_type.setdefault(item.info_type, []).append(item)
    main = (by_type.get(INFO_FORECAST_AREA) or [None])[0]
    texts = tuple(t for e in _MAIN_TEXTS(body) if e.text and (t := e.text.strip())) if body is not None else ()
    return FloodReport(
        control=control,
        head=head,
        kind_name=main.kind_name if main else "",
        kind_code=main.kind_code if main else "",
        condition=main.condition if main else None,
        forecast_areas=tuple(a for i in by_type.get(INFO_FORECAST_AREA, ()) for a in i.areas),
        rivers=tuple(a for i in by_type.get(INFO_RIVER, ()) for a in i.areas),
        prefecture_areas=tuple(a for i in by_type.get(INFO_PREFECTURE, ()) for a in i.areas),
        main_texts=texts,
        municipalities=cities,
        stations=stations,
    )

