"""Pipeline enrichment: areas from geometry, geometry from areas, repair of invalid geometry."""
from __future__ import annotations

import pytest
import shapely
from shapely.geometry import shape

from geo.areas import InvalidGeometry
from geo.enrich import GEOMETRY_FROM_AREAS, enrich_event
from geo.model import Event, Kind, SourceRef
from geo.region import Region
from service.pipeline import Rejected, check_geometry

SRC = SourceRef(source_id="test")
KANAZAWA_HALL = (136.6562, 36.5613)
NONOICHI_HALL = (136.6098, 36.5196)
WAJIMA_HALL = (136.8990, 37.3906)


@pytest.fixture
def region() -> Region:
    reg = Region.default()
    reg.repaired_geometries = 0
    return reg


def _event(**fields) -> Event:
    return Event(id="sediment:test", kind=Kind.SEDIMENT_WARNING, level=4, source=SRC, **fields)


def test_areas_get_their_outline(region):
    event = _event(areas=("17201", "17212"))
    out = enrich_event(event, region)
    assert out is not event and out.areas == event.areas
    outline = shape(out.geometry)
    assert outline.is_valid and out.geometry["type"] in {"Polygon", "MultiPolygon"}
    assert outline.contains(shapely.Point(*KANAZAWA_HALL)) and outline.contains(shapely.Point(*NONOICHI_HALL))
    assert not outline.contains(shapely.Point(*WAJIMA_HALL))
    assert out.properties["geometry_source"] == GEOMETRY_FROM_AREAS
    Event.model_validate(out.model_dump())  # still a valid event
    check_geometry(out)  # and the pipeline accepts it
    assert enrich_event(event, region) == out  # deterministic: no spurious new versions


def test_point_gets_its_municipality(region):
    out = enrich_event(_event(geometry={"type": "Point", "coordinates": list(WAJIMA_HALL)}), region)
    assert out.areas == ("17204",)


def test_line_gets_every_municipality_it_crosses(region):
    line = {"type": "LineString", "coordinates": (tuple(KANAZAWA_HALL), tuple(NONOICHI_HALL))}
    out = enrich_event(_event(geometry=line), region)
    assert out.areas == ("17201", "17212") and out.geometry == line


def test_complete_event_is_returned_unchanged(region):
    event = _event(areas=("17204",), geometry={"type": "Point", "coordinates": list(KANAZAWA_HALL)})
    assert enrich_event(event, region) is event  # the source's own areas are never overwritten


def test_event_outside_every_municipality_keeps_empty_areas(region):
    sea = _event(geometry={"type": "Point", "coordinates": [136.40, 37.30]})
    assert enrich_event(sea, region) is sea


def test_invalid_polygon_is_repaired_and_counted(region):
    bow_tie = {
        "type": "Polygon",
        "coordinates": [[[136.60, 36.50], [136.70, 36.60], [136.70, 36.50], [136.60, 36.60], [136.60, 36.50]]],
    }
    event = _event(geometry=bow_tie)
    with pytest.raises(Rejected, match="invalid geometry"):
        check_geometry(event)  # as given, the pipeline would refuse it
    out = enrich_event(event, region)
    assert region.repaired_geometries == 1
    assert shape(out.geometry).is_valid and out.geometry["type"] == "MultiPolygon"
    check_geometry(out)
    assert "17201" in out.areas


def test_unreadable_geometry_is_a_value_error_naming_the_event(region):
    broken = _event(geometry={"type": "Polygon", "coordinates": [[[136.6, 36.5], [136.7, 36.6]]]})
    with pytest.raises(InvalidGeometry, match="sediment:test") as info:
        enrich_event(broken, region)
    assert isinstance(info.value, ValueError)  # the pipeline turns ValueError into a rejection
