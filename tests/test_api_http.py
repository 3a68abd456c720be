"""The public API over real HTTP against a real SQLite store: 200, 304, 400, 404, gzip/br, OpenAPI."""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import brotli
import pytest

from collectors.base import Snapshot
from geo.model import Event, Kind, Observation, SourceRef
from geo.store.base import SourceState, SourceStatus
from publishers.http_cache import accepted_coding
from service.keys import PIPELINE_KEY, STORE_KEY
from service.web.keys import SNAPSHOT_KEY
from tests.service_client import service_client

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")  # magic is all the API checks


def sediment(code: str, level: int, title: str = "土砂災害警戒情報") -> Event:
    return Event(
        id=f"sediment_warning:{code}", kind=Kind.SEDIMENT_WARNING, level=level, areas=(code,), title=title,
        text="土砂災害の危険度が高まっています。" * 20, source=SourceRef(source_id="test"),
    )


def gauge(code: str, level: int) -> Event:
    return Event(id=f"gauge:{code}", kind=Kind.GAUGE, level=level, areas=("17201",),
                 geometry={"type": "Point", "coordinates": [136.6, 36.5]}, source=SourceRef(source_id="test"))


@pytest.fixture
async def client(tmp_path):
    async with service_client(tmp_path) as c:
        yield c


async def ingest(client, *events: Event, observations=()) -> int:
    """Ingest and wait until the portal snapshot includes the change; the new feed head."""
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot("test", list(events), observations=list(observations)))
    head = entries[-1].seq if entries else client.app[SNAPSHOT_KEY].seen_seq
    await client.app[SNAPSHOT_KEY].wait_built(head)
    return head


ENDPOINTS = [
    "/api/v1/events", "/api/v1/events?area=17201", "/api/v1/events?min_level=3",
    "/api/v1/events/sediment_warning:17201", "/api/v1/gauges/1700000001/observations", "/api/v1/sources",
    "/api/v1/openapi.json", "/feeds/cap.atom", "/feeds/cap/17201.atom", "/feeds/cap/sediment_warning:17201.xml",
]


@pytest.fixture
async def loaded(client):
    now = datetime.now(timezone.utc)
    obs = [Observation("1700000001", now - timedelta(minutes=m), 1.0 + m / 100) for m in (30, 20, 10)]
    await ingest(client, sediment("17201", 3), sediment("17202", 4), gauge("1700000001", 2), observations=obs)
    await client.app[STORE_KEY].set_source_status(SourceStatus("test", SourceState.OK, last_attempt=now, items=3))
    return client


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_every_endpoint_200_then_304_on_etag_and_on_date(loaded, path):
    resp = await loaded.get(path)
    assert resp.status == 200, await resp.text()
    etag, modified = resp.headers["ETag"], resp.headers.get("Last-Modified")
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age" in resp.headers["Cache-Control"]
    again = await loaded.get(path, headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag and await again.read() == b""
    assert (await loaded.get(path, headers={"If-None-Match": '"somethingelse"'})).status == 200
    if path != "/api/v1/openapi.json":  # a static document has no change time
        assert modified, path
        assert (await loaded.get(path, headers={"If-Modified-Since": modified})).status == 304
        older = "Mon, 01 Jan 2001 00:00:00 GMT"
        assert (await loaded.get(path, headers={"If-Modified-Since": older})).status == 200


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_unknown_query_parameter_is_400_problem(loaded, path):
    resp = await loaded.get(path + ("&" if "?" in path else "?") + "colour=red")
    assert resp.status == 400 and resp.content_type == "application/problem+json"
    assert "colour" in (await resp.json())["detail"]


@pytest.mark.parametrize("path", [
    "/api/v1/events/sediment_warning:99999", "/api/v1/gauges/0000/observations", "/api/v1/cameras/nope/image",
    "/feeds/cap/99999.atom", "/feeds/cap/gauge:404.xml",
])
async def test_not_found_is_404_problem(loaded, path):
    resp = await loaded.get(path)
    assert resp.status == 404 and resp.content_type == "application/problem+json"


@pytest.mark.parametrize("query", ["since=yesterday", "since=2026-07-01T00:00:00", "until=2026-13-01T00:00Z",
                                   "since=2026-07-02T00:00Z&until=2026-07-01T00:00Z",
                                   "since=2026-01-01T00:00Z&until=2026-07-01T00:00Z"])
async def test_observations_bad_times_are_400(loaded, query):
    resp = await loaded.get(f"/api/v1/gauges/1700000001/observations?{query}")
    assert resp.status == 400 and resp.content_type == "application/problem+json"


async def test_observations_window(loaded):
    body = await (await loaded.get("/api/v1/gauges/1700000001/observations")).json()
    assert [o["value"] for o in body["observations"]] == [1.3, 1.2, 1.1]
    since = (datetime.now(timezone.utc) - timedelta(minutes=15)).isoformat()
    resp = await loaded.get("/api/v1/gauges/1700000001/observations", params={"since": since})
    assert [o["value"] for o in (await resp.json())["observations"]] == [1.1]


async def test_gzip_and_brotli_negotiation(loaded):
    plain = await loaded.get("/api/v1/events", headers={"Accept-Encoding": "identity"}, auto_decompress=False)
    body = await plain.read()
    assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
    gz = await loaded.get("/api/v1/events", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert gz.headers["Content-Encoding"] == "gzip" and gzip.decompress(await gz.read()) == body
    br = await loaded.get("/api/v1/events", headers={"Accept-Encoding": "gzip, br"}, auto_decompress=False)
    assert br.headers["Content-Encoding"] == "br" and brotli.decompress(await br.read()) == body
    assert len({plain.headers["ETag"], gz.headers["ETag"], br.headers["ETag"]}) == 3
    # A client holding the gzip copy revalidates against content, whatever it now accepts.
    again = await loaded.get("/api/v1/events", headers={"If-None-Match": gz.headers["ETag"], "Accept-Encoding": "br"})
    assert again.status == 304
    # Dynamic answers are compressed too.
    dyn = await loaded.get("/api/v1/events/sediment_warning:17201", headers={"Accept-Encoding": "br"},
                           auto_decompress=False)
    assert dyn.headers["Content-Encoding"] == "br"
    assert json.loads(brotli.decompress(await dyn.read()))["id"] == "sediment_warning:17201"


def test_accept_encoding_parsing():
    assert accepted_coding("gzip, deflate, br") == "br"
    assert accepted_coding("br;q=0, gzip") == "gzip"
    assert accepted_coding("gzip;q=0") is None
    assert accepted_coding("*") == "br"
    assert accepted_coding("") is None


async def test_etag_changes_with_content_and_snapshot_matches_store_query(loaded):
    first = await loaded.get("/api/v1/events")
    await ingest(loaded, sediment("17201", 4))
    second = await loaded.get("/api/v1/events")
    assert first.headers["ETag"] != second.headers["ETag"]
    assert (await loaded.get("/api/v1/events", headers={"If-None-Match": first.headers["ETag"]})).status == 200
    levels = {f["id"]: f["properties"]["level"] for f in (await second.json())["features"]}
    assert levels["sediment_warning:17201"] == 4
    # The in-memory per-area document equals what a store query returns for the same filter.
    from_memory = await (await loaded.get("/api/v1/events?area=17202")).read()
    from_store = await (await loaded.get("/api/v1/events?area=17202&status=actual")).read()
    assert from_memory == from_store and b"17202" in from_memory


async def test_event_history_versions(loaded):
    await ingest(loaded, sediment("17201", 4))
    body = await (await loaded.get("/api/v1/events/sediment_warning:17201")).json()
    assert [h["properties"]["version"] for h in body["history"]] == [1, 2]


async def test_camera_image_served_from_its_sources_image_directory(tmp_path):
    image_dir = tmp_path / "cameras"
    (image_dir / "cam1").mkdir(parents=True)
    (image_dir / "cam1" / "latest.jpg").write_bytes(JPEG)
    cams = {"cams": {"type": "river_camera", "enabled": False, "url": "http://127.0.0.1:9/scam/",
                     "cameras": ["cam1"], "image_dir": str(image_dir)}}
    async with service_client(tmp_path, sources=cams) as client:
        cam = Event(id="camera:cam1", kind=Kind.CAMERA, source=SourceRef(source_id="cams"), areas=("17201",))
        # a stored path is never followed: the frame is found by source and camera id only
        elsewhere = Event(id="camera:cam2", kind=Kind.CAMERA, source=SourceRef(source_id="test"),
                          properties={"image": "/etc/passwd"})
        await ingest(client, cam, elsewhere)
        resp = await client.get("/api/v1/cameras/cam1/image")
        assert resp.status == 200 and resp.content_type == "image/jpeg" and await resp.read() == JPEG
        assert "Content-Encoding" not in resp.headers
        etag = resp.headers["ETag"]
        assert (await client.get("/api/v1/cameras/cam1/image", headers={"If-None-Match": etag})).status == 304
        assert (await client.get("/api/v1/cameras/cam2/image")).status == 404  # its source keeps no images


async def test_openapi_documents_every_route(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    documented = set(doc["paths"])
    # The machine-readable surface is /api/, /feeds/ and the probes; portal pages are for people.
    routes = {r.canonical.replace(r"{area:\d{5}}", "{area}") for r in client.app.router.resources()}
    public = {p for p in routes if p.startswith(("/api/", "/feeds/")) or p in ("/healthz", "/readyz", "/metrics")}
    assert len(public) >= 12
    assert public - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented paths the app does not serve"


async def test_snapshot_files_match_api_bytes(loaded):
    snapshot = loaded.app[SNAPSHOT_KEY]
    static = Path(snapshot.static_dir)
    for url, file in [("/api/v1/events", "api/v1/events.geojson"),
                      ("/api/v1/events?area=17201", "api/v1/events/area/17201.geojson"),
                      ("/feeds/cap.atom", "feeds/cap.atom"), ("/feeds/cap/17202.atom", "feeds/cap/17202.atom")]:
        body = await (await loaded.get(url, headers={"Accept-Encoding": "identity"})).read()
        assert (static / file).read_bytes() == body, file
        assert gzip.decompress((static / (file + ".gz")).read_bytes()) == body
        assert brotli.decompress((static / (file + ".br")).read_bytes()) == body
    leftovers = [p for p in static.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


async def test_prebuilt_headers_are_never_shared_between_responses(loaded):
    """A representation's headers are built once, but a response a handler adds to must not change the next."""
    first = await loaded.get("/list?lang=en")  # sets the cookie: this response alone becomes private
    assert first.headers["Cache-Control"].startswith("private, ") and "Cookie" in first.headers["Vary"]
    await loaded.app[SNAPSHOT_KEY].refresh_pages()  # /list without a query is the snapshot's page (as nginx's)
    again = await loaded.get("/list", headers={"Cookie": "lang=en"})
    assert again.headers["ETag"] == first.headers["ETag"] and "private" not in again.headers["Cache-Control"]
    api = await loaded.get("/api/v1/events", headers={"Accept-Encoding": "gzip"})
    assert api.headers["Vary"] == "Accept-Encoding" and api.headers["Content-Encoding"] == "gzip"
    not_modified = await loaded.get("/api/v1/events", headers={"If-None-Match": api.headers["ETag"]})
    assert not_modified.status == 304 and "Content-Encoding" not in not_modified.headers
    assert not_modified.headers["Last-Modified"] == api.headers["Last-Modified"]


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_route_and_status(loaded):
    before = await (await loaded.get("/metrics")).text()
    for path in ("/api/v1/events", "/api/v1/events", "/api/v1/events/sediment_warning:17201"):
        assert (await loaded.get(path)).status == 200
    after = await (await loaded.get("/metrics")).text()
    counted = {
        route: _sample(after, "bosai_http_requests_total", route=route, status="200")
        - _sample(before, "bosai_http_requests_total", route=route, status="200")
        for route in ("/api/v1/events", "/api/v1/events/{event_id}")
    }
    assert counted == {"/api/v1/events": 2, "/api/v1/events/{event_id}": 1}
    # Answers made from errors count with their status: a bad parameter, an unknown event.
    assert (await loaded.get("/api/v1/events?kind=volcano")).status == 400
    assert (await loaded.get("/api/v1/events/sediment_warning:99999")).status == 404
    errors = await (await loaded.get("/metrics")).text()
    assert _sample(errors, "bosai_http_requests_total", route="/api/v1/events", status="400") == 1 + _sample(
        after, "bosai_http_requests_total", route="/api/v1/events", status="400")
    assert _sample(errors, "bosai_http_requests_total", route="/api/v1/events/{event_id}", status="404") == 1 + _sample(
        after, "bosai_http_requests_total", route="/api/v1/events/{event_id}", status="404")
    timed = _sample(after, "bosai_http_request_seconds_count", route="/api/v1/events") - _sample(
        before, "bosai_http_request_seconds_count", route="/api/v1/events")
    assert timed == 2
    assert _sample(after, "bosai_http_request_seconds_bucket", route="/api/v1/events", le="+Inf") == _sample(
        after, "bosai_http_request_seconds_count", route="/api/v1/events")


async def test_snapshot_built_from_changed_events_equals_a_full_query(loaded):
    """After the first build only changed events are read: the document must still be the store's answer."""
    from publishers.portal_snapshot import events_body

    await ingest(loaded, sediment("17201", 5), sediment("17203", 2))  # one new version, one new event
    await ingest(loaded, sediment("17203", 3))  # a snapshot without 17201 and 17202 ends them
    store = loaded.app[STORE_KEY]
    expected = events_body(await store.query())
    body = await (await loaded.get("/api/v1/events", headers={"Accept-Encoding": "identity"})).read()
    assert body == expected
    ids = [f["id"] for f in json.loads(body)["features"]]
    assert ids == sorted(ids) and "sediment_warning:17203" in ids
    # The CAP feed names the version each entry supersedes, taken from memory rather than history.
    from publishers.cap import cap_time

    first = (await store.history("sediment_warning:17203"))[0]
    atom = await (await loaded.get("/feeds/cap/17203.atom")).text()
    assert f"sediment_warning:17203@1,{cap_time(first.received_at)}</references>" in atom


async def test_paths_and_methods_nothing_serves_answer_problem_json_and_are_counted(client):
    before = await (await client.get("/metrics")).text()
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    assert (await missing.json())["instance"] == "/api/v1/no-such-thing"
    wrong = await client.post("/api/v1/events", data=b"{}")
    assert wrong.status == 405 and wrong.content_type == "application/problem+json"
    assert "GET" in wrong.headers["Allow"]
    head = await client.head("/api/v1/events")  # GET routes answer HEAD too
    assert head.status in (200, 503)
    after = await (await client.get("/metrics")).text()
    for status in ("404", "405"):
        assert _sample(after, "bosai_http_requests_total", route="unmatched", status=status) == 1 + _sample(
            before, "bosai_http_requests_total", route="unmatched", status=status)
