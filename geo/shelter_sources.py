"""Readers for designated-shelter lists: GSI 指定緊急避難場所・指定避難所 and the open-data standard.

Two wire formats, one record type (`SiteRecord`):
- GSI GeoJSON (国土地理院「指定緊急避難場所・指定避難所データ」, one file per municipality or one
  merged file): properties 共通ID, 施設・場所名, 住所, the eight hazard columns, 指定避難所との住所同一.
- 自治体標準オープンデータセット CSV (指定緊急避難場所一覧 / 指定避難所一覧): 名称, 所在地_連結表記,
  緯度, 経度, 災害種別_洪水 ..., 指定避難所との住所同一 (UTF-8, with or without BOM, or Shift_JIS).
Any other vector file GDAL reads (GeoPackage, Shapefile) works if it uses either set of names.
A list with hazard columns is a list of 指定緊急避難場所; one without is a list of 指定避難所.
"""
from __future__ import annotations

import hashlib
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geo.hazards import HAZARD_LABELS_JA, Hazard

_NAME_COLUMNS = ("施設・場所名", "名称", "指定緊急避難場所名", "指定避難所名", "施設名")
_ADDRESS_COLUMNS = ("住所", "所在地_連結表記", "所在地住所", "所在地")
_ID_COLUMNS = ("共通ID", "ID")
_CITY_COLUMNS = ("全国地方公共団体コード", "都道府県コード又は市区町村コード")
_CAPACITY_COLUMNS = ("想定収容人数", "収容人数")
_SAME_AS_EVACUATION = "指定避難所との住所同一"  # on lists of emergency places
_SAME_AS_EMERGENCY = "指定緊急避難場所との住所同一"  # on lists of evacuation shelters
_TRUE = frozenset({"1", "○", "◯", "〇", "true", "yes", "有", "可", "y"})


class ShelterFileError(ValueError):
    """A shelter list that cannot be read; the message names the file and what is missing."""


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """One row of one designation list."""

    id: str
    name: str
    address: str
    lon: float
    lat: float
    emergency: bool  # a 指定緊急避難場所 row (else a 指定避難所 row)
    hazards: frozenset[Hazard]
    same_address: bool  # the row says the other designation shares its address
    capacity: int | None = None
    city_code: str | None = None  # 団体コード or JIS code from the row, if any


@dataclass(frozen=True, slots=True)
class ReadResult:
    records: list[SiteRecord]
    skipped: list[str]  # rows without usable coordinates, as "file:row name"


def read_sites(path: Path | str) -> ReadResult:
    """Read one shelter list, or every .json/.geojson/.gpkg/.shp/.csv file in a directory."""
    path = Path(path)
    files = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in {".json", ".geojson", ".gpkg", ".shp", ".csv"})
        if path.is_dir()
        else [path]
    )
    records: list[SiteRecord] = []
    skipped: list[str] = []
    for file in files:
        result = _read_file(file)
        records += result.records
        skipped += result.skipped
    return ReadResult(records, skipped)


def _read_file(path: Path) -> ReadResult:
    frame = _read_csv(path) if path.suffix.lower() == ".csv" else gpd.read_file(path, engine="pyogrio")
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    columns = set(frame.columns)
    name_col = _first(columns, _NAME_COLUMNS)
    if name_col is None:
        raise ShelterFileError(f"{path}: no name column (one of {list(_NAME_COLUMNS)})")
    hazard_cols = {h: _first(columns, (ja, f"災害種別_{ja}")) for h, ja in HAZARD_LABELS_JA.items()}
    emergency = any(hazard_cols.values())
    same_col = _SAME_AS_EVACUATION if emergency else _SAME_AS_EMERGENCY
    address_col = _first(columns, _ADDRESS_COLUMNS)
    id_col = _first(columns, _ID_COLUMNS)
    city_col = _first(columns, _CITY_COLUMNS)
    capacity_col = _first(columns, _CAPACITY_COLUMNS)
    records: list[SiteRecord] = []
    skipped: list[str] = []
    for row_no, (row, geom) in enumerate(zip(frame.to_dict("records"), frame.geometry), start=1):
        name = _text(row.get(name_col))
        if geom is None or geom.is_empty or geom.geom_type != "Point":
            skipped.append(f"{path.name}:{row_no} {name}")
            continue
        address = _text(row.get(address_col)) if address_col else ""
        city = _text(row.get(city_col)) if city_col else ""
        site_id = _text(row.get(id_col)) if id_col else ""
        if site_id and id_col == "ID" and city:
            site_id = f"{city}-{site_id}"  # the standard's ID is unique only within its municipality
        records.append(
            SiteRecord(
                id=site_id or _synthetic_id(row, city, name, address),
                name=name,
                address=address,
                lon=float(geom.x),
                lat=float(geom.y),
                emergency=emergency,
                hazards=frozenset(h for h, col in hazard_cols.items() if col and _flag(row.get(col))),
                same_address=_flag(row.get(same_col)),
                capacity=_int(row.get(capacity_col)) if capacity_col else None,
                city_code=city or None,
            )
        )
    return ReadResult(records, skipped)


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    """A standard-format CSV as a GeoDataFrame of points from its 緯度/経度 columns."""
    raw = path.read_bytes()
    try:
        text_encoding = "utf-8-sig"
        raw.decode(text_encoding)
    except UnicodeDecodeError:
        text_encoding = "cp932"  # Shift_JIS as municipalities' spreadsheets save it
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=text_encoding)
    frame.columns = [unicodedata.normalize("NFC", str(c)).strip() for c in frame.columns]
    if "緯度" not in frame.columns or "経度" not in frame.columns:
        raise ShelterFileError(f"{path}: needs 緯度 and 経度 columns; has {list(frame.columns)}")
    lat = pd.to_numeric(frame["緯度"], errors="coerce")
    lon = pd.to_numeric(frame["経度"], errors="coerce")
    points = [
        shapely.Point(x, y) if pd.notna(x) and pd.notna(y) else None for x, y in zip(lon, lat)
    ]
    return gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4326")


def _first(columns: set[str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in columns), None)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _flag(value: Any) -> bool:
    return _text(value).lower() in _TRUE


def _int(value: Any) -> int | None:
    try:
        return int(float(_text(value)))
    except ValueError:
        return None


def _synthetic_id(row: dict[str, Any], city: str, name: str, address: str) -> str:
    """An id for lists without 共通ID/ID: city code + NO if present, else a hash of name and address."""
    number = _text(row.get("NO"))
    if city and number:
        return f"{city}-{number}"
    digest = hashlib.sha1(f"{name}|{address}".encode()).hexdigest()[:12]
    return f"{city or 'site'}-{digest}"


def normalise_address(address: str) -> str:
    """Address key for matching the two lists: NFKC, no spaces, ハイフン variants unified."""
    text = unicodedata.normalize("NFKC", address)
    for dash in ("‐", "−", "―", "－", "—"):  # not ー: it is part of katakana words
        text = text.replace(dash, "-")
    return "".join(text.split())
