"""Local fake X and Mastodon APIs over real HTTPS (certificates from trustme), for the push tests.

The client session's resolver sends api.twitter.com and mastodon.example to 127.0.0.1, so tweepy's
AsyncClient talks to its real host name, over TLS it verifies against the test CA. Each fake keeps
what it posted and answers a scripted sequence of faults before behaving normally.
"""
from __future__ import annotations

import asyncio
import itertools
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver

X_HOST = "api.twitter.com"
MASTODON_HOST = "mastodon.example"


class LoopbackResolver(AbstractResolver):
    """Resolves the fake hosts to 127.0.0.1 and the port their server listens on."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        if host not in self.ports:
            raise OSError(f"{host} is not a test host")
        return [{"hostname": host, "host": "127.0.0.1", "port": self.ports[host], "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


@dataclass
class Fault:
    """One scripted answer: a status with headers and a body, optionally after posting anyway."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    post_anyway: bool = False  # the server made the post but answered this (X has posted on a 503)
    hang_s: float = 0.0  # wait this long before answering (a timeout)


class FakeApi:
    """Common parts: TLS server, scripted faults, the posts made."""

    host = ""
    latency_s = 0.0  # between making a post and answering: a crash here leaves the send unknown

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.requests = 0
        self.ids = itertools.count(1790000000000000001)
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.stopping = asyncio.Event()  # ends every hanging answer at once

    async def start(self, ca: trustme.CA) -> None:
        app = web.Application()
        self.routes(app)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(self.host).configure_cert(ctx)
        self.runner = web.AppRunner(app, shutdown_timeout=1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.stopping.set()
        if self.runner is not None:
            await self.runner.cleanup()

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _fault(self) -> Fault | None:
        if not self.faults:
            return None
        fault = self.faults.pop(0)
        if fault.hang_s:
            try:
                await asyncio.wait_for(self.stopping.wait(), fault.hang_s)
            except TimeoutError:
                pass
        return fault

    async def _latency(self) -> None:
        if self.latency_s:
            try:
                await asyncio.wait_for(self.stopping.wait(), self.latency_s)
            except TimeoutError:
                pass

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]


class FakeX(FakeApi):
    """POST /2/tweets as X answers it: 201, 401 without OAuth, 403 duplicate content, faults."""

    host = X_HOST

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2/tweets", self.create)

    async def create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not request.headers.get("Authorization", "").startswith("OAuth "):
            return web.json_response({"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}, status=401)
        data = await request.json()
        text = data["text"]
        reply_to = (data.get("reply") or {}).get("in_reply_to_tweet_id")
        fault = await self._fault()
        if fault is not None and fault.post_anyway:
            self._post(text, reply_to)
        if fault is not None:
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        if any(p["text"] == text for p in self.posts):
            return web.json_response(
                {"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank",
                 "title": "Forbidden", "status": 403}, status=403)
        post = self._post(text, reply_to)
        await self._latency()
        reset = str(int(time.time()) + 900)
        return web.json_response({"data": {"id": post["id"], "text": text}}, status=201,
                                 headers={"x-rate-limit-remaining": "99", "x-rate-limit-reset": reset})

    def _post(self, text: str, reply_to: str | None) -> dict[str, Any]:
        post = {"id": str(next(self.ids)), "text": text, "reply_to": reply_to}
        self.posts.append(post)
        return post


class FakeMastodon(FakeApi):
    """POST /api/v1/statuses with Idempotency-Key kept (a repeat returns the same status)."""

    host = MASTODON_HOST

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, dict[str, Any]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/statuses", self.create)

    async def create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.headers.get("Authorization") != "Bearer test-token":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        form = await request.post()
        key = request.headers.get("Idempotency-Key")
        fault = await self._fault()
        if fault is not None and fault.post_anyway:
            self._post(form, key)
        if fault is not None:
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        if key in self.keys:
            return web.json_response(self.keys[key])
        post = self._post(form, key)
        await self._latency()
        return web.json_response(post)

    def _post(self, form: Any, key: str | None) -> dict[str, Any]:
        if key in self.keys:
            return self.keys[key]
        status_id = str(next(self.ids))
        post = {"id": status_id, "url": f"https://{MASTODON_HOST}/@bosai/{status_id}", "text": form["status"],
                "reply_to": form.get("in_reply_to_id"), "key": key}
        self.posts.append(post)
        if key:
            self.keys[key] = post
        return post


def client_session(ca: trustme.CA, *fakes: FakeApi, timeout_s: float = 5) -> aiohttp.ClientSession:
    """An HTTPS session that trusts the test CA and reaches the fakes by their real host names."""
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver({f.host: f.port for f in fakes}), ssl=ctx)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s))
