"""How store records become rows and back, shared by the SQLite and Redis backends.

Both backends keep the same encodings (event JSON from pydantic, times as integer microseconds
since the epoch, source status and outbox payloads as JSON) so their behaviour cannot drift.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

from geo.geometry import positions
from geo.model import ENDED_STATES, Event, Status
from geo.store.base import BBox, Change, OutboxMessage, SourceState, SourceStatus, VersionConflict

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_us(value: datetime) -> int:
    """Microseconds since the epoch for an aware datetime (exact, no float rounding)."""
    if value.tzinfo is None:
        raise ValueError(f"datetime {value.isoformat()} must be timezone-aware")
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    """Inverse of `to_us`, in UTC."""
    return EPOCH + timedelta(microseconds=int(value))


def opt_us(value: datetime | None) -> int | None:
    """`to_us`, passing None through."""
    return None if value is None else to_us(value)


def opt_dt(value: int | None) -> datetime | None:
    """`from_us`, passing None through."""
    return None if value is None else from_us(value)


def geometry_bbox(geometry: dict[str, Any] | None) -> BBox | None:
    """(min_lon, min_lat, max_lon, max_lat) of a GeoJSON geometry; None without coordinates."""
    if not geometry:
        return None
    if geometry.get("type") == "Point":  # the common case (gauges, cameras, shelters), kept cheap
        lon, lat = geometry["coordinates"][:2]
        return float(lon), float(lat), float(lon), float(lat)
    points = list(positions(geometry.get("coordinates")))
    if not points:
        return None
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return min(lons), min(lats), max(lons), max(lats)


def check_bbox(bbox: BBox) -> BBox:
    """Validate a query bbox; a reversed or out-of-range box is a caller error, not an empty result."""
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox)
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValueError(f"bbox {bbox!r} must be min_lon,min_lat,max_lon,max_lat within WGS84 bounds")
    return min_lon, min_lat, max_lon, max_lat


def bbox_intersects(a: BBox, b: BBox) -> bool:
    """True if two boxes share at least a point (edges count)."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def is_point(geometry: dict[str, Any] | None) -> bool:
    """True for a GeoJSON Point (the only geometry a GEO index can hold exactly)."""
    return bool(geometry) and geometry.get("type") == "Point"


def visible(event_state: str, event_status: str, include_exercise: bool, include_ended: bool) -> bool:
    """The status/state part of a query filter, shared by both backends."""
    if not include_exercise and event_status != Status.ACTUAL:
        return False
    return include_ended or event_state not in ENDED_STATES


def check_versions(changes: Iterable[Change], stored: dict[str, int]) -> dict[str, int]:
    """Every change must be exactly one past the stored (or earlier in-batch) version.

    Returns the final version per event id; raises VersionConflict naming the first offender.
    """
    current = dict(stored)
    for change in changes:
        event = change.event
        expected = current.get(event.id, 0) + 1
        if event.version != expected:
            raise VersionConflict(
                f"{event.id}: version {event.version} given, {expected} expected "
                f"(stored {current.get(event.id, 0)})"
            )
        current[event.id] = event.version
    return current


def source_status_json(status: SourceStatus) -> str:
    """A SourceStatus as JSON (times as ISO 8601)."""
    data = asdict(status)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


_STATUS_TIMES = ("last_attempt", "last_success", "last_error_at", "content_time")


def source_status_from_json(text: str | bytes) -> SourceStatus:
    """Inverse of `source_status_json`."""
    data = json.loads(text)
    for key in _STATUS_TIMES:
        if data.get(key) is not None:
            data[key] = datetime.fromisoformat(data[key])
    data["state"] = SourceState(data["state"])
    return SourceStatus(**data)


def message_json(message: OutboxMessage) -> str:
    """The immutable part of an outbox message as JSON."""
    return json.dumps(
        {
            "id": message.id,
            "channel": message.channel,
            "event_id": message.event_id,
            "version": message.version,
            "payload": message.payload,
            "priority": message.priority,
            "not_before": opt_us(message.not_before),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def message_from_json(text: str | bytes) -> OutboxMessage:
    """Inverse of `message_json`."""
    data = json.loads(text)
    data["not_before"] = opt_dt(data["not_before"])
    return OutboxMessage(**data)


def dumps(value: Any) -> str:
    """Compact JSON for detail blobs."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def areas_json(areas: tuple[str, ...]) -> str:
    """A JSON array of area codes; the model guarantees 5-digit codes, so no escaping is needed."""
    return '["' + '","'.join(areas) + '"]' if areas else "[]"


def event_from_json(text: str | bytes) -> Event:
    """An Event from its stored JSON."""
    return Event.model_validate_json(text)
