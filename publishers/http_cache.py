"""Cacheable responses: strong ETag, Last-Modified, 304 on conditional requests, gzip and brotli.

A `Representation` is one document's bytes with their validators and, when built ahead of time
(publishers/portal_snapshot.py), their gzip and brotli encodings, so a hot document is compressed
once per change rather than once per request. Dynamic answers go through `cached_response`, which
builds a representation and compresses only the encoding the client asked for.

A representation builds the complete response headers of each encoding the first time it is sent
(ETag, Content-Encoding, Content-Type, Cache-Control, Vary, Last-Modified formatted once), so a hot
document costs a request only the header copy aiohttp makes anyway.

Each encoding carries its own strong ETag ("<hash>", "<hash>-gzip", "<hash>-br": strong validators
promise identical bytes), but a conditional request matches on the content hash, so a client
holding any encoding of unchanged content gets its 304.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path

import brotli
from aiohttp import web
from multidict import CIMultiDict

from geo.atomic_file import write_atomic
from publishers.headers import SECURITY_HEADERS

# Live data: browsers and nginx may reuse an answer briefly and revalidate in the background.
LIVE_CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30"
# History and CAP documents of a given version change rarely, but a new version must show soon.
SLOW_CACHE_CONTROL = "public, max-age=60, stale-while-revalidate=300"
MIN_COMPRESS_BYTES = 512  # below this the encoded body is not worth the CPU or the header
THREAD_COMPRESS_BYTES = 64 * 1024  # larger bodies are compressed off the event loop
GZIP_LEVEL = 6
BROTLI_QUALITY_LIVE = 5  # per request: fast
BROTLI_QUALITY_SNAPSHOT = 6  # once per change; 9 is 2% smaller on GeoJSON at three times the CPU
ENCODINGS = ("br", "gzip")
COMPRESSIBLE = ("json", "xml", "text/", "javascript", "svg")


def content_hash(body: bytes) -> str:
    """The strong validator of a body: a truncated SHA-256 of its bytes."""
    return hashlib.sha256(body).hexdigest()[:32]


def http_date(moment: datetime) -> str:
    """An RFC 9110 IMF-fixdate."""
    return format_datetime(moment.astimezone(timezone.utc).replace(microsecond=0), usegmt=True)


def encode(body: bytes, coding: str, snapshot: bool = False) -> bytes:
    """`body` in the content coding `coding` ('gzip' or 'br')."""
    if coding == "gzip":
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    if coding == "br":
        return brotli.compress(body, quality=BROTLI_QUALITY_SNAPSHOT if snapshot else BROTLI_QUALITY_LIVE)
    raise ValueError(f"unknown content coding {coding!r}")


@dataclass(slots=True)
class Representation:
    """A document's bytes, type and validators, with any pre-built encodings."""

    body: bytes
    content_type: str  # with charset where it applies
    last_modified: datetime | None = None
    cache_control: str = LIVE_CACHE_CONTROL
    etag_hash: str = ""
    encoded: dict[str, bytes] = field(default_factory=dict)
    # Whether an encoded variant can be offered (text-like type, big enough to gain); set once.
    compressible: bool = field(init=False, default=False)
    # Response headers per coding (None: identity), for a 200 and for a 304; built on first use.
    _sent: dict[str | None, tuple[CIMultiDict[str], CIMultiDict[str]]] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.etag_hash:
            self.etag_hash = content_hash(self.body)
        self.compressible = len(self.body) >= MIN_COMPRESS_BYTES and any(t in self.content_type for t in COMPRESSIBLE)

    def etag(self, coding: str | None = None) -> str:
        """The strong ETag of the identity body or of one encoding."""
        return f'"{self.etag_hash}-{coding}"' if coding else f'"{self.etag_hash}"'

    def precompress(self) -> Representation:
        """Build every encoding now (snapshots: once per change, at the best ratio)."""
        if self.compressible:
            for coding in ENCODINGS:
                self.encoded[coding] = encode(self.body, coding, snapshot=True)
        return self

    def headers(self, coding: str | None) -> tuple[CIMultiDict[str], CIMultiDict[str]]:
        """The complete headers of this representation in `coding`: (for a 200, for a 304)."""
        built = self._sent.get(coding)
        if built is None:
            # The security headers are built in once, so a hot document pays nothing for them.
            validators = CIMultiDict({"ETag": self.etag(coding), "Cache-Control": self.cache_control,
                                      **SECURITY_HEADERS})
            if self.compressible:
                validators["Vary"] = "Accept-Encoding"
            if self.last_modified is not None:
                validators["Last-Modified"] = http_date(self.last_modified)
            full = validators.copy()
            if coding:
                full["Content-Encoding"] = coding
            full["Content-Type"] = self.content_type
            built = self._sent[coding] = (full, validators)
        return built


@lru_cache(maxsize=256)  # a handful of distinct browser headers arrive over and over
def accepted_coding(accept_encoding: str) -> str | None:
    """The coding to send for an Accept-Encoding header: br, then gzip, else None (identity)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name:
            weights[name.strip()] = q
    for coding in ENCODINGS:
        if weights.get(coding, weights.get("*", 0.0)) > 0:
            return coding
    return None


def _etag_matches(if_none_match: str, etag_hash: str) -> bool:
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]  # weak comparison is what If-None-Match uses (RFC 9110 13.1.2)
        tag = tag.strip('"')
        if tag.split("-", 1)[0] == etag_hash:
            return True
    return False


def not_modified(headers: Mapping[str, str], rep: Representation) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, rep.etag_hash)
    since = headers.get("If-Modified-Since")
    if since and rep.last_modified is not None:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError):
            return False  # an unparseable date is ignored, as the RFC says
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return rep.last_modified.replace(microsecond=0) <= when
    return False


async def send(request: web.Request, rep: Representation) -> web.Response:
    """The response for `rep`: 304 when the client's copy is current, else the best encoding."""
    headers = request.headers
    coding = accepted_coding(headers.get("Accept-Encoding", "")) if rep.compressible else None
    full, validators = rep.headers(coding)
    # aiohttp copies the headers into the response (callers may add to them); the body is never copied.
    if not_modified(headers, rep):
        return web.Response(status=304, headers=validators)
    if coding is None:
        body = rep.body
    elif (body := rep.encoded.get(coding)) is None:
        if len(rep.body) >= THREAD_COMPRESS_BYTES:
            body = await asyncio.to_thread(encode, rep.body, coding)
        else:
            body = encode(rep.body, coding)
    # The body is sent as-is: aiohttp must not compress it again or chunk it.
    return web.Response(body=body, headers=full)


async def cached_response(
    request: web.Request,
    body: bytes,
    content_type: str,
    last_modified: datetime | None,
    cache_control: str = LIVE_CACHE_CONTROL,
) -> web.Response:
    """A dynamic answer with validators, conditional handling and on-the-fly compression."""
    return await send(request, Representation(body, content_type, last_modified, cache_control))


def write_representation(target: Path, rep: Representation) -> None:
    """Write `rep` for nginx to serve: its .gz and .br beside the identity file (a stale one removed)."""
    # Encodings first: nginx prefers the .gz, and it must never be older than the identity file.
    for coding, suffix in (("gzip", ".gz"), ("br", ".br")):
        sibling = target.with_name(target.name + suffix)
        if coding in rep.encoded:
            write_atomic(sibling, rep.encoded[coding], durable=False)
        else:
            sibling.unlink(missing_ok=True)
    write_atomic(target, rep.body, durable=False)
