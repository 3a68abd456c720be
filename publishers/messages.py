"""Push message templates, per language (ja, en, easy = やさしい日本語), from the one wording table.

A message is rendered from its notice (the payload the rules put in the outbox). Several notices of
one group (one report for several municipalities) render as one post naming every municipality;
lower-level notices coalesced in a window render as one digest. Level words come only from
`geo.wording.level_words` (警戒レベル相当 for JMA and gauges). A text too long for its channel is
shortened by rule — fewer municipalities named ("ほか3市町"), then the action and time lines
dropped — never cut inside a word or a URL.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from geo.model import Kind
from geo.wording import level_words

JST = ZoneInfo("Asia/Tokyo")
Notice = dict[str, Any]

STAMPS = {
    "exercise": {"ja": "【訓練】", "en": "[DRILL] ", "easy": "【くんれん】"},
    "test": {"ja": "【試験】", "en": "[TEST] ", "easy": "【しけん】"},
}
# How each happening is announced; {head} is the information's name (or the place's title).
OPENINGS = {
    "ja": {"issued": "【{head}】", "raised": "【{head}・引き上げ】", "lowered": "【{head}・引き下げ】",
           "areas": "【{head}・対象地域の変更】", "corrected": "【訂正】【{head}】", "lifted": "【解除】{head}",
           "cancelled": "【取消】{head}"},
    "en": {"issued": "[{head}]", "raised": "[{head} - raised]", "lowered": "[{head} - lowered]",
           "areas": "[{head} - areas changed]", "corrected": "[CORRECTION] [{head}]", "lifted": "[Lifted] {head}",
           "cancelled": "[Cancelled] {head}"},
    "easy": {"issued": "【{head}】", "raised": "【{head}・レベルが あがりました】",
             "lowered": "【{head}・レベルが さがりました】", "areas": "【{head}・ばしょが かわりました】",
             "corrected": "【なおしました】【{head}】", "lifted": "【おわりました】{head}", "cancelled": "【とりけし】{head}"},
}
CLOSINGS = {
    "lifted": {"ja": "解除されました。", "en": "has been lifted.", "easy": "おわりました。"},
    "gauge_lifted": {"ja": "水位が下がりました。", "en": "The water level has fallen.", "easy": "かわの みずが へりました。"},
    "cancelled": {"ja": "先ほどの発表は取り消されました。", "en": "The earlier message has been withdrawn.",
                  "easy": "まえの おしらせは まちがいでした。けして ください。"},
    "road_lifted": {"ja": "通行止めは解除されました。", "en": "The road has reopened.", "easy": "みちは とおれる ように なりました。"},
}
MORE = {"ja": "ほか{n}市町", "en": "and {n} more", "easy": "ほか {n}か所"}
SEPARATOR = {"ja": "、", "en": ", ", "easy": "、"}
DIGEST = {"ja": "【まとめ】{n}件のお知らせ", "en": "[Summary] {n} updates", "easy": "【まとめ】おしらせ {n}こ"}
DIGEST_MORE = {"ja": "ほか{n}件", "en": "and {n} more", "easy": "ほか {n}こ"}


def when(notice: Notice) -> str:
    """The issue (or receipt) time in JST, in the notice's language."""
    at = datetime.fromisoformat(notice["issued_at"]).astimezone(JST)
    lang = notice["lang"]
    if lang == "en":
        return f"Issued {at:%H:%M} JST, {at.day} {at:%b}"
    if lang == "easy":
        return f"{at.month}がつ{at.day}にち {at.hour}じ{at.minute:02d}ふん"
    return f"{at.month}月{at.day}日 {at:%H:%M} 発表"


def head(notice: Notice) -> str:
    """The information's own name (土砂災害警戒情報, 氾濫危険水位 at a gauge) or the place's title."""
    kind, lang = notice["kind"], notice["lang"]
    level = notice["level"] or notice.get("previous_level") or 0
    name = level_words(level, kind, lang).name if level else ""
    if kind == Kind.GAUGE:
        return f"{notice['title']}：{name}" if name and lang != "en" else (
            f"{notice['title']} gauge: {name}" if name else notice["title"])
    if kind == Kind.ROAD_CLOSURE:
        return ("Road closure: " if lang == "en" else "") + notice["title"]
    return name or notice["title"]


def _lines(notices: Sequence[Notice], areas_shown: int | None, optional: bool) -> list[str]:
    first = notices[0]
    lang, what, status = first["lang"], first["happening"], first["status"]
    stamp = STAMPS.get(status, {}).get(lang, "")
    lines = [stamp + OPENINGS[lang][what].format(head=head(first))]
    names = [n for notice in notices for n in notice["area_names"]]
    names = list(dict.fromkeys(names))
    if areas_shown is not None and areas_shown < len(names):
        rest = len(names) - areas_shown
        names = names[:areas_shown] + [MORE[lang].format(n=rest)]
    if names:
        lines.append(SEPARATOR[lang].join(names))
    if what == "cancelled":
        lines.append(CLOSINGS["cancelled"][lang])
    elif what == "lifted":
        closing = {"gauge": "gauge_lifted", "road_closure": "road_lifted"}.get(first["kind"], "lifted")
        lines.append(CLOSINGS[closing][lang])
    else:
        words = level_words(first["level"], first["kind"], lang)
        lines.append(words.label)
        if optional and words.action:
            lines.append(words.action)
    if optional:
        lines.append(when(first))
    return lines


def render(
    notices: Sequence[Notice], link: bool, weigh: Callable[[str], int] = len, limit: int = 10_000
) -> str:
    """One post for notices of one group (same report and wording, several municipalities)."""
    if not notices:
        raise ValueError("nothing to render")
    url = notices[0]["url"] if link else None
    total = len({n for notice in notices for n in notice["area_names"]})
    # Shorten by rule: first name fewer municipalities, then drop the action and time lines.
    attempts = [(None, True)] + [(k, True) for k in range(total - 1, 0, -1)] + [(1, False)]
    for shown, optional in attempts:
        text = "\n".join(_lines(notices, shown, optional) + ([url] if url else []))
        if weigh(text) <= limit:
            return text
    raise ValueError(f"{notices[0]['event_id']}: even the shortest text is longer than {limit}")


def render_digest(
    notices: Sequence[Notice], link_url: str | None, weigh: Callable[[str], int] = len, limit: int = 10_000
) -> tuple[str, list[Notice]]:
    """One digest of lower-level notices: a line each, as many as fit, then "ほかN件" and the link.

    Returns the text and the notices it names (the rest are counted in "ほかN件" and still covered
    by the link to the list page).
    """
    lang = notices[0]["lang"]
    stamp = STAMPS.get(notices[0]["status"], {}).get(lang, "")
    lines = [_digest_line(n) for n in notices]
    for shown in range(len(lines), 0, -1):
        body = [stamp + DIGEST[lang].format(n=len(notices)), *lines[:shown]]
        if shown < len(lines):
            body.append(DIGEST_MORE[lang].format(n=len(lines) - shown))
        if link_url:
            body.append(link_url)
        text = "\n".join(body)
        if weigh(text) <= limit:
            return text, list(notices[:shown])
    raise ValueError("even a one-line digest is longer than the channel allows")


def _digest_line(notice: Notice) -> str:
    lang = notice["lang"]
    sep = SEPARATOR[lang]
    places = sep.join(notice["area_names"])
    if notice["happening"] in ("lifted", "cancelled"):
        word = OPENINGS[lang][notice["happening"]].format(head=head(notice))
        return f"・{word} {places}".rstrip()
    words = level_words(notice["level"], notice["kind"], lang)
    return f"・{head(notice)} {words.label} {places}".rstrip()
