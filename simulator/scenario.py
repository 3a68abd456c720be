"""Scenario files (TOML): typed, closed models and a loader whose errors name file, line and key."""
from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from simulator.faults import FaultSpec

SCENARIO_DIR = Path(__file__).parent / "scenarios"

Region = Literal["kaga", "noto"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Meta(_Closed):
    name: str = Field(description="Scenario name, as given to --scenario")
    title: str = Field(description="One line for people")
    start: datetime = Field(description="Datetime that scenario time 0 maps to (with offset)")
    duration_h: float = Field(24.0, gt=0, le=240, description="Length of the scripted event")
    status: Literal["通常", "訓練"] = Field("通常", description="Control/Status of every JMA message")

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("start needs a UTC offset, e.g. 2026-07-10T00:00:00+09:00")
        return v


class RainCell(_Closed):
    region: Region = Field(description="加賀 (kaga) or 能登 (noto)")
    peak_h: float = Field(description="Hours after start of the peak intensity")
    peak_mm_h: float = Field(ge=0, le=200, description="Peak rainfall rate, mm/h")
    width_h: float = Field(gt=0, le=48, description="Gaussian sigma of the cell, hours")


class SurgeCell(_Closed):
    region: Region = Field(description="Coast of 加賀 (kaga) or 能登 (noto); inland municipalities never see it")
    peak_h: float = Field(description="Hours after start of the highest storm tide")
    peak_m: float = Field(gt=0, le=5, description="Highest storm tide (潮位, T.P. m) at the coast")
    width_h: float = Field(gt=0, le=48, description="Gaussian sigma of the surge, hours")


class SnowCell(_Closed):
    areas: list[Annotated[str, StringConstraints(pattern=r"^\d{5}$")]] = Field(
        min_length=1, description="JIS 5-digit municipality codes the snow falls on"
    )
    peak_h: float = Field(description="Hours after start of the heaviest snowfall")
    peak_cm_h: float = Field(ge=0, le=20, description="Peak snowfall rate, cm/h")
    width_h: float = Field(gt=0, le=48, description="Gaussian sigma of the snowfall, hours")


class SedimentStep(_Closed):
    at_h: float = Field(ge=0, description="Hours after start of the message")
    action: Literal["issue", "lift", "correct", "cancel"] = Field(
        description="issue 発表 / lift 解除 for `areas`; correct 訂正 re-sends the last message; "
        "cancel 取消 withdraws the last message"
    )
    areas: list[str] = Field(default_factory=list, description="JIS 5-digit municipality codes")


class FloodRiver(_Closed):
    river: Literal["kakehashi", "tedori"] = Field(description="Designated river (梯川, 手取川)")
    peak_h: float = Field(description="Hours after start of the peak at the forecast station")
    peak_level: int = Field(ge=1, le=5, description="Highest 警戒レベル the station stage reaches")
    width_h: float = Field(4.0, gt=0, description="Gaussian sigma of the flood wave, hours")
    naming: Literal["old", "level"] = Field(
        "old", description="Kind names: old (氾濫注意情報 …) or level (レベル２氾濫注意報 …, from the 2026 flood season)"
    )


class GaugeModel(_Closed):
    design_rain_mm_h: float = Field(40.0, gt=0, description="Smoothed rain that brings a gauge to its peak")
    lag_h: float = Field(2.0, gt=0, le=24, description="Runoff lag of the catchments, hours")


class CameraPlan(_Closed):
    frozen: str | None = Field(None, description="Camera id whose frame stops updating")
    frozen_from_h: float = Field(0.0, description="Hours after start when it freezes")
    missing: str | None = Field(None, description="Camera id whose image URL answers 404")
    stuck: str | None = Field(
        None, description="Camera id whose picture stops changing while its capture time keeps advancing"
    )
    stuck_from_h: float = Field(0.0, description="Hours after start when its picture sticks")


class RoadRestriction(_Closed):
    id: str = Field(description="Stable restriction id (same_tukokisei_info_id)")
    route: str = Field(description="Road name, e.g. 国道157号")
    section: str = Field(description="Restricted section in words")
    regulation: Literal["closure", "chain"] = Field(description="通行止 or チェーン規制")
    cause: Literal["rain", "snow"] = Field(description="事前通行規制 (rain) or 積雪 (snow)")
    region: Region = Field("kaga", description="Whose rain triggers a rain closure")
    threshold_mm: float = Field(150.0, gt=0, description="Continuous rainfall that closes the road")
    clear_h: float = Field(3.0, gt=0, description="Dry hours (< 1 mm/h) before reopening")
    from_h: float | None = Field(None, description="Scripted start (snow restrictions)")
    to_h: float | None = Field(None, description="Scripted end (snow restrictions)")
    line: list[tuple[float, float]] = Field(min_length=2, description="LineString [lon, lat] pairs")


JisCode = Annotated[str, StringConstraints(pattern=r"^\d{5}$")]


class OrderStep(_Closed):
    at_h: float = Field(ge=0, description="Hours after start of the municipality's document")
    municipality: JisCode = Field(description="JIS 5-digit code of the municipality giving the order")
    action: Literal["issue", "lift", "correct"] = Field(
        description="issue 発令 / lift 解除 of `sort` in `districts` (lift without districts: all of them); "
        "correct 訂正 re-sends the last revision with `districts` in place of the last step's"
    )
    sort: Literal["高齢者等避難", "避難指示", "緊急安全確保"] | None = Field(None, description="The order (not for correct)")
    districts: list[str] = Field(default_factory=list, description="地区 names the step names")


class ShelterStep(_Closed):
    at_h: float = Field(ge=0, description="Hours after start of the municipality's Shelter document")
    municipality: JisCode = Field(description="JIS 5-digit code of the municipality running the shelter")
    name: str = Field(description="The shelter's name as in the designated-shelter list")
    address: str = Field("", description="Its address")
    action: Literal["open", "crowded", "close"] = Field(description="開設, 開設 with 混雑, or 閉鎖")
    head_count: int | None = Field(None, ge=0, description="People in the shelter")
    capacity: int | None = Field(None, ge=0, description="How many it takes")


class ScheduledFault(FaultSpec):
    from_h: float = Field(description="Hours after start when the fault begins")
    until_h: float = Field(description="Hours after start when it ends")


class Scenario(_Closed):
    scenario: Meta
    rain: list[RainCell] = Field(default_factory=list)
    surge: list[SurgeCell] = Field(default_factory=list)
    snow: list[SnowCell] = Field(default_factory=list)
    sediment: list[SedimentStep] = Field(default_factory=list)
    flood: list[FloodRiver] = Field(default_factory=list)
    gauges: GaugeModel = Field(default_factory=GaugeModel)
    cameras: CameraPlan = Field(default_factory=CameraPlan)
    road: list[RoadRestriction] = Field(default_factory=list)
    fault: list[ScheduledFault] = Field(default_factory=list)
    orders: list[OrderStep] = Field(default_factory=list)
    shelters: list[ShelterStep] = Field(default_factory=list)


class ScenarioError(Exception):
    """A scenario file that cannot be used; str() names the file, line, key and reason."""

    def __init__(self, path: Path | str, reason: str, line: int | None = None, key: str | None = None):
        self.path, self.reason, self.line, self.key = str(path), reason, line, key
        where = self.path + (f":{line}" if line else "")
        super().__init__(f"{where}: {key + ': ' if key else ''}{reason}")


def resolve(name_or_path: str) -> Path:
    """A scenario name (heavy-rain) or a path to a .toml file -> the file's path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    return SCENARIO_DIR / f"{name_or_path}.toml"


def available() -> list[str]:
    """Names of the scenarios shipped with the simulator."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load(name_or_path: str) -> Scenario:
    """Read and validate a scenario; raises ScenarioError."""
    path = resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(path, f"no such scenario (shipped: {', '.join(available())})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ScenarioError(path, str(exc), line=int(match.group(1)) if match else None) from None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _key_path(first["loc"])
        raise ScenarioError(path, first["msg"], line=_locate(text, first["loc"]), key=key) from None


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _locate(text: str, loc: tuple) -> int | None:
    """Best-effort line of a key path in TOML text (tables and arrays of tables)."""
    lines = text.splitlines()
    table, index = str(loc[0]), loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    rest = [p for p in loc[1:] if not isinstance(p, int)]
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*$")
    seen, start = -1, None
    for no, line in enumerate(lines):
        m = header.match(line)
        if m and m.group(1) == table:
            seen += 1
            if index is None or seen == index:
                start = no
                break
    if start is None:
        return None
    if not rest:
        return start + 1
    for no in range(start + 1, len(lines)):
        if header.match(lines[no]):
            break
        if re.match(rf"^\s*{re.escape(str(rest[0]))}\s*=", lines[no]):
            return no + 1
    return start + 1
