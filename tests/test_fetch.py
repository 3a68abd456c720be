"""The shared Fetcher against a real aiohttp server on 127.0.0.1: every failure mode it must classify."""
from __future__ import annotations

import asyncio
import gzip
import socket
import ssl

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.test_utils import TestServer

from collectors.base import SourceConfig
from collectors.http import (
    JSON_TYPES,
    BodyTooLarge,
    CircuitBreaker,
    CircuitOpen,
    ConnectionFailed,
    ContentTypeError,
    Fetcher,
    FetchError,
    FetchTimeout,
    HostNotAllowed,
    HTTPStatusError,
)
from tests.upstreams import SHARED

SAMPLE = (SHARED / "river_water_level/k_river_area_info_converted_2026-08-23T08JST.json").read_bytes()
ETAG = '"v1"'
HITS = web.AppKey("hits", dict)
LAST_MODIFIED = "Sun, 23 Aug 2026 00:00:00 GMT"


class FakeClock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_app() -> web.Application:
    hits: dict[str, int] = {}
    app = web.Application()

    def count(request: web.Request) -> int:
        hits[request.path] = hits.get(request.path, 0) + 1
        return hits[request.path]

    async def sample(request: web.Request) -> web.Response:
        count(request)
        if request.headers.get("If-None-Match") == ETAG or request.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return web.Response(status=304, headers={"ETag": ETAG})
        return web.Response(body=SAMPLE, content_type="application/json",
                            headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "5")))
        return web.Response(text="{}")

    async def drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b" ")
            await asyncio.sleep(0.05)
        return resp

    async def flaky(request: web.Request) -> web.Response:
        n = count(request)
        if n <= int(request.query.get("fail", "2")):
            return web.Response(status=int(request.query.get("status", "503")))
        return web.Response(body=b'{"ok": true}', content_type="application/json")

    async def status(request: web.Request) -> web.Response:
        count(request)
        return web.Response(status=int(request.match_info["code"]))

    async def reset(request: web.Request) -> web.Response:
        count(request)
        assert request.transport is not None
        request.transport.abort()
        await asyncio.sleep(1)
        return web.Response(text="never")

    async def truncated(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": "1000"})
        await resp.prepare(request)
        await resp.write(b'{"obss": [' + b" " * 90)
        assert request.transport is not None
        request.transport.abort()
        return resp

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"[" + b"0," * 600_000 + b"0]", content_type="application/json")

    async def big_chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(40):
            await resp.write(b" " * 65536)
        return resp

    async def bomb(request: web.Request) -> web.Response:
        payload = gzip.compress(b" " * 50_000_000, compresslevel=9)
        return web.Response(body=payload, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    async def redirect(request: web.Request) -> web.Response:
        count(request)
        raise web.HTTPFound(request.query["to"])

    app.router.add_get("/sample.json", sample)
    app.router.add_get("/slow", slow)
    app.router.add_get("/drip", drip)
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/reset", reset)
    app.router.add_get("/truncated", truncated)
    app.router.add_get("/html", html)
    app.router.add_get("/big", big)
    app.router.add_get("/big-chunked", big_chunked)
    app.router.add_get("/bomb", bomb)
    app.router.add_get("/redirect", redirect)
    app[HITS] = hits
    return app


@pytest.fixture
async def server():
    srv = TestServer(make_app(), host="127.0.0.1", port=0)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def fetcher():
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    clock = FakeClock()
    async with aiohttp.ClientSession() as session:
        f = Fetcher(session, clock=clock, sleep=record_sleep, breaker_threshold=3, breaker_cooldown_s=30)
        f.delays = delays  # type: ignore[attr-defined]
        f.fake_clock = clock  # type: ignore[attr-defined]
        yield f
        await f.close()


def policy(server: TestServer, path: str = "/sample.json", **kw) -> SourceConfig:
    """The test server's source; it is on loopback, so private addresses are allowed unless a test says not."""
    kw.setdefault("retries", 0)
    kw.setdefault("timeout_s", 2)
    kw.setdefault("allow_private", True)
    return SourceConfig(type="test", url=str(server.make_url(path)), **kw)


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def test_get_returns_body_headers_and_latency(server, fetcher):
    result = await fetcher.get(url(server, "/sample.json"), policy(server), content_types=JSON_TYPES)
    assert result.status == 200 and result.body == SAMPLE and not result.not_modified
    assert result.etag == ETAG and result.last_modified == LAST_MODIFIED
    assert result.latency_ms > 0 and result.final_url.endswith("/sample.json")


async def test_conditional_get_by_etag_and_by_last_modified(server, fetcher):
    by_etag = await fetcher.get(url(server, "/sample.json"), policy(server), etag=ETAG)
    assert by_etag.not_modified and by_etag.status == 304 and by_etag.body == b""
    by_date = await fetcher.get(url(server, "/sample.json"), policy(server), last_modified=LAST_MODIFIED)
    assert by_date.not_modified


async def test_latency_is_measured_for_a_slow_but_timely_server(server, fetcher):
    result = await fetcher.get(url(server, "/slow?s=0.2"), policy(server, timeout_s=2))
    assert 200 <= result.latency_ms < 2000


async def test_slow_server_times_out(server, fetcher):
    with pytest.raises(FetchTimeout) as err:
        await fetcher.get(url(server, "/slow"), policy(server, timeout_s=0.3))
    assert err.value.retryable


async def test_slow_drip_body_times_out_on_total_deadline(server, fetcher):
    with pytest.raises(FetchTimeout):
        await fetcher.get(url(server, "/drip"), policy(server, timeout_s=0.4))


async def test_5xx_is_retried_with_growing_jittered_backoff_then_succeeds(server, fetcher):
    result = await fetcher.get(url(server, "/flaky?fail=2"), policy(server, retries=2))
    assert result.body == b'{"ok": true}'
    assert server.app[HITS]["/flaky"] == 3
    first, second = fetcher.delays
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 1.5


async def test_429_is_retryable_but_404_is_not(server, fetcher):
    result = await fetcher.get(url(server, "/flaky?fail=1&status=429"), policy(server, retries=1))
    assert result.status == 200
    with pytest.raises(HTTPStatusError) as err:
        await fetcher.get(url(server, "/status/404"), policy(server, retries=3))
    assert err.value.status == 404 and not err.value.retryable
    assert server.app[HITS]["/status/404"] == 1


async def test_retries_exhausted_raises_last_error(server, fetcher):
    with pytest.raises(HTTPStatusError) as err:
        await fetcher.get(url(server, "/status/502"), policy(server, retries=2))
    assert err.value.status == 502 and err.value.retryable
    assert server.app[HITS]["/status/502"] == 3


async def test_connection_reset(server, fetcher):
    with pytest.raises(ConnectionFailed):
        await fetcher.get(url(server, "/reset"), policy(server))


async def test_connection_refused(fetcher):
    cfg = SourceConfig(type="test", url="http://127.0.0.1:9/x", retries=0, timeout_s=2, allow_private=True)
    with pytest.raises(ConnectionFailed):
        await fetcher.get("http://127.0.0.1:9/x", cfg)


async def test_truncated_body(server, fetcher):
    with pytest.raises(ConnectionFailed, match="cut short"):
        await fetcher.get(url(server, "/truncated"), policy(server))


async def test_wrong_content_type(server, fetcher):
    with pytest.raises(ContentTypeError, match="text/html"):
        await fetcher.get(url(server, "/html"), policy(server), content_types=JSON_TYPES)


async def test_oversized_body_by_declared_length_and_while_streaming(server, fetcher):
    with pytest.raises(BodyTooLarge, match="declares"):
        await fetcher.get(url(server, "/big"), policy(server, max_bytes=1_000_000))
    with pytest.raises(BodyTooLarge, match="exceeds"):
        await fetcher.get(url(server, "/big-chunked"), policy(server, max_bytes=1_000_000))


async def test_gzip_bomb_stops_at_decoded_cap(server, fetcher):
    with pytest.raises(BodyTooLarge) as err:
        await fetcher.get(url(server, "/bomb"), policy(server, max_bytes=1_000_000))
    assert not err.value.retryable


async def test_same_host_redirect_is_followed(server, fetcher):
    result = await fetcher.get(url(server, "/redirect?to=/sample.json"), policy(server))
    assert result.body == SAMPLE and result.final_url.endswith("/sample.json")


async def test_redirect_to_another_host_is_refused(server, fetcher):
    target = f"http://localhost:{server.port}/sample.json"
    with pytest.raises(HostNotAllowed, match="localhost"):
        await fetcher.get(url(server, f"/redirect?to={target}"), policy(server))
    assert "/sample.json" not in server.app[HITS]


async def test_redirect_to_loopback_name_is_followed_only_when_private_allowed(server, fetcher):
    target = f"http://localhost:{server.port}/sample.json"
    lenient = policy(server, allow_hosts=["localhost"])
    result = await fetcher.get(url(server, f"/redirect?to={target}"), lenient)
    assert result.body == SAMPLE
    strict = policy(server, allow_hosts=["localhost"], allow_private=False)
    with pytest.raises(HostNotAllowed, match="not a public address"):
        await fetcher.get(url(server, f"/redirect?to={target}"), strict)


async def test_link_local_metadata_address_is_refused_without_a_request(server, fetcher):
    # The same check vets the first URL and every redirect hop.
    cfg = policy(server, allow_hosts=["169.254.169.254"], allow_private=False)
    with pytest.raises(HostNotAllowed, match="169.254.169.254"):
        await fetcher.get("http://169.254.169.254/latest/meta-data/", cfg)


async def test_start_url_at_a_private_address_is_refused_unless_private_allowed(server, fetcher):
    # Before: the configured host was exempt from the check that redirect hops had.
    with pytest.raises(HostNotAllowed, match="127.0.0.1 is not a public address"):
        await fetcher.get(url(server, "/sample.json"), policy(server, allow_private=False))
    assert "/sample.json" not in server.app[HITS]
    assert (await fetcher.get(url(server, "/sample.json"), policy(server))).body == SAMPLE


async def test_start_url_by_a_name_resolving_to_loopback_is_refused(server, fetcher):
    start = f"http://localhost:{server.port}/sample.json"
    cfg = SourceConfig(type="test", url=start, retries=0, timeout_s=2)
    with pytest.raises(HostNotAllowed, match="non-public address"):
        await fetcher.get(start, cfg)
    assert "/sample.json" not in server.app[HITS]


class RebindingResolver(AbstractResolver):
    """A name service that answers a public address once, then the loopback test server (DNS rebinding)."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list:
        self.calls += 1
        address = "93.184.216.34" if self.calls == 1 else "127.0.0.1"
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


async def test_the_address_checked_is_the_address_connected_to(server):
    # A check that looks the name up and a connection that looks it up again would see the public
    # answer, then connect to the loopback server. One lookup, on the connection, never reaches it.
    dns = RebindingResolver()
    start = f"http://upstream.test:{server.port}/sample.json"
    cfg = SourceConfig(type="test", url=start, retries=0, timeout_s=1)
    async with Fetcher(resolver=dns) as fetcher:
        with pytest.raises(FetchError):  # the public address is unreachable from the test machine
            await fetcher.get(start, cfg)
    assert dns.calls == 1
    assert "/sample.json" not in server.app[HITS]


async def test_redirect_to_another_port_on_the_configured_host_is_refused(server, fetcher):
    other = TestServer(make_app(), host="127.0.0.1", port=0)
    await other.start_server()
    try:
        target = str(other.make_url("/sample.json"))
        with pytest.raises(HostNotAllowed, match="port"):
            await fetcher.get(url(server, f"/redirect?to={target}"), policy(server))
        assert "/sample.json" not in other.app[HITS]
    finally:
        await other.close()


async def test_redirect_from_https_to_http_is_refused():
    authority = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    authority.configure_trust(client_tls)
    secure = TestServer(make_app(), host="127.0.0.1", port=0, scheme="https")
    await secure.start_server(ssl=server_tls)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_tls)) as session:
            fetcher = Fetcher(session)
            cfg = SourceConfig(type="test", url=str(secure.make_url("/sample.json")), retries=0, timeout_s=2,
                               allow_private=True)
            assert (await fetcher.get(str(secure.make_url("/sample.json")), cfg)).body == SAMPLE
            same_place = f"http://127.0.0.1:{secure.port}/sample.json"
            with pytest.raises(HostNotAllowed, match="https"):
                await fetcher.get(str(secure.make_url(f"/redirect?to={same_place}")), cfg)
    finally:
        await secure.close()


async def test_unconfigured_host_is_never_fetched(server, fetcher):
    with pytest.raises(HostNotAllowed):
        await fetcher.get("http://example.invalid/data.json", policy(server))


async def test_circuit_opens_after_consecutive_failures_and_half_opens_after_cooldown(server, fetcher):
    cfg = policy(server, "/flaky")
    target = url(server, "/flaky?fail=4")
    for _ in range(3):
        with pytest.raises(HTTPStatusError):
            await fetcher.get(target, cfg)
    with pytest.raises(CircuitOpen):
        await fetcher.get(target, cfg)
    assert server.app[HITS]["/flaky"] == 3  # the open circuit sent nothing
    fetcher.fake_clock.now += 30
    with pytest.raises(HTTPStatusError):  # the half-open trial fails: open again
        await fetcher.get(target, cfg)
    with pytest.raises(CircuitOpen):
        await fetcher.get(target, cfg)
    fetcher.fake_clock.now += 30
    result = await fetcher.get(target, cfg)  # fifth request upstream succeeds: closed
    assert result.status == 200
    assert fetcher.breaker(str(cfg.url)).state == "closed"


def test_breaker_allows_one_trial_at_a_time_when_half_open():
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=10, clock=clock)
    breaker.before_request()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 10
    breaker.before_request()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_request()
    breaker.record_success()
    assert breaker.state == "closed"


async def test_owned_session_via_context_manager(server):
    async with Fetcher() as fetcher:
        result = await fetcher.get(url(server, "/sample.json"), policy(server))
    assert result.status == 200
