"""警戒レベル wording: the one table of words every output uses, in ja, en and やさしい日本語.

Who speaks decides the words. Only a municipality's order (`Kind.EVACUATION`) says
緊急安全確保 / 避難指示 / 高齢者等避難 and a plain 「警戒レベル４」. JMA information and river
gauges give a level *equivalent* (「警戒レベル４相当」) under their own names — 土砂災害警戒情報,
氾濫危険情報, 氾濫危険水位 — and the action that level asks for. The portal, CAP, the OpenAPI
examples and every channel render a level through `level_words`, never through a table of their own.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from geo.model import LEVEL_COLOURS, Kind

LANGS = ("ja", "en", "easy")


class Voice(enum.StrEnum):
    """Who gives the level: a municipality's order, or information equivalent to a level."""

    ORDER = "order"  # 高齢者等避難 / 避難指示 / 緊急安全確保: only a municipality issues these
    EQUIVALENT = "equivalent"  # JMA information and gauges: 警戒レベル相当


def voice_of(kind: Kind | str) -> Voice:
    """The voice of an event kind: orders come only from `evacuation` events."""
    return Voice.ORDER if kind == Kind.EVACUATION else Voice.EQUIVALENT


_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")

# What each level asks of residents (Cabinet Office 警戒レベル guidance, 令和3年5月).
ACTIONS: dict[str, dict[int, str]] = {
    "ja": {
        5: "命の危険 直ちに安全確保",
        4: "危険な場所から全員避難",
        3: "危険な場所から高齢者等は避難",
        2: "自らの避難行動を確認",
        1: "災害への心構えを高める",
        0: "",
    },
    "en": {
        5: "Your life is in danger: secure your safety immediately",
        4: "Everyone in a dangerous place must evacuate",
        3: "Elderly people and others who need time must evacuate from dangerous places",
        2: "Check how and where you would evacuate",
        1: "Be prepared for a disaster",
        0: "",
    },
    "easy": {
        5: "いのちが あぶない です。すぐに あんぜんな ところへ いって ください",
        4: "あぶない ところに いる ひとは みんな にげて ください",
        3: "おとしよりや にげるのに じかんが かかる ひとは にげて ください",
        2: "にげる ばしょと みちを たしかめて ください",
        1: "さいがいに きを つけて ください",
        0: "",
    },
}

# The orders, in the words only a municipality uses.
ORDER_NAMES: dict[str, dict[int, str]] = {
    "ja": {5: "緊急安全確保", 4: "避難指示", 3: "高齢者等避難"},
    "en": {5: "Emergency safety measures", 4: "Evacuation instruction", 3: "Elderly people evacuate"},
    "easy": {5: "きんきゅう あんぜん かくほ", 4: "ひなん しじ（にげて）", 3: "こうれいしゃ など ひなん"},
}

# Names of the information each source gives at each level (its own terms, never an order word).
SOURCE_NAMES: dict[str, dict[str, dict[int, str]]] = {
    Kind.GAUGE: {
        "ja": {1: "水防団待機水位", 2: "氾濫注意水位", 3: "避難判断水位", 4: "氾濫危険水位", 5: "氾濫発生"},
        "en": {
            1: "Flood-fighting standby water level",
            2: "Flood caution water level",
            3: "Evacuation decision water level",
            4: "Flood danger water level",
            5: "Flooding has occurred",
        },
        "easy": {
            1: "かわの みずが ふえて います",
            2: "かわの みずが おおく なって います",
            3: "にげる ことを かんがえる みずの たかさ です",
            4: "かわが あふれる きけんが ある みずの たかさ です",
            5: "かわが あふれました",
        },
    },
    Kind.FLOOD_FORECAST: {
        "ja": {2: "氾濫注意情報", 3: "氾濫警戒情報", 4: "氾濫危険情報", 5: "氾濫発生情報"},
        "en": {
            2: "Flood caution information",
            3: "Flood alert information",
            4: "Flood danger information",
            5: "Flooding information",
        },
        "easy": {
            2: "かわの みずに ちゅうい",
            3: "かわが あふれる かもしれません",
            4: "かわが あふれる きけんが あります",
            5: "かわが あふれました",
        },
    },
    Kind.SEDIMENT_WARNING: {
        "ja": {4: "土砂災害警戒情報", 5: "大雨特別警報（土砂災害）"},
        "en": {4: "Sediment disaster alert", 5: "Heavy rain emergency warning (landslides)"},
        "easy": {4: "がけくずれ などの きけんが あります", 5: "がけくずれ などの とても おおきな きけん"},
    },
    Kind.WEATHER_WARNING: {
        "ja": {1: "早期注意情報", 2: "注意報", 3: "警報", 4: "危険警報", 5: "特別警報"},
        "en": {1: "Early warning information", 2: "Advisory", 3: "Warning", 4: "Danger warning", 5: "Emergency warning"},
        "easy": {
            1: "きを つけて ください",
            2: "ちゅういほう",
            3: "けいほう",
            4: "きけん けいほう",
            5: "とくべつ けいほう（とても あぶない）",
        },
    },
}


@dataclass(frozen=True, slots=True)
class LevelWords:
    """A level as one voice says it in one language: label, name, action and colour."""

    level: int
    voice: Voice
    label: str  # 「警戒レベル４相当」, 「警戒レベル４」 (orders), 「警戒レベルなし」
    name: str  # the source's own term: 避難指示 (orders only), 氾濫危険水位, 土砂災害警戒情報; may be ""
    action: str  # what the level asks of residents; "" at level 0
    colour: str

    @property
    def headline(self) -> str:
        """Label and action in one line, e.g. 「警戒レベル４相当：危険な場所から全員避難」."""
        if not self.action:
            return self.label
        separator = ": " if self.label.isascii() else "："
        return f"{self.label}{separator}{self.action}"


def level_label(level: int, voice: Voice, lang: str = "ja") -> str:
    """「警戒レベル４相当」 for information, 「警戒レベル４」 for an order, in `lang`."""
    _check(level, lang)
    if level == 0:
        return {"ja": "警戒レベルなし", "en": "No alert level", "easy": "けいかいレベルは ありません"}[lang]
    order = voice == Voice.ORDER
    if lang == "en":
        return f"Alert level {level}" + ("" if order else " equivalent")
    digit = str(level).translate(_FULLWIDTH_DIGITS)
    if lang == "easy":
        return f"けいかいレベル{digit}" + ("" if order else "（そうとう）")
    return f"警戒レベル{digit}" + ("" if order else "相当")


def level_words(level: int, kind: Kind | str, lang: str = "ja") -> LevelWords:
    """The words of `level` for an event of `kind` in `lang` (ja, en or easy)."""
    _check(level, lang)
    voice = voice_of(kind)
    if voice == Voice.ORDER:
        name = ORDER_NAMES[lang].get(level, "")
    else:
        name = SOURCE_NAMES.get(Kind(kind), {}).get(lang, {}).get(level, "") if kind in set(Kind) else ""
    return LevelWords(
        level=level,
        voice=voice,
        label=level_label(level, voice, lang),
        name=name,
        action=ACTIONS[lang][level],
        colour=LEVEL_COLOURS[level],
    )


def _check(level: int, lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; one of {', '.join(LANGS)}")
    if level not in ACTIONS["ja"]:
        raise ValueError(f"警戒レベル must be 0-5, got {level!r}")
