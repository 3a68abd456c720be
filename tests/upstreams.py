"""A small JMA-style Atom feed server for tests that need a real upstream with counted requests."""
from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
# Recorded real payloads live in the repository (tests/data/reference, provenance in its README);
# BOSAI_SHARED_DATA may point at a fuller copy with the same folders.
SHARED = Path(os.environ.get("BOSAI_SHARED_DATA", ROOT / "tests" / "data" / "reference"))
SAMPLES = SHARED / "jma_xml" / "samples"


def as_ishikawa(data: bytes, town: bytes = b"3320900", to: bytes = b"1720100") -> bytes:
    """A real Okayama VXWW50 sample with one municipality (and the prefecture) moved to Ishikawa."""
    return data.replace(b"<Code>" + town + b"</Code>", b"<Code>" + to + b"</Code>").replace(
        b"<Code>330000</Code>", b"<Code>170000</Code>"
    )


class FeedServer:
    """Serves /feed (Atom, If-Modified-Since aware) listing `docs`, and /data/{name}; counts requests."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[bytes, str]] = {}  # name -> (body, title)
        self.order: list[str] = []
        self.updated = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
        self.requests: Counter[str] = Counter()
        self.statuses: dict[str, int] = {}  # name -> HTTP status served instead of the document (faults)
        self.runner: web.AppRunner | None = None
        self.base = ""

    def add(self, name: str, body: bytes, title: str = "土砂災害警戒情報", updated: datetime | None = None) -> None:
        """List a new document (name like 20260701030000_0_VXWW50_170000.xml)."""
        self.docs[name] = (body, title)
        self.order.append(name)
        self.updated = updated or datetime.now(timezone.utc).replace(microsecond=0)

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        self.requests["/feed"] += 1
        since = request.headers.get("If-Modified-Since")
        if since and parsedate_to_datetime(since) >= self.updated:
            return web.Response(status=304)
        entries = "".join(
            f"<entry><title>{self.docs[n][1]}</title><id>{self.base}/data/{n}</id>"
            f"<updated>{self.updated.isoformat()}</updated><author><name>金沢地方気象台</name></author>"
            f'<link type="application/xml" href="{self.base}/data/{n}"/><content type="text">見出し</content></entry>'
            for n in self.order
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" lang="ja">'
            f"<title>高頻度（随時）</title><updated>{self.updated.isoformat()}</updated>"
            f"<id>{self.base}/feed</id>{entries}</feed>"
        )
        return web.Response(
            body=body.encode(),
            content_type="application/atom+xml",
            headers={"Last-Modified": format_datetime(self.updated, usegmt=True)},
        )

    async def _doc(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests[name] += 1
        if name not in self.docs or name in self.statuses:
            return web.Response(status=self.statuses.get(name, 404), text="not found")
        return web.Response(body=self.docs[name][0], content_type="application/xml")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/feed", self._feed)
        app.router.add_get("/data/{name}", self._doc)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self.base + "/feed"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
