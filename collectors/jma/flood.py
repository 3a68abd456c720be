"""指定河川洪水予報 (VXKOii): one forecast area (予報区域) of a designated river.

The kind sits in Head/Headline (Information type「指定河川洪水予報（予報区域）」): code 10 解除,
20 氾濫注意, 30 氾濫警戒, 40/41 氾濫危険, 50-53 氾濫発生 — named 氾濫注意情報 … 氾濫発生情報 up to
2026 and レベル２氾濫注意報 … レベル５氾濫特別警報 after; the codes did not change. The Body adds
the main texts, the municipalities expected to flood (浸水想定地区, 7-digit CityCode), and per
station the water level or discharge series with its thresholds (基準水位/流量).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from lxml import etree

from collectors.jma.report import (
    EB,
    Area,
    B,
    Control,
    H,
    Head,
    HeadlineItem,
    body_of,
    child,
    parse_datetime,
    text_of,
)

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


def _text(elem: etree._Element) -> str:
    value = elem.text
    return value.strip() if value else ""


def _headline_items(root: etree._Element) -> tuple[HeadlineItem, ...]:
    """Head/Headline/Information/Item: each kind with its areas, and the Information's type."""
    items = []
    for info in root.iterfind(f"{H}Head/{H}Headline/{H}Information"):
        for item in info.iterfind(H + "Item"):
            kind = child(item, H + "Kind")
            areas = []
            for group in item.iterfind(H + "Areas"):
                for elem in group.iterfind(H + "Area"):
                    code, name = text_of(elem, H + "Code"), text_of(elem, H + "Name")
                    if code or name:
                        areas.append(Area(code, name, elem.get("codeType") or group.get("codeType") or None))
            items.append(HeadlineItem(
                info.get("type") or "",
                text_of(kind, H + "Name") if kind is not None else "",
                text_of(kind, H + "Code") if kind is not None else "",
                (text_of(kind, H + "Condition") or None) if kind is not None else None,
                tuple(areas),
            ))
    return tuple(items)


def _thresholds(body: etree._Element) -> dict[str, tuple[Threshold, ...]]:
    """Each station's criteria (基準水位 / 流量) by station code; a later part for a station replaces an earlier."""
    found: dict[str, tuple[Threshold, ...]] = {}
    for part in body.iterfind(f"{B}AdditionalInfo/{B}FloodForecastAddition/{B}HydrometricStationPart"):
        criteria = child(part, B + "Criteria")
        if criteria is None:
            continue
        area = child(part, B + "Area")
        found[text_of(area, B + "Code") if area is not None else ""] = tuple(
            Threshold(elem.get("type") or "", _float(_text(elem)), elem.get("unit") or None)
            for elem in criteria
            if isinstance(elem.tag, str) and elem.tag.startswith(EB)
        )
    return found


def _station(item: etree._Element, defines: dict[str, tuple[datetime | None, str]],
             thresholds: dict[str, tuple[Threshold, ...]]) -> FloodStation:
    """One station's series: its values by refID (in order of first appearance), timed by `defines`."""
    station = child(item, B + "Station")
    code = text_of(station, B + "Code")
    measure, unit = "水位", None
    values: dict[str, list] = {}  # refID -> [value, condition, level]
    for elem in item.iterfind(f"{B}Kind/{B}Property/*/*"):
        if etree.QName(elem).localname not in MEASURES:
            continue
        slot = values.setdefault(elem.get("refID") or "", [None, None, None])
        kind, value = elem.get("type") or "", _text(elem)
        if kind == "レベル":
            slot[2] = int(value) if value.isdecimal() else None
            continue
        measure, unit = kind or measure, elem.get("unit") or unit
        slot[0], slot[1] = _float(value), elem.get("condition") or None
    readings = tuple(
        Reading(*defines.get(ref, _NO_TIME), value, condition, level)
        for ref, (value, condition, level) in values.items()
    )
    return FloodStation(code, text_of(station, B + "Name"), text_of(station, B + "Location"), measure, unit,
                        readings, thresholds.get(code, ()))


def _stations(body: etree._Element) -> tuple[FloodStation, ...]:
    """The stations of every 水位・流量情報 block, each series timed by its own TimeDefines."""
    thresholds = _thresholds(body)
    stations = []
    for infos in body.iterfind(f"{B}MeteorologicalInfos[@type='水位・流量情報']"):
        for series in infos.iterfind(B + "TimeSeriesInfo"):
            defines = {
                define.get("timeId") or "": (
                    parse_datetime(text_of(define, B + "DateTime") or None, "TimeDefine/DateTime"),
                    text_of(define, B + "Name"),
                )
                for define in series.iterfind(f"{B}TimeDefines/{B}TimeDefine")
            }
            stations.extend(
                _station(item, defines, thresholds)
                for item in series.iterfind(B + "Item")
                if child(item, B + "Station") is not None
            )
    return tuple(stations)


def _cities(body: etree._Element) -> tuple[Area, ...]:
    """The municipalities expected to flood (浸水想定地区), each once, in document order."""
    cities: dict[str, Area] = {}
    for area in body.iterfind(f"{B}Warning/{B}Item/{B}Areas/{B}Area"):
        code = text_of(area, B + "CityCode")
        if code and code not in cities:
            cities[code] = Area(code, text_of(area, B + "City"), "市町村")
    return tuple(cities.values())


def _main_texts(body: etree._Element) -> tuple[str, ...]:
    """The main texts (主文) of the forecast, several lines each."""
    texts = []
    for prop in body.iterfind(f"{B}Warning/{B}Item/{B}Kind/{B}Property"):
        if text_of(prop, B + "Type") == "主文":
            text = text_of(prop, B + "Text")
            if text:
                texts.append(text)
    return tuple(texts)


_NO_TIME: tuple[datetime | None, str] = (None, "")


def parse_flood(control: Control, head: Head, root: etree._Element) -> FloodReport:
    """Read a VXKOii report (`root` its Report element): the kind from the headline, the rest from the Body."""
    head = replace(head, headline_items=_headline_items(root))
    body = body_of(root)
    by_type: dict[str, list] = {}
    for item in head.headline_items:
        by_type.setdefault(item.info_type, []).append(item)
    main = (by_type.get(INFO_FORECAST_AREA) or [None])[0]
    return FloodReport(
        control=control,
        head=head,
        kind_name=main.kind_name if main else "",
        kind_code=main.kind_code if main else "",
        condition=main.condition if main else None,
        forecast_areas=tuple(a for i in by_type.get(INFO_FORECAST_AREA, ()) for a in i.areas),
        rivers=tuple(a for i in by_type.get(INFO_RIVER, ()) for a in i.areas),
        prefecture_areas=tuple(a for i in by_type.get(INFO_PREFECTURE, ()) for a in i.areas),
        main_texts=_main_texts(body) if body is not None else (),
        municipalities=_cities(body) if body is not None else (),
        stations=_stations(body) if body is not None else (),
    )
