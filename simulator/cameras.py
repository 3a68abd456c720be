"""River cameras: river.go.jp camera masters and JPEG snapshots drawn with Pillow.

A snapshot is taken every 10 scenario minutes; the frame shows the rain and the river's stage at a
nearby crisis gauge, and carries its capture time both in the picture and in Last-Modified. The
scenario can freeze one camera (the frame and its capture time stop changing), make one camera's
image go missing, and make one camera's picture stick while its capture time keeps advancing.
"""
from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from simulator.gauges import floor10
from simulator.hydrology import CrisisStation, Hydrology

SIZE = (480, 270)


@dataclass(frozen=True)
class Camera:
    id: str
    name: str
    kana: str
    lon: float
    lat: float
    town: str  # JIS 5-digit
    own_cd: int
    ofc_cd: int
    river: str


# Rows of river_cameras/ishikawa_river_cctv_list_subset.csv (川の防災情報, via svgmap/mlit-river-cctv-data).
CAMERAS = [
    Camera("104353128", "浅野川（鞍降橋）", "あさのがわ（くらおりばし）", 136.646061, 36.625599, "17201", 4353, 84, "浅野川"),
    Camera("104353130", "犀川（普正寺橋）", "さいがわ（ふしょうじばし）", 136.590013, 36.597572, "17201", 4353, 84, "犀川"),
    Camera("104353177", "浅野川（沖橋）", "あさのがわ（おきばし）", 136.649432, 36.591498, "17201", 4353, 84, "浅野川"),
    Camera("104353028", "梯川（瀬領大橋）", "かけはしかわ（せりょうおおはし）", 136.48517183, 36.33037061, "17203", 4353, 84, "梯川"),
    Camera("121565006", "梯川左岸3.6k", "", 136.455806, 36.415417, "17203", 21565, 84, "梯川"),
    Camera("304353072", "県庁　浅野川放水路", "あさのがわほうすいろ", 136.695833333, 36.530833333, "17201", 4353, 17, "浅野川"),
]
BY_ID = {c.id: c for c in CAMERAS}


def nearest_station(cam: Camera, stations: list[CrisisStation]) -> CrisisStation:
    """The crisis gauge closest to a camera: its stage sets the water in the picture."""
    return min(stations, key=lambda s: (s.lat - cam.lat) ** 2 + ((s.lon - cam.lon) * math.cos(math.radians(cam.lat))) ** 2)


def master(cam: Camera, base_url: str, station: CrisisStation) -> dict:
    """files/master/obs/scam/{id}.json, shaped like the real camera master."""
    now_url = f"{base_url}/cam/now/cctv_{cam.id}.jpg"
    normal_url = f"{base_url}/cam/normal/cctv_{cam.id}.jpg"
    return {"obsInfo": {
        "name": cam.name, "lat": cam.lat, "lon": cam.lon, "addr": f"石川県{station.city.removeprefix('石川県')}",
        "pause": 0, "nameKana": cam.kana, "ownCd": cam.own_cd, "ownName": "石川県" if cam.own_cd == 4353 else "金沢河川国道事務所",
        "ownKana": "", "ofcCd": cam.ofc_cd, "sysId": 1, "sysCamId": cam.id[-7:], "rsysCd": None, "rsysNm": cam.river,
        "rsysKana": "", "rvrCd": None, "rvrNm": cam.river, "rvrKana": "", "prefCd": 1701, "prefNm": "石川県",
        "twnCd": int("1701" + cam.town[2:]), "twnNm": station.city.removeprefix("石川県"), "addrKana": "",
        "dateType": 0, "camKind": 4, "mngSect": 1, "currProvUrl": now_url, "normProvUrl": normal_url,
        "currentUrl": now_url, "normallyUrl": normal_url,
        "currDateProvUrl": f"{base_url}/cam/now/cctv_{cam.id}.json", "liveUrl": None,
        "obsFcd": station.code, "obsNm": station.name, "swobsCd": station.code, "swobsNm": station.name,
    }}


def frame_time(cam: Camera, now: datetime, frozen: str | None, frozen_at: datetime) -> datetime:
    """Capture time of the frame a camera serves at `now` (stuck for the frozen camera)."""
    t = floor10(now)
    if cam.id == frozen and t > floor10(frozen_at):
        return floor10(frozen_at)
    return t


def picture_time(cam: Camera, taken: datetime, stuck: str | None, stuck_at: datetime) -> datetime:
    """The moment whose picture a capture shows: `taken`, except for the stuck camera past its hour."""
    if cam.id == stuck and taken > floor10(stuck_at):
        return floor10(stuck_at)
    return taken


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def render(cam: Camera, taken: datetime | None, rain_mm_h: float, stage: float, seed: int) -> bytes:
    """The JPEG for one capture (`taken` None = the 平常時 reference image); `stage` is 0..1+."""
    return _render(cam.id, taken.isoformat() if taken else "", round(rain_mm_h, 1), round(stage, 3), seed)


@lru_cache(maxsize=512)
def _render(cam_id: str, taken: str, rain: float, stage: float, seed: int) -> bytes:
    w, h = SIZE
    rng = random.Random(f"{seed}:frame:{cam_id}:{taken}")
    shade = max(70, 200 - int(rain * 2.5))
    img = Image.new("RGB", SIZE, (shade, shade + 5, shade + 15))
    draw = ImageDraw.Draw(img)
    ground = int(h * 0.45)
    draw.polygon([(0, ground), (w, ground - 20), (w, h), (0, h)], fill=(70, 95, 60))  # banks
    water_top = int(h * 0.92 - min(stage, 1.2) * h * 0.42)
    brown = min(1.0, rain / 40 + stage / 2)
    draw.polygon([(60, water_top), (w - 60, water_top - 10), (w, h), (0, h)],
                 fill=(int(60 + 90 * brown), int(90 + 30 * brown), int(130 - 70 * brown)))
    for _ in range(int(rain * 6)):  # rain streaks
        x, y = rng.randrange(w), rng.randrange(h)
        draw.line([(x, y), (x - 3, y + 12)], fill=(215, 220, 230), width=1)
    label = "NORMAL (reference)" if not taken else taken[:16].replace("T", " ") + " JST"
    draw.rectangle([0, 0, w, 26], fill=(0, 0, 0))
    draw.text((8, 5), f"CAM {cam_id}  {label}", fill=(255, 255, 255), font=_font(15))
    exif = Image.Exif()
    if taken:  # capture time (JST) in EXIF as well, as camera systems stamp it
        stamp = taken[:19].replace("-", ":").replace("T", " ")
        exif[0x0132] = stamp  # DateTime
        exif.get_ifd(0x8769)[0x9003] = stamp  # DateTimeOriginal
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=70, exif=exif)
    return out.getvalue()


def stage_fraction(hydro: Hydrology, station: CrisisStation, t: datetime) -> float:
    """Where the nearby gauge's stage sits between low water (0) and flooding (1)."""
    level = hydro.crisis_level(station, t)
    low = station.start - (station.flood - station.start)
    return max(0.0, (level - low) / max(0.01, station.flood - low))
