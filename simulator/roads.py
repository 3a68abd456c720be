"""Road restrictions: MLIT 道路情報提供システム TukoKisei JSON and the same events as WZDx 4.2.

Rain closures (事前通行規制) follow the region's continuous rainfall: a road closes when it passes
the road's threshold and reopens after `clear_h` dry hours. Snow restrictions run on a script.

In WZDx a rain closure or a snow chain rule is not a work zone: WZDx 4.x carries restrictions that
are not works in a RoadRestrictionFeed (event_type `restriction`, the closure told by its lanes'
`closed` status), beside the WorkZoneFeed, which holds only road works (none in these scenarios).
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator import jma_xml as jx
from simulator.hydrology import Hydrology
from simulator.scenario import RoadRestriction, Scenario

# 規制内容 (kisei_naiyo_cd) per FORMAT.md; 原因事象 codes below 05-07 (工事) are this simulator's
# reading: the public table is not published, so the codes are documented in README.md.
KISEI = {"closure": ("01", "通行止"), "chain": ("06", "チェーン規制")}
GENIN = {"rain": ("12", "雨量（事前通行規制）"), "snow": ("13", "積雪")}
BUREAU = "84"  # 北陸地方整備局
WZDX_NS = uuid.UUID("6f1c1f9e-3c2e-4a7b-9a59-0d6b2f1c0b84")


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime | None  # None: still in force at the end of the simulated span


def intervals(road: RoadRestriction, hydro: Hydrology) -> list[Interval]:
    """When a restriction is in force over the whole simulated span."""
    start = hydro.start
    if road.cause == "snow" or road.from_h is not None:
        begin = start + timedelta(hours=road.from_h or 0.0)
        return [Interval(begin, start + timedelta(hours=road.to_h) if road.to_h is not None else None)]
    out, total, dry, closed_at = [], 0.0, 0, None
    for step in range(hydro.n):
        rain = hydro.rain[road.region][step]
        dry = dry + 1 if rain < 1.0 else 0
        total += rain / 6
        t = hydro.time_of(step + 1)
        if closed_at is None and total >= road.threshold_mm:
            closed_at = t
        elif closed_at is not None and dry >= road.clear_h * 6:
            out.append(Interval(closed_at, t))
            closed_at = None
        if dry >= road.clear_h * 6:
            total = 0.0  # continuous rainfall starts over after a dry spell
    if closed_at is not None:
        out.append(Interval(closed_at, None))
    return out


class RoadPlan:
    """All restrictions of a scenario with their intervals, queried by scenario time."""

    def __init__(self, scenario: Scenario, hydro: Hydrology, seed: int) -> None:
        self.seed = seed
        self.roads = [(r, intervals(r, hydro)) for r in scenario.road]

    def active(self, now: datetime) -> list[tuple[RoadRestriction, Interval]]:
        """Restrictions in force at `now`."""
        return [(r, iv) for r, ivs in self.roads for iv in ivs if iv.start <= now and (iv.end is None or now < iv.end)]

    def backup_dir(self, now: datetime) -> str:
        """roadinfo/backup/<yyyymmddHHMMSS>/<random>/ of the 5-minute refresh containing `now`."""
        t = now.astimezone(jx.JST)
        t = t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)
        token = random.Random(f"{self.seed}:backup:{t.isoformat()}").getrandbits(48)
        return f"roadinfo/backup/{t:%Y%m%d%H%M%S}/{token:012x}/"

    def tuko_kisei(self, mesh: str, now: datetime) -> list[dict]:
        """TukoKisei/<mesh>.json: restrictions whose icon point lies in the primary mesh."""
        out = []
        for road, iv in self.active(now):
            point = road.line[len(road.line) // 2]
            if primary_mesh(point[0], point[1]) != mesh:
                continue
            kisei, _ = KISEI[road.regulation]
            out.append({
                "same_tukokisei_info_id": road.id,
                "kisei_naiyo_cd": kisei,
                "kisei_naiyo_shosai_cd": "001",
                "genin_jisho_cd": GENIN[road.cause][0],
                "kisei_jishi_jyokyo": "1",
                "kisei_kaishi_nichiji": iv.start.astimezone(jx.JST).strftime("%Y/%m/%d %H:%M"),
                "chiho_seibikyoku_cd": BUREAU,
                "iconData": {"point": list(point)},
                "geo_json": {"type": "LineString", "coordinates": [list(p) for p in road.line]},
            })
        return out

    def detail(self, info_id: str, now: datetime) -> dict | None:
        """The detail record (route, section, reason in words) of a restriction in force."""
        for road, iv in self.active(now):
            if road.id == info_id:
                return {
                    "same_tukokisei_info_id": road.id, "rosen_name": road.route, "kukan": road.section,
                    "kisei_naiyo": KISEI[road.regulation][1], "genin_jisho": GENIN[road.cause][1],
                    "kisei_kaishi_nichiji": iv.start.astimezone(jx.JST).strftime("%Y/%m/%d %H:%M"),
                }
        return None

    def wzdx(self, now: datetime) -> dict:
        """Road works in force as a WZDx 4.2 WorkZoneFeed; the scenarios' restrictions are weather, not works."""
        return self._feed(now, [])

    def wzdx_restrictions(self, now: datetime) -> dict:
        """Weather restrictions in force as a WZDx 4.2 RoadRestrictionFeed (GeoJSON FeatureCollection)."""
        stamp = jx.iso_utc(now.replace(second=0, microsecond=0))
        features = []
        for road, iv in self.active(now):
            closed = road.regulation == "closure"
            what = "事前通行規制（雨量）による通行止" if road.cause == "rain" else "積雪によるチェーン規制"
            features.append({
                "id": str(uuid.uuid5(WZDX_NS, f"{road.id}:{iv.start.isoformat()}")),
                "type": "Feature",
                "properties": {
                    "core_details": {
                        "data_source_id": "1", "event_type": "restriction", "road_names": [road.route],
                        "direction": "undefined", "name": road.section,  # the human-readable name, never the id
                        "description": f"{road.route} {road.section}: {what}",
                        "creation_date": jx.iso_utc(iv.start), "update_date": stamp,
                    },
                    # One lane stands for the road: closed for a 通行止, open (with chains) otherwise.
                    "lanes": [{"order": 1, "type": "general", "status": "closed" if closed else "open"}],
                    "restrictions": [],
                },
                "geometry": {"type": "LineString", "coordinates": [list(p) for p in road.line]},
            })
        return self._feed(now, features)

    @staticmethod
    def _feed(now: datetime, features: list[dict]) -> dict:
        stamp = jx.iso_utc(now.replace(second=0, microsecond=0))
        return {
            "feed_info": {
                "update_date": stamp, "publisher": "bosai-hub simulator", "version": "4.2",
                "license": "https://creativecommons.org/publicdomain/zero/1.0/",
                "data_sources": [{"data_source_id": "1", "organization_name": "北陸地方整備局・石川県（模擬）",
                                  "update_frequency": 300, "update_date": stamp}],
            },
            "type": "FeatureCollection",
            "features": features,
        }


def primary_mesh(lon: float, lat: float) -> str:
    """JIS X 0410 1次メッシュ code of a point (5436 covers Kanazawa)."""
    return f"{int(lat * 1.5):02d}{int(lon - 100):02d}"
