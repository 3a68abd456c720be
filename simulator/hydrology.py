"""The storm as numbers: rain per region, catchment runoff, and water levels derived from them.

Everything is a pure function of (scenario, seed, scenario time) on a 10-minute grid, so the same
seed and the same scenario time always give the same values. Randomness comes from random.Random
seeded with strings (stable across processes, unlike hash()).
"""
from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from geo.codes import AreaCodes
from simulator.scenario import Scenario

STEP = timedelta(minutes=10)
STEP_S = 600
TAIL_H = 48  # hours simulated past the scripted event so recessions finish
REGION_OF_FORECAST_AREA = {"170010": "kaga", "170020": "noto"}
STATIONS_CSV = Path(__file__).parent / "data" / "ishikawa_kiki_gauges_stations.csv"


@dataclass(frozen=True)
class CrisisStation:
    code: str
    name: str
    kana: str
    town: str  # JIS 5-digit
    city: str
    lat: float
    lon: float
    start: float  # 観測開始水位
    warn: float | None  # 危険水位
    flood: float  # 氾濫開始水位
    addr_kana: str
    region: str


@dataclass(frozen=True)
class FloodStation:
    """A designated river's forecast station (and its standard gauge on river.go.jp)."""

    river: str  # scenario key
    river_name: str
    river_code: str  # JMA 河川 code (10 digits)
    area_code: str  # JMA 予報区域 code (12 digits)
    data_type: str  # VXKOii
    name: str
    station_code: str  # JMA 水位観測所 code (17 digits)
    obs_code: str  # river.go.jp 13-digit gauge id
    city: str
    jma_city: str  # 7-digit
    office: str  # river office
    office_code: str
    lat: float
    lon: float
    base: float
    thresholds: tuple[float, float, float, float]  # レベル1..4 (待機, 注意, 避難判断, 氾濫危険)
    plan_high: float  # 計画高水位


FLOOD_STATIONS: dict[str, FloodStation] = {
    "kakehashi": FloodStation(
        "kakehashi", "梯川", "8606010001", "860601000100", "VXKO61", "埴田", "86060100010000011",
        "0504200400001", "小松市", "1720300", "金沢河川国道事務所", "21565", 36.3745, 136.4905,
        1.20, (2.20, 3.00, 3.70, 4.20), 5.36,
    ),
    "tedori": FloodStation(
        "tedori", "手取川", "8606020001", "860602000100", "VXKO62", "中島", "86060200010000012",
        "0504200400002", "白山市", "1721000", "金沢河川国道事務所", "21565", 36.4580, 136.5600,
        0.90, (1.60, 2.30, 2.80, 3.30), 4.60,
    ),
}

# Further standard gauges on river.go.jp (no flood forecast), driven by their region's runoff.
STANDARD_GAUGES = {
    "0504200400003": ("浅野川", "天神橋", "kaga", 36.5755, 136.6740, 0.40, 2.60),
    "0504200400004": ("犀川", "御影大橋", "kaga", 36.5560, 136.6470, 0.30, 2.30),
    "0504200400005": ("河原田川", "鳳至", "noto", 37.3900, 136.9000, 0.20, 2.10),
}


def load_crisis_stations(codes: AreaCodes | None = None) -> list[CrisisStation]:
    """The 88 Ishikawa crisis-management gauges with their region (加賀/能登)."""
    codes = codes or AreaCodes.load()
    out = []
    with open(STATIONS_CSV, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            muni = codes.municipality(row["townCode"])
            out.append(CrisisStation(
                row["code"], row["name"], row["kana"], row["townCode"], row["placeCity"],
                float(row["latitude"]), float(row["longitude"]), float(row["startLevel"]),
                float(row["warnLevel"]) if row["warnLevel"] else None, float(row["fladLevel"]),
                row["addrKana"], REGION_OF_FORECAST_AREA[muni.forecast_area],
            ))
    return out


def _noise(seed: int, key: str, step: int, amplitude: float) -> float:
    return random.Random(f"{seed}:{key}:{step}").uniform(-amplitude, amplitude)


class Hydrology:
    """Rain, runoff and stage for one scenario and seed, precomputed on a 10-minute grid."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario, self.seed = scenario, seed
        self.start: datetime = scenario.scenario.start
        self.n = int((scenario.scenario.duration_h + TAIL_H) * 6)
        self.rain = {r: self._rain_series(r) for r in ("kaga", "noto")}
        kernel = self._kernel(scenario.gauges.lag_h)
        self.runoff = {r: self._convolve(s, kernel) for r, s in self.rain.items()}
        self.crisis = load_crisis_stations()
        self._targets = {s.code: self._target(s) for s in self.crisis}

    # -- grid ---------------------------------------------------------------------------------
    def step_of(self, t: datetime) -> int:
        """Index of the 10-minute step that contains `t` (may be negative or past the grid)."""
        return math.floor((t - self.start).total_seconds() / STEP_S)

    def time_of(self, step: int) -> datetime:
        """Start time of a step."""
        return self.start + step * STEP

    def _at(self, series: list[float], step: int) -> float:
        if step < 0 or not series:
            return 0.0
        return series[min(step, len(series) - 1)]

    # -- rain ---------------------------------------------------------------------------------
    def _rain_series(self, region: str) -> list[float]:
        rng = random.Random(f"{self.seed}:rain:{region}")
        cells = [c for c in self.scenario.rain if c.region == region]
        out = []
        for i in range(self.n):
            h = (i + 0.5) / 6
            r = sum(c.peak_mm_h * math.exp(-0.5 * ((h - c.peak_h) / c.width_h) ** 2) for c in cells)
            r *= 1 + rng.gauss(0, 0.15)  # convective gustiness, drawn even when dry to keep streams aligned
            out.append(round(r, 1) if r >= 0.5 else 0.0)
        return out

    def rain_at(self, region: str, t: datetime) -> float:
        """Rainfall rate (mm/h) over the region during the step containing `t`."""
        return self._at(self.rain[region], self.step_of(t))

    def accumulated(self, region: str, t: datetime, hours: float) -> float:
        """Rain (mm) that fell over the region in the `hours` before `t`."""
        end = self.step_of(t)
        steps = range(max(0, end - int(hours * 6) + 1), end + 1)
        return sum(self._at(self.rain[region], i) for i in steps) / 6

    # -- runoff -------------------------------------------------------------------------------
    @staticmethod
    def _kernel(lag_h: float) -> list[float]:
        lag = lag_h * 6
        k = [(j / lag) * math.exp(-j / lag) for j in range(int(lag * 8))]
        total = sum(k)
        return [v / total for v in k]

    @staticmethod
    def _convolve(series: list[float], kernel: list[float]) -> list[float]:
        return [sum(series[i - j] * w for j, w in enumerate(kernel) if i - j >= 0) for i in range(len(series))]

    def runoff_at(self, region: str, t: datetime) -> float:
        """Smoothed, lagged rain (mm/h equivalent) that drives the region's rivers."""
        return self._at(self.runoff[region], self.step_of(t))

    # -- crisis gauges ------------------------------------------------------------------------
    def _target(self, s: CrisisStation) -> tuple[float, float]:
        """(base level, level reached at design runoff) for a station, drawn from the seed."""
        rng = random.Random(f"{self.seed}:gauge:{s.code}")
        warn = s.warn if s.warn is not None else (s.start + s.flood) / 2
        base = s.start - rng.uniform(0.3, 0.8) * (warn - s.start) - 0.05
        pick = rng.random()
        if pick < 0.55:
            peak = s.start + rng.uniform(-0.3, 0.6) * (warn - s.start)
        elif pick < 0.88:
            peak = warn + rng.uniform(-0.4, 0.9) * (s.flood - warn)
        else:
            peak = s.flood + rng.uniform(0.05, 0.5) * (s.flood - warn + 0.1)
        return base, peak

    def crisis_level(self, s: CrisisStation, t: datetime) -> float:
        """Stage (m) of a crisis gauge at `t`."""
        step = self.step_of(t)
        base, peak = self._targets[s.code]
        ratio = min(self._at(self.runoff[s.region], step) / self.scenario.gauges.design_rain_mm_h, 1.3)
        return round(base + (peak - base) * ratio + _noise(self.seed, s.code, step, 0.01), 2)

    # -- designated rivers --------------------------------------------------------------------
    def flood_level(self, st: FloodStation, t: datetime) -> float:
        """Stage (m) at a flood-forecast station at `t` (steps; forecasts read the future)."""
        step = self.step_of(t)
        plan = next((f for f in self.scenario.flood if f.river == st.river), None)
        level = st.base
        if plan is not None:
            marks = (*st.thresholds, st.plan_high)
            lo = marks[plan.peak_level - 1] if plan.peak_level <= 4 else st.plan_high
            hi = marks[plan.peak_level] if plan.peak_level <= 4 else st.plan_high + 0.5
            peak = lo + 0.35 * (hi - lo)
            h = (step + 0.5) / 6
            level += (peak - st.base) * math.exp(-0.5 * ((h - plan.peak_h) / plan.width_h) ** 2)
        return round(level + _noise(self.seed, st.obs_code, step, 0.005), 2)

    def standard_level(self, obs_code: str, t: datetime) -> float:
        """Stage (m) of any river.go.jp standard gauge the simulator serves."""
        for st in FLOOD_STATIONS.values():
            if st.obs_code == obs_code:
                return self.flood_level(st, t)
        _river, _name, region, _lat, _lon, base, peak = STANDARD_GAUGES[obs_code]
        step = self.step_of(t)
        ratio = min(self._at(self.runoff[region], step) / self.scenario.gauges.design_rain_mm_h, 1.3)
        return round(base + (peak - base) * ratio + _noise(self.seed, obs_code, step, 0.005), 2)
