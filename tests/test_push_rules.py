"""The push rule table: each kind of change -> exactly these messages (or none), and their text."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from geo.codes import AreaCodes
from geo.model import Event, Kind, SourceRef, State, Status
from geo.store.base import Change, ChangeOp
from publishers.mastodon import MastodonConfig
from publishers.messages import render, render_digest
from publishers.rules import ROUTINE, TOP, URGENT, PushRules, coalesce_until
from publishers.x import XConfig, weigh
from service.push_config import DEFAULT_RULES, DryConfig

AT = datetime(2026, 7, 10, 1, 0, tzinfo=timezone.utc)  # 10:00 JST
CODES = AreaCodes.load()
CHANNELS = {
    "x": XConfig(),
    "mastodon": MastodonConfig(base_url="https://m.example", langs=["ja", "en", "easy"]),
    "drill": DryConfig(drill=True),
}
RULES = PushRules(DEFAULT_RULES, CHANNELS, CODES, "https://bosai.example/")


def ev(event_id: str, level: int = 4, state: State = State.ACTIVE, version: int = 1, areas=("17201",), **kw) -> Event:
    kind = {"sediment": Kind.SEDIMENT_WARNING, "gauge": Kind.GAUGE, "road": Kind.ROAD_CLOSURE,
            "weather": Kind.WEATHER_WARNING, "flood": Kind.FLOOD_FORECAST}[event_id.split(":")[0]]
    return Event(id=event_id, kind=kind, level=level, state=state, version=version, areas=areas,
                 issued_at=AT, received_at=AT, title=kw.pop("title", "土砂災害警戒情報（金沢市）"),
                 source=SourceRef(source_id="jma", upstream_id="EV1", sequence=version), **kw)


def messages(new: Event, previous: Event | None, op: ChangeOp | None = None):
    if op is None:
        op = ChangeOp.CREATED if previous is None else {
            State.ACTIVE: ChangeOp.UPDATED, State.LIFTED: ChangeOp.LIFTED, State.CANCELLED: ChangeOp.CANCELLED,
            State.EXPIRED: ChangeOp.EXPIRED}[new.state]
    return RULES(Change(op, new), previous)


def summary(msgs):
    return sorted((m.id, m.payload["happening"], m.priority) for m in msgs)


def test_sediment_warning_issued_goes_to_every_sns_language_urgently():
    msgs = messages(ev("sediment:17201"), None)
    assert summary(msgs) == [
        ("mastodon:easy:sediment:17201@1", "issued", URGENT),
        ("mastodon:en:sediment:17201@1", "issued", URGENT),
        ("mastodon:ja:sediment:17201@1", "issued", URGENT),
        ("x:ja:sediment:17201@1", "issued", URGENT),
    ]
    x = next(m for m in msgs if m.channel == "x")
    assert x.not_before is None  # level 4: never held for a digest
    assert x.payload["text"] == (
        "【土砂災害警戒情報】\n金沢市\n警戒レベル４相当\n危険な場所から全員避難\n7月10日 10:00 発表\n"
        "https://bosai.example/events/sediment:17201"
    )
    en = next(m for m in msgs if m.id.startswith("mastodon:en"))
    assert en.payload["text"].splitlines()[:3] == ["[Sediment disaster alert]", "Kanazawa", "Alert level 4 equivalent"]
    easy = next(m for m in msgs if m.id.startswith("mastodon:easy"))
    assert "けいかいレベル４（そうとう）" in easy.payload["text"]


def test_continuation_without_material_change_makes_nothing():
    old = ev("sediment:17201", version=1)
    same = ev("sediment:17201", version=2, text="継続")  # new serial, new wording, same level and areas
    assert messages(same, old) == []


def test_lift_and_cancellation_and_correction():
    old = ev("sediment:17201", version=1)
    lifted = messages(ev("sediment:17201", level=0, state=State.LIFTED, version=2), old)
    assert {m.payload["happening"] for m in lifted} == {"lifted"}
    x = next(m for m in lifted if m.channel == "x")
    assert x.payload["text"].splitlines()[:3] == ["【解除】土砂災害警戒情報", "金沢市", "解除されました。"]
    assert x.priority == URGENT  # it replaces a level-4 warning

    cancelled = messages(ev("sediment:17201", level=0, state=State.CANCELLED, version=2), old)
    x = next(m for m in cancelled if m.channel == "x")
    assert (x.payload["happening"], x.payload["reply_to_original"], x.priority) == ("cancelled", True, URGENT)
    assert x.payload["text"].splitlines()[:3] == ["【取消】土砂災害警戒情報", "金沢市", "先ほどの発表は取り消されました。"]

    corrected = messages(ev("sediment:17201", areas=("17201", "17203"), version=2,
                            properties={"correction": True}), old)
    x = next(m for m in corrected if m.channel == "x")
    assert (x.payload["happening"], x.payload["reply_to_original"]) == ("corrected", True)
    assert x.payload["text"].startswith("【訂正】【土砂災害警戒情報】\n金沢市、小松市\n")
    # a 訂正 that changes nothing material is not posted
    assert messages(ev("sediment:17201", version=2, text="訂正文", properties={"correction": True}), old) == []


def test_cancelling_something_never_posted_posts_nothing():
    below = ev("flood:170010", level=2, title="梯川氾濫注意情報")
    assert messages(ev("flood:170010", level=0, state=State.CANCELLED, version=2), below) == []


def test_gauge_crossing_into_evacuation_level_and_falling_back():
    g = dict(title="犀川 桜橋")
    assert messages(ev("gauge:1", level=3, version=2, **g), ev("gauge:1", level=2, **g))[0].payload["happening"] == "issued"
    # a new reading at the same level: nothing
    assert messages(ev("gauge:1", level=3, version=3, properties={"level_m": 2.1}, **g), ev("gauge:1", level=3, **g)) == []
    assert messages(ev("gauge:1", level=2, version=2, **g), ev("gauge:1", level=1, **g)) == []
    raised = messages(ev("gauge:1", level=4, version=3, **g), ev("gauge:1", level=3, **g))
    assert {(m.payload["happening"], m.priority) for m in raised} == {("raised", URGENT)}
    back = messages(ev("gauge:1", level=2, version=4, **g), ev("gauge:1", level=3, **g))
    x = next(m for m in back if m.channel == "x")
    assert (x.payload["happening"], x.priority) == ("lifted", ROUTINE + 3)
    assert x.payload["text"].splitlines()[:3] == ["【解除】犀川 桜橋：避難判断水位", "金沢市", "水位が下がりました。"]
    issued = messages(ev("gauge:1", level=3, version=2, **g), ev("gauge:1", level=2, **g))
    x = next(m for m in issued if m.channel == "x")
    assert x.payload["text"].splitlines()[:3] == ["【犀川 桜橋：避難判断水位】", "金沢市", "警戒レベル３相当"]
    assert x.priority == ROUTINE + 3 and x.not_before == coalesce_until(AT, 300)  # waits for the digest window


def test_road_closure_only_on_configured_routes():
    on_route = ev("road:a", level=2, title="国道249号 輪島市門前町 全面通行止", properties={"route": "国道249号"})
    other = ev("road:b", level=2, title="市道 全面通行止", properties={"route": "市道"})
    assert {m.payload["happening"] for m in messages(on_route, None)} == {"issued"}
    assert messages(other, None) == []
    ended = messages(ev("road:a", level=0, state=State.LIFTED, version=2, properties={"route": "国道249号"}), on_route)
    assert {m.payload["happening"] for m in ended} == {"lifted"}


def test_special_warning_is_top_priority_and_r06_sediment_level4_posts():
    special = messages(ev("weather:17201:大雨", level=5, title="金沢市 大雨特別警報", properties={"family": "大雨"}), None)
    assert {m.priority for m in special} == {TOP}
    r06 = messages(ev("weather:17201:土砂災害", level=4, title="金沢市 レベル４土砂災害危険警報",
                      properties={"family": "土砂災害"}), None)
    assert {(m.payload["rule"], m.priority) for m in r06} == {("レベル４土砂災害危険警報", URGENT)}
    heavy_rain_4 = ev("weather:17201:大雨", level=4, title="金沢市 レベル４大雨危険警報", properties={"family": "大雨"})
    assert messages(heavy_rain_4, None) == []


def test_drills_reach_only_drill_channels_stamped():
    drill = messages(ev("sediment:17201#exercise", status=Status.EXERCISE), None)
    assert [m.id for m in drill] == ["drill:ja:sediment:17201#exercise@1"]
    assert drill[0].payload["text"].startswith("【訓練】【土砂災害警戒情報】")
    assert all(m.channel != "drill" for m in messages(ev("sediment:17201"), None))


# -- weighted length and shortening -------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("金沢市", 6),  # CJK counts 2
    ("Kanazawa 金沢", 13),
    ("見て https://bosai.pref.ishikawa.jp/events/sediment:17201", 5 + 23),  # any URL counts 23
    ("🌧️ 大雨", 2 + 1 + 4),  # an emoji sequence counts 2
    ("ｶﾅｻﾞﾜ", 10),  # half-width katakana is CJK too
])
def test_weighted_length_by_twitter_text(text, expected):
    assert weigh(text) == expected


def _notice(codes, lang="ja"):
    names = [CODES.municipality(c).name if lang != "en" else CODES.municipality(c).name_en for c in codes]
    return {"lang": lang, "happening": "issued", "kind": "sediment_warning", "level": 4, "previous_level": 0,
            "event_id": "sediment:17201", "status": "actual", "areas": codes, "area_names": names,
            "title": "土砂災害警戒情報", "issued_at": AT.isoformat(), "url": "https://bosai.example/events/sediment:17201"}


def test_many_municipalities_are_shortened_by_rule_never_mid_word_or_url():
    codes = sorted(CODES.municipalities)
    text = render([_notice(codes)], link=True, weigh=weigh, limit=140)
    assert weigh(text) <= 140
    lines = text.splitlines()
    assert lines[-1] == "https://bosai.example/events/sediment:17201"  # the URL whole
    places = lines[1].split("、")
    assert places[-1].startswith("ほか") and places[-1].endswith("市町")
    assert all(p in {CODES.municipality(c).name for c in codes} for p in places[:-1])  # whole names only
    full = render([_notice(codes)], link=True, weigh=weigh, limit=10_000)
    assert weigh(full) > 140 and "危険な場所から全員避難" in full


def test_digest_names_what_fits_and_counts_the_rest():
    notices = [dict(_notice([c]), level=3, kind="flood_forecast", title="梯川氾濫警戒情報") for c in
               ["17201", "17203", "17206", "17210", "17211"]]
    text, named = render_digest(notices, "https://bosai.example/", weigh, 100)
    assert weigh(text) <= 100 and text.startswith("【まとめ】5件のお知らせ")
    assert 0 < len(named) < 5 and f"ほか{5 - len(named)}件" in text and text.endswith("https://bosai.example/")
