"""Distances in metres for one region: a local projection for searching, the ellipsoid for reporting.

Nearest-neighbour searches run on an azimuthal equidistant projection centred on the region
(distortion well under 1 % across a prefecture); distances shown to residents are geodesic on
WGS84 (pyproj.Geod), so they do not depend on the projection at all.
"""
from __future__ import annotations

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

_GEOD = pyproj.Geod(ellps="WGS84")


class LocalMetric:
    """Projection to metres around a region centre, plus geodesic distances."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        crs = pyproj.CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0:.6f} +lon_0={lon0:.6f} +datum=WGS84 +units=m +no_defs"
        )
        self._forward = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    @classmethod
    def for_bounds(cls, bounds: tuple[float, float, float, float]) -> LocalMetric:
        """A metric centred on the middle of (min_lon, min_lat, max_lon, max_lat)."""
        minx, miny, maxx, maxy = bounds
        return cls((minx + maxx) / 2, (miny + maxy) / 2)

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project WGS84 lon/lat arrays to local metres."""
        x, y = self._forward.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return np.asarray(x), np.asarray(y)

    def project(self, geometry: BaseGeometry) -> BaseGeometry:
        """A WGS84 shapely geometry in local metres."""
        return shapely.transform(geometry, lambda c: np.column_stack(self.to_xy(c[:, 0], c[:, 1])))

    @staticmethod
    def geodesic_m(lon1, lat1, lon2, lat2) -> np.ndarray:
        """Geodesic distance(s) in metres on WGS84; arrays broadcast."""
        lon1, lat1, lon2, lat2 = np.broadcast_arrays(
            *(np.asarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2))
        )
        _, _, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
        return np.asarray(dist)

    def radius_bbox(self, lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
        """A lon/lat box that contains every point within `radius_m` of (lon, lat)."""
        lons, lats, _ = _GEOD.fwd([lon] * 4, [lat] * 4, [0, 90, 180, 270], [radius_m] * 4)
        return (min(lons), min(lats), max(lons), max(lats))
