"""土砂災害警戒情報 (VXWW50) for Ishikawa, from the scenario's issue / lift / correct / cancel steps.

Modelled on JMA's samples 17_03_* (a 発表→継続→解除 sequence) and 17_04_* (the 2025 wording: Head/Title
「…レベル４土砂災害危険警報」 while Control/Title stays 「土砂災害警戒情報」). Body/Warning lists every
municipality of the prefecture with 警戒 (3) 発表/継続, 解除 (1) or なし (0).
"""
from __future__ import annotations

from datetime import timedelta

from geo.codes import AreaCodes
from simulator import jma_xml as jx
from simulator.scenario import Scenario

EVENT_ID = "石川県土砂災害警戒情報"
HEAD_TITLE = "石川県レベル４土砂災害危険警報"
PUBLISHING = "石川県 金沢地方気象台"

TEXT_ISSUE = (
    "＜概況＞\n　降り続く大雨のため、土砂災害警戒区域等では命に危険が及ぶ土砂災害がいつ発生してもおかしくない"
    "非常に危険な状況です。\n＜レベル４土砂災害危険警報の補足情報＞\n　避難が必要となる危険な状況となっています"
    "【警戒レベル４相当情報［土砂災害］】。崖の近くや谷の出口など土砂災害警戒区域等にお住まいの方は、市町から"
    "発令される避難指示などの情報に留意し、少しでも安全な場所への速やかな避難を心がけてください。\n"
)
TEXT_ALL_LIFTED = "《全警戒解除》\n　大雨が弱まり、多発的な土砂災害が発生するおそれは少なくなりました。"
TEXT_PART_LIFTED = "＜概況＞\n　一部の市町で土砂災害の危険度が下がりましたが、引き続き警戒が必要な市町があります。\n"
TEXT_CORRECTION = "＜訂正＞\n　先ほど発表した土砂災害警戒情報の本文に誤りがありましたので訂正します。\n"
TEXT_CANCEL = "先ほど発表した土砂災害警戒情報は誤りのため取り消します。"

KINDS = {"発表": ("警戒", "3"), "継続": ("警戒", "3"), "解除": ("解除", "1"), "なし": ("なし", "0")}


def build(scenario: Scenario, seed: int, codes: AreaCodes) -> list[jx.JmaMessage]:
    """Every VXWW50 message of the scenario, in time order."""
    start, status = scenario.scenario.start, scenario.scenario.status
    munis = sorted(codes.municipalities.values(), key=lambda m: m.jis)
    active: set[str] = set()
    history: list[set[str]] = []  # `active` before each message, for 取消
    last_statuses: dict[str, str] | None = None
    serial, out = 0, []
    for step in sorted(scenario.sediment, key=lambda s: s.at_h):
        report_dt = (start + timedelta(hours=step.at_h)).replace(second=0, microsecond=0)
        info_type, text = "発表", TEXT_ISSUE
        if step.action == "correct" and last_statuses is not None:
            statuses, info_type = dict(last_statuses), "訂正"
            text = TEXT_CORRECTION + (TEXT_ISSUE if any(v in ("発表", "継続") for v in statuses.values()) else TEXT_ALL_LIFTED)
        elif step.action == "cancel" and history:
            active = history.pop()
            statuses, info_type, text = None, "取消", TEXT_CANCEL
        else:
            history.append(set(active))
            statuses = {}
            for m in munis:
                if step.action == "issue":
                    statuses[m.jis] = "継続" if m.jis in active else ("発表" if m.jis in step.areas else "なし")
                elif m.jis in active:
                    statuses[m.jis] = "解除" if m.jis in step.areas else "継続"
                else:
                    statuses[m.jis] = "なし"
            active = {j for j, s in statuses.items() if s in ("発表", "継続")}
            if not active:
                text = TEXT_ALL_LIFTED
            elif step.action == "lift":
                text = TEXT_PART_LIFTED + TEXT_ISSUE
        serial += 1
        at = jx.publish_time(report_dt, seed, f"vxww50:{serial}:{step.at_h}")
        xml = _document(status, at, report_dt, info_type, serial, text, statuses, munis)
        out.append(jx.JmaMessage(at, "VXWW50", "extra", "土砂災害警戒情報", PUBLISHING, _feed_text(text), xml))
        if statuses is not None:
            last_statuses = statuses
        if not active and info_type != "取消":
            serial = 0  # a new event starts with Serial 1
    return out


def _feed_text(text: str) -> str:
    return "【石川県土砂災害警戒情報】" + text.replace("\n", "").replace("　", "")[:120]


def _document(status, at, report_dt, info_type, serial, text, statuses, munis) -> bytes:
    root, headline, body = jx.report(
        control_title="土砂災害警戒情報", status=status, at=at, editorial=jx.OFFICE,
        publishing=PUBLISHING, head_title=HEAD_TITLE, report_dt=report_dt, event_id=EVENT_ID,
        info_type=info_type, serial=str(serial), info_kind="土砂災害警戒情報", version="1.0_0",
        headline=text,
    )
    if statuses is None:  # 取消: the Headline says why; the Body is empty, as JMA sends it
        return jx.serialize(root)
    groups = []
    for cond in ("発表", "継続", "解除"):
        areas = [(m.name, m.jma7) for m in munis if statuses[m.jis] == cond]
        if areas:
            name, code = KINDS[cond]
            groups.append((name, code, cond, "気象・地震・火山情報／市町村等", areas))
    if groups:
        jx.information(headline, "土砂災害警戒情報", groups)
    target = jx.sub(body, "TargetArea")
    jx.sub(target, "Name", jx.PREF_NAME)
    jx.sub(target, "Code", jx.PREF_AREA)
    warning = jx.sub(body, "Warning", type="土砂災害警戒情報")
    for m in munis:
        st = statuses[m.jis]
        item = jx.sub(warning, "Item")
        kind = jx.sub(item, "Kind")
        name, code = KINDS[st]
        jx.sub(kind, "Name", name)
        jx.sub(kind, "Code", code)
        jx.sub(kind, "Status", st)
        area = jx.sub(item, "Area")
        jx.sub(area, "Name", m.name)
        jx.sub(area, "Code", m.jma7)
    office_info = jx.sub(body, "OfficeInfo")
    for kind, name, contact in (("都道府県", "石川県", "石川県土木部砂防課"), ("気象庁", jx.OFFICE, "金沢地方気象台")):
        office = jx.sub(office_info, "Office", type=kind)
        jx.sub(office, "Name", name)
        jx.sub(office, "ContactInfo", contact)
    return jx.serialize(root)


def active_timeline(scenario: Scenario) -> list[tuple[float, frozenset[str]]]:
    """(hours after start, municipalities under warning from then on), for other products to follow."""
    active: set[str] = set()
    history: list[set[str]] = []
    out = []
    for step in sorted(scenario.sediment, key=lambda s: s.at_h):
        if step.action == "issue":
            history.append(set(active))
            active |= set(step.areas)
        elif step.action == "lift":
            history.append(set(active))
            active -= set(step.areas)
        elif step.action == "cancel" and history:
            active = history.pop()
        out.append((step.at_h, frozenset(active)))
    return out
