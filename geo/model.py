"""The event model: one Event per thing a resident would point at, plus gauge Observations.

Every upstream is normalised into these types; the store, the publishers and the HTTP API speak
nothing else. Times are timezone-aware and stored in UTC; JST is a presentation concern.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator


class Kind(enum.StrEnum):
    """What an event is about."""

    GAUGE = "gauge"
    CAMERA = "camera"
    SEDIMENT_WARNING = "sediment_warning"
    FLOOD_FORECAST = "flood_forecast"
    WEATHER_WARNING = "weather_warning"
    ROAD_CLOSURE = "road_closure"
    EVACUATION = "evacuation"  # a municipality's order: 高齢者等避難 / 避難指示 / 緊急安全確保
    SHELTER = "shelter"
    NOTICE = "notice"


class State(enum.StrEnum):
    """Lifecycle of an event; only the message (or the clock, for expiry) moves it."""

    ACTIVE = "active"
    LIFTED = "lifted"  # 解除
    CANCELLED = "cancelled"  # 取消
    EXPIRED = "expired"


class Status(enum.StrEnum):
    """Whether a message is real. Exercise (訓練) and test (試験) never reach real channels."""

    ACTUAL = "actual"
    EXERCISE = "exercise"
    TEST = "test"


class Severity(enum.StrEnum):
    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Urgency(enum.StrEnum):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Certainty(enum.StrEnum):
    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


# 警戒レベル colours (Cabinet Office guidance); the words are in geo.wording, never colour alone.
LEVEL_COLOURS = {5: "#0c000c", 4: "#aa00aa", 3: "#ff2800", 2: "#f2e700", 1: "#ffffff", 0: "#ffffff"}

# CAP severity implied by a 警戒レベル when the source gives none.
SEVERITY_BY_LEVEL = {
    5: Severity.EXTREME,
    4: Severity.SEVERE,
    3: Severity.SEVERE,
    2: Severity.MODERATE,
    1: Severity.MINOR,
    0: Severity.MINOR,
}

ENDED_STATES = frozenset({State.LIFTED, State.CANCELLED, State.EXPIRED})
_NOT_MATERIAL = frozenset({"version", "supersedes", "received_at", "source", "geometry"})


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(timezone.utc)


# A timezone-aware datetime, normalised to UTC. As a type (not a validator over the field), an
# optional field left None is accepted by pydantic itself without a call into Python.
UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc)]


def position_tuples(coords: Any) -> Any:
    """GeoJSON coordinates (nested lists of numbers) as nested tuples.

    A warning area's polygon is thousands of positions. As tuples of numbers the cyclic garbage
    collector stops tracking them, so the events a process holds (every current one, for the
    snapshots) do not lengthen its pauses; JSON encodes tuples as arrays, so the bytes are the same.
    """
    if isinstance(coords, (list, tuple)):
        if coords and isinstance(coords[0], (int, float)):
            return tuple(coords)
        return tuple(position_tuples(part) for part in coords)
    return coords


GEOMETRY_TYPES = frozenset({"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"})


def _geojson_geometry(value: dict[str, Any]) -> dict[str, Any]:
    if value.get("type") not in GEOMETRY_TYPES:
        raise ValueError(f"geometry type {value.get('type')!r} is not one of {sorted(GEOMETRY_TYPES)}")
    if "coordinates" in value:
        value = {**value, "coordinates": position_tuples(value["coordinates"])}
    return value


# A GeoJSON geometry of one of GEOMETRY_TYPES, coordinates held as tuples. As a type, an event
# without geometry (warnings before enrichment) is accepted without a call into Python.
Geometry = Annotated[dict[str, Any], AfterValidator(_geojson_geometry)]


class SourceRef(BaseModel):
    """Provenance: which source said this, where, and the raw payload kept for audit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str = Field(description="Configured source id, e.g. 'jma_extra'.")
    url: str | None = Field(default=None, description="Upstream URL the payload came from.")
    upstream_id: str | None = Field(default=None, description="Upstream identifier (JMA EventID, station code).")
    sequence: int | None = Field(
        default=None,
        description="Upstream ordering within upstream_id (JMA Serial); an older one never overwrites a newer.",
    )
    raw_ref: str | None = Field(default=None, description="Reference to the stored raw payload (sha256).")


class Event(BaseModel):
    """One thing a resident would point at, in one version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description='Stable id "{kind}:{natural key}", e.g. "sediment:17201".')
    kind: Kind
    level: int = Field(default=0, ge=0, le=5, description="警戒レベル相当 0-5; 0 is normal or lifted.")
    severity: Severity = Severity.UNKNOWN
    urgency: Urgency = Urgency.UNKNOWN
    certainty: Certainty = Certainty.UNKNOWN
    state: State = State.ACTIVE
    status: Status = Status.ACTUAL
    version: int = Field(default=1, ge=1, description="Increments on every material change.")
    supersedes: str | None = Field(default=None, description='"{id}@{version}" of the previous version.')
    areas: tuple[str, ...] = Field(default=(), description="JIS X 0402 5-digit municipality codes.")
    geometry: Geometry | None = Field(default=None, description="GeoJSON geometry in WGS84.")
    issued_at: UtcDatetime | None = None
    observed_at: UtcDatetime | None = None
    expires_at: UtcDatetime | None = None
    received_at: UtcDatetime = Field(default_factory=utcnow)
    title: str = ""
    text: str = ""
    source: SourceRef
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("areas")
    @classmethod
    def _area_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if len(code) != 5 or not code.isdigit():
                raise ValueError(f"area code {code!r} is not a 5-digit JIS X 0402 code")
        # Most events name one area, already sorted and unique.
        return value if len(value) < 2 else tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _id_prefix(self) -> Event:
        if ":" not in self.id:
            raise ValueError(f'event id {self.id!r} must be "{{kind}}:{{natural key}}"')
        return self

    @property
    def ended(self) -> bool:
        """True once lifted, cancelled or expired."""
        return self.state in ENDED_STATES

    @property
    def version_ref(self) -> str:
        """'{id}@{version}', the reference a later version's `supersedes` holds."""
        return f"{self.id}@{self.version}"

    def material(self) -> dict[str, Any]:
        """The fields whose change makes a new version: all but receipt time, provenance, bookkeeping.

        The geometry is compared as held (nested tuples of numbers, which compare in C and
        short-cut on shared parts): dumping a warning area's polygon on every poll would cost more
        than the rest of the diff.
        """
        material = self.model_dump(mode="json", exclude=_NOT_MATERIAL)
        material["geometry"] = self.geometry
        return material

    def to_feature(self) -> dict[str, Any]:
        """GeoJSON Feature; the geometry sits outside `properties`, everything else inside."""
        props = self.model_dump(mode="json", exclude={"geometry"})
        return {"type": "Feature", "id": self.id, "geometry": self.geometry, "properties": props}

    @classmethod
    def from_feature(cls, feature: dict[str, Any]) -> Event:
        """Inverse of `to_feature`."""
        return cls.model_validate({**feature.get("properties", {}), "geometry": feature.get("geometry")})


@dataclass(frozen=True, slots=True)
class Observation:
    """One reading of a station (gauge water level in metres, rainfall in mm...)."""

    station: str
    time: datetime
    value: float | None
    quality: str = "ok"  # ok | missing | suspect | estimated


def feature_collection(events: list[Event]) -> dict[str, Any]:
    """GeoJSON FeatureCollection of events."""
    return {"type": "FeatureCollection", "features": [e.to_feature() for e in events]}
