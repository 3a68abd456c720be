"""Languages of the portal: Japanese, English and やさしい日本語, from gettext catalogs.

Catalogs live in publishers/portal/locales/{lang}/LC_MESSAGES/messages.po. `make` compiles them to
.mo with pybabel; when a .mo is missing or older than its .po (a fresh checkout, an edited
catalog) the .po is compiled in memory with Babel, so the portal never shows stale text.
The choice is made once per request: ?lang= wins (and is remembered in a cookie), then the
cookie, then Accept-Language, then Japanese.

Changing a message: extract the template (see babel.cfg for the command), then
`pybabel update -i publishers/portal/locales/messages.pot -d publishers/portal/locales --no-location`,
translate the new entries in ja and easy (tests fail on an untranslated one), and `make portal`.
"""
from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
COOKIE = "lang"
COOKIE_MAX_AGE_S = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Language:
    """One selectable language: its URL code, its HTML lang tag and its own name."""

    code: str  # ?lang= value and catalog directory
    html_lang: str  # BCP 47 tag for <html lang>; easy Japanese is still Japanese to a screen reader
    label: str  # shown in the selector, in the language itself
    easy: bool = False  # add readings (ruby) to kanji place names


LANGUAGES: dict[str, Language] = {
    "ja": Language("ja", "ja", "日本語"),
    "easy": Language("easy", "ja", "やさしい にほんご", easy=True),
    "en": Language("en", "en", "English"),
}
DEFAULT = "ja"


def catalog(code: str, locales_dir: Path = LOCALES_DIR) -> gettext.GNUTranslations:
    """The compiled catalog of one language; KeyError for an unknown code."""
    language = LANGUAGES[code]
    po = locales_dir / language.code / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with open(mo, "rb") as fh:
            return gettext.GNUTranslations(fh)
    with open(po, "rb") as fh:
        parsed = read_po(fh, locale="ja" if language.html_lang == "ja" else language.code)
    buffer = io.BytesIO()
    write_mo(buffer, parsed)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def negotiate(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> str:
    """The language code for a request: query, then cookie, then Accept-Language, then Japanese."""
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()
        primary = tag.split("-", 1)[0]
        if primary == "ja":
            return "ja"
        if primary == "en":
            return "en"
    return DEFAULT
