"""River gauges in MLIT's shapes: the crisis-gauge area file and river.go.jp's tmlist time series.

Crisis gauges (危機管理型水位計) report about once a day while low (09:00 here) and every 10 minutes
above their 観測開始水位; the prefecture file lists only gauges currently above it.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from simulator import jma_xml as jx
from simulator.hydrology import FLOOD_STATIONS, STANDARD_GAUGES, CrisisStation, Hydrology

DAY = timedelta(days=1)
TEN = timedelta(minutes=10)
DAILY_REPORT_HOUR = 9


def floor10(t: datetime) -> datetime:
    """The 10-minute boundary at or before `t`, in JST."""
    t = t.astimezone(jx.JST)
    return t.replace(minute=t.minute - t.minute % 10, second=0, microsecond=0)


def over_code(s: CrisisStation, level: float) -> int:
    """The `over` field: 1 above start, 11 above danger, 111 above flooding, 0 below start."""
    if level >= s.flood:
        return 111
    if s.warn is not None and level >= s.warn:
        return 11
    return 1 if level >= s.start else 0


def _reports(hydro: Hydrology, s: CrisisStation, until: datetime, span: timedelta) -> list[tuple[datetime, float]]:
    """(time, level) of the reports a crisis gauge sent in `span` up to `until`, newest first."""
    out = []
    t = floor10(until)
    while t > until - span:
        level = hydro.crisis_level(s, t)
        if level >= s.start or (t.hour == DAILY_REPORT_HOUR and t.minute == 0):
            out.append((t, level))
        t -= TEN
    return out


def area_info(hydro: Hydrology, stations: list[CrisisStation], now: datetime, seed: int) -> dict:
    """/swin/files/area_info/current/{pref}.json: gauges above their start level right now."""
    t = floor10(now)
    obss = []
    for s in stations:
        level = hydro.crisis_level(s, t)
        if level < s.start:
            continue
        obss.append({
            "code": s.code, "name": s.name, "obsTime": t.isoformat(),
            "point": random.Random(f"{seed}:point:{s.code}").randint(10, 99),
            "level": level, "townCode": s.town, "prefCode": "17000", "over": over_code(s, level),
            "startLevel": s.start, "warnLevel": s.warn, "fladLevel": s.flood, "qt": None,
            "kana": s.kana, "addrKana": s.addr_kana, "lat": s.lat, "lon": s.lon,
        })
    return {"obss": obss}


def _tm(t: datetime, seed: int, key: str) -> tuple[str, str]:
    """(tmObsTime, obsTime): the 10-minute slot and the gauge's own clock a few minutes earlier."""
    lag = random.Random(f"{seed}:lag:{key}:{t.isoformat()}").choice((0, 0, 2, 5, 8))
    return t.strftime("%Y/%m/%d %H:%M"), (t - timedelta(minutes=lag)).strftime("%Y/%m/%d %H:%M")


def crisis_tmlist(hydro: Hydrology, s: CrisisStation, at: datetime, seed: int) -> dict:
    """tmlist/swstg/{date}/{HHMM}/{code}.json: latest report and the reports of the last week."""
    crown = s.flood + 0.6  # levee crown: a little above the flooding level
    values = []
    for t, level in _reports(hydro, s, at, 7 * DAY):
        tm, obs = _tm(t, seed, s.code)
        values.append({
            "stg": level, "tmObsTime": tm, "obsTime": obs, "stgQmFlg": None,
            "swstgOvlvl": {0: 0, 1: 1, 11: 2, 111: 3}[over_code(s, level)],
            "stgHght": round(level - crown, 2),
        })
    return {"dspFlg": 0, "obsValue": values[0] if values else None, "min10Values": values}


def standard_tmlist(hydro: Hydrology, obs_code: str, at: datetime, seed: int) -> dict:
    """tmlist/stg/{date}/{HHMM}/{obsFcd}.json: a standard gauge's last three hours, every 10 min."""
    values = []
    t = floor10(at)
    for _ in range(18):
        tm, obs = _tm(t, seed, obs_code)
        values.append({"stg": hydro.standard_level(obs_code, t), "tmObsTime": tm, "obsTime": obs, "stgQmFlg": None})
        t -= TEN
    return {"dspFlg": 0, "obsValue": values[0], "min10Values": values}


def standard_codes() -> list[str]:
    """13-digit ids of the standard gauges served."""
    return [st.obs_code for st in FLOOD_STATIONS.values()] + list(STANDARD_GAUGES)


def current_time(now: datetime) -> dict:
    """/kawabou/file/system/rwCrntTime.json: the newest data time clients should ask for."""
    return {"crntRwTime": floor10(now).strftime("%Y/%m/%d %H:%M")}
