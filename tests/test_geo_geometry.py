"""The one walk over GeoJSON positions and the geometry checks the pipeline applies."""
from __future__ import annotations

import math

import pytest

from geo.geometry import InvalidGeometry, check_geometry, positions
from geo.store.rows import geometry_bbox

SQUARE = [[136.0, 36.0], [136.1, 36.0], [136.1, 36.1], [136.0, 36.1], [136.0, 36.0]]


@pytest.mark.parametrize(("geometry", "expected"), [
    ({"type": "Point", "coordinates": [136.5, 36.5, 12.0]}, [(136.5, 36.5)]),
    ({"type": "LineString", "coordinates": [[136, 36], [137, 37]]}, [(136.0, 36.0), (137.0, 37.0)]),
    ({"type": "Polygon", "coordinates": [SQUARE]}, [tuple(p) for p in SQUARE]),
    ({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE[:4] + SQUARE[:1]]]},
     [tuple(p) for p in SQUARE] + [tuple(p) for p in SQUARE[:4] + SQUARE[:1]]),
    ({"type": "Polygon", "coordinates": ()}, []),
    ({"type": "Polygon"}, []),
])
def test_positions_of_every_geometry_type(geometry, expected):
    found = list(positions(geometry.get("coordinates")))
    assert found == expected and all(isinstance(v, float) for p in found for v in p)


def test_bbox_uses_the_same_walk():
    assert geometry_bbox({"type": "Polygon", "coordinates": [SQUARE]}) == (136.0, 36.0, 136.1, 36.1)
    assert geometry_bbox({"type": "Polygon", "coordinates": []}) is None


@pytest.mark.parametrize(("geometry", "message"), [
    ({"type": "Point", "coordinates": [200.0, 36.0]}, "not WGS84"),
    ({"type": "Point", "coordinates": [math.nan, 36.0]}, "not WGS84"),
    ({"type": "Point", "coordinates": [136.0]}, "malformed"),
    ({"type": "LineString", "coordinates": [[136.0, "x"]]}, "malformed"),
    ({"type": "Polygon", "coordinates": []}, "empty"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "invalid geometry"),  # a bow-tie
])
def test_bad_geometry_is_named(geometry, message):
    with pytest.raises(InvalidGeometry, match=message):
        check_geometry(geometry)


def test_topology_is_checked_only_when_asked():
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    check_geometry(bow_tie, topology=False)  # the enricher repairs it later
    check_geometry({"type": "Polygon", "coordinates": [SQUARE]})
