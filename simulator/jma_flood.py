"""指定河川洪水予報 (VXKOii) for 梯川 and 手取川, driven by the forecast station's stage.

Modelled on JMA's real 六角川 message (sample 16_02_02): Headline Information per 予報区域 / 河川 /
府県予報区, Body Warning with 主文 and Stations, a 水位 time series (現況 and hourly forecasts, with
the 警戒レベル of each value) and the station's criteria in AdditionalInfo. A message goes out when
the stage category changes, and every 3 hours while a forecast is in force.
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
            xml, headline = _document(scenario.scenario.status, st, hydro, at, report_dt, serial, kind, current)
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


def _document(status, st: FloodStation, hydro: Hydrology, at, report_dt, serial, kind, previous):
    name, code = KINDS[kind]
    headline_text, main_text = _texts(st, kind)
    head_title = f"{st.river_name}{name}"
    root, headline, body = jx.report(
        control_title="指定河川洪水予報", status=status, at=at, editorial=jx.OFFICE,
        publishing=f"{st.office} {jx.OFFICE}", head_title=head_title, report_dt=report_dt,
        event_id=st.area_code, info_type="発表", serial=str(serial), info_kind="指定河川洪水予報",
        version="1.1_1", headline=headline_text,
    )
    cond = _condition(kind, previous)
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

    infos = jx.sub(body, "MeteorologicalInfos", type="水位・流量情報")
    series = jx.sub(infos, "TimeSeriesInfo")
    defines = jx.sub(series, "TimeDefines")
    observed = report_dt.replace(minute=report_dt.minute - report_dt.minute % 10)
    points = [(observed, "現況")] + [(observed + timedelta(hours=h), f"{'１２３'[h - 1]}時間後") for h in (1, 2, 3)]
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
