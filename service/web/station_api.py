"""Per-station public API: a gauge's observations, a camera's latest image."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiohttp import web

from collectors.camera_images import FrameStore
from geo.gauge_reading import gauge_reading
from publishers.gauge_chart import gauge_chart_svg
from publishers.http_cache import LIVE_CACHE_CONTROL, Representation, cached_response, send
from service.keys import SETTINGS_KEY, STORE_KEY
from service.web.api import check_params, dumps
from service.web.errors import BadRequest, NotFound

routes = web.RouteTableDef()

OBSERVATION_PARAMS = frozenset({"since", "until"})
CHART_PARAMS = frozenset({"lang"})
CHART_LANGS = ("ja", "en", "easy")
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=31)
# Times a gauge can have readings for; beyond them date arithmetic (a default window before
# 0001-01-01) overflows, and no reading can exist anyway.
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)
IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def parse_time(query, name: str) -> datetime | None:
    """An ISO 8601 time with its UTC offset from the query, None when absent; BadRequest otherwise."""
    values = query.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"parameter {name!r} given {len(values)} times", parameter=name)
    try:
        moment = datetime.fromisoformat(values[0])
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time, e.g. 2026-07-01T12:00:00+09:00; got {values[0]!r}",
                         parameter=name) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name} must carry a UTC offset (Z or +09:00): {values[0]!r}", parameter=name)
    try:
        in_range = EARLIEST <= moment.astimezone(timezone.utc) < LATEST
    except OverflowError:  # 0001-01-01T00:00+09:00 is before the first representable UTC time
        in_range = False
    if not in_range:
        raise BadRequest(f"{name} must be between {EARLIEST.year} and {LATEST.year}: {values[0]!r}", parameter=name)
    return moment


def observation_window(query, now: datetime) -> tuple[datetime | None, datetime | None, datetime]:
    """(since, until, start) of an observations request: until defaults to now, the start to since or
    24 hours before until; the window is at most MAX_WINDOW, with or without an explicit until."""
    since, until = parse_time(query, "since"), parse_time(query, "until")
    if since and until and since > until:
        raise BadRequest("since must not be after until")
    start = since or (until or now) - DEFAULT_WINDOW
    if (until or max(now, start)) - start > MAX_WINDOW:
        raise BadRequest(f"the window from since to until (default: now) is at most {MAX_WINDOW.days} days",
                         parameter="since")
    return since, until, start


@routes.get("/api/v1/gauges/{station}/observations")
async def observations(request: web.Request) -> web.Response:
    """A gauge's readings in [since, until] (default: the last 24 hours), oldest first."""
    check_params(request.query, OBSERVATION_PARAMS)
    store = request.app[STORE_KEY]
    station = request.match_info["station"]
    since, until, start = observation_window(request.query, store.clock())
    # The default window is not echoed: the body (and its ETag) changes only when readings do.
    rows = await store.observations(station, start, until)
    if not rows and await store.get(f"gauge:{station}") is None:
        raise NotFound(f"no gauge {station!r}")
    event = await store.get(f"gauge:{station}")
    latest = event.properties.get("level_m") if event else None
    body = {
        "station": station,
        "event_id": f"gauge:{station}",
        "unit": "m",
        # The latest reading against the thresholds, with what its metres are measured from.
        "reading": gauge_reading(latest, event.properties.get("thresholds") if event else None),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "observations": [
            {"time": o.time.isoformat(), "value": o.value, "quality": o.quality} for o in rows
        ],
    }
    newest = rows[-1].time if rows else None
    return await cached_response(request, dumps(body), "application/json", newest)


@routes.get("/api/v1/gauges/{station}/chart.svg")
async def chart(request: web.Request) -> web.Response:
    """The gauge's last 24 hours as an SVG chart with its threshold lines (`lang` ja, en or easy)."""
    check_params(request.query, CHART_PARAMS)
    lang = request.query.get("lang", "ja")
    if lang not in CHART_LANGS:
        raise BadRequest(f"lang must be one of {', '.join(CHART_LANGS)}; got {lang!r}", parameter="lang")
    store = request.app[STORE_KEY]
    station = request.match_info["station"]
    event = await store.get(f"gauge:{station}")
    if event is None:
        raise NotFound(f"no gauge {station!r}")
    now = store.clock()
    # The window ends on a 10-minute mark, so the same readings give the same bytes (and ETag).
    until = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)
    rows = await store.observations(station, until - DEFAULT_WINDOW, None)
    name = str(event.properties.get("name") or event.title)
    svg = gauge_chart_svg(
        [(o.time, o.value) for o in rows], event.properties.get("thresholds"), until, name=name, lang=lang
    )
    newest = rows[-1].time if rows else None
    return await cached_response(request, svg.encode(), "image/svg+xml", newest)


def camera_dir(settings, source_id: str, camera: str) -> Path | None:
    """The directory holding a camera's frames: its source's image_dir / camera id (None if not configured)."""
    image_dir = getattr(settings.sources.get(source_id), "image_dir", None)
    if image_dir is None:
        return None
    root = Path(image_dir).resolve()
    directory = (root / camera).resolve()
    # The camera id comes from the stored event: never let it lead outside the image directory.
    return directory if directory.parent == root else None


def _read_latest(directory: Path) -> tuple[bytes, float] | None:
    latest = FrameStore(directory, 0).latest()
    try:
        return (latest.read_bytes(), latest.stat().st_mtime) if latest is not None else None
    except FileNotFoundError:  # the camera switched format (jpg <-> png) just now
        return None


@routes.get("/api/v1/cameras/{camera}/image")
async def camera_image(request: web.Request) -> web.Response:
    """The camera's latest frame (JPEG, or PNG where the camera sends PNG)."""
    check_params(request.query, frozenset())
    camera = request.match_info["camera"].removeprefix("camera:")
    event = await request.app[STORE_KEY].get(f"camera:{camera}")
    if event is None:
        raise NotFound(f"no camera {camera!r}")
    directory = camera_dir(request.app[SETTINGS_KEY], event.source.source_id, camera)
    found = await asyncio.to_thread(_read_latest, directory) if directory is not None else None
    if found is None:
        raise NotFound(f"camera {camera!r} has no image available")
    body, mtime = found
    content_type = next((t for magic, t in IMAGE_TYPES.items() if body.startswith(magic)), None)
    if content_type is None:
        raise NotFound(f"the latest image of camera {camera!r} is not a JPEG or PNG")
    taken = datetime.fromtimestamp(mtime).astimezone()
    return await send(request, Representation(body, content_type, taken, LIVE_CACHE_CONTROL))

