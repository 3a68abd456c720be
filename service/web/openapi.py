"""The OpenAPI 3.1 description of the public API, served at /api/v1/openapi.json."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from geo.model import Kind
from geo.wording import level_words
from publishers.http_cache import Representation, send
from service.web.api import check_params
from service.web.orders_api import OPENAPI_PATHS as ORDER_PATHS

routes = web.RouteTableDef()

_PROBLEM = {"description": "Problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
_NOT_MODIFIED = {"description": "Not Modified (If-None-Match / If-Modified-Since matched)"}
_CONDITIONAL = [{"$ref": "#/components/parameters/IfNoneMatch"}, {"$ref": "#/components/parameters/IfModifiedSince"}]


def _get(summary: str, content_type: str, schema: dict, params: list | None = None,
         not_found: bool = False, conditional: bool = True) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {content_type: {"schema": schema}}},
        "400": _PROBLEM,
    }
    if conditional:
        responses["304"] = _NOT_MODIFIED
    if not_found:
        responses["404"] = _PROBLEM
    responses["503"] = _PROBLEM
    return {"get": {"summary": summary, "parameters": (params or []) + (_CONDITIONAL if conditional else []),
                    "responses": responses}}


def _path_param(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _query(name: str, description: str, schema: dict | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


_EVENT_FILTERS = [
    _query("kind", "Comma-separated kinds: gauge, camera, sediment_warning, flood_forecast, weather_warning, "
                   "road_closure, shelter, notice."),
    _query("area", "Comma-separated JIS X 0402 5-digit municipality codes."),
    _query("bbox", "min_lon,min_lat,max_lon,max_lat (WGS84)."),
    _query("min_level", "Lowest 警戒レベル (0-5).", {"type": "integer", "minimum": 0, "maximum": 5}),
    _query("status", "Comma-separated: actual (default), exercise, test."),
]
_GEOJSON = {"$ref": "#/components/schemas/FeatureCollection"}
_XML = {"type": "string", "contentMediaType": "application/xml"}
_OBJECT = {"type": "object"}

PATHS: dict[str, Any] = {
    "/healthz": {"get": {"summary": "Liveness: store, sources and supervised tasks.", "responses": {
        "200": {"description": "ok or degraded sources", "content": {"application/json": {"schema": _OBJECT}}},
        "503": {"description": "store unavailable", "content": {"application/json": {"schema": _OBJECT}}}}}},
    "/readyz": {"get": {"summary": "Readiness: the store answers and every supervised task runs.", "responses": {
        "200": {"description": "ready", "content": {"application/json": {"schema": _OBJECT}}},
        "503": {"description": "not ready: the store or a task named in the body",
                "content": {"application/json": {"schema": _OBJECT}}}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics.", "responses": {
        "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/api/v1/openapi.json": _get("This document.", "application/json", _OBJECT),
    "/api/v1/events": _get("Current events as GeoJSON.", "application/geo+json", _GEOJSON, _EVENT_FILTERS),
    "/api/v1/events/{event_id}": _get(
        "One event (current version) with its version history.", "application/geo+json",
        {"$ref": "#/components/schemas/Feature"}, [_path_param("event_id", 'Event id, e.g. "sediment_warning:17201".')],
        not_found=True),
    "/api/v1/gauges/{station}/chart.svg": _get(
        "The gauge's last 24 hours as an SVG chart (no script) with its threshold lines, named in `lang`.",
        "image/svg+xml", {"type": "string", "contentMediaType": "image/svg+xml"},
        [_path_param("station", "Gauge station code."),
         _query("lang", "ja (default), en or easy.", {"type": "string", "enum": ["ja", "en", "easy"]})],
        not_found=True),
    "/api/v1/gauges/{station}/observations": _get(
        "A gauge's water-level readings, oldest first (default: last 24 hours), and `reading`: the latest "
        "against its thresholds (next threshold, distance to it, datum of the metres).", "application/json", _OBJECT,
        [_path_param("station", "Gauge station code."),
         _query("since", "ISO 8601 time with offset.", {"type": "string", "format": "date-time"}),
         _query("until", "ISO 8601 time with offset.", {"type": "string", "format": "date-time"})],
        not_found=True),
    "/api/v1/cameras/{camera}/image": _get(
        "The camera's latest frame.", "image/jpeg", {"type": "string", "contentMediaType": "image/jpeg"},
        [_path_param("camera", "Camera id (the natural key of its camera:{id} event).")], not_found=True),
    "/api/v1/here": _get(
        "What affects one point: level in force, events, hazards (each with `restricts_shelters`), gauges within "
        "`gauge_radius_m` (each with `reading` against its thresholds and its `chart`), road closures within "
        "`radius_m` (`display`: route and section in words), suitable shelters within `shelter_limit_m` and "
        "`shelter_advice` (`kind` shelter / indoor_safety / no_shelter_nearby, guidance, the municipality's "
        "contact); `complete` is false while any source is failing or stale (then level 0 is no all-clear), "
        "`incomplete_sources` names them.", "application/json",
        _OBJECT, [_query("lat", "Latitude (WGS84).", {"type": "number"}),
                  _query("lon", "Longitude (WGS84).", {"type": "number"}),
                  _query("radius_m", "Road-closure search radius in metres.", {"type": "number"})], conditional=False),
    "/api/v1/sources": _get("Freshness of every source.", "application/json", _OBJECT),
    "/api/v1/push": _get(
        "Push channels: dry or live, outbox messages per state, spend and budget left (USD, JST day and month), "
        "quota remaining, paused until.", "application/json", _OBJECT, conditional=False),
    "/api/v1/stream": {"get": {
        "summary": "Server-Sent Events of changes; `id:` is the feed sequence number.",
        "parameters": [{"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "integer"},
                        "description": "Resume after this feed sequence number."}],
        "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {
            "schema": {"type": "string"}}}}, "400": _PROBLEM}}},
    "/feeds/cap.atom": _get("Atom feed of CAP 1.2 alerts, whole prefecture.", "application/atom+xml", _XML),
    "/feeds/cap/{area}.atom": _get(
        "Atom feed of CAP 1.2 alerts for one municipality.", "application/atom+xml", _XML,
        [_path_param("area", "JIS X 0402 5-digit municipality code.", r"^\d{5}$")], not_found=True),
    "/feeds/cap/{event_id}.xml": _get(
        "CAP 1.2 document of an event's current version.", "application/cap+xml", _XML,
        [_path_param("event_id", "Event id.")], not_found=True),
}

PATHS.update(ORDER_PATHS)
PATHS["/feeds/lalert.atom"] = _get(
    "Atom feed of the L-Alert (公共情報コモンズ XML v1.x) documents of the events in force, each inline.",
    "application/atom+xml", _XML)

# An example event: `level` is a 警戒レベル相当 for JMA information and gauges, said in the words of
# geo/wording.py (only a municipality's `evacuation` order says 避難指示 and the other order words).
_SEDIMENT_WORDS = level_words(4, Kind.SEDIMENT_WARNING, "ja")
EXAMPLE_FEATURE: dict[str, Any] = {
    "type": "Feature", "id": "sediment:17201", "geometry": None,
    "properties": {
        "id": "sediment:17201", "kind": "sediment_warning", "level": 4, "state": "active", "status": "actual",
        "version": 1, "areas": ["17201"], "title": "石川県レベル４土砂災害危険警報（金沢市）",
        "issued_at": "2026-07-01T03:00:00Z",
        "source": {"source_id": "jma_extra", "upstream_id": "石川県土砂災害警戒情報", "sequence": 1},
        "properties": {"kind_name": "警戒", "first_issued_at": "2026-07-01T03:00:00+00:00"},
    },
    "same_as": ["weather:17201:土砂災害"],
}
_LEVEL_DESCRIPTION = (
    f"警戒レベル相当 0-5 of JMA information and gauges, e.g. 4 = 「{_SEDIMENT_WORDS.headline}」 "
    f"({_SEDIMENT_WORDS.name}); order words belong to a municipality's evacuation order only."
)

COMPONENTS: dict[str, Any] = {
    "parameters": {
        "IfNoneMatch": {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
        "IfModifiedSince": {"name": "If-Modified-Since", "in": "header", "required": False,
                            "schema": {"type": "string"}},
    },
    "securitySchemes": {"operatorToken": {"type": "http", "scheme": "bearer",
                                          "description": "BOSAI_OPERATOR_TOKEN (operator entry)"}},
    "schemas": {
        "Problem": {"type": "object", "required": ["title", "status", "detail"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "instance": {"type": "string"}}},
        "Feature": {"type": "object", "required": ["type", "id", "geometry", "properties"], "properties": {
            "type": {"const": "Feature"}, "id": {"type": "string"}, "geometry": {"type": ["object", "null"]},
            "properties": {"type": "object", "properties": {
                "level": {"type": "integer", "minimum": 0, "maximum": 5, "description": _LEVEL_DESCRIPTION}}},
            "history": {"type": "array", "items": {"type": "object"}},
            "same_as": {"type": "array", "items": {"type": "string"}, "description": (
                "Ids of the other events in force that warn of the same hazard in the same municipality "
                "(e.g. 土砂災害警戒情報 and the Ｒ０６ レベル４土砂災害危険警報); /api/v1/events/{id} only.")}},
            "examples": [EXAMPLE_FEATURE]},
        "FeatureCollection": {"type": "object", "required": ["type", "features"], "properties": {
            "type": {"const": "FeatureCollection"},
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}}}},
    },
}


def document(version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "bosai-hub public API", "version": version,
                 "description": "Disaster information: events, gauges, cameras, sources, CAP feeds. "
                                "Read-only; every answer carries ETag and Last-Modified."},
        "paths": PATHS,
        "components": COMPONENTS,
    }


_DOCUMENT = Representation(
    json.dumps(document(), ensure_ascii=False, separators=(",", ":")).encode(), "application/json", None,
    "public, max-age=3600",
).precompress()


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document."""
    check_params(request.query, frozenset())
    return await send(request, _DOCUMENT)
