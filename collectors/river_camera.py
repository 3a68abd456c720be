"""River monitoring cameras: each camera is one `camera:{id}` Event pointing at its latest frame.

For each configured camera the collector reads its master record (川の防災情報 `master/obs/scam/
{id}.json`: name, position, municipality, snapshot URL, optional capture-time JSON), then fetches
the snapshot with a conditional GET. A frame is checked (JPEG/PNG only, pixel limit, full decode)
before anything is written. A camera is `frozen` when its picture has not changed (same
perceptual hash, or 304) for `frozen_polls` polls, and `stale` when its capture time (the
camera's own timestamp JSON, else EXIF, else Last-Modified) is older than `stale_after_s`.
One camera's failure does not hide the others; the poll fails only when every camera failed.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from collectors.base import CollectorError, PayloadError, Snapshot, SourceConfig
from collectors.camera_images import Frame, FrameStore, decode
from collectors.http import IMAGE_TYPES, JSON_TYPES, Fetcher
from collectors.json_wire import parse_model
from collectors.timestamps import JstTime, parse_http_date
from geo.codes import AreaCodes
from geo.model import Certainty, Event, Kind, Severity, SourceRef

CAMERA_ID = r"^[0-9A-Za-z_-]{1,40}$"


class Config(SourceConfig):
    """River cameras of 川の防災情報 style: `url` is the master directory, cameras listed by id."""

    type: Literal["river_camera"] = "river_camera"
    cameras: list[Annotated[str, Field(pattern=CAMERA_ID)]] = Field(
        min_length=1,
        description="Camera ids; the master record is `{url}{id}.json`. The snapshot host (cam.river.go.jp) "
        "must be listed in allow_hosts.",
    )
    image_dir: Path = Field(description="Directory for frames: <image_dir>/<camera id>/latest.jpg, thumb.jpg, frames/.")
    keep_frames: int = Field(default=5, ge=0, le=100, description="Previous frames kept besides the latest.")
    max_pixels: int = Field(default=12_000_000, gt=0, description="Largest image accepted (width x height).")
    frozen_polls: int = Field(default=6, ge=2, description="Polls with an unchanged picture that make a camera frozen.")
    frozen_distance: int = Field(
        default=2, ge=0, le=16, description="Hamming distance of perceptual hashes deemed the same picture."
    )
    stale_after_s: float = Field(
        default=1800, gt=0, description="A capture time older than this marks the camera stale."
    )
    master_refresh_s: float = Field(default=86400, gt=0, description="How often a camera's master record is re-read.")
    concurrency: int = Field(default=4, ge=1, le=32, description="Cameras fetched at the same time.")


class _ObsInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    twnCd: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] | None = Field(
        default=None, pattern=r"^\d{7}$"
    )
    rvrNm: str | None = None
    currentUrl: str | None = Field(default=None, max_length=2000)
    currProvUrl: str | None = Field(default=None, max_length=2000)
    normallyUrl: str | None = Field(default=None, max_length=2000)
    currDateProvUrl: str | None = Field(default=None, max_length=2000)
    obsFcd: str | None = None
    pause: int = 0


class _Master(BaseModel):
    model_config = ConfigDict(extra="ignore")

    obsInfo: _ObsInfo


class _CaptureTime(BaseModel):
    model_config = ConfigDict(extra="ignore")

    create_time: JstTime


@dataclass(slots=True)
class _CameraState:
    master: _ObsInfo | None = None
    master_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    latest: Path | None = None
    phash: object | None = None
    same_polls: int = 0
    taken_at: datetime | None = None


class RiverCameraCollector:
    """Polls the configured cameras of one source."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        self.source_id = source_id
        self.config = config
        self.fetcher = fetcher
        self.codes = codes
        self._state = {cam: _CameraState() for cam in config.cameras}
        self._limit = asyncio.Semaphore(config.concurrency)

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch every camera's snapshot once."""
        async def one(cam: str) -> Event:
            async with self._limit:  # polite to the camera server, which many cameras share
                return await self._camera(now, cam)

        results = await asyncio.gather(*(one(cam) for cam in self.config.cameras), return_exceptions=True)
        events: list[Event] = []
        errors: dict[str, str] = {}
        first_error: CollectorError | None = None
        for cam, result in zip(self.config.cameras, results, strict=True):
            if isinstance(result, CollectorError):
                errors[cam] = f"{result.__class__.__name__}: {result}"
                first_error = first_error or result
            elif isinstance(result, BaseException):
                raise result
            else:
                events.append(result)
        if first_error is not None and not events:
            raise first_error
        times = [e.observed_at for e in events if e.observed_at]
        return Snapshot(
            source_id=self.source_id,
            events=events,
            content_time=max(times) if times else None,
            details={"cameras": len(events), "camera_errors": errors},
        )

    async def _camera(self, now: datetime, cam: str) -> Event:
        state = self._state[cam]
        master = await self._master(now, cam, state)
        image_url = master.currentUrl or master.currProvUrl
        if not image_url or master.pause:
            raise PayloadError(f"camera {cam}: no current image URL (paused={master.pause})")
        breaker = f"{self.source_id}:{cam}"
        result = await self.fetcher.get(
            image_url, self.config, etag=state.etag, last_modified=state.last_modified,
            content_types=IMAGE_TYPES, breaker_key=breaker,
        )
        captured = await self._capture_time(master, breaker)
        if result.not_modified and state.latest is not None:
            state.same_polls += 1
        else:
            frame: Frame = await asyncio.to_thread(decode, result.body, self.config.max_pixels)
            same = state.phash is not None and (frame.phash - state.phash) <= self.config.frozen_distance
            state.same_polls = state.same_polls + 1 if same else 1
            store = FrameStore(self.config.image_dir / cam, self.config.keep_frames)
            state.latest = await asyncio.to_thread(store.save, frame, now)
            state.phash = frame.phash
            state.etag, state.last_modified = result.etag, result.last_modified
            state.taken_at = frame.exif_time or parse_http_date(result.last_modified)
        taken_at = captured or state.taken_at
        frozen = state.same_polls >= self.config.frozen_polls
        stale = taken_at is not None and (now - taken_at).total_seconds() > self.config.stale_after_s
        return self._event(now, cam, master, state, taken_at, frozen, stale, image_url)

    async def _master(self, now: datetime, cam: str, state: _CameraState) -> _ObsInfo:
        fresh = state.master_at and (now - state.master_at).total_seconds() < self.config.master_refresh_s
        if state.master is None or not fresh:
            url = str(self.config.url).rstrip("/") + f"/{cam}.json"
            result = await self.fetcher.get(url, self.config, content_types=JSON_TYPES)
            state.master = parse_model(_Master, result.body, f"camera master {cam}").obsInfo
            state.master_at = now
        return state.master

    async def _capture_time(self, master: _ObsInfo, breaker: str) -> datetime | None:
        if not master.currDateProvUrl:
            return None
        result = await self.fetcher.get(master.currDateProvUrl, self.config, content_types=JSON_TYPES,
                                        breaker_key=breaker)
        return parse_model(_CaptureTime, result.body, "camera capture time").create_time

    def _event(self, now, cam, master: _ObsInfo, state: _CameraState, taken_at, frozen, stale, image_url) -> Event:
        jis = master.twnCd[:2] + master.twnCd[-3:] if master.twnCd else None
        flags = "　※映像が更新されていません" if frozen or stale else ""
        return Event(
            id=f"camera:{cam}",
            kind=Kind.CAMERA,
            level=0,
            severity=Severity.MINOR,
            certainty=Certainty.OBSERVED,
            areas=(jis,) if jis and jis in self.codes else (),
            geometry={"type": "Point", "coordinates": [master.lon, master.lat]},
            observed_at=taken_at,
            received_at=now,
            title=f"{master.name} カメラ",
            text=f"{master.rvrNm or ''} {master.name}".strip() + flags,
            source=SourceRef(source_id=self.source_id, url=image_url, upstream_id=cam),
            properties={
                "name": master.name,
                "river": master.rvrNm,
                "image": str(state.latest) if state.latest else None,
                "thumbnail": str(state.latest.parent / "thumb.jpg") if state.latest else None,
                "image_url": image_url,
                "image_etag": state.etag,
                "normal_image_url": master.normallyUrl,
                "gauge": master.obsFcd,
                "taken_at": taken_at.isoformat() if taken_at else None,
                "frozen": frozen,
                "stale": stale,
            },
        )

