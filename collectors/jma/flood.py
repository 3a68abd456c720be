"""指定河川洪水予報 (VXKOii): one forecast area (予報区域) of a designated river.

The kind sits in Head/Headline (Information type「指定河川洪水予報（予報区域）」): code 10 解除,
20 氾濫注意, 30 氾濫警戒, 40/41 氾濫危険, 50-53 氾濫発生 — named 氾濫注意情報 … 氾濫発生情報 up to
2026 and レベル２氾濫注意報 … レベル５氾濫特別警報 after; the codes did not change. The Body adds
the main texts, the municipalities expected to flood (浸水想定地区, 7-digit CityCode), and per
station the water level or discharge series with its thresholds (基準水位/流量).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from collectors.jma.report import EB, Area, B, Control, Head, parse_datetime, text

CONTROL_TITLE = "指定河川洪水予報"
INFO_FORECAST_AREA = "指定河川洪水予報（予報区域）"
INFO_RIVER = "指定河川洪水予報（河川）"
INFO_PREFECTURE = "指定河川洪水予報（府県予報区等）"
MEASURES = ("WaterLevel", "Discharge")


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of a station's series: observed (現況) or forecast (n時間後)."""

    time: datetime | None
    label: str
    value: float | None
    condition: str | None  # 上昇 / 正常 / 欠測 / 氾濫 ...
    level: int | None  # the level the value reaches (レベル)


@dataclass(frozen=True, slots=True)
class Threshold:
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


def _float(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        return None  # JMA writes an empty element for 欠測; anything else unreadable counts the same


def _time_defines(info: etree._Element) -> dict[str, tuple[datetime | None, str]]:
    defines = {}
    for define in info.iterfind(B + "TimeSeriesInfo/" + B + "TimeDefines/" + B + "TimeDefine"):
        when = parse_datetime(text(define, B + "DateTime"), "TimeDefine/DateTime")
        defines[define.get("timeId") or ""] = (when, text(define, B + "Name") or "")
    return defines


def _series(item: etree._Element, defines: dict) -> tuple[str, str | None, tuple[Reading, ...]]:
    values: dict[str, dict] = {}
    measure, unit = "水位", None
    for prop in item.iterfind(B + "Kind/" + B + "Property"):
        for part in prop:
            for elem in part:
                tag = elem.tag
                if not isinstance(tag, str) or tag.rpartition("}")[2] not in MEASURES:
                    continue
                ref = elem.get("refID") or ""
                slot = values.setdefault(ref, {})
                if elem.get("type") == "レベル":
                    level = (elem.text or "").strip()
                    slot["level"] = int(level) if level.isdecimal() else None
                else:
                    measure, unit = elem.get("type") or measure, elem.get("unit") or unit
                    slot["value"] = _float(elem.text)
                    slot["condition"] = elem.get("condition")
    readings = []
    for ref, slot in values.items():
        when, label = defines.get(ref, (None, ""))
        readings.append(
            Reading(when, label, slot.get("value"), slot.get("condition"), slot.get("level"))
        )
    return measure, unit, tuple(readings)


def _thresholds(body: etree._Element) -> dict[str, tuple[Threshold, ...]]:
    by_station: dict[str, tuple[Threshold, ...]] = {}
    path = B + "AdditionalInfo/" + B + "FloodForecastAddition/" + B + "HydrometricStationPart"
    for part in body.iterfind(path):
        code = text(part, B + "Area/" + B + "Code") or ""
        criteria = part.find(B + "Criteria")
        if criteria is None:
            continue
        by_station[code] = tuple(
            Threshold(elem.get("type") or "", _float(elem.text), elem.get("unit"))
            for elem in criteria
            if isinstance(elem.tag, str) and elem.tag.startswith(EB)
        )
    return by_station


def _stations(body: etree._Element) -> tuple[FloodStation, ...]:
    thresholds = _thresholds(body)
    stations = []
    for info in body.iterfind(B + "MeteorologicalInfos"):
        if info.get("type") != "水位・流量情報":
            continue
        defines = _time_defines(info)
        for item in info.iterfind(B + "TimeSeriesInfo/" + B + "Item"):
            station = item.find(B + "Station")
            if station is None:
                continue
            code = text(station, B + "Code") or ""
            measure, unit, readings = _series(item, defines)
            stations.append(
                FloodStation(
                    code=code,
                    name=text(station, B + "Name") or "",
                    location=text(station, B + "Location") or "",
                    measure=measure,
                    unit=unit,
                    readings=readings,
                    thresholds=thresholds.get(code, ()),
                )
            )
    return tuple(stations)


def _warning_parts(body: etree._Element) -> tuple[tuple[str, ...], tuple[Area, ...]]:
    texts: list[str] = []
    cities: dict[str, Area] = {}
    for warning in body.iterfind(B + "Warning"):
        for item in warning.iterfind(B + "Item"):
            for prop in item.iterfind(B + "Kind/" + B + "Property"):
                if text(prop, B + "Type") == "主文" and (body_text := text(prop, B + "Text")):
                    texts.append(body_text)
            for area in item.iterfind(B + "Areas/" + B + "Area"):
                code = text(area, B + "CityCode")
                if code and code not in cities:
                    cities[code] = Area(code, text(area, B + "City") or "", "市町村")
    return tuple(texts), tuple(cities.values())


def parse_flood(control: Control, head: Head, body: etree._Element | None) -> FloodReport:
    """Read a VXKOii report: the kind from the headline, the rest from the Body."""
    by_type: dict[str, list] = {}
    for item in head.headline_items:
        by_type.setdefault(item.info_type, []).append(item)
    main = (by_type.get(INFO_FORECAST_AREA) or [None])[0]
    texts, cities = _warning_parts(body) if body is not None else ((), ())
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
        stations=_stations(body) if body is not None else (),
    )

