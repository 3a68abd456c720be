"""The resident portal: map, list, "near me", languages, about page, and its static assets."""
from __future__ import annotations

from aiohttp import web

from publishers.portal.assets import load_manifest
from publishers.portal.pages import routes
from publishers.portal.state import PORTAL_KEY, Portal
from service.keys import GEO_KEY, SETTINGS_KEY
from service.web import edge

__all__ = ["PORTAL_KEY", "Portal", "setup"]


def setup(app: web.Application) -> None:
    """Build the portal's state from the app's settings and geo registry; register its routes."""
    app[PORTAL_KEY] = Portal(app[SETTINGS_KEY], app[GEO_KEY], load_manifest())
    edge.add_routes(app, routes)
