"""Municipality boundaries: which municipality a point, line or polygon is in, and codes to geometry.

Boundaries load through geopandas/pyogrio from any vector file GDAL reads (GeoJSON, GeoPackage,
Shapefile...); the property holding the municipality code is a parameter and may hold any code
system `AreaCodes.to_jis` understands. Features sharing a code (exclaves) are dissolved.

Border rule: a point covered by several polygons (on a shared border, or where simplified
polygons overlap) belongs to the one with the lowest JIS code. It is the same rule the grid
index and the exact method apply, so results never depend on which path answered.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.codes import AreaCodes, UnknownAreaCode
from geo.geometry import InvalidGeometry
from geo.grid import OUTSIDE, CellIndex, exact_lookup
from geo.model import position_tuples

BBox = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat

DEFAULT_MARGIN_DEG = 0.05  # about 5 km: gauges and shelters on the coast stay inside
SIMPLIFY_DEG = 0.0005  # about 50 m: for geometry derived from areas, shown on maps


class OutOfRegion(ValueError):
    """Coordinates outside the configured region (its boundaries' bbox plus a margin)."""

    def __init__(self, lon: float, lat: float, region: BBox) -> None:
        self.lon, self.lat, self.region = lon, lat, region
        hint = ""
        if _inside(region, lat, lon) and not _inside(region, lon, lat):
            hint = " (latitude and longitude look swapped)"
        super().__init__(
            f"lon={lon}, lat={lat} is outside the region "
            f"lon {region[0]:.4f}..{region[2]:.4f}, lat {region[1]:.4f}..{region[3]:.4f}{hint}"
        )


def _inside(box: BBox, lon: float, lat: float) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def read_geometry(geojson: Mapping[str, Any]) -> tuple[BaseGeometry, bool]:
    """A GeoJSON geometry as shapely, repaired with make_valid if needed; (geometry, was_repaired)."""
    try:
        geom = shape(geojson)
    except (shapely.errors.GEOSException, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise InvalidGeometry(f"unreadable {geojson.get('type')!r} geometry: {exc}") from None
    if geom.is_empty:
        raise InvalidGeometry(f"empty {geom.geom_type} geometry")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InvalidGeometry(f"{geom.geom_type} geometry has non-finite coordinates")
    if geom.is_valid:
        return geom, False
    return _same_dimension(shapely.make_valid(geom), shapely.get_dimensions(geom)), True


def _same_dimension(geom: BaseGeometry, dim: int) -> BaseGeometry:
    """make_valid may return a collection (a bow-tie gives polygons plus a line): keep `dim` parts."""
    if geom.geom_type != "GeometryCollection":
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_dimensions(p) == dim]
    return shapely.union_all(parts) if parts else geom


def to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON mapping (coordinates as nested tuples, as Events hold them;
    6 decimals = 0.1 m)."""
    mapping = shapely.geometry.mapping(shapely.set_precision(geom, 1e-6))
    return {**mapping, "coordinates": position_tuples(mapping["coordinates"])}


class Boundaries:
    """The municipalities of one prefecture as polygons, ordered by JIS code."""

    def __init__(
        self,
        codes: Iterable[str],
        polygons: Iterable[BaseGeometry],
        area_codes: AreaCodes,
        margin_deg: float = DEFAULT_MARGIN_DEG,
        repaired: int = 0,
        skipped: Iterable[str] = (),
    ) -> None:
        pairs = sorted(zip(codes, polygons), key=lambda p: p[0])
        self.codes: tuple[str, ...] = tuple(c for c, _ in pairs)
        self.polygons = np.array([p for _, p in pairs], dtype=object)
        self.area_codes = area_codes
        self.repaired = repaired  # boundary features fixed by make_valid on load
        self.skipped = tuple(skipped)  # feature codes not in the code table (e.g. 所属未定地)
        minx, miny, maxx, maxy = shapely.total_bounds(self.polygons)
        self.bounds: BBox = (float(minx), float(miny), float(maxx), float(maxy))
        self.region: BBox = (minx - margin_deg, miny - margin_deg, maxx + margin_deg, maxy + margin_deg)
        self._index = {c: i for i, c in enumerate(self.codes)}
        self._code_array = np.array(list(self.codes) + [None], dtype=object)  # [-1] -> None
        self._tree = shapely.STRtree(self.polygons)
        self._grid = CellIndex(self.polygons)
        self._union_cache: dict[tuple[str, ...], BaseGeometry] = {}
        self._outline_cache: dict[tuple[str, ...], dict[str, Any]] = {}

    @classmethod
    def load(
        cls,
        path: Path | str,
        area_codes: AreaCodes,
        code_property: str = "N03_007",
        layer: str | int | None = None,
        margin_deg: float = DEFAULT_MARGIN_DEG,
    ) -> Boundaries:
        """Read a boundary file (any GDAL vector format) whose `code_property` holds the codes."""
        frame = gpd.read_file(path, engine="pyogrio", layer=layer)
        if code_property not in frame.columns:
            raise ValueError(
                f"{path}: no property {code_property!r}; properties are {sorted(map(str, frame.columns))}"
            )
        if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
            frame = frame.to_crs("EPSG:4326")
        return cls.from_frame(frame, area_codes, code_property, margin_deg)

    @classmethod
    def from_frame(
        cls, frame: gpd.GeoDataFrame, area_codes: AreaCodes, code_property: str, margin_deg: float
    ) -> Boundaries:
        """Build from a GeoDataFrame in WGS84: repair, map codes to JIS, dissolve exclaves."""
        geoms = np.asarray(frame.geometry.values, dtype=object)
        invalid = ~shapely.is_valid(geoms)
        geoms[invalid] = [_same_dimension(shapely.make_valid(g), 2) for g in geoms[invalid]]
        groups: dict[str, list[BaseGeometry]] = {}
        skipped: list[str] = []
        for raw, geom in zip(frame[code_property], geoms):
            jis = _jis_of(raw, area_codes)
            if jis is None or geom is None or geom.is_empty:
                skipped.append(str(raw))
                continue
            groups.setdefault(jis, []).append(geom)
        if not groups:
            raise ValueError(f"no feature's {code_property!r} is a municipality of {area_codes.prefecture_name}")
        polygons = [shapely.union_all(parts) if len(parts) > 1 else parts[0] for parts in groups.values()]
        return cls(groups, polygons, area_codes, margin_deg, int(invalid.sum()), skipped)

    @property
    def grid_exact_share(self) -> float:
        """Share of grid cells whose points need exact polygon tests (border and coast cells)."""
        return self._grid.boundary_fraction

    # -- points -------------------------------------------------------------------------------

    def in_region(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Boolean mask of points inside the configured region."""
        r = self.region
        lon, lat = np.asarray(lon), np.asarray(lat)
        return (lon >= r[0]) & (lon <= r[2]) & (lat >= r[1]) & (lat <= r[3])

    def check_point(self, lon: float, lat: float) -> None:
        """Raise OutOfRegion unless (lon, lat) is finite and inside the region."""
        if not (math.isfinite(lon) and math.isfinite(lat)) or not _inside(self.region, lon, lat):
            raise OutOfRegion(lon, lat, self.region)

    def lookup(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Vectorised: index into `codes` of each point's municipality, -1 where none (sea, outside)."""
        return self._grid.lookup(lon, lat)

    def lookup_exact(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Same answer as `lookup`, by testing every polygon (reference for tests and benchmarks)."""
        return exact_lookup(self.polygons, np.asarray(lon, float), np.asarray(lat, float))

    def codes_at(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Vectorised: JIS code (str) of each point's municipality, None where none."""
        return self._code_array[self.lookup(lon, lat)]

    def municipality_at(self, lon: float, lat: float) -> str | None:
        """JIS code of the municipality at a point (None in the sea); OutOfRegion outside the region."""
        self.check_point(lon, lat)
        index = int(self.lookup(np.array([lon]), np.array([lat]))[0])
        return None if index == OUTSIDE else self.codes[index]

    # -- any geometry -------------------------------------------------------------------------

    def municipalities_for(self, geom: BaseGeometry) -> list[str]:
        """JIS codes of the municipalities a geometry touches; a point gets one (border rule)."""
        if geom.geom_type in ("Point", "MultiPoint"):
            xy = shapely.get_coordinates(geom)
            found = {c for c in self.codes_at(xy[:, 0], xy[:, 1]) if c is not None}
            return sorted(found)
        hits = self._tree.query(geom, predicate="intersects")
        return sorted(self.codes[i] for i in hits)

    def geometry_of(self, code: str) -> BaseGeometry:
        """Geometry of a municipality, 一次細分 or prefecture, from any code system AreaCodes knows."""
        return self.union_of(self.area_codes.to_jis(code))

    def union_of(self, jis_codes: Iterable[str], simplify_deg: float = 0.0) -> BaseGeometry:
        """Union of municipalities' polygons (optionally simplified); UnknownAreaCode if none known."""
        key = tuple(sorted(set(jis_codes))) + (str(simplify_deg),)
        cached = self._union_cache.get(key)
        if cached is not None:
            return cached
        parts = [self.polygons[self._index[c]] for c in key[:-1] if c in self._index]
        if not parts:
            raise UnknownAreaCode(f"no boundary for area codes {list(key[:-1])}")
        union = shapely.union_all(parts)
        if simplify_deg:
            union = shapely.simplify(union, simplify_deg, preserve_topology=True)
        self._union_cache[key] = union
        return union

    def outline_geojson(self, jis_codes: Iterable[str], simplify_deg: float = 0.0) -> dict[str, Any]:
        """`union_of` as GeoJSON, computed once per set of codes (warnings name the same areas in
        every report, and a polygon's coordinates take longer to write out than to look up)."""
        key = tuple(sorted(set(jis_codes))) + (str(simplify_deg),)
        cached = self._outline_cache.get(key)
        if cached is None:
            cached = self._outline_cache[key] = to_geojson(self.union_of(key[:-1], simplify_deg))
        return dict(cached)  # coordinates are immutable tuples; the mapping itself is the caller's

    def name(self, jis: str) -> str:
        """Japanese name of a municipality code."""
        return self.area_codes.municipality(jis).name


def _jis_of(raw: Any, area_codes: AreaCodes) -> str | None:
    """The 5-digit JIS code a boundary feature's code property names, or None."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None
    text = str(int(raw)).zfill(5) if isinstance(raw, (int, np.integer)) else str(raw).strip()
    try:
        jis = area_codes.to_jis(text)
    except UnknownAreaCode:
        return None
    return jis[0] if len(jis) == 1 else None
