"""A gauge reading against its thresholds: where it stands, what comes next, and what the metres mean.

A river gauge's number alone says little: crisis gauges (危機管理型水位計) report some stations as an
elevation (標高, e.g. 485.57 m in the mountains) and others as a height above the gauge's own zero
(e.g. 0.94 m), and the source does not say which. So the reading is always given with its thresholds
and as a distance to the next one, which means the same at every gauge; the raw metres carry their
datum: `elevation` where the values can only be heights above sea level (any value or threshold of
20 m or more — no river here rises 20 m above its gauge zero), otherwise `gauge_datum` (the gauge's
own reference, which may be sea level or a local zero; comparable only with the same gauge's
thresholds). Threshold names come from geo/wording.py.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geo.model import Kind
from geo.wording import LANGS, level_words

# Threshold keys (collectors/gauge_formats.Thresholds) and the 警戒レベル each starts.
THRESHOLD_LEVELS = {"standby_m": 1, "caution_m": 2, "evacuation_m": 3, "danger_m": 4, "flooding_m": 5}
ELEVATION_MIN_M = 20.0

DATUM_WORDS = {
    "elevation": {
        "ja": "標高（海面からの高さ）",
        "en": "elevation above sea level",
        "easy": "うみの たかさから はかった たかさ",
    },
    "gauge_datum": {
        "ja": "観測所の基準面からの高さ（観測所ごとに異なる）",
        "en": "height above this gauge's own datum (differs between gauges)",
        "easy": "この かんそくじょの きじゅんから はかった たかさ",
    },
}


def datum_of(values: list[float]) -> str:
    """`elevation` when any value is 20 m or more, else `gauge_datum` (see the module docstring)."""
    return "elevation" if any(abs(v) >= ELEVATION_MIN_M for v in values) else "gauge_datum"


def _metres(value: float) -> str:
    return f"{value:.2f}"


def _label(row: dict, lang: str) -> str:
    return level_words(row["level"], Kind.GAUGE, lang).label


def _summary(level_m: float | None, passed: dict | None, upcoming: dict | None, lang: str) -> str:
    """One sentence: how far the next threshold is, or how far past the last one the river stands."""
    if level_m is None:
        return {"ja": "欠測（値がありません）", "en": "No reading (missing)", "easy": "いまの みずの たかさが わかりません"}[lang]
    if upcoming is not None:
        gap, name, label = _metres(upcoming["value_m"] - level_m), upcoming["name"][lang], _label(upcoming, lang)
        return {
            "ja": f"{name}まで あと {gap} m",
            "en": f"{gap} m below the level {upcoming['level']} threshold ({name})",
            "easy": f"あと {gap} メートルで {label}の たかさ です",
        }[lang]
    if passed is not None:
        over, name, label = _metres(level_m - passed["value_m"]), passed["name"][lang], _label(passed, lang)
        return {
            "ja": f"{name}を {over} m 超えています",
            "en": f"{over} m above the level {passed['level']} threshold ({name})",
            "easy": f"{label}の たかさより {over} メートル たかい です",
        }[lang]
    return {"ja": "基準となる水位が設定されていません", "en": "No thresholds are set", "easy": "きじゅんの たかさが ありません"}[lang]


def gauge_reading(level_m: float | None, thresholds: Mapping[str, Any] | None) -> dict[str, Any]:
    """The reading against its thresholds, JSON-ready, with words in ja / en / easy.

    Keys: value_m, datum (+ datum_words), thresholds (each with level, value_m, names, reached),
    passed (highest reached) and next (lowest not reached) with `to_next_m`, and summary per language.
    """
    rows = []
    for key, level in THRESHOLD_LEVELS.items():
        value = (thresholds or {}).get(key)
        if isinstance(value, (int, float)):
            names = {lang: level_words(level, Kind.GAUGE, lang).name for lang in LANGS}
            rows.append({"key": key, "level": level, "value_m": float(value), "name": names})
    rows.sort(key=lambda r: (r["value_m"], r["level"]))
    for row in rows:
        row["reached"] = level_m is not None and level_m >= row["value_m"]
    reached = [r for r in rows if r["reached"]]
    ahead = [r for r in rows if not r["reached"]]
    passed = reached[-1] if reached else None
    upcoming = ahead[0] if ahead and level_m is not None else None
    datum = datum_of([v for v in [level_m, *(r["value_m"] for r in rows)] if v is not None])
    return {
        "value_m": level_m,
        "datum": datum,
        "datum_words": DATUM_WORDS[datum],
        "thresholds": rows,
        "passed": passed,
        "next": upcoming,
        "to_next_m": None if upcoming is None else round(upcoming["value_m"] - level_m, 2),
        "summary": {lang: _summary(level_m, passed, upcoming, lang) for lang in LANGS},
    }
