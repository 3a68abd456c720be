"""Readings of place, river and shelter names: romaji for English, furigana for やさしい日本語.

Official readings come first: the municipality table (geo/data/areas_17_ishikawa.json: `kana`,
`name_en`; a municipality's name also lends its reading to the same name inside a longer one, so
石川県立輪島高等学校 reads わじま, not わしま) and the readings MLIT publishes with each river gauge
(geo/data/readings_17_ishikawa.json). The rest is read with a dictionary: fugashi (MeCab) over
unidic-lite for kana, cutlet for Hepburn romaji — kept libraries, no model, no download. The longest
official match wins at every position.

`ruby_parts(name)` gives (base, kana) pairs for <ruby> (kana "" where the base needs none);
`reading(name, lang)` gives the name itself in ja, Hepburn romaji in en, hiragana in easy.
"""
from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import cutlet
import fugashi

from geo.codes import DEFAULT_AREAS_FILE, AreaCodes

DEFAULT_READINGS = Path(__file__).parent / "data" / "readings_17_ishikawa.json"
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヶ]")
# Runs that read as themselves in both a name and its reading: digits, Latin letters, brackets.
_LITERAL = re.compile(r"([0-9A-Za-z０-９Ａ-Ｚａ-ｚ.．・\s（）()〜~\-]+)")
_SUFFIX_KANA = {"市": "し", "町": "まち", "村": "むら"}
_PUNCT_EN = str.maketrans({"（": " (", "）": ") ", "〜": " - ", "・": " ", "　": " ", "．": "."})


class Readings:
    """Official readings by name, with the dictionary (fugashi + unidic-lite, cutlet) for everything else."""

    def __init__(self, official: Mapping[str, str], romaji: Mapping[str, str] | None = None) -> None:
        # Only readings that line up with their name (same digits, letters and brackets) are usable:
        # 「JR梯川橋梁上流」 read じぇいあーる… cannot be split, so its parts are read instead.
        self.official = {
            name: kana for name, kana in official.items() if _KANJI.search(name) and _aligned(name, kana) is not None
        }
        self.romaji = dict(romaji or {})  # official romaji (name_en) for whole names
        self._longest = max((len(n) for n in self.official), default=0)
        self._tagger = fugashi.Tagger()  # unidic-lite, found by fugashi when installed
        self._romaji = cutlet.Cutlet(ensure_ascii=True)

    @classmethod
    def load(cls, areas_file: Path | str = DEFAULT_AREAS_FILE, readings_file: Path | str | None = DEFAULT_READINGS) -> Readings:
        """Municipality readings from the code table, plus a readings file of other names."""
        official: dict[str, str] = {}
        if readings_file is not None:
            with open(readings_file, encoding="utf-8") as fh:
                official.update(json.load(fh)["names"])
        romaji: dict[str, str] = {}
        for m in AreaCodes.load(areas_file).municipalities.values():
            official[m.name] = m.kana
            romaji[m.name] = m.name_en
            suffix = m.name[-1]
            if suffix in _SUFFIX_KANA and m.kana.endswith(_SUFFIX_KANA[suffix]) and len(m.name) > 2:
                stem = m.name[:-1]
                official.setdefault(stem, m.kana[: -len(_SUFFIX_KANA[suffix])])
                romaji.setdefault(stem, m.name_en)
        return cls(official, romaji)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one long-lived instance; names repeat on every page
    def ruby_parts(self, name: str) -> tuple[tuple[str, str], ...]:
        """(base, kana) pairs covering `name` in order; kana is "" where the base has no kanji."""
        return tuple(_merge_plain(list(self._parts(name))))

    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def _parts(self, name: str) -> tuple[tuple[str, str], ...]:
        parts: list[tuple[str, str]] = []
        for text, official in self._runs(name):
            parts += (_aligned(text, self.official[text]) or []) if official else self._dictionary(text)
        return tuple(parts)

    def reading(self, name: str, lang: str) -> str:
        """The name for `lang`: itself (ja), Hepburn romaji (en) or hiragana (easy)."""
        if lang == "ja":
            return name
        if lang == "easy":
            return "".join(kana or base for base, kana in self.ruby_parts(name))
        if lang != "en":
            raise ValueError(f"unknown language {lang!r}; one of ja, en, easy")
        if name in self.romaji:
            return self.romaji[name]
        words = []
        for text, official in self._runs(name):
            if official and text in self.romaji:
                words.append(self.romaji[text])
            elif official:
                # The official kana, romanised part by part (digits and brackets as they are).
                words += [
                    _ascii(self._romaji.map_kana(kana)).capitalize() if kana else _ascii(base)
                    for base, kana in _aligned(text, self.official[text]) or []
                ]
            else:
                words.append(self._hepburn(text))
        text = " ".join(w.strip() for w in words if w.strip())
        return re.sub(r"\s+", " ", re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", text))).strip()

    def _runs(self, name: str) -> list[tuple[str, bool]]:
        """The name cut into (text, is_official) runs: longest official match first, the rest between."""
        runs: list[tuple[str, bool]] = []
        pending = ""
        i = 0
        while i < len(name):
            match = next(
                (name[i : i + n] for n in range(min(self._longest, len(name) - i), 0, -1) if name[i : i + n] in self.official),
                None,
            )
            if match is None:
                pending += name[i]
                i += 1
                continue
            if pending:
                runs.append((pending, False))
                pending = ""
            runs.append((match, True))
            i += len(match)
        if pending:
            runs.append((pending, False))
        return runs

    def _dictionary(self, text: str) -> list[tuple[str, str]]:
        """(surface, hiragana) per token; the surface alone where it has no kanji or no known reading."""
        parts: list[tuple[str, str]] = []
        for chunk in re.split(r"(\s+)", text):  # MeCab drops white space: keep it as a part of its own
            if not chunk or chunk.isspace():
                parts += [(chunk, "")] if chunk else []
                continue
            words = [(w.surface, getattr(w.feature, "kana", None) or "") for w in self._tagger(chunk)]
            if "".join(surface for surface, _ in words) != chunk:
                parts.append((chunk, ""))  # a token the tagger reshaped: the text stays whole, unread
                continue
            parts += [(surface, _hiragana(kana) if _KANJI.search(surface) else "") for surface, kana in words]
        return parts

    def _hepburn(self, text: str) -> str:
        return _ascii(self._romaji.romaji(text)) if text else ""


def _hiragana(katakana: str) -> str:
    """Katakana to hiragana (ー and symbols unchanged)."""
    return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in katakana)


def _ascii(text: str) -> str:
    """Symbols and full-width forms to their ASCII look-alikes; what has none is left out."""
    return unicodedata.normalize("NFKC", text.translate(_PUNCT_EN)).encode("ascii", "ignore").decode()


def _aligned(base: str, kana: str) -> list[tuple[str, str]] | None:
    """An official (base, kana) split where both share the same literal runs (digits, brackets); None if not."""
    base_parts, kana_parts = _LITERAL.split(base), _LITERAL.split(kana)
    same_shape = len(base_parts) == len(kana_parts) and all(
        b == k for b, k in zip(base_parts[1::2], kana_parts[1::2])
    )
    if not same_shape:
        return None
    return [(b, k if _KANJI.search(b) else "") for b, k in zip(base_parts, kana_parts) if b]


def _merge_plain(parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Neighbouring parts without kana joined, so ruby is only where a reading is."""
    out: list[tuple[str, str]] = []
    for base, kana in parts:
        if out and not kana and not out[-1][1]:
            out[-1] = (out[-1][0] + base, "")
        else:
            out.append((base, kana))
    return out


@functools.cache
def default_readings() -> Readings:
    """Ishikawa's readings from the shipped files; loaded once per process."""
    return Readings.load()


def reading(name: str, lang: str) -> str:
    """The name for `lang` (ja: itself, en: romaji, easy: hiragana), official readings first."""
    return default_readings().reading(name, lang)


def ruby_parts(name: str) -> list[tuple[str, str]]:
    """(base, kana) pairs for <ruby>: kana "" where no reading is needed."""
    return list(default_readings().ruby_parts(name))


def name_readings(name: str) -> dict[str, object]:
    """A name's readings for JSON answers: en romaji, easy hiragana, and ruby parts."""
    en, easy, ruby = _name_readings(name)
    return {"en": en, "easy": easy, "ruby": [list(p) for p in ruby]}


@functools.lru_cache(maxsize=8192)
def _name_readings(name: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    # The same few thousand names (gauges, shelters) in every "near me" answer: the morphological
    # analysis behind a reading is worth doing once per name, not once per answer.
    return reading(name, "en"), reading(name, "easy"), tuple(default_readings().ruby_parts(name))
