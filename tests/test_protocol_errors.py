"""Requests aiohttp cannot parse, sent byte for byte to the service as `bosai run` serves it
(service/web/serve.py): problem+json with the right status and the security headers, the request's
bytes never echoed, and no traceback in the log."""
from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import web

from publishers.headers import SECURITY_HEADERS
from service.keys import STORE_READY_KEY
from service.settings import load_settings
from service.web.serve import ServiceRunner
from tests.service_client import build_app


@pytest.fixture
async def port(tmp_path):
    app = build_app(load_settings(overrides={
        "store": {"url": str(tmp_path / "bosai.sqlite3")}, "service": {"data_dir": str(tmp_path / "var")},
    }))
    runner = ServiceRunner(app, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)  # the connection is closed after an error
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


MARK = b"zq"  # in every malformed request: the answer must not repeat it
CASES = [
    ("request line too long", b"GET /" + MARK * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("header too long", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + MARK * 5000 + b"\r\n\r\n", 431),
    ("header name too long", b"GET / HTTP/1.1\r\nHost: x\r\n" + MARK * 5000 + b": 1\r\n\r\n", 431),
    ("too many headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: zq\r\n" % i for i in range(200))
     + b"\r\n", 431),
    ("invalid method", b"G\x01" + MARK + b" / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("TLS on the plain port", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + MARK, 400),
    ("unknown HTTP version", b"GET /" + MARK + b" HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    ("NUL in a header", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + MARK + b"\x00\r\n\r\n", 400),
    ("invalid bytes in the path", b"GET /\xff\x00" + MARK + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("bad Content-Length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + MARK + b"\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,raw,status", CASES, ids=[c[0] for c in CASES])
async def test_unparsable_requests_are_problem_json_without_a_traceback(port, name, raw, status, caplog):
    caplog.set_level(logging.DEBUG)
    got, headers, body = await exchange(port, raw)
    assert got == status, (name, body[:200])
    assert headers["content-type"].startswith("application/problem+json"), headers
    problem = json.loads(body)
    assert problem["status"] == status and problem["detail"] and MARK.decode() not in body.decode()
    for header, value in SECURITY_HEADERS.items():
        assert headers[header.lower()] == value, header
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_valid_request_on_the_same_server_is_answered_as_usual(port):
    status, headers, body = await exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and json.loads(body)["status"] in ("ok", "degraded")
    assert headers["server"] == "bosai-hub"


async def test_an_unknown_method_token_reaches_the_app_and_is_refused_there(port):
    # A well-formed but unknown method is routed: 405 problem+json naming what the path takes.
    status, headers, body = await exchange(port, b"PURGE /api/v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 405 and "GET" in headers["allow"], body
    assert headers["content-type"].startswith("application/problem+json")
