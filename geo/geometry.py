"""GeoJSON geometry as events carry it: the one walk over its positions, and the checks on it."""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any


class InvalidGeometry(ValueError):
    """GeoJSON geometry that cannot be read at all (repairable geometry is repaired instead)."""


def positions(coords: Any) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) of GeoJSON `coordinates`, whatever the type; nothing for None or empty.

    GeoJSON nests positions 0-3 levels deep depending on the type; a position is a list of
    numbers (a third, the altitude, is dropped). Malformed nesting raises TypeError or IndexError.
    """
    if coords and isinstance(coords[0], (int, float)):
        yield float(coords[0]), float(coords[1])
        return
    for part in coords or ():
        yield from positions(part)


def check_geometry(geometry: dict[str, Any], topology: bool = True) -> None:
    """Raise InvalidGeometry unless `geometry` is well-formed WGS84 and (with `topology`) valid (shapely)."""
    try:
        coords = list(positions(geometry.get("coordinates")))
    except (TypeError, ValueError, IndexError) as exc:
        raise InvalidGeometry(f"malformed geometry: {exc}") from None
    for lon, lat in coords:
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidGeometry(f"coordinate ({lon}, {lat}) is not WGS84 lon/lat")
    if not coords:
        raise InvalidGeometry("empty geometry")
    if not topology or geometry.get("type") == "Point":
        return
    from shapely.geometry import shape  # only here: the walk above serves modules that need no shapely

    try:
        geom = shape(geometry)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
        raise InvalidGeometry(f"malformed geometry: {exc}") from None
    if not geom.is_valid:
        from shapely.validation import explain_validity

        raise InvalidGeometry(f"invalid geometry: {explain_validity(geom)}")
