"""Fault modes a real upstream shows, applied per endpoint by path pattern.

A fault is set by the scenario (for a span of scenario time) or at run time through /_sim/faults.
Each mode reproduces what a client sees from a misbehaving server, on the wire: slow answers,
errors, dropped connections, bodies that lie about their length, type or content, and bodies built
to exhaust a careless parser (entity expansion, decompression, sheer size).
"""
from __future__ import annotations

import asyncio
import fnmatch
import itertools
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

FaultMode = Literal[
    "latency", "status", "reset", "hang", "truncate", "wrong_type", "stale",
    "malformed_xml", "entity_bomb", "oversized", "gzip_bomb", "slow_drip",
]
FAULT_MODES: tuple[str, ...] = FaultMode.__args__  # type: ignore[attr-defined]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultSpec(BaseModel):
    """One fault: which paths, which mode, and the mode's knobs."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="fnmatch pattern on the request path, e.g. /developer/xml/*")
    mode: FaultMode = Field(description="What goes wrong")
    latency_ms: int = Field(2000, ge=0, le=600_000, description="latency: added delay")
    status: int = Field(503, ge=400, le=599, description="status: HTTP status to answer")
    hang_s: float = Field(3600.0, gt=0, description="hang: how long to hold the request")
    size_mb: float | None = Field(
        None, gt=0, le=4096,
        description="oversized: body size (default 64); gzip_bomb: decompressed size (default 1024)",
    )
    chunk_bytes: int = Field(16, gt=0, description="slow_drip: bytes per write")
    interval_s: float = Field(1.0, gt=0, description="slow_drip: pause between writes")
    count: int | None = Field(None, gt=0, description="Apply to the next N matching requests only")


@dataclass
class ActiveFault:
    id: int
    spec: FaultSpec
    frozen_at: datetime  # scenario time whose content a `stale` fault keeps serving
    remaining: int | None = None
    scheduled: bool = False
    hits: int = 0

    def as_dict(self) -> dict:
        """JSON-ready view."""
        return {
            "id": self.id, **self.spec.model_dump(exclude_none=True),
            "frozen_at": self.frozen_at.isoformat(), "remaining": self.remaining,
            "scheduled": self.scheduled, "hits": self.hits,
        }


@dataclass
class FaultTable:
    """Run-time faults (set through the API) over scheduled ones (from the scenario)."""

    scheduled: list[tuple[float, float, ActiveFault]] = field(default_factory=list)
    runtime: list[ActiveFault] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def schedule(self, spec: FaultSpec, from_dt: datetime, from_s: float, until_s: float) -> ActiveFault:
        """Register a fault active between two scenario offsets (seconds)."""
        fault = ActiveFault(next(self._ids), FaultSpec(**spec.model_dump(include=set(FaultSpec.model_fields))),
                            from_dt, spec.count, scheduled=True)
        self.scheduled.append((from_s, until_s, fault))
        return fault

    def set(self, spec: FaultSpec, now: datetime) -> ActiveFault:
        """Add a run-time fault, effective immediately."""
        fault = ActiveFault(next(self._ids), spec, now, spec.count)
        self.runtime.append(fault)
        return fault

    def clear(self, fault_id: int | None = None) -> int:
        """Remove one run-time fault by id, or all of them; returns how many went."""
        before = len(self.runtime)
        self.runtime = [f for f in self.runtime if fault_id is not None and f.id != fault_id]
        return before - len(self.runtime)

    def active(self, elapsed_s: float) -> list[ActiveFault]:
        """Faults in force at a scenario offset."""
        now = [f for a, b, f in self.scheduled if a <= elapsed_s < b]
        return self.runtime + now

    def match(self, path: str, elapsed_s: float) -> ActiveFault | None:
        """The fault that applies to a request path, consuming one use of counted faults."""
        for fault in self.active(elapsed_s):
            if fault.remaining == 0 or not fnmatch.fnmatchcase(path, fault.spec.path):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            fault.hits += 1
            return fault
        return None


MAINTENANCE_PAGE = (
    "<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"><title>メンテナンス中</title></head>"
    "<body><h1>ただいまメンテナンス中です</h1><p>しばらくしてから再度アクセスしてください。</p></body></html>"
)

ENTITY_BOMB = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE Report [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']>\n<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"><Control><Title>&lol9;</Title></Control></Report>\n'
)

_gzip_cache: dict[int, bytes] = {}


def gzip_of_zeros(size: int) -> bytes:
    """A gzip member that inflates to `size` zero bytes (cached: building it takes a moment)."""
    if size not in _gzip_cache:
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        block, left, parts = bytes(1 << 20), size, []
        while left:
            n = min(left, len(block))
            parts.append(comp.compress(block[:n]))
            left -= n
        parts.append(comp.flush())
        _gzip_cache[size] = b"".join(parts)
    return _gzip_cache[size]


def _body(resp: web.StreamResponse) -> bytes:
    body = getattr(resp, "body", None)
    return bytes(body) if isinstance(body, (bytes, bytearray)) else b""


def _copy_headers(src: web.StreamResponse, dst: web.StreamResponse) -> None:
    for name in ("Content-Type", "Last-Modified", "ETag", "Cache-Control"):
        if name in src.headers:
            dst.headers[name] = src.headers[name]


async def _reset(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER 0 makes close() send RST instead of FIN: the client sees a reset.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    raise asyncio.CancelledError  # nothing left to answer on


async def _stream(request: web.Request, src: web.StreamResponse, chunks, length: int | None,
                  pause: float = 0.0, close_after: bool = False) -> web.StreamResponse:
    resp = web.StreamResponse(status=src.status)
    _copy_headers(src, resp)
    if length is not None:
        resp.content_length = length
    await resp.prepare(request)
    try:
        for chunk in chunks:
            await resp.write(chunk)
            if pause:
                await asyncio.sleep(pause)
    except (ConnectionResetError, ConnectionError):
        return resp
    if close_after and request.transport is not None:
        request.transport.close()  # fewer bytes than Content-Length promised
        return resp
    await resp.write_eof()
    return resp


async def apply(fault: ActiveFault, request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer `request` as the fault dictates (`stale` is handled by the content layer)."""
    spec = fault.spec
    mode = spec.mode
    if mode == "latency":
        await asyncio.sleep(spec.latency_ms / 1000)
        return await handler(request)
    if mode == "status":
        return web.Response(status=spec.status, text=f"{spec.status} upstream error\n")
    if mode == "reset":
        return await _reset(request)
    if mode == "hang":
        await asyncio.sleep(spec.hang_s)
        return web.Response(status=504, text="gave up\n")
    if mode == "wrong_type":
        return web.Response(text=MAINTENANCE_PAGE, content_type="text/html", charset="utf-8")
    if mode == "entity_bomb":
        return web.Response(body=ENTITY_BOMB, content_type="application/xml")
    if mode == "gzip_bomb":
        size = int((spec.size_mb or 1024) * (1 << 20))
        body = await asyncio.get_running_loop().run_in_executor(None, gzip_of_zeros, size)
        resp = web.Response(body=body, content_type="application/xml")
        resp.headers["Content-Encoding"] = "gzip"
        return resp

    src = await handler(request)
    body = _body(src)
    if mode == "truncate":
        return await _stream(request, src, [body[: max(1, len(body) // 2)]], len(body), close_after=True)
    if mode == "malformed_xml":
        broken = body[: max(1, len(body) * 2 // 3)] + b"<Item><Kind>&unterminated</Report"
        resp = web.Response(status=src.status, body=broken)
        _copy_headers(src, resp)
        return resp
    if mode == "slow_drip":
        step = spec.chunk_bytes
        parts = (body[i : i + step] for i in range(0, len(body), step))
        return await _stream(request, src, parts, len(body), pause=spec.interval_s)
    if mode == "oversized":
        size = int((spec.size_mb or 64) * (1 << 20))
        pad = b" " * (1 << 20)
        parts = itertools.chain([body], itertools.repeat(pad, max(0, size - len(body)) // len(pad) + 1))
        return await _stream(request, src, parts, None)
    return src  # stale: content already frozen upstream of here
