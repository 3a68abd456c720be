"""River monitoring cameras: each configured camera is one `camera:{id}` Event describing its latest frame.

For each configured camera the collector reads its master record (川の防災情報 `master/obs/scam/
{id}.json`: name, position, municipality, snapshot URL, optional capture-time JSON), then fetches
the snapshot with a conditional GET. A frame is checked (JPEG/PNG only, pixel limit, full decode)
before anything is written under `image_dir`; the HTTP API serves it as
`/api/v1/cameras/{id}/image`. No server file path is published.

The capture time is the camera's own timestamp JSON, else the picture's EXIF time, else
Last-Modified. A capture is *new* when that time advances; re-reading the same capture (polling
faster than the camera takes pictures, or a 304) says nothing about freezing. Without any
capture time every poll counts as a capture.

Event properties a client can rely on (all recomputed on every poll, by the clock, also for a
camera whose fetch failed this time):
- `taken_at`: capture time of the frame shown (ISO 8601) or null.
- `stale`: true when that frame is older than `stale_after_s` (or, without a capture time, when no
  new picture arrived for that long).
- `frozen`: true when `frozen_polls` consecutive captures showed exactly the same picture (the same
  decoded pixels while the capture time advanced; without a capture time, the same perceptual hash
  or a 304 on that many polls): the camera claims new pictures but its image does not change.
- `unavailable`: true when the camera has never delivered a picture (its image or master record is
  missing upstream); such a camera is still listed, without image and, if no master record was
  ever read, without geometry.
- `image_state`: one word for lists and popups: `unavailable`, `stale`, `frozen` or `ok` (the first
  that applies).
- `name`, `river`, `gauge` (linked gauge code), `image_url` and `normal_image_url` (upstream).

One camera's failure does not hide the others: the snapshot carries every camera, the failed ones
re-stated from their last good state. Any failed camera makes the source `failing` (`Snapshot.failing`),
with each failed camera and its error in `last_error` of /api/v1/sources (and in the status
details, `camera_errors`). The poll raises only when every camera failed and none ever delivered
a picture.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from collectors.base import CollectorError, PayloadError, PolledCollector, Snapshot, SourceConfig
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
    frozen_polls: int = Field(
        default=6, ge=2,
        description="Consecutive captures (capture time advancing) with the same picture that make a camera frozen; "
        "without a capture time, polls.",
    )
    frozen_distance: int = Field(
        default=2, ge=0, le=16,
        description="Hamming distance of perceptual hashes deemed the same picture (cameras without a capture time).",
    )
    stale_after_s: float = Field(
        default=1800, gt=0, description="A frame older than this (by its capture time) marks the camera stale."
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
    has_frame: bool = False
    digest: str | None = None
    phash: object | None = None
    taken_at: datetime | None = None  # the camera's capture time of the frame shown
    received_at: datetime | None = None  # when the picture shown last changed here
    same_captures: int = 0  # consecutive captures showing the kept picture (1: it has just arrived)
    image_url: str | None = None


class RiverCameraCollector(PolledCollector[Config]):
    """Polls the configured cameras of one source."""

    def __init__(self, source_id: str, config: Config, fetcher: Fetcher, codes: AreaCodes) -> None:
        super().__init__(source_id, config, fetcher, codes)
        self._state = {cam: _CameraState() for cam in config.cameras}
        self._limit = asyncio.Semaphore(config.concurrency)

    async def poll(self, now: datetime) -> Snapshot:
        """Fetch every camera's snapshot once; every camera is in the result, failed ones flagged by the clock."""
        async def one(cam: str) -> None:
            async with self._limit:  # polite to the camera server, which many cameras share
                await self._camera(now, cam)

        results = await asyncio.gather(*(one(cam) for cam in self.config.cameras), return_exceptions=True)
        failures: dict[str, str] = {}
        first_error: CollectorError | None = None
        for cam, result in zip(self.config.cameras, results, strict=True):
            if isinstance(result, CollectorError):
                failures[cam] = f"{result.__class__.__name__}: {result}"
                first_error = first_error or result
            elif isinstance(result, BaseException):
                raise result
        if first_error is not None and len(failures) == len(self.config.cameras):
            if not any(state.has_frame for state in self._state.values()):
                raise first_error  # nothing answered and nothing to re-state: the source is simply down
        events = [self._event(now, cam) for cam in self.config.cameras]
        times = [e.observed_at for e in events if e.observed_at]
        failing = None
        if failures:
            parts = "; ".join(f"{cam}: {error}" for cam, error in failures.items())
            failing = f"{len(failures)} of {len(events)} cameras failed: {parts}"
        return Snapshot(
            source_id=self.source_id,
            events=events,
            content_time=max(times) if times else None,
            failing=failing,
            status_details={"cameras": len(events) - len(failures), "camera_errors": failures},
        )

    async def _camera(self, now: datetime, cam: str) -> None:
        state = self._state[cam]
        master = await self._master(now, cam, state)
        image_url = master.currentUrl or master.currProvUrl
        state.image_url = image_url
        if not image_url or master.pause:
            raise PayloadError(f"camera {cam}: no current image URL (paused={master.pause})")
        breaker = f"{self.source_id}:{cam}"
        result = await self.get_if_changed(image_url, content_types=IMAGE_TYPES, memory=cam, breaker_key=breaker)
        captured = await self._capture_time(master, breaker)
        if result.not_modified and state.has_frame:
            self._count(state, captured or state.taken_at, same_exact=True, same_perceptual=True)
            return
        frame: Frame = await asyncio.to_thread(decode, result.body, self.config.max_pixels)
        taken = captured or frame.exif_time or parse_http_date(result.last_modified)
        same_exact = state.digest == frame.digest
        same_perceptual = state.phash is not None and (frame.phash - state.phash) <= self.config.frozen_distance
        self._count(state, taken, same_exact=same_exact, same_perceptual=same_perceptual)
        self.keep_validators(result, cam)
        if not same_exact:  # the same pixels again are not worth another file
            store = FrameStore(self.config.image_dir / cam, self.config.keep_frames)
            await asyncio.to_thread(store.save, frame, now)
            state.digest, state.phash, state.received_at = frame.digest, frame.phash, now
            state.has_frame = True

    def _count(self, state: _CameraState, taken: datetime | None, *, same_exact: bool, same_perceptual: bool) -> None:
        """Count consecutive captures of one picture. A capture is new when the camera's time advances."""
        if not state.has_frame:
            state.same_captures = 1
        elif taken is not None and state.taken_at is not None:
            if taken <= state.taken_at:
                return  # the same capture read again: no evidence either way (staleness goes by the clock)
            # The camera's clock advanced: only the very same pixels are a frozen picture. A perceptual
            # hash alone would call every calm scene frozen, where only the stamped time changes.
            state.same_captures = state.same_captures + 1 if same_exact else 1
        else:  # no capture time to go by: every poll is a capture, judged perceptually
            state.same_captures = state.same_captures + 1 if same_perceptual else 1
        if taken is not None:
            state.taken_at = taken

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

    def _event(self, now: datetime, cam: str) -> Event:
        """The camera as residents should see it now: flags from the last good state and the clock."""
        state, master = self._state[cam], self._state[cam].master
        unavailable = not state.has_frame
        shown_since = state.taken_at or state.received_at
        stale = not unavailable and shown_since is not None and (
            (now - shown_since).total_seconds() > self.config.stale_after_s
        )
        frozen = not unavailable and state.same_captures >= self.config.frozen_polls
        image_state = "unavailable" if unavailable else "stale" if stale else "frozen" if frozen else "ok"
        name, river = (master.name, master.rvrNm) if master else (cam, None)
        jis = master.twnCd[:2] + master.twnCd[-3:] if master and master.twnCd else None
        flag = {"unavailable": "　※映像を取得できません", "stale": "　※映像が更新されていません",
                "frozen": "　※映像が更新されていません", "ok": ""}[image_state]
        return Event(
            id=f"camera:{cam}",
            kind=Kind.CAMERA,
            level=0,
            severity=Severity.MINOR,
            certainty=Certainty.OBSERVED,
            areas=(jis,) if jis and jis in self.codes else (),
            geometry={"type": "Point", "coordinates": [master.lon, master.lat]} if master else None,
            observed_at=state.taken_at,
            received_at=now,
            title=f"{name} カメラ",
            text=f"{river or ''} {name}".strip() + flag,
            source=SourceRef(source_id=self.source_id, url=state.image_url, upstream_id=cam),
            properties={
                "name": name,
                "river": river,
                "image_url": state.image_url,
                "image_etag": self.validators(cam)[0],
                "normal_image_url": master.normallyUrl if master else None,
                "gauge": master.obsFcd if master else None,
                "taken_at": state.taken_at.isoformat() if state.taken_at else None,
                "frozen": frozen,
                "stale": stale,
                "unavailable": unavailable,
                "image_state": image_state,
            },
        )
