"""What a shelter's Wi-Fi page says, shaped from the current events for one shelter and one language.

The page's own labels are here in ja / en / やさしい日本語; every level is said through
geo/wording.py (orders in the municipality's words, JMA information and gauges as 警戒レベル相当).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from geo.geometry import positions
from geo.hazards import HAZARD_LABELS_JA, Hazard
from geo.metric import LocalMetric
from geo.model import Event, Kind
from geo.shelters import Shelter
from geo.store.base import SourceState, SourceStatus
from geo.wording import level_words

JST = timezone(timedelta(hours=9))
GAUGES_SHOWN = 3
GAUGE_RADIUS_M = 10_000.0  # gauges further away say little about the shelter's surroundings
ROAD_RADIUS_M = 5_000.0  # closures within this distance of the shelter
INFORMATION_KINDS = frozenset({Kind.SEDIMENT_WARNING, Kind.FLOOD_FORECAST, Kind.WEATHER_WARNING, Kind.NOTICE})

HAZARD_LABELS = {
    "ja": HAZARD_LABELS_JA,
    "en": {Hazard.FLOOD: "Flood", Hazard.SEDIMENT: "Landslide and debris flow", Hazard.STORM_SURGE: "Storm surge",
           Hazard.EARTHQUAKE: "Earthquake", Hazard.TSUNAMI: "Tsunami", Hazard.LARGE_FIRE: "Large fire",
           Hazard.INLAND_FLOOD: "Inland flooding", Hazard.VOLCANO: "Volcano"},
    "easy": {Hazard.FLOOD: "こうずい（かわの みずが あふれる）", Hazard.SEDIMENT: "がけくずれ・どせきりゅう",
             Hazard.STORM_SURGE: "たかしお", Hazard.EARTHQUAKE: "じしん", Hazard.TSUNAMI: "つなみ",
             Hazard.LARGE_FIRE: "おおきな かじ", Hazard.INLAND_FLOOD: "まちの なかの しんすい",
             Hazard.VOLCANO: "かざん"},
}

TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "lb": "【", "rb": "】", "page": "避難所の情報", "index": "{town}の避難所", "address": "住所", "hazards": "この避難所が対応する災害",
        "hazards_none": "指定の災害種別は登録されていません", "status": "開設状況", "open": "開設中", "crowded": "混雑",
        "closed": "閉鎖", "unknown": "記録なし（開設しているとは限りません）", "people": "避難者数", "capacity": "収容人数",
        "persons": "{n}人", "orders": "{town}からの避難情報", "orders_none": "発令中の避難情報はありません",
        "districts": "対象地区", "whole": "市町全域", "info": "気象庁などの情報（{town}）",
        "info_none": "発表中の警報・情報はありません", "gauges": "近くの水位計", "gauges_none": "10 km 以内に水位計はありません",
        "up": "上昇中", "down": "下降中", "flat": "横ばい", "no_trend": "変化不明", "away": "約{km} km",
        "roads": "近くの通行止め・規制（5 km 以内）", "roads_none": "ありません", "as_of": "情報の時点",
        "stale": "次の情報は更新が遅れています。表示より新しい状況があるかもしれません：",
        "stale_item": "{source}（{time} 時点）", "never": "未取得", "all_shelters": "{town}の避難所一覧",
        "municipal_decision": "市町の判断", "jma_equivalent": "気象庁・河川の情報（相当レベル）",
        "places": "{town}の指定緊急避難場所（避難所でないもの）", "places_link": "ほかの指定緊急避難場所（公園など）{n}か所",
    },
    "en": {
        "lb": "[", "rb": "] ", "page": "Shelter information", "index": "Shelters in {town}", "address": "Address",
        "hazards": "Designated for", "hazards_none": "No hazard types registered", "status": "Status",
        "open": "Open", "crowded": "Crowded", "closed": "Closed", "unknown": "No record (it may not be open)",
        "people": "People here", "capacity": "Capacity", "persons": "{n}", "orders": "Evacuation orders from {town}",
        "orders_none": "No evacuation order in force", "districts": "Districts", "whole": "the whole municipality",
        "info": "Warnings and information for {town}", "info_none": "No warning or information in force",
        "gauges": "Nearby river gauges", "gauges_none": "No gauge within 10 km", "up": "rising", "down": "falling",
        "flat": "steady", "no_trend": "trend unknown", "away": "about {km} km",
        "roads": "Road closures nearby (within 5 km)", "roads_none": "None", "as_of": "Information as of",
        "stale": "These sources are late; the situation may have changed since:", "stale_item": "{source} (as of {time})",
        "never": "never received", "all_shelters": "All shelters in {town}", "municipal_decision": "Municipal decision",
        "jma_equivalent": "JMA and river information (equivalent levels)",
        "places": "Evacuation sites in {town} (not shelters)", "places_link": "{n} other evacuation sites (parks and others)",
    },
    "easy": {
        "lb": "【", "rb": "】", "page": "ひなんじょの じょうほう", "index": "{town}の ひなんじょ", "address": "じゅうしょ",
        "hazards": "この ひなんじょに にげて よい さいがい", "hazards_none": "きまって いません", "status": "いまの ようす",
        "open": "あいて います", "crowded": "こんで います", "closed": "しまって います",
        "unknown": "わかりません（あいて いない かもしれません）", "people": "いま いる ひと", "capacity": "はいれる ひと",
        "persons": "{n}にん", "orders": "{town}からの ひなんの じょうほう", "orders_none": "いま でて いる ひなんの じょうほうは ありません",
        "districts": "ばしょ", "whole": "まち ぜんぶ", "info": "きしょうちょう などの じょうほう（{town}）",
        "info_none": "いま でて いる けいほうは ありません", "gauges": "ちかくの かわの みずの たかさ",
        "gauges_none": "10 km の なかに ありません", "up": "ふえて います", "down": "へって います", "flat": "かわりません",
        "no_trend": "わかりません", "away": "やく {km} km", "roads": "ちかくの とおれない みち（5 km の なか）",
        "roads_none": "ありません", "as_of": "じょうほうの じこく",
        "stale": "つぎの じょうほうは あたらしく なって いません。いまは ちがう かもしれません：",
        "stale_item": "{source}（{time} の じょうほう）", "never": "まだ ありません", "all_shelters": "{town}の ひなんじょ いちらん",
        "municipal_decision": "まちが きめた こと", "jma_equivalent": "きしょうちょう・かわの じょうほう",
        "places": "{town}の ひなんばしょ（ひなんじょ では ない ところ）", "places_link": "ほかの ひなんばしょ（こうえん など）{n}かしょ",
    },
}


@dataclass(frozen=True, slots=True)
class Surroundings:
    """Everything current a page may show, indexed once per rebuild."""

    events: Mapping[str, Event]  # current, in force, actual events by id
    statuses: tuple[SourceStatus, ...]
    changed_at: datetime | None  # the newest change the pages include

    def by_kind(self, kinds: Iterable[Kind]) -> list[Event]:
        """Events of the given kinds, in id order."""
        wanted = set(kinds)
        return [e for _, e in sorted(self.events.items()) if e.kind in wanted]


def hhmm(moment: datetime | None, lang: str) -> str:
    """A time as residents read it (JST), with the date."""
    if moment is None:
        return TEXT[lang]["never"]
    local = moment.astimezone(JST)
    return f"{local:%m/%d %H:%M}" + ("" if lang == "en" else "")


def _point(event: Event) -> tuple[float, float] | None:
    geom = event.geometry
    if geom and geom.get("type") == "Point":
        lon, lat = geom["coordinates"][:2]
        return float(lon), float(lat)
    return None


def distance_m(site: Shelter, event: Event) -> float | None:
    """Metres from the shelter to the nearest vertex of the event's geometry (None without one)."""
    if not event.geometry:
        return None
    points = list(positions(event.geometry.get("coordinates")))
    if not points:
        return None
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    return float(LocalMetric.geodesic_m(site.lon, site.lat, lon, lat).min())


def order_view(event: Event | None, lang: str) -> dict[str, Any] | None:
    """The municipality's orders in force, in its own words."""
    if event is None or event.ended or event.level == 0:
        return None
    t = TEXT[lang]
    orders = []
    for order in sorted(event.properties.get("orders", []), key=lambda o: -int(o.get("level", 0))):
        if order.get("action") != "発令":
            continue
        words = level_words(int(order["level"]), Kind.EVACUATION, lang)
        orders.append({"label": words.label, "name": words.name, "action": words.action, "level": words.level,
                       "colour": words.colour, "districts": "、".join(order.get("districts") or []) or t["whole"]})
    return {"orders": orders, "issued": hhmm(event.issued_at, lang), "correction": event.properties.get("correction")}


def information_view(events: Iterable[Event], lang: str) -> list[dict[str, Any]]:
    """JMA information in force for the municipality, highest level first, as 警戒レベル相当."""
    shown = []
    for event in sorted(events, key=lambda e: (-e.level, e.id)):
        words = level_words(event.level, event.kind, lang)
        shown.append({"label": words.label, "name": words.name or event.title, "title": event.title,
                      "action": words.action, "level": event.level, "colour": words.colour})
    return shown


def gauge_view(site: Shelter, gauges: Iterable[Event], lang: str) -> list[dict[str, Any]]:
    """The nearest gauges within GAUGE_RADIUS_M: level words, stage and trend."""
    t = TEXT[lang]
    near = sorted(((d, e) for e in gauges if (d := distance_m(site, e)) is not None and d <= GAUGE_RADIUS_M),
                  key=lambda pair: pair[0])[:GAUGES_SHOWN]
    shown = []
    for metres, event in near:
        words = level_words(event.level, Kind.GAUGE, lang)
        trend = event.properties.get("trend_m_per_10min")
        arrow = t["no_trend"] if trend is None else t["up"] if trend > 0.005 else t["down"] if trend < -0.005 else t["flat"]
        stage = event.properties.get("level_m")
        shown.append({"name": event.properties.get("name") or event.title, "label": words.label, "term": words.name,
                      "level": event.level, "colour": words.colour,
                      "stage": "—" if stage is None else f"{stage:.2f} m",
                      "trend": arrow + ("" if trend is None else f"（{trend:+.2f} m/10分）" if lang != "en"
                                        else f" ({trend:+.2f} m per 10 min)"),
                      "away": t["away"].format(km=f"{metres / 1000:.1f}")})
    return shown


def road_view(site: Shelter, roads: Iterable[Event], lang: str) -> list[dict[str, Any]]:
    """Closures and restrictions within ROAD_RADIUS_M, nearest first."""
    t = TEXT[lang]
    near = sorted(((d, e) for e in roads if (d := distance_m(site, e)) is not None and d <= ROAD_RADIUS_M),
                  key=lambda pair: pair[0])
    return [{"text": e.text or e.title, "away": t["away"].format(km=f"{d / 1000:.1f}")} for d, e in near]


def stale_view(statuses: Iterable[SourceStatus], lang: str) -> list[str]:
    """The sources that are failing or stale, with the time their data is from."""
    t = TEXT[lang]
    return [t["stale_item"].format(source=s.source_id, time=hhmm(s.content_time or s.last_success, lang))
            for s in statuses if s.state in (SourceState.FAILING, SourceState.STALE)]


def shelter_status(site: Shelter, events: Mapping[str, Event]) -> Event | None:
    """The shelter's status event (any of its 共通IDs), if one is recorded."""
    for site_id in site.ids:
        event = events.get(f"shelter:{site_id}")
        if event is not None:
            return event
    return None


def page_context(site: Shelter, town: str, world: Surroundings, lang: str) -> dict[str, Any]:
    """Everything the shelter page template shows."""
    t = TEXT[lang]
    status = shelter_status(site, world.events)
    props = status.properties if status is not None else {}
    state = props.get("status", "unknown")
    capacity = props.get("capacity") or site.capacity
    code = site.municipality
    orders = order_view(world.events.get(f"evacuation:{code}"), lang) if code else None
    info = [e for e in world.by_kind(INFORMATION_KINDS) if code in e.areas and e.level >= 1]
    hazards = [HAZARD_LABELS[lang][h] for h in Hazard if h in site.hazards]
    return {
        "t": t, "lang": lang, "site": site, "town": town, "hazards": hazards,
        "status": state, "status_text": t.get(state, t["unknown"]),
        "status_since": hhmm(status.issued_at, lang) if status is not None else None,
        "people": None if props.get("head_count") is None else t["persons"].format(n=props["head_count"]),
        "capacity": None if capacity is None else t["persons"].format(n=capacity),
        "orders": orders, "info": information_view(info, lang),
        "gauges": gauge_view(site, world.by_kind([Kind.GAUGE]), lang),
        "roads": road_view(site, world.by_kind([Kind.ROAD_CLOSURE]), lang),
        "as_of": hhmm(world.changed_at, lang), "stale": stale_view(world.statuses, lang),
    }


def index_context(code: str, town: str, sites: Iterable[Shelter], world: Surroundings, lang: str,
                  part: str = "index") -> dict[str, Any]:
    """A municipality's shelter list: open ones first, then by name.

    The index (`part` "index") lists the shelters with a recorded status and the 指定避難所 without
    one; the 指定緊急避難場所 that are not shelters and have no record go on `places`, linked from
    it, so that 金沢市's 514 sites fit two pages of under 30 KB each.
    """
    t = TEXT[lang]
    rows, places = [], 0
    for site in sites:
        status = shelter_status(site, world.events)
        state = status.properties.get("status", "unknown") if status is not None else "unknown"
        on_index = state != "unknown" or site.evacuation
        places += not on_index
        if on_index == (part == "index"):
            rows.append({"id": site.id, "name": site.name, "status": state, "status_text": t.get(state, t["unknown"])})
    order = {"open": 0, "crowded": 1, "unknown": 2, "closed": 3}
    rows.sort(key=lambda r: (order.get(r["status"], 2), r["name"]))
    return {"t": t, "lang": lang, "town": town, "code": code, "rows": rows, "part": part, "places": places,
            "heading": (t["index"] if part == "index" else t["places"]).format(town=town),
            "up": "../../" if part == "index" else "../../../",
            "orders": order_view(world.events.get(f"evacuation:{code}"), lang),
            "as_of": hhmm(world.changed_at, lang), "stale": stale_view(world.statuses, lang)}
