"""Road-restriction wire formats, read into typed records. Knows nothing of Events.

- MLIT 道路情報提供システム `TukoKisei/<mesh>.json`: an array of restrictions (field names as the
  site's own files use them; see shared data FORMAT.md). Codes arrive as strings or numbers.
- WZDx 4.2 GeoJSON FeatureCollection (US work-zone / road-event standard): a WorkZoneFeed
  (event_type `work-zone`, `detour`) or a RoadRestrictionFeed (event_type `restriction`: what
  limits a road that is not works — a rain closure, a chain rule). Only a work zone is works; a
  restriction closes the road when every lane it lists is `closed` (or its impact says so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, RootModel

from collectors.json_wire import parse_model
from collectors.timestamps import JstTime

# kisei_naiyo_cd -> regulation in words
MLIT_REGULATIONS = {"01": "通行止", "04": "車線規制", "05": "片側交互通行", "06": "チェーン規制", "09": "移動規制"}
MLIT_CONSTRUCTION_CAUSES = frozenset({"05", "06", "07"})  # genin_jisho_cd of 工事
MLIT_WINTER_CLOSURE = ("01", "002")  # 通行止 with detail 002 = 冬期閉鎖

WZDX_REGULATIONS = {
    "all-lanes-closed": "通行止",
    "some-lanes-closed": "車線規制",
    "some-lanes-closed-merge-left": "車線規制",
    "some-lanes-closed-merge-right": "車線規制",
    "some-lanes-closed-split": "車線規制",
    "alternating-one-way": "片側交互通行",
    "flagging": "片側交互通行",
    "all-lanes-open": "規制なし",
    "temporary-traffic-signal": "片側交互通行",
}


@dataclass(frozen=True, slots=True)
class RoadRestriction:
    """One restricted road section as a source lists it."""

    key: str
    regulation: str  # 通行止 / 車線規制 / 片側交互通行 / チェーン規制 / ...
    closed: bool  # no traffic at all through the section
    construction: bool  # planned works rather than weather, disaster or accident
    geometry: dict[str, Any] | None
    route: str | None = None
    section: str | None = None
    reason: str | None = None
    started_at: datetime | None = None
    ends_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _code(width: int):
    def normalise(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a code, not a boolean")
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str) and value.isdigit() and len(value) <= width:
            return value.zfill(width)
        raise ValueError(f"{value!r} is not a {width}-digit code")

    return BeforeValidator(normalise)


Coord = Annotated[float, Field(allow_inf_nan=False, ge=-180, le=180)]
Position = tuple[Coord, Coord] | tuple[Coord, Coord, float]


class _LineString(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["LineString"]
    coordinates: list[Position] = Field(min_length=2)


class _MultiLineString(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["MultiLineString"]
    coordinates: list[Annotated[list[Position], Field(min_length=2)]] = Field(min_length=1)


class _MultiPoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["MultiPoint", "Point"]
    coordinates: list[Position] | Position


Geometry = Annotated[_LineString | _MultiLineString | _MultiPoint, Field(discriminator="type")]


class _IconData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    point: Position


class _MlitRestriction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    same_tukokisei_info_id: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] = Field(
        pattern=r"^[0-9A-Za-z_.:-]{1,64}$"
    )
    kisei_naiyo_cd: Annotated[str, _code(2)]
    kisei_naiyo_shosai_cd: Annotated[str, _code(3)] | None = None
    genin_jisho_cd: Annotated[str, _code(2)] | None = None
    kisei_jishi_jyokyo: Annotated[str, _code(1)] | None = None
    kisei_kaishi_nichiji: JstTime | None = None
    kisei_shuryo_nichiji: JstTime | None = None
    iconData: _IconData | None = None
    geo_json: Geometry | None = None
    rosen_nm: str | None = None  # route name, where the client merged the detail page
    kukan_nm: str | None = None  # section name, likewise
    genin_nm: str | None = None  # cause in words, likewise


class _MlitList(RootModel[list[_MlitRestriction]]):
    pass


def parse_mlit(body: bytes, cause_labels: dict[str, str]) -> list[RoadRestriction]:
    """MLIT TukoKisei JSON -> the restrictions in force (kisei_jishi_jyokyo 1, or absent)."""
    items = parse_model(_MlitList, body, "MLIT road information").root
    out = []
    for item in items:
        if item.kisei_jishi_jyokyo not in (None, "1"):
            continue
        geometry = item.geo_json.model_dump(mode="json") if item.geo_json else None
        if geometry is None and item.iconData is not None:
            geometry = {"type": "Point", "coordinates": list(item.iconData.point)}
        cause = item.genin_jisho_cd
        construction = cause in MLIT_CONSTRUCTION_CAUSES
        winter = (item.kisei_naiyo_cd, item.kisei_naiyo_shosai_cd) == MLIT_WINTER_CLOSURE
        reason = item.genin_nm or (cause_labels.get(cause) if cause else None) or ("冬期閉鎖" if winter else None)
        out.append(RoadRestriction(
            key=item.same_tukokisei_info_id,
            regulation=MLIT_REGULATIONS.get(item.kisei_naiyo_cd, f"規制 {item.kisei_naiyo_cd}"),
            closed=item.kisei_naiyo_cd == "01",
            construction=construction,
            geometry=geometry,
            route=item.rosen_nm,
            section=item.kukan_nm,
            reason=reason,
            started_at=item.kisei_kaishi_nichiji,
            ends_at=item.kisei_shuryo_nichiji,
            extra={"regulation_code": item.kisei_naiyo_cd, "regulation_detail_code": item.kisei_naiyo_shosai_cd,
                   "cause_code": cause, "winter_closure": winter},
        ))
    return out


class _CoreDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data_source_id: str
    event_type: str
    road_names: list[str] = Field(min_length=1)
    direction: str
    name: str | None = None
    description: str | None = None
    creation_date: AwareDatetime | None = None
    update_date: AwareDatetime | None = None


class _Lane(BaseModel):
    model_config = ConfigDict(extra="ignore")

    order: int | None = None
    status: str


class _WzdxProperties(BaseModel):
    model_config = ConfigDict(extra="ignore")

    core_details: _CoreDetails
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    vehicle_impact: str | None = None
    beginning_cross_street: str | None = None
    ending_cross_street: str | None = None
    types_of_work: list[dict[str, Any]] = Field(default_factory=list)
    lanes: list[_Lane] = Field(default_factory=list)
    restrictions: list[dict[str, Any]] = Field(default_factory=list)


class _WzdxFeature(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=r"^[0-9A-Za-z_.:-]{1,128}$")
    type: Literal["Feature"]
    properties: _WzdxProperties
    geometry: Geometry


class _FeedInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    update_date: AwareDatetime
    version: str


class _WzdxFeed(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["FeatureCollection"]
    feed_info: _FeedInfo
    features: list[_WzdxFeature]


def parse_wzdx(body: bytes, now: datetime, in_force_only: bool = True) -> tuple[list[RoadRestriction], datetime]:
    """WZDx 4.x feed -> the road events (in force at `now`, unless told otherwise) and the feed's update time."""
    feed = parse_model(_WzdxFeed, body, "WZDx feed")
    out = []
    for feature in feed.features:
        p = feature.properties
        if in_force_only and (
            (p.start_date and p.start_date > now) or (p.end_date and p.end_date <= now)
        ):
            continue
        core = p.core_details
        impact = p.vehicle_impact or ("detour" if core.event_type == "detour" else None)
        if impact is None and core.event_type == "restriction" and p.lanes:
            impact = "all-lanes-closed" if all(lane.status == "closed" for lane in p.lanes) else None
        if core.event_type == "detour":
            regulation = "迂回"
        elif core.event_type == "restriction" and impact != "all-lanes-closed":
            regulation = "規制"  # a chain rule, a weight limit...: the description says which
        else:
            regulation = WZDX_REGULATIONS.get(impact or "", "規制")
        section = " - ".join(s for s in (p.beginning_cross_street, p.ending_cross_street) if s) or None
        out.append(RoadRestriction(
            key=feature.id,
            regulation=regulation,
            closed=impact == "all-lanes-closed",
            construction=core.event_type == "work-zone",
            geometry=feature.geometry.model_dump(mode="json"),
            route=", ".join(core.road_names),
            section=section or core.name,
            reason=core.description,
            started_at=p.start_date or core.creation_date,
            ends_at=p.end_date,
            updated_at=core.update_date,
            extra={"event_type": core.event_type, "vehicle_impact": impact, "direction": core.direction},
        ))
    return out, feed.feed_info.update_date
