"""Municipality resolution over the shipped Ishikawa boundaries and over other file formats."""
from __future__ import annotations

import csv
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.areas import Boundaries, InvalidGeometry, OutOfRegion, read_geometry
from geo.codes import AreaCodes, UnknownAreaCode, lgcode6
from geo.region import DEFAULT_BOUNDARIES, Region
from tests.upstreams import SHARED

GAUGES_CSV = SHARED / "river_water_level/ishikawa_kiki_gauges_stations.csv"

# City and town halls (lon, lat), one per municipality.
HALLS = {
    "17201": (136.6562, 36.5613),  # 金沢市役所
    "17202": (136.9675, 37.0431),  # 七尾市役所
    "17203": (136.4520, 36.4083),  # 小松市役所
    "17204": (136.8990, 37.3906),  # 輪島市役所
    "17205": (137.2604, 37.4364),  # 珠洲市役所
    "17206": (136.3150, 36.3028),  # 加賀市役所
    "17207": (136.7789, 36.8936),  # 羽咋市役所
    "17209": (136.7067, 36.7200),  # かほく市役所
    "17210": (136.5654, 36.5146),  # 白山市役所
    "17211": (136.4448, 36.4472),  # 能美市役所
    "17212": (136.6098, 36.5196),  # 野々市市役所
    "17324": (136.5412, 36.4687),  # 川北町役場
    "17361": (136.7297, 36.6693),  # 津幡町役場
    "17365": (136.6445, 36.6536),  # 内灘町役場
    "17384": (136.7781, 37.0061),  # 志賀町役場
    "17386": (136.7977, 36.8625),  # 宝達志水町役場
    "17407": (136.9006, 36.9887),  # 中能登町役場
    "17461": (136.9124, 37.2310),  # 穴水町役場
    "17463": (137.1497, 37.3064),  # 能登町役場
}


@pytest.fixture(scope="module")
def bounds() -> Boundaries:
    return Region.default().boundaries


def test_all_nineteen_municipalities_loaded(bounds):
    assert bounds.codes == tuple(sorted(HALLS))
    assert bounds.repaired == 0 and bounds.skipped == ()


@pytest.mark.parametrize("code", sorted(HALLS))
def test_city_hall_maps_to_its_municipality(bounds, code):
    lon, lat = HALLS[code]
    assert bounds.municipality_at(lon, lat) == code


def test_interior_point_of_every_polygon_maps_to_its_code(bounds):
    inner = shapely.point_on_surface(bounds.polygons)
    xy = shapely.get_coordinates(inner)
    assert list(bounds.codes_at(xy[:, 0], xy[:, 1])) == list(bounds.codes)


def test_kanazawa_nonoichi_border_goes_to_the_lower_code(bounds):
    kanazawa = bounds.polygons[bounds.codes.index("17201")]
    nonoichi = bounds.polygons[bounds.codes.index("17212")]
    border = shapely.get_coordinates(shapely.intersection(kanazawa.boundary, nonoichi.boundary))
    assert len(border) > 5
    x, y = border[:, 0], border[:, 1]
    # The points really are on both polygons, so the rule (not luck) decides.
    assert shapely.intersects_xy(kanazawa, x, y).all() and shapely.intersects_xy(nonoichi, x, y).all()
    assert set(bounds.codes_at(x, y)) == {"17201"}
    assert all(bounds.municipality_at(float(a), float(b)) == "17201" for a, b in border)
    assert (bounds.lookup(x, y) == bounds.lookup_exact(x, y)).all()


def test_each_crisis_gauge_lands_in_its_own_town_code(bounds):
    with open(GAUGES_CSV, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 88
    lon = np.array([float(r["longitude"]) for r in rows])
    lat = np.array([float(r["latitude"]) for r in rows])
    found = bounds.codes_at(lon, lat)
    wrong = [(r["code"], r["townCode"], f) for r, f in zip(rows, found) if f != r["townCode"]]
    assert wrong == []


def test_grid_lookup_equals_exact_method(bounds):
    rng = np.random.default_rng(20260701)
    r = bounds.region
    x = rng.uniform(r[0], r[2], 60_000)
    y = rng.uniform(r[1], r[3], 60_000)
    vertices = shapely.get_coordinates(bounds.polygons)
    jitter = vertices + rng.normal(0, 2e-4, vertices.shape)  # within ~20 m of borders and coast
    x = np.concatenate([x, vertices[:, 0], jitter[:, 0]])
    y = np.concatenate([y, vertices[:, 1], jitter[:, 1]])
    fast = bounds.lookup(x, y)
    assert (fast == bounds.lookup_exact(x, y)).all()
    assert (fast >= 0).sum() > 10_000 and (fast == -1).sum() > 10_000  # both land and sea exercised


def test_sea_inside_region_has_no_municipality(bounds):
    assert bounds.municipality_at(136.40, 37.30) is None  # 日本海, west of 能登半島


@pytest.mark.parametrize(
    ("lon", "lat", "words"),
    [
        (139.6917, 35.6895, "outside the region"),  # Tokyo
        (36.5613, 136.6562, "swapped"),  # 金沢 with lat/lon exchanged
        (float("nan"), 36.5, "outside the region"),
    ],
)
def test_out_of_region_names_the_coordinates(bounds, lon, lat, words):
    with pytest.raises(OutOfRegion) as info:
        bounds.municipality_at(lon, lat)
    assert words in str(info.value)
    assert f"lon={lon}" in str(info.value) and f"lat={lat}" in str(info.value)
    assert (info.value.lon, info.value.lat) == (lon, lat) or np.isnan(info.value.lon)


def test_line_and_polygon_get_every_municipality_they_touch(bounds):
    station, nonoichi_hall = (136.6483, 36.5781), HALLS["17212"]
    assert bounds.municipalities_for(shapely.LineString([station, nonoichi_hall])) == ["17201", "17212"]
    assert bounds.municipalities_for(shapely.LineString([station, HALLS["17201"]])) == ["17201"]
    noto = shapely.Polygon([HALLS["17204"], HALLS["17205"], HALLS["17463"], HALLS["17461"]])
    assert {"17204", "17205", "17463", "17461"} <= set(bounds.municipalities_for(noto))
    assert "17201" not in bounds.municipalities_for(noto)


def test_jma_codes_to_geometry(bounds):
    codes = bounds.area_codes
    assert bounds.geometry_of("1720100").equals(bounds.polygons[bounds.codes.index("17201")])
    assert bounds.geometry_of(lgcode6("17204")).equals(bounds.geometry_of("17204"))
    kaga, noto, pref = (bounds.geometry_of(c) for c in ("170010", "170020", "170000"))
    for code, (lon, lat) in HALLS.items():
        in_kaga = codes.municipality(code).forecast_area == "170010"
        assert kaga.intersects(shapely.Point(lon, lat)) is in_kaga
        assert noto.intersects(shapely.Point(lon, lat)) is not in_kaga
        assert pref.intersects(shapely.Point(lon, lat))
    assert kaga.area + noto.area == pytest.approx(pref.area, rel=1e-6)
    with pytest.raises(UnknownAreaCode):
        bounds.geometry_of("130000")


def test_bow_tie_is_repaired_and_garbage_rejected():
    bow_tie = {"type": "Polygon", "coordinates": [[[136.6, 36.5], [136.7, 36.6], [136.7, 36.5], [136.6, 36.6], [136.6, 36.5]]]}
    geom, repaired = read_geometry(bow_tie)
    assert repaired and geom.is_valid and geom.geom_type == "MultiPolygon"
    assert read_geometry({"type": "Point", "coordinates": [136.6, 36.5]})[1] is False
    with pytest.raises(InvalidGeometry, match="unreadable"):
        read_geometry({"type": "LineString", "coordinates": [[136.6]]})
    with pytest.raises(InvalidGeometry, match="non-finite"):
        read_geometry({"type": "Point", "coordinates": [float("nan"), 36.5]})


@pytest.mark.parametrize(("driver", "suffix"), [("GPKG", ".gpkg"), ("ESRI Shapefile", ".shp")])
def test_other_formats_with_other_code_property(tmp_path, bounds, driver, suffix):
    """Another deployment's file: 6-digit 団体コード in 'LGCODE', an invalid polygon, an unknown code."""
    frame = gpd.read_file(DEFAULT_BOUNDARIES, engine="pyogrio")
    frame = frame.assign(LGCODE=[lgcode6(c) for c in frame["N03_007"]])[["LGCODE", "geometry"]]
    bow_tie = shapely.Polygon([(137.30, 36.10), (137.35, 36.15), (137.35, 36.10), (137.30, 36.15)])
    extra = gpd.GeoDataFrame({"LGCODE": ["172014", "999999"]}, geometry=[bow_tie, bow_tie], crs=frame.crs)
    path = tmp_path / f"boundaries{suffix}"
    frame_all = gpd.GeoDataFrame(
        gpd.pd.concat([frame, extra], ignore_index=True), geometry="geometry", crs=frame.crs
    )
    frame_all.to_file(path, driver=driver, engine="pyogrio")
    other = Boundaries.load(path, AreaCodes.load(), code_property="LGCODE")
    assert other.codes == bounds.codes
    assert other.repaired == 2 and other.skipped == ("999999",)
    lon, lat = np.array([p[0] for p in HALLS.values()]), np.array([p[1] for p in HALLS.values()])
    assert list(other.codes_at(lon, lat)) == list(HALLS)
    assert other.municipality_at(137.345, 36.125) == "17201"  # the repaired exclave joined 金沢市
    with pytest.raises(ValueError, match="no property 'CODE'"):
        Boundaries.load(path, AreaCodes.load(), code_property="CODE")


def test_geojson_shipped_is_the_credited_source():
    data = json.loads(DEFAULT_BOUNDARIES.read_text(encoding="utf-8"))
    assert len(data["features"]) == 19
    assert {f["properties"]["N03_001"] for f in data["features"]} == {"石川県"}


@settings(max_examples=300, deadline=None)
@given(
    lon=st.floats(136.19, 137.41, allow_nan=False),
    lat=st.floats(36.02, 37.90, allow_nan=False),
)
def test_grid_and_exact_agree_anywhere(lon, lat):
    bounds = Region.default().boundaries
    x, y = np.array([lon]), np.array([lat])
    assert bounds.lookup(x, y)[0] == bounds.lookup_exact(x, y)[0]
