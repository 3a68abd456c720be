"""指定河川洪水予報 (VXKOii) for 梯川 and 手取川, driven by the forecast station's stage.

Modelled on JMA's real 六角川 message (sample 16_02_02): Headline Information per 予報区域 / 河川 /
府県予報区, Body Warning with 主文, Stations and the 浸水想定地区 (the municipalities that would
flood), a 水位 time series (現況 and hourly forecasts, with the 警戒レベル of each value) and the
station's criteria in AdditionalInfo. A message goes out when the stage category changes, and every
3 hours while a forecast is in force.

Two namings, chosen per river by the scenario (`naming`): the old kinds (氾濫注意情報 20, 氾濫警戒情報
30, 氾濫危険情報 40, 解除 10) and the level names JMA uses from the 2026 flood season (samples_r06
16_08–16_14: レベル２氾濫注意報, レベル３氾濫警報, レベル４氾濫危険警報, レベル２氾濫注意報解除),
where a continued forecast has its own code (21/31/41), the step down from a 警報 is 22, texts
carry 〔新規〕/〔継続〕/〔…に切替〕/〔解除〕 and the series runs 6 hours ahead.
"""
from __future__ import annotations

import random
from datetime import timedelta

from simulator import jma_xml as jx
from simulator.hydrology import FLOOD_STATIONS, FloodStation, Hydrology
from simulator.scenario import Scenario

# category -> (kind name, code, level words)
KINDS = {
    0: ("氾濫注意情報解除", "10"),
    2: ("氾濫注意情報", "20"),
    21: ("氾濫注意情報（警戒情報解除）", "21"),
    3: ("氾濫警戒情報", "30"),
    4: ("氾濫危険情報", "40"),
}
# category -> (kind name, code) with the 2026 level names
LEVEL_KINDS = {
    0: ("レベル２氾濫注意報解除", "10"),
    2: ("レベル２氾濫注意報", "20"),
    21: ("レベル２氾濫注意報", "22"),
    3: ("レベル３氾濫警報", "30"),
    4: ("レベル４氾濫危険警報", "40"),
}
LEVEL_CONTINUED = {"20": "21", "30": "31", "40": "41"}  # the same forecast again, or a step down within 警報
LEVEL_WORDS = {0: "", 2: "警戒レベル２", 21: "警戒レベル２", 3: "警戒レベル３相当", 4: "警戒レベル４相当"}
# municipalities in each river's 浸水想定区域 (7-digit codes), listed per station as 浸水想定地区
INUNDATION = {
    "kakehashi": (("小松市", "1720300"), ("能美市", "1721100")),
    "tedori": (("白山市", "1721000"), ("能美市", "1721100"), ("川北町", "1732400")),
}
CRITERIA = ("レベル１水防団待機水位", "レベル２氾濫注意水位", "レベル３避難判断水位", "レベル４氾濫危険水位")
HYSTERESIS_M = 0.05
REPEAT_STEPS = 18  # 3 hours


def category(st: FloodStation, now: float, ahead: float, current: int) -> int:
    """Forecast category from the stage now and the highest stage expected within 3 hours."""
    _l1, l2, l3, l4 = st.thresholds
    slack = HYSTERESIS_M if current else 0.0  # falling needs a margin, so noise cannot flap it
    if now >= l4 - (slack if current >= 4 else 0):
        return 4
    if now >= l3 - (slack if current >= 3 else 0) or ahead >= l4:
        return 3
    if now >= l2 - (slack if current >= 2 else 0):
        return 2
    return 0


def level_of(st: FloodStation, value: float) -> int:
    """警戒レベル (0-4) a stage corresponds to."""
    return sum(value >= t for t in st.thresholds)


def build(scenario: Scenario, hydro: Hydrology, seed: int) -> list[jx.JmaMessage]:
    """Every VXKO message of the scenario for the rivers it scripts."""
    out = []
    for plan in scenario.flood:
        st = FLOOD_STATIONS[plan.river]
        current, serial, last_step = 0, 0, 0
        for step in range(hydro.n - 18):
            t = hydro.time_of(step)
            now = hydro.flood_level(st, t)
            ahead = max(hydro.flood_level(st, hydro.time_of(step + k)) for k in range(1, 19))
            cat = category(st, now, ahead, current)
            repeat = current >= 2 and cat == current and step - last_step >= REPEAT_STEPS
            if cat == current and not repeat:
                continue
            kind = cat
            if 0 < cat < current and cat == 2:
                kind = 21  # 警戒情報解除: back to 注意
            serial += 1
            minute = random.Random(f"{seed}:vxko:{st.river}:{step}").randint(1, 8)
            report_dt = t + timedelta(minutes=minute)
            at = jx.publish_time(report_dt, seed, f"vxko:{st.river}:{serial}")
            xml, headline = _document(scenario.scenario.status, st, hydro, at, report_dt, serial, kind, current,
                                      plan.naming == "level")
            title = "指定河川洪水予報"
            out.append(jx.JmaMessage(at, st.data_type, "extra", title, f"{st.office} {jx.OFFICE}", headline, xml))
            current, last_step = cat, step
            if cat == 0:
                serial = 0
    return out


def _condition(kind: int, previous: int) -> str:
    if kind == 0:
        return "洪水注意報解除"
    if kind == 21:
        return "洪水注意報（警報解除）"
    if kind == 2:
        return "洪水注意報（発表）" if previous == 0 else "洪水注意報"
    return "洪水警報（発表）" if previous < 3 else "洪水警報"


def _texts(st: FloodStation, kind: int) -> tuple[str, str]:
    r, s = st.river_name, st.name
    if kind == 4:
        return (f"【警戒レベル４相当情報［洪水］】{r}では、氾濫危険水位に到達",
                f"【警戒レベル４相当】{r}の{s}水位観測所（{st.city}）では、「氾濫危険水位」に到達しました。"
                f"{r}では、いつ氾濫してもおかしくない状態です。避難等の氾濫発生に対する対応を求める段階です。")
    if kind == 3:
        return (f"【警戒レベル３相当情報［洪水］】{r}では、今後、氾濫危険水位に到達する見込み",
                f"【警戒レベル３相当】{r}の{s}水位観測所（{st.city}）では、今後、「氾濫危険水位」に到達する見込みです。"
                "市町からの避難情報に十分注意してください。")
    if kind in (2, 21):
        return (f"【警戒レベル２相当情報［洪水］】{r}では、氾濫注意水位に到達し、水位はさらに上昇する見込み"
                if kind == 2 else f"【警戒レベル２相当情報［洪水］】{r}では、氾濫注意水位を超える水位が続く見込み",
                f"{r}の{s}水位観測所（{st.city}）では、「氾濫注意水位」を超えています。今後の情報に注意してください。")
    return (f"{r}では、氾濫のおそれがなくなりました",
            f"{r}の{s}水位観測所（{st.city}）では、水位が「氾濫注意水位」を下回り、氾濫のおそれはなくなりました。")


def _level_kind(kind: int, previous: int) -> tuple[str, str, str]:
    """(name, code, condition) of a category in the 2026 level names."""
    name, code = LEVEL_KINDS[kind]
    if kind == 0:
        return name, code, name
    if kind == 21:
        return name, code, f"{name}（警報解除）"
    issued = previous < (kind if kind > 2 else 2)  # a new 注意報, or a step up into (or within) 警報
    return name, code if issued else LEVEL_CONTINUED[code], f"{name}（発表）" if issued else name


def _level_texts(st: FloodStation, kind: int, previous: int) -> tuple[str, str]:
    r, where = st.river_name, f"{st.name}基準観測所（{st.city}）"
    cities = "、".join(n for n, _c in INUNDATION[st.river])
    if kind == 0:
        return f"〔解除〕{r}では、氾濫注意水位を下回る", f"{r}の{where}では、「氾濫注意水位」を下回りました。"
    word = LEVEL_WORDS[kind]
    if previous == 0:
        tag = "〔新規〕"
    elif (kind == 21 and previous == 2) or kind == previous:
        tag = "〔継続〕"
    else:
        tag = f"〔{LEVEL_WORDS[previous]}から{word.removeprefix('警戒レベル')}に切替〕"
    headline, main = {
        4: (f"{r}では、氾濫危険水位に到達し、氾濫のおそれあり",
            f"これは、避難指示の発令の目安です。{r}の{where}では、「氾濫危険水位」に到達しました。{r}では堤防決壊等による"
            f"氾濫のおそれがあり、{cities}では浸水するおそれがあります。直ちに、市町村からの避難情報を確認するとともに、"
            "各自安全確保を図るなど、適切な防災行動をとってください。"),
        3: (f"{r}では、今後、氾濫危険水位に到達する見込み",
            f"これは、高齢者等避難の発令の目安です。{r}の{where}では、今後、「氾濫危険水位」に到達する見込みです。"
            "市町村からの避難情報に十分注意するとともに、適切な防災行動をとってください。"),
        2: (f"{r}では、氾濫注意水位に到達し、今後、水位はさらに上昇する見込み",
            f"{r}の{where}では、「氾濫注意水位」に到達し、今後、水位はさらに上昇する見込みです。洪水に関する情報に注意してください。"),
        21: (f"{r}では、氾濫注意水位を超える水位が続く見込み",
             f"{r}の{where}では、当分の間、「氾濫注意水位」付近の水位が続く見込みです。引き続き、洪水に関する情報に注意してください。"),
    }[kind]
    return f"【{word}情報［洪水］】{tag}{headline}", f"【{word}】{where}受け持ち区間　{main}"


def _document(status, st: FloodStation, hydro: Hydrology, at, report_dt, serial, kind, previous, level_names: bool):
    if level_names:
        name, code, cond = _level_kind(kind, previous)
        headline_text, main_text = _level_texts(st, kind, previous)
    else:
        name, code = KINDS[kind]
        cond = _condition(kind, previous)
        headline_text, main_text = _texts(st, kind)
    head_title = f"{st.river_name}{name}"
    root, headline, body = jx.report(
        control_title="指定河川洪水予報", status=status, at=at, editorial=jx.OFFICE,
        publishing=f"{st.office} {jx.OFFICE}", head_title=head_title, report_dt=report_dt,
        event_id=st.area_code, info_type="発表", serial=str(serial), info_kind="指定河川洪水予報",
        version="1.1_1", headline=headline_text,
    )
    jx.information(headline, "指定河川洪水予報（予報区域）", [(name, code, cond, "指定河川洪水予報（予報区域）", [(st.river_name, st.area_code)])])
    jx.information(headline, "指定河川洪水予報（河川）", [(name, code, cond, "河川", [(st.river_name, st.river_code)])])
    jx.information(headline, "指定河川洪水予報（府県予報区等）", [(name, code, cond, "気象情報／府県予報区・細分区域等", [(jx.PREF_NAME, jx.PREF_AREA)])])

    warning = jx.sub(body, "Warning", type="指定河川洪水予報")
    item = jx.sub(warning, "Item")
    prop = jx.sub(jx.sub(item, "Kind"), "Property")
    jx.sub(prop, "Type", "主文")
    jx.sub(prop, "Text", main_text)
    area = jx.sub(jx.sub(item, "Areas", codeType="河川"), "Area")
    jx.sub(area, "Name", st.river_name)
    jx.sub(area, "Code", st.river_code)
    _station(jx.sub(item, "Stations"), st)
    _inundation(warning, st)

    infos = jx.sub(body, "MeteorologicalInfos", type="水位・流量情報")
    series = jx.sub(infos, "TimeSeriesInfo")
    defines = jx.sub(series, "TimeDefines")
    observed = report_dt.replace(minute=report_dt.minute - report_dt.minute % 10)
    ahead = range(1, 7 if level_names else 4)  # the 2026 messages forecast 6 hours, the old ones 3
    points = [(observed, "現況")] + [(observed + timedelta(hours=h), f"{'１２３４５６'[h - 1]}時間後") for h in ahead]
    for i, (t, label) in enumerate(points, 1):
        td = jx.sub(defines, "TimeDefine", timeId=str(i))
        jx.sub(td, "DateTime", jx.iso_jst(t))
        jx.sub(td, "Name", label)
    kind_el = jx.sub(jx.sub(series, "Item"), "Kind")
    jx.sub(kind_el, "Name", "水位")
    prop = jx.sub(kind_el, "Property")
    jx.sub(prop, "Type", "水位")
    part = jx.sub(prop, "WaterLevelPart")
    for i, (t, _label) in enumerate(points, 1):
        value = hydro.flood_level(st, t)
        jx.sub(part, "WaterLevel", f"{value:.2f}", ns=jx.EB, type="水位", unit="m", refID=str(i), condition="正常")
        jx.sub(part, "WaterLevel", str(level_of(st, value)), ns=jx.EB, type="レベル", refID=str(i))
    _station(kind_el.getparent(), st, single=True)

    office_info = jx.sub(body, "OfficeInfo")
    for otype, oname, ocode in (("水位関係", st.office, st.office_code), ("気象関係", jx.OFFICE, "47605")):
        office = jx.sub(office_info, "Office", type=otype)
        jx.sub(office, "Name", oname)
        jx.sub(office, "Code", ocode)
        jx.sub(office, "ContactInfo", oname)

    addition = jx.sub(jx.sub(body, "AdditionalInfo"), "FloodForecastAddition")
    hsp = jx.sub(addition, "HydrometricStationPart")
    a = jx.sub(hsp, "Area", codeType="水位観測所")
    jx.sub(a, "Name", st.name)
    jx.sub(a, "Code", st.station_code)
    jx.sub(a, "SubCityList", f"石川県{st.city}-")
    jx.sub(a, "Location", st.city)
    jx.sub(hsp, "ChargeSection", f"{st.river_name}\n　右岸：{st.city}地先から海まで\n　左岸：{st.city}地先から海まで")
    criteria = jx.sub(hsp, "Criteria")
    for label, value in (*zip(CRITERIA, st.thresholds), ("レベル４計画高水位等", st.plan_high)):
        jx.sub(criteria, "WaterLevel", f"{value:.2f}", ns=jx.EB, type=label, unit="m", condition="有効")
    return jx.serialize(root), f"【{head_title}】{headline_text}"


def _station(parent, st: FloodStation, single: bool = False) -> None:
    station = jx.sub(parent, "Station")
    jx.sub(station, "Name", st.name)
    jx.sub(station, "Code", st.station_code, type="水位観測所")
    jx.sub(station, "Location", st.city)


def _inundation(warning, st: FloodStation) -> None:
    """Warning Item 浸水想定地区: the municipalities the river would flood, per forecast station."""
    item = jx.sub(warning, "Item")
    kind = jx.sub(item, "Kind")
    jx.sub(kind, "Name", "浸水想定地区")
    jx.sub(kind, "Code", "1")
    jx.sub(kind, "Status", "対象地域")
    prop = jx.sub(kind, "Property")
    jx.sub(prop, "Type", "浸水想定地区")
    jx.sub(prop, "Text", "氾濫による浸水が想定される地区※")
    areas = jx.sub(item, "Areas")
    for city, city_code in INUNDATION[st.river]:
        area = jx.sub(areas, "Area", codeType="水位観測所")
        jx.sub(area, "Name", st.name)
        jx.sub(area, "Code", st.station_code)
        jx.sub(area, "Prefecture", jx.PREF_NAME)
        jx.sub(area, "PrefectureCode", "17000")
        jx.sub(area, "City", city)
        jx.sub(area, "CityCode", city_code)
        jx.sub(area, "SubCityList", "-")
