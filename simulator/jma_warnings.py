"""気象警報・注意報 for Ishikawa: VPWW54 (Ｈ２７) and, alongside it, the Ｒ０６ family.

JMA runs both during the transition, so each change in the warnings goes out as a VPWW54 and as the
Ｒ０６ messages of the hazards that changed (VPWW55 大雨, 56 土砂, 57 高潮, 58 暴風, 59 波浪, 60 大雪,
61 その他注意報), plus a VPWS50 集約通報 carrying every Ｒ０６ hazard at once. Body/Warning has the
four area levels of the real samples (府県予報区等, 一次細分区域等, 市町村等をまとめた地域等, 市町村等);
kinds carry Status 発表/継続/解除 and LastKind, as in samples 15_17_01 (VPWW54), 15_16_03 (VPWW55)
and 15_16_02 (VPWW57, whose municipality kinds also carry the expected 高潮ピーク 潮位).

Rain drives 大雨/洪水/土砂/雷/波浪/強風; the scenario's [[surge]] cells drive 高潮 on the coast and its
[[snow]] cells drive 大雪. 高潮 and 大雪 are forecasts: a 高潮 kind follows the highest tide expected in
the next 3 hours, a 大雪 kind the snow of the 12 hours around now.
"""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from geo.codes import AreaCodes
from simulator import jma_xml as jx
from simulator.hydrology import REGION_OF_FORECAST_AREA, Hydrology
from simulator.jma_sediment import active_timeline
from simulator.scenario import Scenario

# family -> kinds from weakest to strongest, as (code, name)
OLD_FAMILIES = {
    "大雨": [("10", "大雨注意報"), ("03", "大雨警報")],
    "洪水": [("18", "洪水注意報"), ("04", "洪水警報")],
    "雷": [("14", "雷注意報")],
    "波浪": [("16", "波浪注意報")],
    "高潮": [("19", "高潮注意報"), ("08", "高潮警報")],  # Ｈ２７ 高潮警報 is what Ｒ０６ calls レベル４
    "大雪": [("12", "大雪注意報"), ("06", "大雪警報")],
}
R06_TYPES = {  # data type -> (Control/Title suffix, Head/Title middle, families)
    "VPWW55": ("大雨", "大雨", {"浸水": [("10", "レベル２大雨注意報"), ("03", "レベル３大雨警報"), ("43", "レベル４大雨危険警報")]}),
    "VPWW56": ("土砂", "土砂災害", {"土砂": [("29", "レベル２土砂災害注意報"), ("09", "レベル３土砂災害警報"), ("49", "レベル４土砂災害危険警報")]}),
    "VPWW57": ("高潮", "高潮", {"潮位": [("19", "レベル２高潮注意報"), ("08", "レベル３高潮警報"), ("48", "レベル４高潮危険警報")]}),
    "VPWW58": ("暴風", "暴風", {"風": [("15", "強風注意報")]}),
    "VPWW59": ("波浪", "波浪", {"波浪": [("16", "波浪注意報")]}),
    "VPWW60": ("大雪", "大雪", {"大雪": [("12", "大雪注意報"), ("06", "大雪警報")]}),
    "VPWW61": ("その他注意報", "雷・融雪・濃霧・乾燥・なだれ・低温・霜・着雪・着氷", {"雷": [("14", "雷注意報")]}),
}
GROUPS = {  # 市町村等をまとめた地域等 -> (name, members)
    "170011": ("加賀北部", ("17201", "17209", "17361", "17365")),
    "170012": ("加賀南部", ("17203", "17206", "17210", "17211", "17212", "17324")),
    "170021": ("能登北部", ("17204", "17205", "17461", "17463")),
    "170022": ("能登南部", ("17202", "17207", "17384", "17386", "17407")),
}
INLAND = {"17212", "17324"}  # no coast: never under 波浪 or 高潮
SURGE_M = (0.7, 1.0, 1.3)  # storm tide (T.P. m) for レベル２注意報 / ３警報 / ４危険警報 (the simulator's criteria)
SURGE_LEAD_H = 3.0  # a 高潮 kind is issued for the highest tide expected this far ahead
SURGE_PEAK_H = 12.0  # how far ahead the 高潮ピーク property looks for the crest
SNOW_CM_12H = (20.0, 40.0)  # 12-hour snowfall for 大雪注意報 / 大雪警報 (the simulator's criteria)
HEADLINE_WORDS = {"潮位": "高潮による浸水", "高潮": "高潮による浸水", "大雪": "大雪"}  # families with their own sentence
LEVELS = ("気象警報・注意報（府県予報区等）", "気象警報・注意報（一次細分区域等）",
          "気象警報・注意報（市町村等をまとめた地域等）", "気象警報・注意報（市町村等）")
State = dict[str, dict[str, int]]  # area code -> family -> index into its kinds (absent = none)


def build(scenario: Scenario, hydro: Hydrology, seed: int, codes: AreaCodes) -> list[jx.JmaMessage]:
    """Every warning message of the scenario (both families), in time order."""
    munis = sorted(codes.municipalities.values(), key=lambda m: m.jis)
    factor = {m.jis: random.Random(f"{seed}:muni:{m.jis}").uniform(0.8, 1.2) for m in munis}
    # the coast and the snow vary less between neighbours than showers do
    surge_factor = {m.jis: random.Random(f"{seed}:surge:{m.jis}").uniform(0.92, 1.08) for m in munis}
    snow_factor = {m.jis: random.Random(f"{seed}:snow:{m.jis}").uniform(0.9, 1.1) for m in munis}
    sediment = active_timeline(scenario)
    status = scenario.scenario.status
    prev: dict[str, State] = {}
    out: list[jx.JmaMessage] = []
    for step in range(0, hydro.n, 3):  # JMA reviews warnings at least every 30 minutes here
        t = hydro.time_of(step)
        hours = step / 6
        under_sediment = next((a for h, a in reversed(sediment) if h <= hours), frozenset())
        outlook = {r: surge_outlook(scenario, r, hours, SURGE_LEAD_H)[0] for r in ("kaga", "noto")}
        crest = {r: surge_outlook(scenario, r, hours, SURGE_PEAK_H) for r in ("kaga", "noto")}
        coast = [(m.jis, m.jma7, REGION_OF_FORECAST_AREA[m.forecast_area]) for m in munis if m.jis not in INLAND]
        tide = {jis: outlook[r] * surge_factor[jis] for jis, _c, r in coast}
        peaks = {code: (crest[r][0] * surge_factor[jis], t + timedelta(hours=crest[r][1] - hours)) for jis, code, r in coast}
        snow = {m.jis: snowfall_cm(scenario, m.jis, hours - 6, hours + 6) * snow_factor[m.jis] for m in munis}
        raw = {m.jis: _hazards(hydro, t, REGION_OF_FORECAST_AREA[m.forecast_area], factor[m.jis], m.jis in under_sediment,
                               m.jis, tide.get(m.jis, 0.0), snow[m.jis])
               for m in munis}
        changed_r06 = []
        for dtype, families in [("VPWW54", OLD_FAMILIES)] + [(k, v[2]) for k, v in R06_TYPES.items()]:
            now = {j: {f: raw[j][f] for f in families if raw[j].get(f) is not None} for j in raw}
            before = prev.get(dtype, {j: {} for j in raw})
            if now == before:
                continue
            minute = random.Random(f"{seed}:warn:{step}").randint(0, 9)
            report_dt = t + timedelta(minutes=minute)
            at = jx.publish_time(report_dt, seed, f"{dtype}:{step}")
            out.append(_message(dtype, families, status, at, report_dt, before, now, munis, codes,
                                peaks if dtype == "VPWW57" else {}))
            prev[dtype] = now
            if dtype != "VPWW54":
                changed_r06.append(at)
        if changed_r06:
            at = max(changed_r06) + timedelta(seconds=20)
            families = {f: k for v in R06_TYPES.values() for f, k in v[2].items()}
            now = {j: {f: raw[j][f] for f in families if raw[j].get(f) is not None} for j in raw}
            before = prev.get("VPWS50", {j: {} for j in raw})
            report_dt = at.replace(second=0, microsecond=0)
            out.append(_message("VPWS50", families, status, at, report_dt, before, now, munis, codes, {}))
            prev["VPWS50"] = now
    return sorted(out, key=lambda m: m.at)


def _gauss(peak: float, centre_h: float, width_h: float, hours: float) -> float:
    return peak * math.exp(-0.5 * ((hours - centre_h) / width_h) ** 2)


def surge_outlook(scenario: Scenario, region: str, hours: float, ahead_h: float) -> tuple[float, float]:
    """Highest storm tide (m) a region's coast expects within `ahead_h` hours, and the hour it comes."""
    best = (0.0, hours)
    for k in range(int(ahead_h * 6) + 1):  # 10-minute grid, as the rest of the storm
        h = hours + k / 6
        level = sum(_gauss(c.peak_m, c.peak_h, c.width_h, h) for c in scenario.surge if c.region == region)
        if level > best[0]:
            best = (level, h)
    return best


def snowfall_cm(scenario: Scenario, jis: str, from_h: float, to_h: float) -> float:
    """Snow (cm) falling on one municipality between two scenario hours: its cells' Gaussians integrated."""
    total = 0.0
    for c in scenario.snow:
        if jis in c.areas:
            scale = c.width_h * math.sqrt(2)
            total += c.peak_cm_h * c.width_h * math.sqrt(math.pi / 2) * (
                math.erf((to_h - c.peak_h) / scale) - math.erf((from_h - c.peak_h) / scale))
    return total


def _hazards(hydro: Hydrology, t, region: str, factor: float, sediment: bool, jis: str,
             tide_m: float, snow_cm: float) -> dict[str, int | None]:
    """Kind index per family for one municipality (None = nothing in force)."""
    rain = hydro.accumulated(region, t, 1) * factor  # hourly total: warnings follow the trend, not each gust
    soil = hydro.accumulated(region, t, 12) * factor
    runoff = hydro.runoff_at(region, t) * factor

    def grade(value: float, *limits: float) -> int | None:
        idx = sum(value >= lim for lim in limits) - 1
        return idx if idx >= 0 else None

    heavy_old = [g for g in (grade(rain, 15, 30), grade(soil, 60, 150)) if g is not None]
    surge = grade(tide_m, *SURGE_M)  # inland municipalities have no tide (0 m)
    return {
        "大雨": max(heavy_old) if heavy_old else None,  # Ｈ２７: 大雨 covers 浸水 and 土砂災害
        "洪水": grade(runoff, 10, 22),
        "雷": grade(rain, 8),
        "波浪": None if jis in INLAND else grade(hydro.accumulated(region, t, 1), 20),
        "高潮": None if surge is None else (1 if surge >= 2 else 0),  # Ｈ２７ has no レベル３ 高潮警報
        "大雪": grade(snow_cm, *SNOW_CM_12H),
        "浸水": grade(rain, 15, 30, 45),  # Ｒ０６ 大雨 (浸水)
        "土砂": 2 if sediment else grade(soil, 60, 150),
        "潮位": surge,  # Ｒ０６ 高潮
        "風": grade(rain, 40),
    }


def _message(dtype, families, status, at, report_dt, before: State, now: State, munis, codes,
             peaks: dict[str, tuple[float, datetime]]) -> jx.JmaMessage:
    if dtype == "VPWW54":
        control_title, head_title, version = "気象警報・注意報（Ｈ２７）", "石川県気象警報・注意報", "1.2_2"
    elif dtype == "VPWS50":
        control_title, head_title, version = "気象警報・注意報（Ｒ０６）（集約通報）", "石川県気象警報・注意報", "1.5_0"
    else:
        suffix, middle, _ = R06_TYPES[dtype]
        control_title, version = f"気象警報・注意報（Ｒ０６）（{suffix}）", "1.5_0"
        head_title = f"石川県{middle}{'注意報' if dtype == 'VPWW61' else '警報・注意報'}"
    names = {f: dict(kinds) for f, kinds in families.items()}
    text = _headline_text(now)
    root, headline, body = jx.report(
        control_title=control_title, status=status, at=at, editorial=jx.OFFICE, publishing=jx.OFFICE,
        head_title=head_title, report_dt=report_dt, event_id=None, info_type="発表", serial=None,
        info_kind="気象警報・注意報", version=version, headline=text,
        extra_ns={"jmx_add": "http://xml.kishou.go.jp/jmaxml1/addition1/"},
    )
    areas = _areas(codes, munis)
    for level, members in zip(LEVELS, areas):
        agg_now = {code: _merge(now, m) for code, (_n, m) in members.items()}
        by_kind: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for code, (name, _m) in members.items():
            for fam, idx in agg_now[code].items():
                by_kind.setdefault(families[fam][idx], []).append((name, code))
        if by_kind:
            jx.information(headline, level, [(kname, kcode, None, "気象・地震・火山情報／市町村等" if level == LEVELS[3]
                                              else "気象情報／府県予報区・細分区域等", a) for (kcode, kname), a in by_kind.items()])
        warning = jx.sub(body, "Warning", type=level)
        for code, (name, m) in members.items():
            _item(warning, families, names, name, code, _merge(before, m), agg_now[code],
                  peaks.get(code) if level == LEVELS[3] else None)
    return jx.JmaMessage(at, dtype, "extra", control_title, jx.OFFICE, f"【{head_title}】{text}", jx.serialize(root))


def _areas(codes: AreaCodes, munis) -> list[dict[str, tuple[str, tuple[str, ...]]]]:
    """The four area levels as {area code: (name, member municipalities)}."""
    every = tuple(m.jis for m in munis)
    pref = {jx.PREF_AREA: (jx.PREF_NAME, every)}
    first = {fa: (info["name"], tuple(m.jis for m in munis if m.forecast_area == fa)) for fa, info in codes.forecast_areas.items()}
    return [pref, first, dict(GROUPS), {m.jma7: (m.name, (m.jis,)) for m in munis}]


def _merge(state: State, members: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for j in members:
        for fam, idx in state.get(j, {}).items():
            out[fam] = max(out.get(fam, -1), idx)
    return out


def _item(warning, families, names, area_name, area_code, before: dict[str, int], now: dict[str, int],
          peak: tuple[float, datetime] | None = None) -> None:
    item = jx.sub(warning, "Item")
    shown = False
    for fam, kinds in families.items():
        old, new = before.get(fam), now.get(fam)
        if old is None and new is None:
            continue
        shown = True
        code, name = kinds[new if new is not None else old]
        state = "解除" if new is None else ("継続" if new == old else "発表")
        kind = jx.sub(item, "Kind")
        jx.sub(kind, "Name", name)
        jx.sub(kind, "Code", code)
        jx.sub(kind, "Status", state)
        if old is not None:
            last = jx.sub(kind, "LastKind")
            jx.sub(last, "Name", kinds[old][1])
            jx.sub(last, "Code", kinds[old][0])
        if peak is not None and new is not None:
            _tide_peak(kind, *peak)
    if not shown:
        jx.sub(jx.sub(item, "Kind"), "Status", "発表警報・注意報はなし")
    area = jx.sub(item, "Area")
    jx.sub(area, "Name", area_name)
    jx.sub(area, "Code", area_code)
    if shown:
        jx.sub(item, "ChangeStatus", "変化無" if before == now else "警報・注意報種別に変化有")
        jx.sub(item, "FullStatus", "一部")
        jx.sub(item, "EditingMark", "0")


def _tide_peak(kind, level_m: float, when: datetime) -> None:
    """Property 高潮ピーク: the highest tide expected, as sample 15_16_02 gives it for each municipality."""
    prop = jx.sub(kind, "Property")
    jx.sub(prop, "Type", "高潮ピーク")
    local = jx.sub(jx.sub(jx.sub(prop, "TidalLevelPart"), "Base"), "Local")
    jx.sub(local, "AreaName", "（高潮予報区間以外）")  # Ishikawa's coast has no 高潮予報区間 in the simulator
    value = f"{level_m:.1f}"
    jx.sub(local, "TidalLevel", value, ns=jx.EB, type="潮位", unit="m",
           description=f"{value.translate(_ZENKAKU)}メートルの高さ")
    jx.sub(local, "Time", jx.iso_jst(when.replace(second=0, microsecond=0)))


_ZENKAKU = str.maketrans("0123456789.", "０１２３４５６７８９．")


def _headline_text(now: State) -> str:
    top: dict[str, int] = {}
    for s in now.values():
        for f, idx in s.items():
            top[f] = max(top.get(f, -1), idx)
    if not top:
        return "石川県では、警報・注意報はありません。"
    sentences = []
    rain = [idx for f, idx in top.items() if f not in HEADLINE_WORDS]
    if rain and max(rain) >= 1:
        sentences.append("加賀、能登では、大雨による土砂災害や低い土地の浸水、河川の増水に警戒してください。")
    elif rain:
        sentences.append("石川県では、大雨や落雷に注意してください。")
    for word in dict.fromkeys(HEADLINE_WORDS[f] for f in top if f in HEADLINE_WORDS):
        strongest = max(idx for f, idx in top.items() if HEADLINE_WORDS.get(f) == word)
        sentences.append(f"石川県では、{word}に{'警戒' if strongest >= 1 else '注意'}してください。")
    return "".join(sentences)
