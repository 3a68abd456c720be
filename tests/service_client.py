"""The whole service (create_app) over real HTTP for tests: a SQLite store and data directory under
a test's tmp_path, and ingest that waits until the portal snapshot includes the change."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from collectors.base import Snapshot
from geo.model import Event
from publishers.portal_snapshot import SNAPSHOT_KEY
from service.app import create_app
from service.keys import PIPELINE_KEY, STORE_READY_KEY
from service.settings import load_settings


@asynccontextmanager
async def service_client(
    tmp_path: Path,
    prepare: Callable[[web.Application], None] | None = None,
    sources: dict[str, dict] | None = None,
) -> AsyncIterator[TestClient]:
    """A client of the service with its store open; `prepare` adjusts the app before it starts.

    `sources` configures sources (id -> config table) without starting their pollers."""
    settings = load_settings(overrides={
        "store": {"url": str(tmp_path / "bosai.sqlite3")},
        "service": {"data_dir": str(tmp_path / "var")},
        "sources": sources or {},
    })
    app = create_app(settings)
    if prepare is not None:
        prepare(app)
    async with TestClient(TestServer(app)) as client:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        yield client


async def publish(client: TestClient, source_id: str, *events: Event) -> int:
    """Ingest `events` as one snapshot of `source_id`; return the feed head once the snapshot includes it."""
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot(source_id, list(events)))
    head = entries[-1].seq
    await client.app[SNAPSHOT_KEY].wait_built(head)
    return head
