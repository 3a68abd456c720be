"""Municipality code systems, mapped in one place.

JIS X 0402 5-digit (17201) is the key everywhere in bosai-hub. This module converts to and from
全国地方公共団体コード with check digit (172014, used by GSI and open data), JMA's 7-digit area
codes (1720100), JMA forecast areas (170000 prefecture, 170010 加賀, 170020 能登) and river.go.jp
prefecture codes (17000). The table is data (geo/data/areas_*.json), so another prefecture is a
configuration change, not a code change.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_AREAS_FILE = Path(__file__).parent / "data" / "areas_17_ishikawa.json"


class UnknownAreaCode(ValueError):
    """A code that is not in the configured region's table."""


def check_digit(jis5: str) -> str:
    """The 全国地方公共団体コード check digit of a 5-digit code (weights 6..2, mod 11)."""
    if len(jis5) != 5 or not jis5.isdigit():
        raise ValueError(f"{jis5!r} is not a 5-digit code")
    total = sum(int(d) * w for d, w in zip(jis5, (6, 5, 4, 3, 2)))
    return str((11 - total % 11) % 10)


def lgcode6(jis5: str) -> str:
    """5-digit JIS code -> 6-digit 団体コード with check digit (17201 -> 172014)."""
    return jis5 + check_digit(jis5)


@dataclass(frozen=True, slots=True)
class Municipality:
    jis: str
    name: str
    name_en: str
    kana: str
    forecast_area: str

    @property
    def lgcode(self) -> str:
        return lgcode6(self.jis)

    @property
    def jma7(self) -> str:
        return self.jis + "00"


class AreaCodes:
    """The code table of one prefecture."""

    def __init__(self, data: dict) -> None:
        pref = data["prefecture"]
        self.prefecture_jis: str = pref["jis"]
        self.prefecture_name: str = pref["name"]
        self.prefecture_name_en: str = pref["name_en"]
        self.jma_prefecture_area: str = pref["jma_area"]
        self.river_pref_code: str = pref["river_code"]
        self.forecast_areas: dict[str, dict[str, str]] = data["forecast_areas"]
        self.municipalities: dict[str, Municipality] = {
            m["jis"]: Municipality(**m) for m in data["municipalities"]
        }
        self._by_lgcode = {m.lgcode: m.jis for m in self.municipalities.values()}

    @classmethod
    def load(cls, path: Path | str = DEFAULT_AREAS_FILE) -> AreaCodes:
        """Read a code table file."""
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def __contains__(self, jis: str) -> bool:
        return jis in self.municipalities

    def municipality(self, jis: str) -> Municipality:
        """The municipality for a 5-digit code, or UnknownAreaCode."""
        try:
            return self.municipalities[jis]
        except KeyError:
            raise UnknownAreaCode(f"{jis!r} is not a municipality of {self.prefecture_name}") from None

    def to_jis(self, code: str) -> list[str]:
        """Any supported code -> the 5-digit municipality codes it covers.

        Accepts 5-digit JIS, 6-digit 団体コード (check digit verified), JMA 7-digit municipality codes,
        JMA forecast-area codes (一次細分) and the JMA prefecture area code.
        """
        code = code.strip()
        if code == self.jma_prefecture_area or code == self.river_pref_code:
            return sorted(self.municipalities)
        if code in self.forecast_areas:
            return sorted(j for j, m in self.municipalities.items() if m.forecast_area == code)
        if len(code) == 5 and code in self.municipalities:
            return [code]
        if len(code) == 6 and code in self._by_lgcode:
            return [self._by_lgcode[code]]
        if len(code) == 7 and code[:5] in self.municipalities:
            return [code[:5]]
        raise UnknownAreaCode(f"{code!r} is not an area code of {self.prefecture_name}")

    def in_prefecture(self, code: str) -> bool:
        """True if `code` (any supported system) names an area of this prefecture."""
        try:
            self.to_jis(code)
        except UnknownAreaCode:
            return False
        return True
