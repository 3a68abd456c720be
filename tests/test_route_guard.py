"""Every route the app registers answers errors as problem+json and is counted (service/web/route_guard.py).

The guard wraps each handler as its routes are added rather than running as a middleware, so a
route registered any other way would silently answer errors as aiohttp's plain text, uncounted.
"""
from __future__ import annotations

from aiohttp import web

from service.settings import load_settings
from service.web import route_guard
from tests.service_client import build_app


def _is_guarded(handler) -> bool:
    probe = route_guard.guarded(lambda request: None, "probe")
    return getattr(handler, "__code__", None) is probe.__code__


def test_every_registered_route_is_guarded(tmp_path):
    settings = load_settings(overrides={
        "store": {"url": str(tmp_path / "bosai.sqlite3")},
        "service": {"data_dir": str(tmp_path / "var")},
    })
    app = build_app(settings)
    routes = list(app.router.routes())
    assert len(routes) > 20  # the API, feeds, portal, pages, health, metrics, SSE and the fallback
    unguarded = [f"{r.method} {r.resource.canonical}" for r in routes if not _is_guarded(r.handler)]
    assert unguarded == []
    assert routes[-1].resource.name == route_guard.UNMATCHED  # the fallback is last: nothing is shadowed by it


def test_the_probe_tells_a_plain_handler_from_a_guarded_one():
    async def plain(request: web.Request) -> web.Response:
        return web.Response()

    assert not _is_guarded(plain)
    assert _is_guarded(route_guard.guarded(plain, "/plain"))
