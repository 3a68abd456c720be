"""GET /api/v1/here?lat=&lon=[&radius_m=]: what affects one point (geo/here.py), as JSON.

Bad or unknown parameters and points outside the region are 400 problem+json naming the reason;
the answer is cacheable for a short time (it changes when the store does) and carries an ETag.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace

from aiohttp import web

from collectors.registry import level_sources
from geo.areas import OutOfRegion
from geo.here import HereOptions, what_affects
from geo.model import Kind
from service.keys import CURRENT_EVENTS_KEY, REGION_KEY, SETTINGS_KEY, STORE_KEY
from service.web.errors import BadRequest

routes = web.RouteTableDef()

_PARAMETERS = {"lat", "lon", "radius_m"}
MAX_RADIUS_M = 20000.0
MAX_AGE_S = 30


def _number(query, name: str, low: float, high: float) -> float:
    values = query.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"parameter {name!r} given {len(values)} times", parameter=name)
    try:
        value = float(values[0])
    except ValueError:
        raise BadRequest(f"parameter {name!r} is not a number: {values[0]!r}", parameter=name) from None
    if not (math.isfinite(value) and low <= value <= high):
        raise BadRequest(f"parameter {name!r} must be between {low:g} and {high:g}, got {values[0]!r}", parameter=name)
    return value


def parse_here_query(query) -> tuple[float, float, HereOptions]:
    """(lon, lat, options) from the query string; BadRequest naming the first problem."""
    unknown = sorted(set(query) - _PARAMETERS)
    if unknown:
        raise BadRequest(f"unknown parameter(s) {', '.join(unknown)}; allowed: lat, lon, radius_m")
    missing = [name for name in ("lat", "lon") if name not in query]
    if missing:
        raise BadRequest(f"missing parameter(s) {', '.join(missing)}", parameters=missing)
    lat = _number(query, "lat", -90, 90)
    lon = _number(query, "lon", -180, 180)
    options = HereOptions()
    if "radius_m" in query:
        options = HereOptions(radius_m=_number(query, "radius_m", 1, MAX_RADIUS_M))
    return lon, lat, options


@routes.get("/api/v1/here")
async def here(request: web.Request) -> web.Response:
    """What affects the point: level in force, covering events, gauges, road closures, shelters."""
    lon, lat, options = parse_here_query(request.query)
    if (settings := request.app.get(SETTINGS_KEY)) is not None:
        options = replace(options, answer_sources=level_sources(settings.sources))
    model = request.app.get(CURRENT_EVENTS_KEY)
    # The shelters' statuses from this process's read model while it follows the feed; else the store.
    following = model is not None and model.loaded and model.failure is None
    shelters = model.active_of(Kind.SHELTER) if following else None
    try:
        report = await what_affects(request.app[STORE_KEY], request.app[REGION_KEY], lon, lat, options, shelters)
    except OutOfRegion as exc:
        raise BadRequest(str(exc), lat=lat, lon=lon) from None
    body = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode()
    # The ETag covers the content, not the "as of" time, so an unchanged answer revalidates.
    content = json.dumps({k: v for k, v in report.items() if k != "as_of"}, sort_keys=True).encode()
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={MAX_AGE_S}", "Vary": "Accept-Encoding"}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", charset="utf-8", headers=headers)
