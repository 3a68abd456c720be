"""`bosai run --demo`: the upstream simulator in-process, and the service on its scenario clock.

The simulator's content carries scenario times (a July storm replayed at `speed`x), so the
service judges freshness, silence and expiry on the same clock: a demo source is "stale" for the
same reasons a real one would be. The one clock (`ClockRef` of service/clock.py, under CLOCK_KEY) is also the store's
and the portal snapshot's, so every time residents see — `as_of`, SSE `at`, "as of HH:MM" — is
storm time.

Repeatable: by default each run starts the storm on a fresh store (the demo's SQLite file is
replaced before the service opens it, `demo.fresh_store`). A store that is kept (a Redis URL, or
`fresh_store = false`) resumes the storm where the store left off, so the portal never shows 10:00
warnings at 00:11.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from service.keys import CLOCK_KEY, SETTINGS_KEY, STORE_KEY, STORE_READY_KEY
from service.settings import DemoSettings

log = structlog.get_logger(__name__)


STORE_WAIT_S = 10.0  # how long the demo waits for the store before starting the storm from 00:00


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store URL (a path or sqlite:///path); None for any other store."""
    from geo.store import open_store
    from geo.store.sqlite import SQLiteStore

    store = open_store(url)  # constructs only: no file is touched
    return store.path if isinstance(store, SQLiteStore) else None


def fresh_store(url: str) -> list[Path]:
    """Remove a SQLite store's file (with its -wal and -shm) so the demo starts clean; the paths removed."""
    path = sqlite_path(url)
    if path is None:
        return []
    removed = []
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists():
            candidate.unlink()
            removed.append(candidate)
    return removed


async def resume_point(store: Any, start: datetime, duration: timedelta) -> datetime | None:
    """Where a kept store left the storm: its sources' last poll time, if inside the scenario; else None."""
    times = [t for st in await store.source_statuses() for t in (st.last_attempt, st.last_success) if t is not None]
    latest = max(times, default=None)
    if latest is None or not (start <= latest < start + duration):
        return None
    return latest


async def simulator_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the simulator for the app's lifetime and put the service on its clock."""
    from simulator.server import running_simulator

    demo: DemoSettings = app[SETTINGS_KEY].demo
    async with running_simulator(demo.scenario, demo.speed, demo.seed, demo.host, demo.port) as sim:
        resumed = None
        try:
            async with asyncio.timeout(STORE_WAIT_S):
                await app[STORE_READY_KEY].wait()
            meta = sim.scenario.scenario
            resumed = await resume_point(app[STORE_KEY], meta.start, timedelta(hours=meta.duration_h))
        except TimeoutError:
            log.warning("demo_store_not_ready", waited_s=STORE_WAIT_S)
        if resumed is not None:
            sim.clock.jump(resumed)
        app[CLOCK_KEY].use(sim.clock)
        log.info("demo_simulator", url=sim.base_url, scenario=demo.scenario, speed=demo.speed,
                 resumed_at=resumed.isoformat() if resumed else None)
        yield
