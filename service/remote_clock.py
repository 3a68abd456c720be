"""Following an external simulator's clock: the service runs on scenario time it does not own.

With `service.clock_url` set (a simulator's base URL, e.g. one started by `bosai simulate`), the
service reads `/_sim/status` at start and every `clock_sync_s`, and extrapolates between reads
from the clock's time and speed. So a test can `kill -9` the service and start it again while
the simulator keeps publishing, and the restarted service is at once on the same scenario time.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import aiohttp
import structlog
from aiohttp import web

from service.cancel import cancel_and_wait
from service.keys import CLOCK_KEY, SETTINGS_KEY

log = structlog.get_logger(__name__)


class RemoteClock:
    """A simulator's scenario clock as last read, advanced locally at its speed."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/_sim/status"
        self._at: datetime | None = None
        self._mono = 0.0
        self.speed = 1.0
        self.paused = False

    def now(self) -> datetime:
        """Scenario time now (raises until the first read)."""
        if self._at is None:
            raise RuntimeError(f"the clock at {self.url} has not been read yet")
        if self.paused:
            return self._at
        return self._at + timedelta(seconds=(time.monotonic() - self._mono) * self.speed)

    async def sync(self, session: aiohttp.ClientSession) -> None:
        """Read the simulator's clock; the round trip's midpoint is taken as the moment it was read."""
        sent = time.monotonic()
        async with session.get(self.url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            response.raise_for_status()
            clock = (await response.json())["clock"]
        self._mono = (sent + time.monotonic()) / 2
        self._at = datetime.fromisoformat(clock["now"])
        self.speed = float(clock["speed"])
        self.paused = bool(clock["paused"])


async def remote_clock_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the app on the external simulator's clock before anything else reads the time."""
    settings = app[SETTINGS_KEY].service
    clock = RemoteClock(settings.clock_url)
    session = aiohttp.ClientSession()
    for attempt in range(50):  # the simulator may still be starting
        try:
            await clock.sync(session)
            break
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if attempt == 49:
                await session.close()
                raise RuntimeError(f"cannot read the simulator's clock at {clock.url}: {exc}") from exc
            await asyncio.sleep(0.2)
    app[CLOCK_KEY].use(clock)
    log.info("following_clock", url=clock.url, now=clock.now().isoformat(), speed=clock.speed)

    async def follow() -> None:
        while True:
            await asyncio.sleep(settings.clock_sync_s)
            try:
                await clock.sync(session)
                app[CLOCK_KEY].speed = clock.speed  # the app's clock copies the speed when it switches
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("clock_sync_failed", url=clock.url, error=str(exc))  # keep extrapolating

    task = asyncio.create_task(follow())
    yield
    await cancel_and_wait([task])
    await session.close()
