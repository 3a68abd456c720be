"""What an event page shows, shaped for its template: state, level words, areas, map, history, provenance.

Level words come only from `geo.wording.level_words` (相当 for JMA and gauges, order words only for
a municipality's `evacuation` event). Times are shown in JST with the date, since a resident may
open a push days later. The map is an inline SVG of the region's municipality outlines, drawn once
per process and reused by every page; the event's municipalities are filled, nothing is fetched.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

import shapely

from geo.model import LEVEL_COLOURS, Event, Kind, State, Status
from geo.readings import reading
from geo.wording import level_words
from publishers.portal.levels import TEXT_COLOURS

MAP_WIDTH = 320  # SVG user units; the page scales it to the column
MAP_SIMPLIFY_DEG = 0.004  # ~400 m: outlines recognisable at this size, a few KB for a prefecture

# The page's own words (level words are never here: they come from geo.wording).
WORDS: dict[str, dict[str, str]] = {
    "ja": {
        "state": "状態", "level": "警戒レベル", "todo": "とるべき行動", "areas": "対象地域", "map": "対象地域の地図",
        "map_desc": "色のついた市町が対象地域です。", "history": "発表の履歴", "when": "時刻", "version": "版",
        "source": "情報源と出典", "source_id": "情報源", "upstream": "元の識別子", "upstream_url": "元の情報",
        "merged": "同じ危険を伝える他の情報", "json": "この情報のデータ（JSON）", "portal": "地図と一覧に戻る",
        "area_list": "{place}の情報一覧", "issued": "発表", "observed": "観測", "expires": "有効期限",
        "received": "受信", "text": "本文", "stale": "この情報源は更新が遅れています。内容が古い可能性があります。",
        "lifted_todo": "この情報は終わりました。解除されました。引き続き周囲の状況に注意してください。",
        "cancelled_todo": "この情報は終わりました。取り消されました（誤って発表されたものです）。",
        "expired_todo": "この情報は終わりました。有効期限を過ぎました。", "equivalent_note": "気象庁・河川の水位の情報は、市町村が発令する避難情報ではなく「警戒レベル相当」の情報です。避難の指示は市町から出されます。",
        "not_found": "この情報は見つかりません", "not_found_text": "指定された識別子の情報はありません。すでに古くなったか、アドレスが誤っている可能性があります。",
        "id": "識別子", "none": "なし",
        "active": "発表中", "lifted": "解除", "cancelled": "取消", "expired": "期限切れ",
        "exercise": "【訓練】", "test": "【試験】",
        "exercise_note": "これは訓練の情報です。実際の災害ではありません。", "test_note": "これは試験の情報です。実際の災害ではありません。",
    },
    "en": {
        "state": "State", "level": "Alert level", "todo": "What to do", "areas": "Areas", "map": "Map of the areas",
        "map_desc": "The shaded municipalities are the areas concerned.", "history": "History", "when": "Time",
        "version": "Version", "source": "Source and provenance", "source_id": "Source", "upstream": "Upstream id",
        "upstream_url": "Original", "merged": "Other information about the same hazard",
        "json": "This information as data (JSON)", "portal": "Back to the map and list",
        "area_list": "Information for {place}", "issued": "Issued", "observed": "Observed", "expires": "Expires",
        "received": "Received", "text": "Text", "stale": "This source is not updating. What you see may be old.",
        "lifted_todo": "This information has ended: it has been lifted. Stay alert to your surroundings.",
        "cancelled_todo": "This information has ended: it was withdrawn, issued in error.",
        "expired_todo": "This information has ended: it has expired.",
        "equivalent_note": "JMA and river gauge information gives a level equivalent, not an evacuation order. "
                           "Orders come from your municipality.",
        "not_found": "This information was not found",
        "not_found_text": "No information has this id. It may be old, or the address may be wrong.",
        "id": "Id", "none": "none",
        "active": "In force", "lifted": "Lifted", "cancelled": "Cancelled", "expired": "Expired",
        "exercise": "[DRILL]", "test": "[TEST]",
        "exercise_note": "This is a drill. It is not a real disaster.",
        "test_note": "This is a test. It is not a real disaster.",
    },
    "easy": {
        "state": "いまの ようす", "level": "けいかいレベル", "todo": "すること", "areas": "ばしょ", "map": "ばしょの ちず",
        "map_desc": "いろが ついて いる ところが ばしょ です。", "history": "これまでの おしらせ", "when": "じかん",
        "version": "ばん", "source": "どこからの じょうほうか", "source_id": "じょうほうの もと", "upstream": "もとの ばんごう",
        "upstream_url": "もとの じょうほう", "merged": "おなじ きけんの ほかの おしらせ",
        "json": "この おしらせの データ（JSON）", "portal": "ちずと いちらんに もどる",
        "area_list": "{place}の おしらせ", "issued": "でた じかん", "observed": "はかった じかん",
        "expires": "おわる じかん", "received": "うけとった じかん", "text": "ないよう",
        "stale": "この じょうほうは あたらしく なって いません。ふるい かもしれません。",
        "lifted_todo": "おわりました。まわりの ようすに きを つけて ください。",
        "cancelled_todo": "この おしらせは まちがいでした。けして ください。",
        "expired_todo": "この おしらせの じかんは おわりました。",
        "equivalent_note": "きしょうちょうや かわの じょうほうは「けいかいレベル（そうとう）」です。"
                           "にげる しじは しや まちから でます。",
        "not_found": "おしらせが みつかりません",
        "not_found_text": "この ばんごうの おしらせは ありません。ふるいか、アドレスが まちがって います。",
        "id": "ばんごう", "none": "ありません",
        "active": "でています", "lifted": "おわりました", "cancelled": "とりけし", "expired": "じかんぎれ",
        "exercise": "【くんれん】", "test": "【しけん】",
        "exercise_note": "これは くんれん です。ほんとうの さいがいでは ありません。",
        "test_note": "これは しけん です。ほんとうの さいがいでは ありません。",
    },
}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def page_path(event_id: str, lang: str | None = None) -> str:
    """The site-relative path of an event's page (the id quoted as publishers/rules.py quotes it)."""
    return f"/events/{quote(event_id, safe=':')}" + (f"?lang={lang}" if lang else "")


def jst(moment: datetime | None, zone: tzinfo, lang: str) -> str | None:
    """A time with its date in the display zone, as each language writes it."""
    if moment is None:
        return None
    at = moment.astimezone(zone)
    if lang == "en":
        return f"{at.day} {MONTHS_EN[at.month - 1]} {at.year} {at:%H:%M} JST"
    if lang == "easy":
        return f"{at.year}ねん {at.month}がつ{at.day}にち {at.hour}じ{at.minute:02d}ふん"
    return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"


@dataclass(frozen=True, slots=True)
class Area:
    """A municipality of the event: code, name in the page's language, kana reading for ruby."""

    code: str
    name: str
    kana: str


def areas_of(event: Event, codes: Any, lang: str) -> list[Area]:
    """The event's municipalities with names (romaji in en, readings for ruby in easy)."""
    out = []
    for code in event.areas:
        if code not in codes:
            out.append(Area(code, code, ""))
            continue
        m = codes.municipality(code)
        if lang == "en":
            out.append(Area(code, m.name_en or reading(m.name, "en"), ""))
        else:
            out.append(Area(code, m.name, m.kana or reading(m.name, "easy")))
    return out


class RegionMap:
    """The region's municipality outlines as SVG path data, projected once; pages fill their areas."""

    def __init__(self, boundaries: Any) -> None:
        minx, miny, maxx, maxy = boundaries.bounds
        # Equirectangular with the mid-latitude's scale: true enough for a prefecture.
        self._kx = math.cos(math.radians((miny + maxy) / 2))
        self._minx, self._maxy = minx, maxy
        self._scale = MAP_WIDTH / ((maxx - minx) * self._kx)
        self.width = MAP_WIDTH
        self.height = round((maxy - miny) * self._scale)
        self.paths: dict[str, str] = {}
        for code, polygon in zip(boundaries.codes, boundaries.polygons):
            simple = shapely.simplify(polygon, MAP_SIMPLIFY_DEG, preserve_topology=True)
            self.paths[code] = self._path(simple)

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        """SVG coordinates of a WGS84 point."""
        return (round((lon - self._minx) * self._kx * self._scale, 1), round((self._maxy - lat) * self._scale, 1))

    def _ring(self, coords: Iterable[Sequence[float]]) -> str:
        points = [self.point(x, y) for x, y, *_ in coords]
        return "M" + "L".join(f"{x:g} {y:g}" for x, y in points) + "Z"

    def _path(self, geom: Any) -> str:
        polygons = getattr(geom, "geoms", [geom])
        parts = []
        for polygon in polygons:
            if polygon.is_empty or polygon.geom_type != "Polygon":
                continue
            parts.append(self._ring(polygon.exterior.coords))
            parts.extend(self._ring(ring.coords) for ring in polygon.interiors)
        return "".join(parts)

    def marker(self, geometry: dict[str, Any] | None) -> tuple[float, float] | None:
        """Where to mark a point event (a gauge, a camera) on the map, or None."""
        if not geometry or geometry.get("type") != "Point":
            return None
        lon, lat = geometry["coordinates"][:2]
        return self.point(float(lon), float(lat))


def _todo(event: Event, lang: str) -> str:
    w = WORDS[lang]
    if event.state is State.LIFTED:
        return w["lifted_todo"]
    if event.state is State.CANCELLED:
        return w["cancelled_todo"]
    if event.state is State.EXPIRED:
        return w["expired_todo"]
    return level_words(event.level, event.kind, lang).action


def _level(event: Event, lang: str) -> dict[str, Any]:
    words = level_words(event.level, event.kind, lang)
    return {"n": event.level, "label": words.label, "name": words.name, "headline": words.headline,
            "colour": LEVEL_COLOURS[event.level], "text": TEXT_COLOURS[event.level]}


def page_context(event: Event, history: list[Event], same_as: list[str], codes: Any, region: RegionMap,
                 zone: tzinfo, lang: str, stale: bool) -> dict[str, Any]:
    """Everything event.html renders for one event in one language."""
    w = WORDS[lang]
    stamp = w[event.status.value] if event.status is not Status.ACTUAL else ""
    areas = areas_of(event, codes, lang)
    times = [(w[key], jst(getattr(event, f"{key}_at"), zone, lang))
             for key in ("issued", "observed", "expires", "received")]
    return {
        "t": w,
        "event": event,
        "stamp": stamp,
        "stamp_note": w[f"{event.status.value}_note"] if stamp else "",
        "level": _level(event, lang),
        "equivalent": event.kind is not Kind.EVACUATION and event.level > 0,
        "state_words": w[event.state.value],
        "todo": _todo(event, lang),
        "areas": areas,
        "times": [(label, value) for label, value in times if value],
        "map": {"width": region.width, "height": region.height,
                "paths": [(code, path, code in event.areas) for code, path in region.paths.items()],
                "marker": region.marker(event.geometry)},
        "history": [
            {"version": v.version, "level": _level(v, lang), "state": w[v.state.value],
             "when": jst(v.issued_at or v.observed_at or v.received_at, zone, lang),
             "received": jst(v.received_at, zone, lang), "title": v.title, "current": v.version == event.version}
            for v in sorted(history, key=lambda v: v.version, reverse=True)  # newest first, as it is read
        ],
        "source": event.source,
        "same_as": [(other, page_path(other, lang)) for other in same_as],
        "json_url": f"/api/v1/events/{quote(event.id, safe=':')}",
        "stale": stale,
    }
