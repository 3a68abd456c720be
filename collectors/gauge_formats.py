"""Wire formats of river water-level gauges, read into typed records. Knows nothing of Events.

- 危機管理型水位計 `area_info/current/{prefCode}.json` (MLIT 川の水位情報): `obss[]` with station,
  reading and thresholds inline. The converted archive copy names the list `items` and the
  coordinates `latitude`/`longitude`; both spellings are read.
- 川の防災情報 `tmlist/{stg|swstg}/{YYYYMMDD}/{HHMM}/{id}.json`: `obsValue` plus `min10Values[]`,
  times in JST without offset; served as UTF-8 or Shift_JIS.
- OGC SensorThings: `Datastreams({id})/Observations` -> `{"value": [{phenomenonTime, result}]}`,
  and `Datastreams({id})/Thing?$expand=Locations` for thresholds and position.

Thresholds of crisis gauges (観測開始水位 startLevel, 危険水位 warnLevel, 氾濫開始水位 fladLevel)
map onto the 警戒レベル scale as follows. startLevel is where the gauge starts reporting every
10 minutes, the point at which the river is worth watching: 水防団待機 (L1). warnLevel is set
with lead time before overflow for evacuation, as 氾濫危険水位 is for designated rivers: L4.
fladLevel is the level at which water leaves the channel: 氾濫発生 (L5). Crisis gauges have no
L2 or L3 threshold, so they jump from L1 to L4.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from collectors.base import PayloadError
from collectors.json_wire import parse_model

JST = timezone(timedelta(hours=9))

# A water level in metres above the gauge datum; finite and within any real river's range.
Metres = Annotated[float, Field(allow_inf_nan=False, ge=-500, le=5000)]
Latitude = Annotated[float, Field(allow_inf_nan=False, ge=-90, le=90)]
Longitude = Annotated[float, Field(allow_inf_nan=False, ge=-180, le=180)]
StationCode = Annotated[str, Field(pattern=r"^[0-9A-Za-z_.-]{1,32}$")]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Stage thresholds in metres; each names the 警戒レベル it starts. `start_m` only sets cadence."""

    standby_m: float | None = None  # 水防団待機水位, L1
    caution_m: float | None = None  # 氾濫注意水位, L2
    evacuation_m: float | None = None  # 避難判断水位, L3
    danger_m: float | None = None  # 氾濫危険水位, L4
    flooding_m: float | None = None  # 氾濫発生, L5
    start_m: float | None = None  # 観測開始水位: crisis gauges report every 10 min above it

    def level_for(self, level_m: float | None) -> int:
        """The 警戒レベル (0-5) a stage reaches: the highest threshold at or below it."""
        if level_m is None:
            return 0
        ladder = (self.standby_m, self.caution_m, self.evacuation_m, self.danger_m, self.flooding_m)
        reached = 0
        for lvl, threshold in enumerate(ladder, start=1):
            if threshold is not None and level_m >= threshold:
                reached = lvl
        return reached

    def as_dict(self) -> dict[str, float]:
        """The thresholds that are set, by name."""
        names = ("standby_m", "caution_m", "evacuation_m", "danger_m", "flooding_m", "start_m")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    @property
    def empty(self) -> bool:
        """True when no threshold is known."""
        return not self.as_dict()


@dataclass(frozen=True, slots=True)
class GaugeStation:
    """Where a gauge is and what its thresholds are."""

    code: str
    name: str = ""
    town_code: str | None = None
    lon: float | None = None
    lat: float | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True, slots=True)
class GaugeReading:
    """One stage reading."""

    station: str
    time: datetime
    level_m: float | None
    quality: str = "ok"  # ok | missing | suspect
    raw: dict[str, Any] = field(default_factory=dict)  # source-specific flags kept for display


@dataclass(slots=True)
class GaugePayload:
    """Everything one gauge payload said: stations met and their readings."""

    stations: dict[str, GaugeStation] = field(default_factory=dict)
    readings: list[GaugeReading] = field(default_factory=list)


# --- 危機管理型水位計 area_info ------------------------------------------------------------


class _CrisisObs(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    code: StationCode
    name: str = ""
    obsTime: AwareDatetime
    level: Metres | None
    townCode: str | None = Field(default=None, pattern=r"^\d{5}$")
    over: int | None = None
    startLevel: Metres | None = None
    warnLevel: Metres | None = None
    fladLevel: Metres | None = None
    qt: int | None = None
    lat: Latitude | None = Field(default=None, validation_alias=AliasChoices("lat", "latitude"))
    lon: Longitude | None = Field(default=None, validation_alias=AliasChoices("lon", "longitude"))


class _AreaInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    obss: list[_CrisisObs] = Field(validation_alias=AliasChoices("obss", "items"))


def parse_area_info(body: bytes) -> GaugePayload:
    """Crisis-gauge area_info JSON -> stations with crisis thresholds and one reading each."""
    doc = parse_model(_AreaInfo, body, "area_info")
    payload = GaugePayload()
    for obs in doc.obss:
        thresholds = Thresholds(
            standby_m=obs.startLevel, danger_m=obs.warnLevel, flooding_m=obs.fladLevel, start_m=obs.startLevel
        )
        payload.stations[obs.code] = GaugeStation(
            code=obs.code, name=obs.name, town_code=obs.townCode, lon=obs.lon, lat=obs.lat, thresholds=thresholds
        )
        quality = "missing" if obs.level is None else ("suspect" if obs.qt is not None else "ok")
        raw = {"over": obs.over, "qt": obs.qt} if obs.qt is not None else {"over": obs.over}
        payload.readings.append(GaugeReading(obs.code, obs.obsTime, obs.level, quality, raw))
    return payload


# --- 川の防災情報 tmlist ---------------------------------------------------------------------


def _jst_minute(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.strptime(value, "%Y/%m/%d %H:%M").replace(tzinfo=JST)
        except ValueError:
            raise ValueError(f"time {value!r} is not 'YYYY/MM/DD HH:MM'") from None
    return value


class _TmValue(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stg: Metres | None = None
    obsTime: AwareDatetime
    stgQmFlg: int | str | None = None
    stgHght: Metres | None = None

    @field_validator("obsTime", mode="before")
    @classmethod
    def _jst(cls, value: Any) -> Any:
        return _jst_minute(value)


class _TmList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    dspFlg: int | None = None
    obsValue: _TmValue | None = None
    min10Values: list[_TmValue] = Field(default_factory=list)


def parse_tmlist(body: bytes, station: str) -> list[GaugeReading]:
    """tmlist JSON (UTF-8 or Shift_JIS) -> the station's readings, oldest first, one per time."""
    doc = parse_model(_TmList, body, "tmlist")
    by_time: dict[datetime, GaugeReading] = {}
    for value in [*doc.min10Values, *([doc.obsValue] if doc.obsValue else [])]:
        quality = "missing" if value.stg is None else ("suspect" if value.stgQmFlg not in (None, "", 0) else "ok")
        raw = {"stg_hght_m": value.stgHght} if value.stgHght is not None else {}
        by_time[value.obsTime] = GaugeReading(station, value.obsTime, value.stg, quality, raw)
    return [by_time[t] for t in sorted(by_time)]


# --- OGC SensorThings ------------------------------------------------------------------------


class _StaObservation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    phenomenonTime: str
    result: Metres | None

    @field_validator("phenomenonTime")
    @classmethod
    def _instant(cls, value: str) -> str:
        # An interval "start/end" is reported at its end.
        end = value.rsplit("/", 1)[-1]
        parsed = datetime.fromisoformat(end.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(f"phenomenonTime {value!r} has no time zone")
        return parsed.isoformat()


class _StaObservations(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: list[_StaObservation]


class _StaPoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    coordinates: tuple[Longitude, Latitude] | tuple[Longitude, Latitude, float]


class _StaLocation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    location: _StaPoint | None = None


class _StaThing(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = ""
    properties: dict[str, Any] = Field(default_factory=dict)
    Locations: list[_StaLocation] = Field(default_factory=list)


THRESHOLD_KEYS = ("standby_m", "caution_m", "evacuation_m", "danger_m", "flooding_m", "start_m")


def parse_sta_observations(body: bytes, station: str) -> list[GaugeReading]:
    """SensorThings Observations list -> the station's readings, oldest first."""
    doc = parse_model(_StaObservations, body, "SensorThings Observations")
    readings = [
        GaugeReading(station, datetime.fromisoformat(o.phenomenonTime), o.result,
                     "missing" if o.result is None else "ok")
        for o in doc.value
    ]
    return sorted(readings, key=lambda r: r.time)


def parse_sta_thing(body: bytes, code: str) -> GaugeStation:
    """SensorThings Thing (with $expand=Locations) -> station name, position and thresholds.

    Thresholds are read from `properties` (or `properties.thresholds`) under the keys of
    `Thresholds` (standby_m ... flooding_m, start_m).
    """
    doc = parse_model(_StaThing, body, "SensorThings Thing")
    source = doc.properties.get("thresholds", doc.properties)
    if not isinstance(source, dict):
        raise PayloadError("SensorThings Thing: properties.thresholds is not an object")
    values: dict[str, float] = {}
    for key in THRESHOLD_KEYS:
        value = source.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise PayloadError(f"SensorThings Thing: threshold {key} is not a number: {value!r}")
        values[key] = float(value)
    point = next((loc.location for loc in doc.Locations if loc.location and loc.location.type == "Point"), None)
    return GaugeStation(
        code=code,
        name=doc.name,
        lon=point.coordinates[0] if point else None,
        lat=point.coordinates[1] if point else None,
        thresholds=Thresholds(**values),
    )
