"""No input gives a 5xx: the inputs an independent probe found, and Hypothesis over every public route.

The service runs on a real port in a thread of its own (a real SQLite store holding a gauge with
readings, a warning and a camera), so each generated request is real HTTP sent byte for byte.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.base import Snapshot
from geo.model import Event, Kind, Observation, SourceRef
from service.keys import PIPELINE_KEY, STORE_READY_KEY
from service.settings import load_settings
from tests.service_client import build_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed() -> Snapshot:
    now = datetime.now(timezone.utc)
    src = SourceRef(source_id="test")
    events = [
        Event(id="sediment_warning:17201", kind=Kind.SEDIMENT_WARNING, level=4, areas=("17201",), source=src,
              title="土砂災害警戒情報"),
        Event(id="gauge:1700000001", kind=Kind.GAUGE, level=2, areas=("17201",), source=src,
              geometry={"type": "Point", "coordinates": [136.6, 36.5]}),
        Event(id="camera:cam1", kind=Kind.CAMERA, areas=("17201",), source=src,
              geometry={"type": "Point", "coordinates": [136.62, 36.56]}),
    ]
    readings = [Observation("1700000001", now - timedelta(minutes=m), 1.0 + m / 100) for m in (30, 20, 10)]
    return Snapshot("test", events, observations=readings)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[tuple[str, int, web.Application]]:
    """(host, port, app) of the whole service serving from its own event loop thread."""
    tmp = tmp_path_factory.mktemp("inputs")
    app = build_app(load_settings(overrides={
        "store": {"url": str(tmp / "bosai.sqlite3")}, "service": {"data_dir": str(tmp / "var")},
    }))
    port = _free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        await app[PIPELINE_KEY].ingest(_seed())

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield "127.0.0.1", port, app
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def get(base: tuple[str, int, web.Application], target: str) -> tuple[int, str, bytes]:
    """GET the request-target exactly as given; (status, content type, body)."""
    host, port, _ = base
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        # The change stream answers 200 and stays open: its status and headers are the answer.
        body = b"" if resp.getheader("Content-Type", "").startswith("text/event-stream") else resp.read()
        return resp.status, resp.getheader("Content-Type", ""), body
    finally:
        conn.close()


FULL_WIDTH_17201 = quote("１７２０１")


@pytest.mark.parametrize("target", [
    "/api/v1/events?bbox=-200,0,10,10",          # longitude outside WGS84: 500 before
    "/api/v1/events?bbox=0,0,inf,10",            # infinite: 500 before
    "/api/v1/events?bbox=0,-91,1,1",
    "/api/v1/events?bbox=nan,0,1,1",
    "/api/v1/events?bbox=136,36,137,37&bbox=0,0,1,1",
    "/api/v1/gauges/1700000001/observations?until=0001-01-01T00:00:00Z",   # 500 before (date overflow)
    "/api/v1/gauges/1700000001/observations?until=0001-01-01T00:00:00%2B09:00",
    "/api/v1/gauges/1700000001/observations?since=9999-12-31T23:59:59-12:00",
    "/api/v1/gauges/1700000001/observations?since=2000-01-01T00:00:00Z",    # no limit without until before
    f"/api/v1/events?area={FULL_WIDTH_17201}",  # an empty list ("no warnings") before
    "/api/v1/events?kind=",                      # ignored before
    "/api/v1/events?status=",
    "/api/v1/events?kind=gauge,",
    "/api/v1/events?min_level=3&min_level=4",
])
def test_bad_parameters_are_precise_400s(base, target):
    status, content_type, body = get(base, target)
    assert status == 400, (target, body)
    assert content_type.startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["detail"]


def test_the_window_is_bounded_without_until_but_a_recent_since_answers(base):
    since = quote((datetime.now(timezone.utc) - timedelta(days=2)).isoformat())
    status, _, body = get(base, f"/api/v1/gauges/1700000001/observations?since={since}")
    assert status == 200 and len(json.loads(body)["observations"]) == 3
    status, _, body = get(base, "/api/v1/events?area=17201&bbox=136,36,137,37&kind=sediment_warning")
    assert status == 200 and [f["id"] for f in json.loads(body)["features"]] == ["sediment_warning:17201"]


# --- Hypothesis over every public route --------------------------------------------------------

_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["1e999", "-0", "0x10", "１７２０１", "３６.５", "1_0", " 1", "", "inf", "-inf", "nan"]),
)
_coordinate = st.one_of(st.floats(-400, 400), st.floats(allow_nan=True, allow_infinity=True),
                        st.sampled_from([-180.0, 180.0, -90.0, 90.0, 136.6, 36.5]))


@st.composite
def _bbox(draw) -> str:
    """Four coordinates, usually ordered min <= max so that the range checks are reached."""
    a, b, c, d = (draw(_coordinate) for _ in range(4))
    if draw(st.booleans()):
        a, b, c, d = min(a, c), min(b, d), max(a, c), max(b, d)
    return ",".join(repr(v) for v in (a, b, c, d))


_time = st.one_of(
    st.datetimes(timezones=st.timezones() | st.just(timezone(timedelta(hours=-23, minutes=-59)))).map(
        lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(max_value=datetime(1, 1, 3), timezones=st.just(timezone.utc)).map(lambda d: d.isoformat()),
    st.datetimes(min_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59.999999-23:59", "2026-02-30T00:00Z", "Z"]),
)
_token = st.one_of(st.text(max_size=12), st.sampled_from(
    ["", "17201", "１７２０１", "99999", "ja", "en", "easy", "list", "%", "\x00", "\ud800", "🌊"]))
_value = st.one_of(st.text(max_size=40), _number, _time, st.lists(_token, max_size=4).map(",".join))


def _listing(known: list[str]) -> st.SearchStrategy[str]:
    """A comma-separated list, mostly of values the parameter knows, sometimes of anything."""
    return st.lists(st.one_of(st.sampled_from(known), _token), max_size=3).map(",".join)


# What each parameter means, so that generated values reach past the first parse.
VALUES = {
    "bbox": st.one_of(_bbox(), st.lists(_number, min_size=3, max_size=5).map(",".join)),
    "since": _time, "until": _time,
    "lat": st.one_of(_coordinate.map(repr), _number), "lon": st.one_of(_coordinate.map(repr), _number),
    "radius_m": _number, "min_level": _number,
    "kind": _listing(["gauge", "sediment_warning", "road_closure", "camera", "shelter"]),
    "status": _listing(["actual", "exercise", "test"]),
    "area": _listing(["17201", "17202", "17206", "１７２０１"]), "lang": _token, "partial": _token,
}
ROUTE_PARAMETERS = {
    "/api/v1/events": ["kind", "area", "bbox", "min_level", "status"],
    "/api/v1/gauges/{station}/observations": ["since", "until"],
    "/api/v1/here": ["lat", "lon", "radius_m"],
    "/": ["lang", "area", "partial"], "/list": ["lang", "area"], "/about": ["lang"],
}
_segment = st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(
    ["17201", "sediment_warning:17201", "gauge:1700000001", "1700000001", "cam1", "camera:cam1", "..", "%2e%2e",
     "１７２０１", "a" * 300]))


PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _encode(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _routes(app: web.Application) -> list[str]:
    """Every public GET route's path template (the console and the fallback aside)."""
    paths = set()
    for resource in app.router.resources():
        if resource.name == "unmatched" or resource.canonical.startswith("/console"):
            continue
        if any(r.method in ("GET", "*") for r in resource):
            paths.add(resource.canonical)
    return sorted(paths)


# The routes the service has today; a new route must be added here to be fuzzed (checked below).
ROUTES = [
    "/", "/about", "/api/v1/cameras/{camera}/image", "/api/v1/events", "/api/v1/events/{event_id}",
    "/api/v1/gauges/{station}/observations", "/api/v1/here", "/api/v1/openapi.json", "/api/v1/sources",
    "/api/v1/stream", "/feeds/cap.atom", "/feeds/cap/{area}.atom", "/feeds/cap/{event_id}.xml", "/healthz",
    "/list", "/metrics", "/portal/areas.geojson", "/static/{name}",
]
OTHERS = "any other route"  # routes added after this list: fuzzed with generic parameters


def test_the_listed_routes_exist(base):
    assert set(ROUTES) <= set(_routes(base[2]))


@pytest.mark.parametrize("template", [*ROUTES, OTHERS])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_no_input_gives_a_server_error(base, template, data):
    if template == OTHERS:
        template = data.draw(st.sampled_from(sorted(set(_routes(base[2])) - set(ROUTES)) or ROUTES), label="route")
    path = PLACEHOLDER.sub(lambda _: _encode(data.draw(_segment, label="segment")), template)
    names = ROUTE_PARAMETERS.get(template, []) + ["x"]
    pairs = []
    for name in data.draw(st.lists(st.sampled_from(names), max_size=4), label="names"):
        pairs.append((name, data.draw(VALUES.get(name, _value), label=name)))
    query = "&".join(f"{_encode(name)}={_encode(value)}" for name, value in pairs)
    if template == "/api/v1/stream" and not pairs:
        query = "x=1"  # without parameters the stream would stay open: its unknown-parameter 400 is tested
    status, _, body = get(base, path + ("?" + query if query else ""))
    assert status < 500, (path, query, body[:300])
