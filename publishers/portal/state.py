"""The portal's shared state, built once per app: template environments, catalogs, region, assets."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from collectors.registry import level_sources
from geo.here import HereOptions, what_affects
from geo.model import Event, Kind
from geo.region import Region
from geo.wording import level_words
from publishers.portal import i18n
from publishers.portal.answer import PORTAL_AREAL_KINDS, first_issue_in, romaji, ruby_parts
from publishers.portal.assets import Manifest, encoded_boundaries
from publishers.portal.levels import N_, TEXT_COLOURS
from publishers.portal.page_cache import PageCache
from publishers.portal.view import CAMERA_STALE_S, SHELTER_WORDS
from service.settings import Settings

TEMPLATES_DIR = Path(__file__).parent / "templates"

# Strings the map script shows (popups, "near me"), sent to it in the page in the chosen language.
CLIENT_STRINGS = [
    N_("Water level"),
    N_("as of %(t)s"),
    N_("Camera"),
    N_("Road closure"),
    N_("Shelter"),
    N_("River gauge"),
    N_("Finding your location…"),
    N_("Location unavailable: choose your municipality below."),
    N_("Your area: %(place)s"),
    N_("Nearest shelters"),
    N_("Image of %(name)s"),
    N_("Not updated: the picture may be old"),
    N_("The picture has not changed (camera may be frozen)"),
    N_("Unavailable"),
    N_("Road closures"),
    N_("River cameras"),
    N_("Shelters"),
    N_("Open the list of these places"),
    N_("Water level of %(name)s over the last 24 hours, with its thresholds"),
]
# Kinds whose level words the map script shows (gauge pins, warning areas).
CLIENT_KINDS = (Kind.GAUGE, Kind.WEATHER_WARNING, Kind.EVACUATION)


class Portal:
    """Everything the portal handlers share; one per application."""

    def __init__(self, settings: Settings, region: Region, manifest: Manifest | None) -> None:
        self.settings = settings
        self.region = region
        self.manifest = manifest
        self.zone = ZoneInfo(getattr(getattr(settings, "service", None), "timezone", "Asia/Tokyo"))
        self.catalogs = {code: i18n.catalog(code) for code in i18n.LANGUAGES}
        self.environments = {code: self._environment(code) for code in i18n.LANGUAGES}
        self.boundaries = encoded_boundaries(region)
        self.pages = PageCache()
        cameras = [c for c in (getattr(settings, "sources", {}) or {}).values() if getattr(c, "type", "") == "river_camera"]
        self.camera_stale_s = min((float(c.stale_after_s) for c in cameras), default=CAMERA_STALE_S)
        portal = getattr(settings, "portal", None)
        self.tiles = {
            "url": getattr(portal, "tile_url", ""),
            "attribution": getattr(portal, "tile_attribution", ""),
            "attribution_url": getattr(portal, "tile_attribution_url", ""),
            "max_zoom": getattr(portal, "tile_max_zoom", 18),
        }
        self._first: dict[tuple[str, int], datetime | None] = {}
        points = region.boundaries.polygons
        self._area_points = {
            code: (float(p.x), float(p.y))
            for code, p in zip(region.boundaries.codes, (poly.representative_point() for poly in points))
        }

    def _environment(self, code: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        env.install_gettext_translations(self.catalogs[code], newstyle=True)  # type: ignore[attr-defined]
        env.globals["ruby_parts"] = ruby_parts
        env.globals["romaji"] = romaji
        return env

    def gettext(self, lang: str) -> Any:
        """The plain gettext function of a language, for Python-side strings."""
        return self.catalogs[lang].gettext

    def prefecture_name(self, lang: str) -> str:
        """The region's name in the language."""
        codes = self.region.codes
        return codes.prefecture_name_en if lang == "en" else codes.prefecture_name

    def area_point(self, code: str) -> tuple[float, float]:
        """A point inside a municipality (lon, lat), standing for it when no location is given."""
        return self._area_points[code]

    async def what_affects(self, store: Any, lon: float, lat: float) -> dict[str, Any]:
        """geo.here's report for a point, as /api/v1/here gives it."""
        sources = getattr(self.settings, "sources", None)
        options = HereOptions(answer_sources=level_sources(sources) if sources is not None else None)
        return await what_affects(store, self.region, lon, lat, options)

    async def first_issues(self, store: Any, events: list[Event]) -> dict[str, datetime]:
        """When each warning in force was first issued, for events that do not carry it (read once per version)."""
        known = self._first
        fresh: dict[tuple[str, int], datetime | None] = {}
        for event in events:
            if event.kind not in PORTAL_AREAL_KINDS or event.level == 0 or "first_issued_at" in event.properties:
                continue
            key = (event.id, event.version)
            fresh[key] = known[key] if key in known else first_issue_in(await store.history(event.id))
        self._first = fresh  # only the current versions are kept
        return {event_id: moment for (event_id, _), moment in fresh.items() if moment is not None}

    def client_data(self, lang: str) -> dict[str, Any]:
        """Strings, level words (geo.wording) and colours the map script needs, in one JSON object."""
        _ = self.gettext(lang)
        return {
            "lang": lang,
            "strings": {s: _(s) for s in CLIENT_STRINGS},
            "levels": {
                kind.value: {
                    str(n): {"label": w.label, "name": w.name, "colour": w.colour, "text": TEXT_COLOURS[n]}
                    for n in range(6)
                    for w in [level_words(n, kind, lang)]
                }
                for kind in CLIENT_KINDS
            },
            "shelter": {status.value: _(words) for status, words in SHELTER_WORDS.items()},
            "tiles": self.tiles,
            "camera_stale_s": self.camera_stale_s,
            "bounds": self.region.boundaries.bounds,
        }

