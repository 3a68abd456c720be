"""config/nginx.conf in front of the app: the list page file chosen by cookie, the app for the rest.

nginx (Debian `nginx`) runs on a free port with the deployment config, its paths pointed at this
test's static directory and app. Under CI=true a missing nginx is a failure, never a skip.
"""
from __future__ import annotations

import asyncio
import getpass
import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, utcnow
from publishers.headers import SECURITY_HEADERS
from publishers.portal import i18n
from publishers.portal_snapshot import Paths
from service.keys import CLOCK_KEY, PIPELINE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.web.keys import SNAPSHOT_KEY
from tests.service_client import build_app

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

if NGINX is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("nginx is required in CI for the deployment config test (.ci/run installs it)")
    pytest.skip("nginx is not installed (Debian: apt-get install nginx)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_config(static: Path, app_port: int, port: int) -> str:
    """The deployment's server block with its container addresses and paths replaced by the test's."""
    site = (ROOT / "config" / "nginx.conf").read_text()
    for old, new in (("server app:8080;", f"server 127.0.0.1:{app_port};"),
                     ("listen 80;", f"listen 127.0.0.1:{port};"), ("/srv/static", str(static))):
        assert old in site, f"config/nginx.conf no longer has {old!r}; update this test"
        site = site.replace(old, new)
    return site


@pytest.fixture
async def stack(tmp_path):
    """The app on a real port and nginx in front of it; yields (app client, nginx base URL)."""
    tmp_path.chmod(0o755)  # nginx workers may run as another user and must reach the static files
    settings = load_settings(overrides={
        "store": {"url": str(tmp_path / "bosai.sqlite3")},
        "service": {"data_dir": str(tmp_path / "var")},
    })
    app = build_app(settings)
    frozen = utcnow()
    app[CLOCK_KEY].source = lambda: frozen  # no minute rollover between reading the file and the app
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        static = app[SNAPSHOT_KEY].static_dir
        static.mkdir(parents=True, exist_ok=True)
        (tmp_path / "var").chmod(0o755)
        port = free_port()
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{site_config(static, client.port, port)}
}}
""")
        # Its errors go to error.log (-e), which a failed start reports.
        proc = subprocess.Popen([NGINX, "-e", str(prefix / "error.log"), "-p", str(prefix), "-c", str(conf)],
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60  # only a start that fails outright ends sooner
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"nginx did not start: {(prefix / 'error.log').read_text()}") from None
                    await asyncio.sleep(0.05)
            yield client, f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(10)


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


async def test_nginx_serves_the_list_file_for_each_cookie_and_the_app_otherwise(stack):
    client, base = stack
    event = Event(id="sediment_warning:17201", kind=Kind.SEDIMENT_WARNING, level=4, areas=("17201",),
                  title="土砂災害警戒情報", issued_at=utcnow(), source=SourceRef(source_id="jma_extra"))
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot("jma_extra", [event]))
    await client.app[SNAPSHOT_KEY].wait_built(entries[-1].seq)
    static = client.app[SNAPSHOT_KEY].static_dir
    for lang in i18n.LANGUAGES:
        file = static / Paths.file_for(Paths.list_page(lang))
        status, headers, body = await asyncio.to_thread(fetch, f"{base}/list", Cookie=f"lang={lang}")
        assert status == 200 and body == file.read_bytes(), lang
        client.session.cookie_jar.clear()
        app = await client.get("/list", headers={"Cookie": f"lang={lang}", "Accept-Encoding": "identity"})
        assert body == await app.read()
        # Served by nginx from the file, not proxied: nginx's own validators, no cookie set.
        assert headers["etag"] != app.headers["ETag"] and "set-cookie" not in headers
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert headers["cache-control"] == "public, max-age=10" and "Cookie" in headers["vary"]
        status, headers, gz = await asyncio.to_thread(
            fetch, f"{base}/list", Cookie=f"other=1; lang={lang}", **{"Accept-Encoding": "gzip"})
        assert headers.get("content-encoding") == "gzip" and gzip.decompress(gz) == body
        assert gz == file.with_suffix(".html.gz").read_bytes()

    # ?lang= switches language: the app answers and remembers the choice.
    status, headers, body = await asyncio.to_thread(fetch, f"{base}/list?lang=easy", Cookie="lang=en")
    assert status == 200 and "lang=easy" in headers["set-cookie"]
    assert body == (static / "list/index.easy.html").read_bytes()
    # No cookie: the app negotiates Accept-Language.
    status, headers, body = await asyncio.to_thread(fetch, f"{base}/list", **{"Accept-Language": "en-US,en"})
    assert status == 200 and body == (static / "list/index.en.html").read_bytes()
    assert headers["etag"].strip('"').split("-")[0] == client.app[SNAPSHOT_KEY].get("/list?lang=en").etag_hash
    # An unknown language in the cookie: the app, which falls back to Japanese.
    status, headers, body = await asyncio.to_thread(fetch, f"{base}/list", Cookie="lang=xx")
    assert status == 200 and body == (static / "list/index.ja.html").read_bytes()
    assert headers["etag"].strip('"') == client.app[SNAPSHOT_KEY].get("/list?lang=ja").etag_hash
    # "Near me" without JavaScript is per-area: the app renders it.
    status, _, body = await asyncio.to_thread(fetch, f"{base}/list?area=17201", Cookie="lang=en")
    assert status == 200 and body != (static / "list/index.en.html").read_bytes()
    # A bad area is the app's precise 400, not a file.
    status, headers, _ = await asyncio.to_thread(fetch, f"{base}/list?area=99999", Cookie="lang=en")
    assert status == 400 and headers["content-type"].startswith("application/problem+json")


async def test_nginx_serves_the_events_snapshot_file(stack):
    client, base = stack
    await client.app[SNAPSHOT_KEY].wait_built(client.app[SNAPSHOT_KEY].seen_seq)
    static = client.app[SNAPSHOT_KEY].static_dir
    status, headers, body = await asyncio.to_thread(fetch, f"{base}/api/v1/events")
    assert status == 200 and body == (static / "api/v1/events.geojson").read_bytes()
    assert headers["content-type"] == "application/geo+json"
    status, headers, _ = await asyncio.to_thread(fetch, f"{base}/api/v1/events?bogus=1")
    assert status == 400  # any other query string: the app, which rejects unknown parameters


def headers_of(base: str, path: str, source: str = "127.0.0.1") -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, every header as sent, body) of one GET from the given local source address."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, [(k.lower(), v) for k, v in resp.getheaders()], resp.read()
    finally:
        conn.close()


async def test_every_nginx_answer_carries_the_security_headers_once_and_no_version(stack):
    client, base = stack
    await client.app[SNAPSHOT_KEY].wait_built(client.app[SNAPSHOT_KEY].seen_seq)
    for path, status in [("/api/v1/events", 200), ("/list", 200), ("/feeds/cap.atom", 200),  # files
                         ("/api/v1/sources", 200), ("/", 200), ("/api/v1/events?area=1", 400),  # the app
                         ("/nothing/here", 404), ("/metrics", 403)]:
        got, headers, _ = await asyncio.to_thread(headers_of, base, path)
        assert got == status, path
        for name, value in SECURITY_HEADERS.items():
            if name == "Server":
                assert [v for k, v in headers if k == "server"] == ["nginx"], path  # server_tokens off
            else:
                assert [v for k, v in headers if k == name.lower()] == [value], (path, name)


async def test_metrics_are_not_public_through_nginx(stack):
    client, base = stack
    status, _, body = await asyncio.to_thread(headers_of, base, "/metrics")
    assert status == 403 and b"bosai_http_requests_total" not in body
    assert (await client.get("/metrics")).status == 200  # scraped on the internal network


async def test_requests_per_address_are_limited_with_a_problem_answer(stack):
    client, base = stack
    await client.app[SNAPSHOT_KEY].wait_built(client.app[SNAPSHOT_KEY].seen_seq)
    host, port = base.removeprefix("http://").split(":")

    def hammer() -> tuple[int, int, list[tuple[str, str]], bytes]:
        # One keep-alive connection from another loopback address (127.0.0.1 is not limited).
        conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=("127.0.0.2", 0))
        try:
            for sent in range(1, 3001):
                conn.request("GET", "/api/v1/events")
                resp = conn.getresponse()
                body = resp.read()
                if resp.status == 429:
                    return sent, resp.status, [(k.lower(), v) for k, v in resp.getheaders()], body
                assert resp.status == 200
            return sent, 200, [], b""
        finally:
            conn.close()

    sent, status, headers, body = await asyncio.to_thread(hammer)
    assert status == 429 and sent > 300, sent  # the burst passes, the flood does not
    assert dict(headers)["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == 429
    assert dict(headers)["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    # Another address is not affected.
    assert (await asyncio.to_thread(headers_of, base, "/api/v1/events", "127.0.0.3"))[0] == 200


async def test_change_streams_are_capped_per_address(stack):
    _, base = stack
    host, port = base.removeprefix("http://").split(":")

    def open_stream(source: str) -> tuple[socket.socket, bytes]:
        sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
        sock.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: bosai\r\nAccept: text/event-stream\r\n\r\n")
        return sock, sock.recv(4096).split(b"\r\n", 1)[0]

    opened: list[socket.socket] = []
    try:
        for _ in range(20):
            sock, status_line = await asyncio.to_thread(open_stream, "127.0.0.2")
            opened.append(sock)
            assert b" 200 " in status_line, status_line
        sock, status_line = await asyncio.to_thread(open_stream, "127.0.0.2")
        opened.append(sock)
        assert b" 429 " in status_line, status_line
        sock, status_line = await asyncio.to_thread(open_stream, "127.0.0.3")
        opened.append(sock)
        assert b" 200 " in status_line, status_line  # the cap is per address
    finally:
        for sock in opened:
            sock.close()
