"""Shelter advice for one point: a suitable shelter within reach, or what to do instead.

Rules (the API documents them):
- Only warnings restrict the choice: the hazards of the covering events at level 3 or above
  (geo.hazards.restricting_hazards). A site must be designated for every one of them: 洪水, 内水氾濫
  and 高潮 need their own flag, sediment needs 崖崩れ、土石流及び地滑り. Advisories never restrict.
- 内水氾濫: where a municipality designates no site at all for it, its 洪水 designation stands in
  (geo/shelters.py); such a pick says so in `counted_as`.
- A warning's area (a municipality, or any polygon of a warning) never excludes shelters — the
  town's own shelters are where its residents go. Only a configured hazard *zone* of a hazard in
  force does (GeoConfig.hazard_zones, e.g. 土砂災害警戒区域 or 洪水浸水想定区域 polygons).
- Within `limit_m` (default 5 km): open first, then crowded, then unknown; closed never.
- Nothing suitable within the limit: no far shelter is offered. While a hazard restricts, the
  answer is indoor safety (垂直避難 for flood-type hazards, 屋内安全確保 away from slopes for
  sediment) with the municipality's contact; in calm it just says none is near.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import shapely
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry.base import BaseGeometry

from geo.hazards import HAZARD_LABELS_JA, Hazard, hazard_names
from geo.readings import name_readings
from geo.shelters import Recommendation, ShelterStatus

if TYPE_CHECKING:
    from geo.region import Region

DEFAULT_LIMIT_M = 5000.0
DEFAULT_CONTACTS = Path(__file__).parent / "data" / "contacts_17_ishikawa.json"

SHELTER = "shelter"
INDOOR_SAFETY = "indoor_safety"
NO_SHELTER_NEARBY = "no_shelter_nearby"

_FLOOD_TYPE = frozenset({Hazard.FLOOD, Hazard.INLAND_FLOOD, Hazard.STORM_SURGE})

# What to do when no suitable shelter is within reach, in the portal's three languages. These are
# actions, not level words (those live in geo/wording.py); the wording follows the Cabinet Office's
# 避難情報に関するガイドライン (屋内安全確保: 垂直避難 / 待避).
GUIDANCE: dict[str, dict[str, str]] = {
    "vertical_evacuation": {
        "ja": "浸水のおそれがあります。建物の２階以上など、浸水しない高さへ移ってください（垂直避難）。",
        "en": "Flooding may reach you: move to the second floor or higher, above the water (vertical evacuation).",
        "easy": "みずが くるかも しれません。たてものの ２かい より うえへ いきましょう。",
    },
    "away_from_slopes": {
        "ja": "崖や沢から離れた、なるべく２階以上の部屋で身を守ってください（屋内安全確保）。",
        "en": "Stay in a room away from slopes and streams, on the second floor or higher if you can (indoor safety).",
        "easy": "がけや さわから はなれた へやに いましょう。できれば ２かいに いきましょう。",
    },
    "move_early": {
        "ja": "近くの頑丈な建物や安全な親戚・知人宅へ、明るいうちに移ることも考えてください。"
        "外がすでに危険なときは、無理に移動しないでください。",
        "en": "Consider moving early, while it is light, to a sturdy building nearby or to relatives or friends "
        "in a safe place; do not go out when it is already dangerous outside.",
        "easy": "あかるい うちに、ちかくの じょうぶな たてものや、しりあいの いえへ いくことも かんがえましょう。"
        "そとが あぶない ときは、そとに でないで ください。",
    },
    "ask_municipality": {
        "ja": "市町の避難情報を確認し、分からないことは市町に問い合わせてください。",
        "en": "Check your municipality's evacuation information and ask the municipality if unsure.",
        "easy": "しや まちの ひなんの じょうほうを みましょう。わからない ときは、しや まちに ききましょう。",
    },
}


class HazardZoneConfig(BaseModel):
    """A polygon file of zones where one hazard strikes (e.g. 土砂災害警戒区域 for sediment)."""

    model_config = ConfigDict(extra="forbid")

    hazard: Hazard = Field(description="The hazard whose zones the file holds (flood, sediment, storm_surge, ...).")
    path: Path = Field(description="Polygons in any GDAL vector format (GeoJSON, GeoPackage, Shapefile...).")
    layer: str | None = Field(default=None, description="Layer name, for multi-layer files.")


class HazardZones:
    """Configured hazard-zone polygons by hazard; empty unless a deployment configures some."""

    def __init__(self, zones: Mapping[Hazard, Sequence[BaseGeometry]] | None = None) -> None:
        self.zones: dict[Hazard, list[BaseGeometry]] = {h: list(g) for h, g in (zones or {}).items()}
        for polygons in self.zones.values():
            shapely.prepare(polygons)

    @classmethod
    def load(cls, configs: Iterable[HazardZoneConfig]) -> HazardZones:
        """Read every configured file; a file without polygons is an error naming it."""
        zones: dict[Hazard, list[BaseGeometry]] = {}
        for config in configs:
            frame = gpd.read_file(config.path, engine="pyogrio", layer=config.layer)
            if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
                frame = frame.to_crs("EPSG:4326")
            polygons = [g for g in frame.geometry if g is not None and g.geom_type in ("Polygon", "MultiPolygon")]
            if not polygons:
                raise ValueError(f"{config.path}: no polygons for hazard zone {config.hazard.value!r}")
            zones.setdefault(config.hazard, []).extend(shapely.make_valid(p) for p in polygons)
        return cls(zones)

    def for_hazards(self, hazards: Iterable[Hazard]) -> list[BaseGeometry]:
        """The zone polygons of the given hazards."""
        return [p for h in hazards for p in self.zones.get(h, ())]

    def at(self, lon: float, lat: float) -> list[Hazard]:
        """The hazards whose configured zones contain the point."""
        point = shapely.Point(lon, lat)
        return [h for h in Hazard if any(p.intersects(point) for p in self.zones.get(h, ()))]


@dataclass(frozen=True, slots=True)
class Contact:
    """Where a municipality's residents find its disaster information (unverified fields are None)."""

    jis: str
    name: str
    office: str | None
    phone: str | None
    website: str | None
    source: str | None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "code": self.jis,
            "name": self.name,
            "office": self.office,
            "phone": self.phone,
            "website": self.website,
            "source": self.source,
        }


def load_contacts(path: Path | str | None = DEFAULT_CONTACTS) -> dict[str, Contact]:
    """Municipality contacts by JIS code from a contacts file (geo/data/contacts_17_ishikawa.json)."""
    if path is None:
        return {}
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return {
        jis: Contact(jis, row["name"], row.get("office"), row.get("phone"), row.get("website"), row.get("source"))
        for jis, row in data["municipalities"].items()
    }


def guidance_for(hazards: Iterable[Hazard]) -> list[dict[str, str]]:
    """Indoor-safety guidance for the hazards in force, each with its code and ja / en / easy text."""
    found = set(hazards)
    codes = []
    if found & _FLOOD_TYPE:
        codes.append("vertical_evacuation")
    if Hazard.SEDIMENT in found:
        codes.append("away_from_slopes")
    codes += ["move_early", "ask_municipality"]
    return [{"code": code, **GUIDANCE[code]} for code in codes]


def advise(
    region: Region,
    lon: float,
    lat: float,
    municipality: str | None,
    hazards: Iterable[Hazard],
    statuses: Mapping[str, ShelterStatus],
    k: int = 3,
    limit_m: float = DEFAULT_LIMIT_M,
) -> dict[str, Any]:
    """The shelter answer for a point, JSON-ready: `kind` shelter / indoor_safety / no_shelter_nearby."""
    restricting = sorted(set(hazards))
    zones = region.hazard_zones.for_hazards(restricting)
    picks = region.shelters.recommend(lon, lat, restricting, zones, statuses, k=k, limit_m=limit_m)
    contact = region.contacts.get(municipality) if municipality else None
    answer: dict[str, Any] = {
        "kind": SHELTER if picks else (INDOOR_SAFETY if restricting else NO_SHELTER_NEARBY),
        "limit_m": round(limit_m),
        "hazards": [{"hazard": h.value, "name_ja": HAZARD_LABELS_JA[h], "names": hazard_names(h)} for h in restricting],
        "point_in_hazard_zones": [h.value for h in region.hazard_zones.at(lon, lat)],
        "shelters": [shelter_summary(r, restricting) for r in picks],
        "nearest_suitable_m": None,
        "guidance": [],
        "contact": contact.to_json() if contact else None,
    }
    if not picks:
        # Said, never offered: how far the nearest suitable one is, so "none within 5 km" is honest.
        nearest = region.shelters.nearest_suitable_m(lon, lat, restricting, zones, statuses)
        answer["nearest_suitable_m"] = None if nearest is None else round(nearest)
        answer["guidance"] = guidance_for(restricting) if restricting else []
    return answer


def shelter_summary(rec: Recommendation, hazards: Iterable[Hazard] = ()) -> dict[str, Any]:
    """One recommended site as JSON: the site, its status, distance, and any designation read for another."""
    site = rec.shelter
    counted_as = {}
    if Hazard.INLAND_FLOOD in set(hazards) and Hazard.INLAND_FLOOD not in site.hazards:
        counted_as[Hazard.INLAND_FLOOD.value] = Hazard.FLOOD.value  # only reachable through the 洪水 stand-in
    return {
        **site.to_json(),
        "name_readings": name_readings(site.name),
        "status": rec.status.value,
        "distance_m": round(rec.distance_m),
        "counted_as": counted_as,
    }
