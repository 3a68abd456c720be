"""A loaded region: its code table, boundaries, shelters, hazard zones and metric, loaded once.

`Region.default()` is Ishikawa from the files shipped in geo/data/; `Region.load(config)`
reads whatever a deployment points `GeoConfig` at (another prefecture's boundaries in any GDAL
format, GSI or 自治体標準オープンデータセット shelter lists). The service keeps one in `REGION_KEY`.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from geo.areas import DEFAULT_MARGIN_DEG, Boundaries
from geo.codes import DEFAULT_AREAS_FILE, AreaCodes
from geo.metric import LocalMetric
from geo.model import Event
from geo.shelter_advice import DEFAULT_CONTACTS, DEFAULT_LIMIT_M, Contact, HazardZoneConfig, HazardZones, load_contacts
from geo.shelter_sources import read_sites
from geo.shelters import Shelter, Shelters, merge_sites

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_BOUNDARIES = DATA_DIR / "municipalities_17_ishikawa.geojson"
DEFAULT_SHELTERS = (DATA_DIR / "shelters_17_emergency.geojson", DATA_DIR / "shelters_17_evacuation.geojson")

# Credit lines the data licences require; the portal's about page shows them (geo/CREDITS.md has
# the full provenance).
CREDITS: list[str] = [
    (
        "「国土数値情報（行政区域データ）」（国土交通省）を加工して作成"
        "（N03, 2021年1月1日時点; smartnews-smri/japan-topography による簡略化版）"
    ),
    (
        "「指定緊急避難場所データ」「指定避難所データ」（国土地理院）を加工して作成"
        " https://www.gsi.go.jp/bousaichiri/hinanbasho.html"
    ),
]


class GeoConfig(BaseModel):
    """Where the region's reference data comes from."""

    model_config = ConfigDict(extra="forbid")

    areas_file: Path = Field(default=DEFAULT_AREAS_FILE, description="Municipality code table (geo/codes.py).")
    boundaries_path: Path = Field(
        default=DEFAULT_BOUNDARIES, description="Municipality polygons: GeoJSON, GeoPackage, Shapefile..."
    )
    boundaries_layer: str | None = Field(default=None, description="Layer name, for multi-layer files.")
    code_property: str = Field(
        default="N03_007", description="Property holding each polygon's code (JIS 5-digit, 団体コード or JMA 7-digit)."
    )
    region_margin_deg: float = Field(
        default=DEFAULT_MARGIN_DEG, ge=0, le=2, description="Margin around the boundaries' bbox accepted as in region."
    )
    shelter_paths: list[Path] = Field(
        default_factory=lambda: list(DEFAULT_SHELTERS),
        description="Shelter lists (GSI GeoJSON, standard CSV, or directories of them).",
    )
    credits: list[str] = Field(
        default_factory=lambda: list(CREDITS), description="Credit lines shown on the portal's about page."
    )
    shelter_limit_m: float = Field(
        default=DEFAULT_LIMIT_M,
        gt=0,
        le=50_000,
        description="Farthest shelter recommended (m); beyond it the answer gives indoor-safety guidance instead.",
    )
    hazard_zones: list[HazardZoneConfig] = Field(
        default_factory=list,
        description="Hazard-zone polygon files; shelters inside a zone of a hazard in force are never recommended.",
    )
    contacts_path: Path | None = Field(
        default=DEFAULT_CONTACTS, description="Municipality contacts (disaster office, phone, website) by JIS code."
    )


class Region:
    """Everything geographic the service needs about its region."""

    def __init__(
        self,
        codes: AreaCodes,
        boundaries: Boundaries,
        shelters: Shelters,
        credits: list[str],
        skipped_shelter_rows: list[str] | None = None,
        hazard_zones: HazardZones | None = None,
        contacts: dict[str, Contact] | None = None,
        shelter_limit_m: float = DEFAULT_LIMIT_M,
    ) -> None:
        self.codes = codes
        self.boundaries = boundaries
        self.shelters = shelters
        self.metric = shelters.metric
        self.credits = list(credits)
        self.skipped_shelter_rows = list(skipped_shelter_rows or [])
        self.repaired_geometries = 0  # event geometries fixed with make_valid since start
        self.hazard_zones = hazard_zones or HazardZones()
        self.contacts = dict(contacts or {})
        self.shelter_limit_m = shelter_limit_m

    @classmethod
    def load(cls, config: BaseModel | Mapping[str, Any] | None = None) -> Region:
        """Read the configured files: a GeoConfig, a model or dict with its fields, or the defaults."""
        if isinstance(config, BaseModel) and not isinstance(config, GeoConfig):
            config = config.model_dump(exclude_unset=False)  # a settings section with GeoConfig's fields
        if not isinstance(config, GeoConfig):
            config = GeoConfig.model_validate(dict(config or {}))
        codes = AreaCodes.load(config.areas_file)
        boundaries = Boundaries.load(
            config.boundaries_path,
            codes,
            code_property=config.code_property,
            layer=config.boundaries_layer,
            margin_deg=config.region_margin_deg,
        )
        metric = LocalMetric.for_bounds(boundaries.bounds)
        records, skipped = [], []
        for path in config.shelter_paths:
            result = read_sites(path)
            records += result.records
            skipped += result.skipped
        sites, duplicates = merge_sites(records)
        skipped += [f"duplicate id {d}" for d in duplicates]
        shelters = Shelters(_with_municipality(sites, boundaries), metric)
        return cls(
            codes,
            boundaries,
            shelters,
            config.credits,
            skipped,
            hazard_zones=HazardZones.load(config.hazard_zones),
            contacts=load_contacts(config.contacts_path),
            shelter_limit_m=config.shelter_limit_m,
        )

    @classmethod
    def default(cls) -> Region:
        """Ishikawa from the shipped files; loaded once per process."""
        return _default_region()

    def enricher(self) -> Callable[[Event], Event]:
        """The pipeline's enrichment step bound to this region."""
        from geo.enrich import enrich_event

        return functools.partial(enrich_event, region=self)

    def stats(self) -> dict[str, Any]:
        """Counts for the about page and /metrics."""
        items = self.shelters.items
        return {
            "municipalities": len(self.boundaries.codes),
            "boundaries_repaired": self.boundaries.repaired,
            "boundaries_skipped": len(self.boundaries.skipped),
            "shelters": len(items),
            "emergency_places": sum(s.emergency for s in items),
            "evacuation_shelters": sum(s.evacuation for s in items),
            "shelter_rows_skipped": len(self.skipped_shelter_rows),
            "event_geometries_repaired": self.repaired_geometries,
        }


@functools.cache
def _default_region() -> Region:
    return Region.load(GeoConfig())


def _with_municipality(sites: list[Shelter], boundaries: Boundaries) -> list[Shelter]:
    """Give each site its municipality: by location, else (a point just off a simplified coast) by id."""
    if not sites:
        return []
    found = boundaries.codes_at(np.array([s.lon for s in sites]), np.array([s.lat for s in sites]))
    result = []
    for site, code in zip(sites, found):
        if code is None:
            code = _code_from_id(site.id, boundaries.area_codes)
        result.append(dataclasses.replace(site, municipality=code))
    return result


def _code_from_id(site_id: str, codes: AreaCodes) -> str | None:
    # GSI 共通ID: 'E' + 5-digit JIS + ...; the standard's ids here are '{団体コード}-{ID}'.
    for candidate in (site_id[1:6], site_id.split("-", 1)[0]):
        if candidate in codes or (len(candidate) == 6 and codes.in_prefecture(candidate)):
            return codes.to_jis(candidate)[0]
    return None
