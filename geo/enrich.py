"""Pipeline enrichment: every event gets both areas and geometry, whichever the upstream gave.

- No geometry but areas (a sediment warning for 17201): the union of the areas' polygons,
  simplified to about 50 m, marked `properties.geometry_source = "areas"` so that consumers know
  it is an administrative outline, not a hazard footprint.
- No areas but geometry (a gauge point, a closed road line): the municipalities it touches.
- Invalid geometry is repaired with make_valid (counted on the region); unreadable geometry
  raises InvalidGeometry, a ValueError the pipeline turns into a rejection naming the event.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from geo.areas import SIMPLIFY_DEG, InvalidGeometry, read_geometry, to_geojson
from geo.model import Event

if TYPE_CHECKING:
    from geo.region import Region

GEOMETRY_FROM_AREAS = "areas"
_ALLOWED = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}


def _finite_point(geometry: dict[str, Any] | None) -> bool:
    if geometry is None or geometry.get("type") != "Point":
        return False
    coords = geometry.get("coordinates")
    return (
        isinstance(coords, (list, tuple))
        and len(coords) in (2, 3)
        and all(isinstance(c, (int, float)) and math.isfinite(c) for c in coords)
    )


def enrich_event(event: Event, region: Region) -> Event:
    """The event with areas filled from geometry and geometry from areas; unchanged if complete."""
    if event.areas and _finite_point(event.geometry):
        return event  # a gauge or camera: nothing to fill, and a point is always valid
    update: dict[str, Any] = {}
    if event.geometry is not None:
        try:
            geom, repaired = read_geometry(event.geometry)
        except InvalidGeometry as exc:
            raise InvalidGeometry(f"{event.id}: {exc}") from None
        if repaired:
            region.repaired_geometries += 1
            if geom.geom_type not in _ALLOWED:
                raise InvalidGeometry(f"{event.id}: invalid geometry and make_valid gave a {geom.geom_type}")
            update["geometry"] = to_geojson(geom)  # the repaired geometry replaces the invalid one
        if not event.areas:
            found = region.boundaries.municipalities_for(geom)
            if found:
                update["areas"] = tuple(found)
    elif event.areas:
        known = [a for a in event.areas if a in region.boundaries.codes]
        if known:
            update["geometry"] = region.boundaries.outline_geojson(known, simplify_deg=SIMPLIFY_DEG)
            update["properties"] = {**event.properties, "geometry_source": GEOMETRY_FROM_AREAS}
    return event.model_copy(update=update) if update else event
