"""River water-level gauges: readings become Observations, each station one `gauge:{code}` Event.

The Event's level comes from the station's thresholds (see collectors/gauge_formats.py for the
crisis-gauge mapping), its trend from the last readings (a small window per station kept here),
and `silent` flags a gauge whose newest reading is older than its own cadence allows: crisis
gauges report about daily below their start level and every 10 minutes above it, so a low gauge
quiet for hours is normal while a high one quiet for 30 minutes is not.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from collectors.base import CollectorError, PayloadError, PolledCollector, Snapshot, SourceConfig
from collectors.gauge_formats import (
    JST,
    GaugePayload,
    GaugeReading,
    GaugeStation,
    Thresholds,
    parse_area_info,
    parse_sta_observations,
    parse_sta_thing,
    parse_tmlist,
)
from collectors.http import JSON_TYPES, Fetcher, HTTPStatusError
from collectors.timestamps import parse_http_date
from geo.codes import AreaCodes
from geo.model import SEVERITY_BY_LEVEL, Certainty, Event, Kind, Observation, SourceRef

STATION_FETCH_CONCURRENCY = 4


class ThresholdsConfig(BaseModel):
    """Stage thresholds in metres for one station (any may be omitted)."""

    model_config = ConfigDict(extra="forbid")

    standby_m: float | None = Field(default=None, description="水防団待機水位 (レベル1).")
    caution_m: float | None = Field(default=None, description="氾濫注意水位 (レベル2).")
    evacuation_m: float | None = Field(default=None, description="避難判断水位 (レベル3).")
    danger_m: float | None = Field(default=None, description="氾濫危険水位 (レベル4).")
    flooding_m: float | None = Field(default=None, description="氾濫発生 (レベル5).")
    start_m: float | None = Field(default=None, description="Level above which the gauge reports at cadence_high_s.")


class StationConfig(BaseModel):
    """One gauge station: what tmlist/SensorThings do not say about it, or overrides for area_info."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", description="Station name shown to residents.")
    town_code: str | None = Field(default=None, pattern=r"^\d{5}$", description="JIS 5-digit municipality code.")
    lat: float | None = Field(default=None, ge=-90, le=90, description="Latitude (WGS84).")
    lon: float | None = Field(default=None, ge=-180, le=180, description="Longitude (WGS84).")
    datastream: str | None = Field(default=None, description="SensorThings Datastream id (format sensorthings).")
    thresholds: ThresholdsConfig | None = Field(default=None, description="Thresholds; replace the source's own.")


class Config(SourceConfig):
    """A gauge source: crisis-gauge area_info, river.go.jp tmlist or an OGC SensorThings service."""

    type: Literal["river_gauge"] = "river_gauge"
    format: Literal["area_info", "tmlist", "sensorthings"] = Field(
        description="Wire format: area_info (url = the JSON), tmlist (url = the tmlist/{stg|swstg}/ base), "
        "sensorthings (url = the service root, e.g. …/v1.1/)."
    )
    stations: dict[str, StationConfig] = Field(
        default_factory=dict, description="Stations by code; required for tmlist and sensorthings."
    )
    prefecture_only: bool = Field(default=True, description="Drop stations whose town code is not in the area table.")
    cadence_high_s: float = Field(default=600, gt=0, description="Reporting interval at or above the start level.")
    cadence_low_s: float = Field(default=86400, gt=0, description="Reporting interval below the start level.")
    silent_factor: float = Field(default=3.0, ge=1, description="A gauge is silent after this many missed intervals.")
    trend_window_s: float = Field(default=1800, gt=0, description="Readings this recent feed the trend.")
    history_size: int = Field(default=12, ge=2, le=200, description="Readings kept per station for the trend.")
    lookback_steps: int = Field(
        default=3, ge=0, le=12, description="tmlist: 10-minute steps back when a file is missing."
    )
    sensorthings_top: int = Field(default=12, ge=1, le=1000, description="sensorthings: observations read per poll.")


def area_info_snapshot(body: bytes, config: Config, codes: AreaCodes, source_id: str, now: datetime) -> Snapshot:
    """One area_info payload mapped on its own, with no earlier readings (replay)."""
    return GaugeBook(source_id, config, codes).area_info(body, now)


class GaugeBook:
    """What a gauge source knows between polls (stations, each one's last readings) and the mapping
    of readings to Events and Observations; no HTTP, so benchmarks and replay feed it payloads."""

    def __init__(self, source_id: str, config: Config, codes: AreaCodes) -> None:
        self.source_id = source_id
        self.config = config
        self.codes = codes
        self.history: dict[str, deque[GaugeReading]] = {}
        self.stations: dict[str, GaugeStation] = {}
        self.present: set[str] = set()  # stations in the last payload (area_info lists only the high ones)
        self._last_silent: dict[str, bool] = {}
        self._built: dict[str, tuple[tuple, Event]] = {}
        self._fixed_parts: dict[str, tuple[GaugeStation, dict]] = {}

    def area_info(self, body: bytes, now: datetime) -> Snapshot:
        """Parse and map one area_info payload."""
        payload = parse_area_info(body)
        self._keep_region(payload)
        return self.fetched(payload, now)

    def fetched(self, payload: GaugePayload, now: datetime) -> Snapshot:
        """Map the stations read (one area_info file, or fetched one by one: tmlist, sensorthings)."""
        present = set(payload.stations)
        new_readings = self._remember(payload)
        self.present = present
        return self._snapshot(now, new_readings)

    def _keep_region(self, payload: GaugePayload) -> None:
        if self.config.prefecture_only:
            payload.stations = {c: s for c, s in payload.stations.items() if s.town_code in self.codes}
            payload.readings = [r for r in payload.readings if r.station in payload.stations]
        for code, override in self.config.stations.items():
            if code in payload.stations:
                payload.stations[code] = _merge(payload.stations[code], override)

    def _remember(self, payload: GaugePayload) -> list[GaugeReading]:
        self.stations.update(payload.stations)
        new: list[GaugeReading] = []
        for reading in sorted(payload.readings, key=lambda r: r.time):
            window = self.history.setdefault(reading.station, deque(maxlen=self.config.history_size))
            if window and reading.time <= window[-1].time:
                if all(r.time != reading.time for r in window):
                    new.append(reading)  # a late older reading: stored, but the window stays in order
                continue
            window.append(reading)
            new.append(reading)
        return new

    def unchanged(self, now: datetime) -> Snapshot:
        """A 304: nothing new upstream, but time has passed: a gauge may have turned silent."""
        # A 304 says nothing new upstream, but time has passed: a gauge may have turned silent.
        if all(self._silent(now, code) == was for code, was in self._last_silent.items()):
            return Snapshot(source_id=self.source_id, not_modified=True, content_time=self._content_time())
        return self._snapshot(now, [])

    def _snapshot(self, now: datetime, new_readings: Iterable[GaugeReading]) -> Snapshot:
        events = [self._event(now, code) for code in sorted(self.history) if code in self.stations]
        observations = [Observation(r.station, r.time, r.level_m, r.quality) for r in new_readings]
        silent = sum(1 for e in events if e.properties["silent"])
        return Snapshot(
            source_id=self.source_id,
            events=events,
            observations=observations,
            content_time=self._content_time(),
            status_details={"stations": len(events), "silent": silent},
        )

    def _content_time(self) -> datetime | None:
        times = [w[-1].time for code, w in self.history.items() if w and code in self.present]
        return max(times) if times else None

    def _silent(self, now: datetime, code: str) -> bool:
        latest = self.history[code][-1]
        start = self.stations[code].thresholds.start_m
        absent = self.config.format == "area_info" and code not in self.present
        high = not absent and (start is None or (latest.level_m is not None and latest.level_m >= start))
        cadence = self.config.cadence_high_s if high else self.config.cadence_low_s
        return (now - latest.time).total_seconds() > cadence * self.config.silent_factor

    def _trend(self, code: str) -> float | None:
        window = self.history[code]
        latest = window[-1]
        if latest.level_m is None:
            return None
        since = latest.time - timedelta(seconds=self.config.trend_window_s)
        earlier = [r for r in window if since <= r.time < latest.time and r.level_m is not None]
        if not earlier:
            return None
        ref = earlier[0]
        minutes = (latest.time - ref.time).total_seconds() / 60
        return round((latest.level_m - ref.level_m) / minutes * 10, 3)

    def _event(self, now: datetime, code: str) -> Event:
        station = self.stations[code]
        latest = self.history[code][-1]
        silent = self._silent(now, code)
        self._last_silent[code] = silent
        # Absent from area_info means the source itself says the gauge is below its start level.
        below_start = self.config.format == "area_info" and code not in self.present
        key = (station, latest, silent, below_start)
        built = self._built.get(code)
        if built is not None and built[0] == key:
            return built[1]  # nothing new: the same version, received when it first arrived
        level = 0 if below_start else station.thresholds.level_for(latest.level_m)
        fixed = self._fixed(station)
        stage = "欠測" if latest.level_m is None else f"{latest.level_m:.2f} m"
        local = latest.time.astimezone(JST)
        event = Event(
            id=fixed["id"],
            kind=Kind.GAUGE,
            level=level,
            severity=SEVERITY_BY_LEVEL[level],
            certainty=Certainty.OBSERVED,
            areas=fixed["areas"],
            geometry=fixed["geometry"],
            observed_at=latest.time,
            received_at=now,
            title=fixed["title"],
            text=f"{fixed['label']}: {stage}（{local:%m/%d %H:%M} 観測）"
            + ("　※観測値が途絶えています" if silent else ""),
            source=fixed["source"],
            properties={
                "station": code,
                "name": station.name,
                "level_m": latest.level_m,
                "quality": latest.quality,
                "thresholds": fixed["thresholds"],
                "trend_m_per_10min": self._trend(code),
                "observed_at": latest.time.isoformat(),
                "silent": silent,
                "below_start": below_start,
                **latest.raw,
            },
        )
        self._built[code] = (key, event)
        return event

    def _fixed(self, station: GaugeStation) -> dict:
        """The parts of a station's Event that change only with the station itself (cached)."""
        cached = self._fixed_parts.get(station.code)
        if cached is not None and cached[0] == station:
            return cached[1]
        areas = tuple(self.codes.to_jis(station.town_code)) if station.town_code in self.codes else ()
        geometry = (
            {"type": "Point", "coordinates": [station.lon, station.lat]}
            if station.lon is not None and station.lat is not None else None
        )
        label = station.name or station.code
        parts = {
            "id": f"gauge:{station.code}",
            "areas": areas,
            "geometry": geometry,
            "label": label,
            "title": f"{label} 水位",
            "thresholds": station.thresholds.as_dict(),
            "source": SourceRef(source_id=self.source_id, url=str(self.config.url), upstream_id=station.code),
        }
        self._fixed_parts[station.code] = (station, parts)
        return parts



class RiverGaugeCollector(PolledCollector[Config]):
    """Polls one gauge source."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        super().__init__(source_id, config, fetcher, codes)
        self.book = GaugeBook(source_id, config, codes)

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch the gauges once and return their Observations and Events."""
        if self.config.format == "area_info":
            url = str(self.config.url)
            result = await self.get_if_changed(url, content_types=JSON_TYPES)
            if result.not_modified:
                return self.book.unchanged(now)
            snapshot = self.book.area_info(result.body, now)
            self.keep_validators(result, url)
            if snapshot.content_time is None:
                # Only gauges above their start level are listed: an empty list after the rain is
                # news, not silence. The file's own Last-Modified then dates the content.
                snapshot.content_time = parse_http_date(result.last_modified)
            return snapshot
        fetch_one = self._tmlist_station if self.config.format == "tmlist" else self._sta_station
        return self.book.fetched(await self._fetch_each(now, fetch_one), now)

    # --- fetching -------------------------------------------------------------------------

    async def _fetch_each(self, now: datetime, fetch_one) -> GaugePayload:
        if not self.config.stations:
            raise PayloadError(f"{self.config.format} source {self.source_id} has no stations configured")
        limit = asyncio.Semaphore(STATION_FETCH_CONCURRENCY)

        async def guarded(code: str, station: StationConfig):
            async with limit:
                return await fetch_one(now, code, station)

        results = await asyncio.gather(
            *(guarded(c, s) for c, s in self.config.stations.items()), return_exceptions=True
        )
        payload = GaugePayload()
        errors: list[CollectorError] = []
        for (code, _), result in zip(self.config.stations.items(), results, strict=True):
            if isinstance(result, PayloadError):
                raise result  # a hostile or broken payload fails the poll: nothing partial
            if isinstance(result, BaseException):
                if not isinstance(result, CollectorError):
                    raise result
                errors.append(result)
                continue
            station, readings = result
            payload.stations[code] = station
            payload.readings.extend(readings)
        if errors and not payload.stations:
            raise errors[0]
        return payload

    async def _tmlist_station(self, now: datetime, code: str, cfg: StationConfig):
        base = str(self.config.url).rstrip("/") + "/"
        t = now.astimezone(JST).replace(second=0, microsecond=0)
        t -= timedelta(minutes=t.minute % 10)
        for step in range(self.config.lookback_steps + 1):
            url = f"{base}{t:%Y%m%d}/{t:%H%M}/{code}.json"
            try:
                result = await self.fetcher.get(url, self.config, content_types=JSON_TYPES)
            except HTTPStatusError as exc:
                # The newest 10-minute file appears a little late: step back, as the site's own client does.
                if exc.status == 404 and step < self.config.lookback_steps:
                    t -= timedelta(minutes=10)
                    continue
                raise
            return _station_from_config(code, cfg), parse_tmlist(result.body, code)
        raise AssertionError("unreachable")

    async def _sta_station(self, now: datetime, code: str, cfg: StationConfig):
        if not cfg.datastream:
            raise PayloadError(f"station {code}: no datastream configured")
        root = str(self.config.url).rstrip("/")
        ds = cfg.datastream if cfg.datastream.isdigit() else "'" + cfg.datastream.replace("'", "''") + "'"
        station = self.book.stations.get(code)
        if station is None or (cfg.thresholds is None and station.thresholds.empty):
            thing = await self.fetcher.get(f"{root}/Datastreams({ds})/Thing?$expand=Locations",
                                           self.config, content_types=JSON_TYPES)
            station = _merge(parse_sta_thing(thing.body, code), cfg)
        top = self.config.sensorthings_top
        result = await self.fetcher.get(
            f"{root}/Datastreams({ds})/Observations?$orderby=phenomenonTime%20desc&$top={top}",
            self.config, content_types=JSON_TYPES,
        )
        return station, parse_sta_observations(result.body, code)

def _thresholds(cfg: ThresholdsConfig) -> Thresholds:
    return Thresholds(**cfg.model_dump())


def _station_from_config(code: str, cfg: StationConfig) -> GaugeStation:
    thresholds = _thresholds(cfg.thresholds) if cfg.thresholds else Thresholds()
    return GaugeStation(code, cfg.name, cfg.town_code, cfg.lon, cfg.lat, thresholds)


def _merge(station: GaugeStation, cfg: StationConfig) -> GaugeStation:
    """The source's station with the configured values laid over it."""
    return GaugeStation(
        code=station.code,
        name=cfg.name or station.name,
        town_code=cfg.town_code or station.town_code,
        lon=cfg.lon if cfg.lon is not None else station.lon,
        lat=cfg.lat if cfg.lat is not None else station.lat,
        thresholds=_thresholds(cfg.thresholds) if cfg.thresholds else station.thresholds,
    )
