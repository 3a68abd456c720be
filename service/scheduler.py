"""APScheduler wiring: one job per enabled source, plus the expiry sweep, as an app cleanup context."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import aiohttp
import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from collectors.http import Fetcher
from collectors.registry import collector_class
from geo.codes import AreaCodes
from geo.store.base import Store
from service.keys import (
    AREA_CODES_KEY,
    CLOCK_KEY,
    PIPELINE_KEY,
    POLLERS_KEY,
    SETTINGS_KEY,
    SHUTDOWN_KEY,
    STORE_KEY,
    STORE_READY_KEY,
)
from service.pipeline import Pipeline
from service.poller import SourcePoller

log = structlog.get_logger(__name__)

EXPIRY_INTERVAL_S = 30


def first_run(interval_s: float, offset_s: float, now: datetime) -> datetime:
    """The next instant at `offset_s` into an interval, e.g. second 20 of each minute for JMA feeds."""
    epoch = now.timestamp()
    start = (epoch - offset_s) // interval_s * interval_s + offset_s
    if start <= epoch:
        start += interval_s
    return datetime.fromtimestamp(start, timezone.utc)


def trigger_for(cfg, now: datetime) -> IntervalTrigger:
    """The poll schedule of a source.

    With an offset (JMA: second 20 of each minute) the times are exact: APScheduler adds jitter to
    the previous fire time, so jittered runs would drift through the minute. Without one, the
    jitter spreads sources that share an interval.
    """
    if cfg.offset_s:
        start = first_run(cfg.interval_s, cfg.offset_s, now)
        return IntervalTrigger(seconds=cfg.interval_s, start_date=start, timezone=timezone.utc)
    return IntervalTrigger(seconds=cfg.interval_s, jitter=cfg.jitter_s or None, timezone=timezone.utc)


def build_pollers(
    settings, fetcher: Fetcher, codes: AreaCodes, pipeline: Pipeline, store: Store, clock=None
) -> list[SourcePoller]:
    """A poller per enabled source, its collector built from the config's `type`."""
    pollers = []
    for source_id, config in settings.sources.items():
        if not config.enabled:
            continue
        collector = collector_class(config.type)(source_id, config, fetcher, codes)
        pollers.append(SourcePoller(collector, pipeline, store, clock=clock or pipeline.clock))
    return pollers


class InFlight:
    """Tracks running jobs so shutdown can let in-flight applies finish."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()

    def wrap(self, coro_fn):
        async def job() -> None:
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                await coro_fn()
            finally:
                self.tasks.discard(task)

        return job

    async def drain(self, timeout_s: float) -> None:
        if self.tasks:
            done, pending = await asyncio.wait(self.tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()


async def _expire(pipeline: Pipeline) -> None:
    try:
        await pipeline.expire()
    except Exception:  # noqa: BLE001 - the next sweep retries; never kill the scheduler
        log.exception("expiry_failed")


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start polling once the store is open; stop polling and drain in-flight work on shutdown."""
    settings = app[SETTINGS_KEY]
    store = app[STORE_KEY]
    pipeline = app[PIPELINE_KEY]
    inflight = InFlight()
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    session = aiohttp.ClientSession()
    fetcher = Fetcher(session)
    pollers = build_pollers(settings, fetcher, app[AREA_CODES_KEY], pipeline, store, app[CLOCK_KEY])
    app[POLLERS_KEY] = {p.source_id: p for p in pollers}

    async def start_when_ready() -> None:
        await app[STORE_READY_KEY].wait()
        now = datetime.now(timezone.utc)
        for poller in pollers:
            cfg = poller.collector.config
            job = inflight.wrap(poller.run_once)
            scheduler.add_job(
                job,
                trigger_for(cfg, now),
                id=poller.source_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(cfg.interval_s)),
            )
            # poll once right away so a fresh start shows data; the schedule above keeps its own
            # times (the poller's lock keeps the two from overlapping)
            scheduler.add_job(job, DateTrigger(now + timedelta(seconds=0.1)), id=f"{poller.source_id}:start")
        scheduler.add_job(
            inflight.wrap(lambda: _expire(pipeline)),
            IntervalTrigger(seconds=EXPIRY_INTERVAL_S, timezone=timezone.utc),
            id="expiry",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        log.info("scheduler_started", sources=[p.source_id for p in pollers])

    starter = asyncio.create_task(start_when_ready())
    yield
    starter.cancel()
    if scheduler.running:
        scheduler.shutdown(wait=False)
    await inflight.drain(app[SHUTDOWN_KEY].remaining())
    await fetcher.close()
    await session.close()
