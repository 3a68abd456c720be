"""The whole service (create_app) over real HTTP for tests: a SQLite store and data directory under
a test's tmp_path, the region loaded once per test session, the portal snapshot's pauses on virtual
time, and ingest that waits until the snapshot includes the change."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from collectors.base import Snapshot
from geo.model import Event
from geo.region import GeoConfig, Region
from publishers.portal_snapshot import PortalSnapshot
from service.keys import PIPELINE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.web.app import create_app
from service.web.keys import SNAPSHOT_KEY


class VirtualPacing:
    """Monotonic time for the portal snapshot's debounce and duty cycles that moves only when it
    pauses: every pause returns at once (after one turn of the event loop), so a change is built as
    soon as the loop is free, however slow the machine, and no test sleeps through a debounce."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []  # every pause asked for, in seconds

    def monotonic(self) -> float:
        """The virtual time."""
        return self.now

    async def pause(self, seconds: float) -> None:
        """Move the virtual time on by `seconds` instead of sleeping."""
        self.pauses.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def drive(self, snapshot: PortalSnapshot) -> VirtualPacing:
        """Put `snapshot`'s pauses on this time, which goes on from the snapshot's time."""
        self.now = snapshot.monotonic()
        snapshot.monotonic = self.monotonic
        snapshot.pause = self.pause
        return self


class ManualPacing(VirtualPacing):
    """Virtual time the test moves: a pause waits until `advance` takes the time past its end."""

    def __init__(self) -> None:
        super().__init__()
        self._moved = asyncio.Condition()
        self.paused = asyncio.Event()  # set when a pause begins

    async def pause(self, seconds: float) -> None:
        """Wait until the test has advanced the time by `seconds`."""
        self.pauses.append(seconds)
        end = self.now + seconds
        self.paused.set()
        async with self._moved:
            await self._moved.wait_for(lambda: self.now >= end)

    async def advance(self, seconds: float) -> None:
        """Move the time on by `seconds`, ending the pauses it passes."""
        async with self._moved:
            self.now += seconds
            self._moved.notify_all()


PACING_KEY = web.AppKey("test_pacing", VirtualPacing)


def build_app(settings: Any, **kwargs: Any) -> web.Application:
    """`create_app` for tests: the session's one region (`Region.default()`, loaded once per
    process) when `settings` name the default one, and the snapshot's pauses on a `VirtualPacing`
    (kept under PACING_KEY)."""
    geo = Region.default() if settings.region == GeoConfig() else None
    app = create_app(settings, geo=geo, **kwargs)
    app[PACING_KEY] = VirtualPacing().drive(app[SNAPSHOT_KEY])
    return app


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
    app = build_app(settings)
    if prepare is not None:
        prepare(app)
    async with TestClient(TestServer(app)) as client:
        await app[STORE_READY_KEY].wait()  # bounded by the test's timeout (pytest-timeout)
        yield client


async def publish(client: TestClient, source_id: str, *events: Event) -> int:
    """Ingest `events` as one snapshot of `source_id`; return the feed head once the snapshot includes it."""
    entries = await client.app[PIPELINE_KEY].ingest(Snapshot(source_id, list(events)))
    head = entries[-1].seq
    await client.app[SNAPSHOT_KEY].wait_built(head)
    return head
