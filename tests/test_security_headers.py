"""Every answer of the app carries the security headers and no software version, whatever its route
or status: pre-built snapshot documents, 304s, problem+json errors, static assets and the stream."""
from __future__ import annotations

import json

import pytest

from publishers.headers import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from publishers.portal.assets import load_manifest
from service.web.keys import SNAPSHOT_KEY
from tests.service_client import service_client


@pytest.fixture
async def client(tmp_path):
    async with service_client(tmp_path) as c:
        await c.app[SNAPSHOT_KEY].wait_built(c.app[SNAPSHOT_KEY].seen_seq)
        yield c


def assert_secured(headers, what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.getall(name, []) == [value], (what, name, headers.getall(name, []))
    assert "aiohttp" not in headers.get("Server", "") and "Python" not in headers.get("Server", ""), what


def test_the_policy_allows_no_inline_script_and_no_framing():
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "*" not in CONTENT_SECURITY_POLICY
    assert [d for d, sources in directives.items() if "unsafe" in sources] == ["style-src"]


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/", 200), ("GET", "/list", 200), ("GET", "/about", 200),
    ("GET", "/api/v1/events", 200), ("HEAD", "/api/v1/events", 200), ("GET", "/api/v1/sources", 200),
    ("GET", "/api/v1/openapi.json", 200), ("GET", "/feeds/cap.atom", 200), ("GET", "/healthz", 200),
    ("GET", "/metrics", 200), ("GET", "/portal/areas.geojson", 200),
    ("GET", "/api/v1/events?bbox=0,0,inf,1", 400), ("GET", "/api/v1/events/nope", 404),
    ("GET", "/no/such/page", 404), ("DELETE", "/api/v1/events", 405),
])
async def test_every_answer_carries_the_security_headers(client, method, path, status):
    resp = await client.request(method, path)
    assert resp.status == status, (path, await resp.text())
    assert_secured(resp.headers, f"{method} {path}")
    if status >= 400:
        assert resp.content_type == "application/problem+json"
        assert json.loads(await resp.text())["status"] == status


async def test_revalidation_static_assets_and_the_stream_carry_them(client):
    first = await client.get("/api/v1/events")
    again = await client.get("/api/v1/events", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    assert_secured(again.headers, "304")
    manifest = load_manifest()
    assert manifest is not None, "the portal build is missing (make portal)"
    asset = await client.get(f"/static/{manifest.names['portal.js']}")
    assert asset.status == 200
    assert_secured(asset.headers, "static asset")
    async with client.get("/api/v1/stream") as stream:
        assert stream.status == 200 and stream.content_type == "text/event-stream"
        assert_secured(stream.headers, "stream")
