"""Public read-only API: events as GeoJSON, one event with its history, source freshness.

Every answer carries a strong ETag and Last-Modified and honours conditional requests
(publishers/http_cache.py). The unfiltered events list and the per-municipality lists come from the
portal snapshot held in memory (publishers/portal_snapshot.py) without a store query.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from geo.model import Event, Kind, Status
from geo.same_hazard import MERGED_KINDS, hazard_of, same_as
from publishers.http_cache import cached_response, send
from publishers.portal_snapshot import GEOJSON_CONTENT_TYPE, Paths, events_body
from service.keys import STORE_KEY
from service.web.errors import BadRequest, NotFound
from service.web.keys import SNAPSHOT_KEY

routes = web.RouteTableDef()

SOURCE_DETAILS = ("failing_documents", "unreadable_documents", "gap")
EVENT_FILTERS = frozenset({"kind", "area", "bbox", "min_level", "status"})


def check_params(query: Mapping[str, str], allowed: frozenset[str]) -> None:
    """Reject query parameters the endpoint does not know (a typo must not silently widen a query)."""
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _csv(query: Mapping[str, str], name: str) -> list[str]:
    """Every comma-separated item of `name` (which may repeat); an empty item is refused, since
    `kind=` read as "no filter" would answer a wider question than the one asked."""
    items = [part for value in query.getall(name, []) for part in value.split(",")]  # type: ignore[attr-defined]
    if any(not part.strip() for part in items):
        raise BadRequest(f"{name} has an empty value; leave the parameter out to mean any", parameter=name)
    return items


def _single(query: Mapping[str, str], name: str) -> str:
    """The one value of a parameter that takes one (a second one would be silently dropped)."""
    values = query.getall(name)  # type: ignore[attr-defined]
    if len(values) > 1:
        raise BadRequest(f"parameter {name!r} given {len(values)} times", parameter=name)
    return values[0]


def is_area_code(text: str) -> bool:
    """Whether `text` has the form of a JIS X 0402 municipality code: five ASCII digits.

    str.isdigit alone accepts full-width digits (１７２０１), which match no stored area, so such a
    filter would answer "no warnings" instead of pointing at the typo.
    """
    return len(text) == 5 and text.isascii() and text.isdigit()


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """min_lon,min_lat,max_lon,max_lat inside WGS84 with min <= max, or BadRequest."""
    usage = "bbox must be four numbers: min_lon,min_lat,max_lon,max_lat"
    try:
        bbox = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise BadRequest(usage, parameter="bbox") from None
    if len(bbox) != 4:
        raise BadRequest(usage, parameter="bbox")
    min_lon, min_lat, max_lon, max_lat = bbox
    # Written so that NaN fails every comparison and is refused with the infinities.
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise BadRequest(f"{usage}, longitudes within -180..180, latitudes within -90..90, min <= max; got {text!r}",
                         parameter="bbox")
    return min_lon, min_lat, max_lon, max_lat


def parse_event_filters(query: Mapping[str, str]) -> dict[str, Any]:
    """Turn /api/v1/events query parameters into Store.query arguments, or raise BadRequest."""
    check_params(query, EVENT_FILTERS)
    args: dict[str, Any] = {}
    if kinds := _csv(query, "kind"):
        try:
            args["kinds"] = [Kind(k) for k in kinds]
        except ValueError:
            raise BadRequest(f"kind must be among {', '.join(k.value for k in Kind)}", parameter="kind") from None
    if areas := _csv(query, "area"):
        if not all(is_area_code(a) for a in areas):
            raise BadRequest("area must be 5-digit municipality codes (ASCII digits), comma-separated",
                             parameter="area")
        args["areas"] = areas
    if "bbox" in query:
        args["bbox"] = parse_bbox(_single(query, "bbox"))
    if "min_level" in query:
        if (min_level := _single(query, "min_level")) not in {"0", "1", "2", "3", "4", "5"}:
            raise BadRequest("min_level must be an integer from 0 to 5", parameter="min_level")
        args["min_level"] = int(min_level)
    statuses = _csv(query, "status") or [Status.ACTUAL.value]
    try:
        wanted = {Status(s) for s in statuses}
    except ValueError:
        raise BadRequest(f"status must be among {', '.join(s.value for s in Status)}", parameter="status") from None
    args["include_exercise"] = wanted != {Status.ACTUAL}
    args["_statuses"] = wanted
    return args


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON with Japanese kept readable."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(body: Any, **kwargs: Any) -> web.Response:
    """JSON with Japanese kept readable."""
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json", **kwargs)


def last_change(request: web.Request):
    """Time of the newest change the app has seen (Last-Modified of store-wide answers)."""
    snapshot = request.app.get(SNAPSHOT_KEY)
    return snapshot.last_modified if snapshot is not None else None


def _snapshot_key(request: web.Request) -> str | None:
    query = request.query
    if not query:
        return Paths.events
    if len(query) == 1 and "area" in query and "," not in query["area"]:
        return Paths.area_events(query["area"])
    return None


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.Response:
    """Current events as a GeoJSON FeatureCollection."""
    snapshot = request.app.get(SNAPSHOT_KEY)
    if not request.query_string and snapshot is not None and (rep := snapshot.get(Paths.events)) is not None:
        return await send(request, rep)  # the hot path: no query to parse or check
    args = parse_event_filters(request.query)
    key = _snapshot_key(request)
    if snapshot is not None and key is not None and (rep := snapshot.get(key)) is not None:
        return await send(request, rep)
    statuses = args.pop("_statuses")
    found = await request.app[STORE_KEY].query(**args)
    found = [e for e in found if e.status in statuses]
    return await cached_response(request, events_body(found), GEOJSON_CONTENT_TYPE, last_change(request))


async def current_and_history(request: web.Request) -> tuple[Event, list[Event]]:
    """The event named by the {event_id} path part, current version and history, or NotFound."""
    check_params(request.query, frozenset())
    store = request.app[STORE_KEY]
    event_id = request.match_info["event_id"]
    current = await store.get(event_id)
    if current is None:
        raise NotFound(f"no event {event_id!r}")
    return current, await store.history(event_id)


async def same_hazard_ids(store, event: Event) -> list[str]:
    """The other events in force warning of the same hazard in the event's municipalities (geo/same_hazard)."""
    if event.ended or hazard_of(event) is None or not event.areas:
        return []
    near = await store.query(kinds=MERGED_KINDS, areas=event.areas, include_exercise=True)
    return same_as([event, *(e for e in near if e.id != event.id)]).get(event.id, [])


@routes.get("/api/v1/events/{event_id}")
async def event(request: web.Request) -> web.Response:
    """One event, current version, with its version history."""
    current, history = await current_and_history(request)
    feature = current.to_feature()
    feature["history"] = [e.to_feature() for e in history]
    feature["same_as"] = await same_hazard_ids(request.app[STORE_KEY], current)
    modified = max([current.received_at, *(e.received_at for e in history)])
    return await cached_response(request, dumps(feature), GEOJSON_CONTENT_TYPE, modified)


@routes.get("/api/v1/sources")
async def sources(request: web.Request) -> web.Response:
    """Freshness of every source: state, last success, last error, content time."""
    check_params(request.query, frozenset())
    rows = []
    statuses = await request.app[STORE_KEY].source_statuses()
    for st in statuses:
        rows.append(
            {
                "id": st.source_id,
                "state": st.state.value,
                "last_attempt": st.last_attempt.isoformat() if st.last_attempt else None,
                "last_success": st.last_success.isoformat() if st.last_success else None,
                "last_error": st.last_error,
                "last_error_at": st.last_error_at.isoformat() if st.last_error_at else None,
                "consecutive_failures": st.consecutive_failures,
                "latency_ms": st.latency_ms,
                "items": st.items,
                "content_time": st.content_time.isoformat() if st.content_time else None,
                # what operators must see: reports not read yet, those given up, a gap being filled
                **{k: st.details[k] for k in SOURCE_DETAILS if k in st.details},
            }
        )
    attempts = [st.last_attempt for st in statuses if st.last_attempt]
    return await cached_response(request, dumps({"sources": rows}), "application/json", max(attempts, default=None))
