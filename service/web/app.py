"""The aiohttp application: store, HTTP client, collectors and scheduler as cleanup contexts."""
from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from geo.model import utcnow
from geo.region import Region
from geo.store import open_store
from geo.store.base import StoreUnavailable
from geo.store.redis_connect import safe_url
from publishers import push
from service import metrics
from service.cancel import cancel_and_wait
from service.clock import ClockRef
from service.current_events import CurrentEvents
from service.keys import (
    AREA_CODES_KEY,
    CLOCK_KEY,
    CURRENT_EVENTS_KEY,
    PIPELINE_KEY,
    REGION_KEY,
    SETTINGS_KEY,
    SHUTDOWN_KEY,
    STORE_KEY,
    STORE_READY_KEY,
)
from service.pipeline import Pipeline
from service.remote_clock import remote_clock_ctx
from service.scheduler import scheduler_ctx
from service.settings import Settings, secrets
from service.shutdown import ShutdownBudget
from service.supervisor import SUPERVISOR_KEY, Supervisor, supervised_once_store_ready
from service.web import (
    api,
    cap_feeds,
    channels,
    health,
    here_api,
    openapi,
    orders_api,
    pages,
    portal,
    route_guard,
    sse,
    station_api,
)
from service.web.demo import simulator_ctx
from service.web.headers import install as install_security_headers

log = structlog.get_logger(__name__)

FULL_COLLECTION_EVERY = 100  # collections of the middle generation per full one (CPython's default: 10)


def tile_origins(settings: Any) -> tuple[str, ...]:
    """The origin of the portal's base-map tiles, which the Content-Security-Policy must allow."""
    url = getattr(getattr(settings, "portal", None), "tile_url", "")
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}",) if parts.scheme and parts.netloc else ()


def store_url(settings: Settings) -> str:
    """The configured store URL; relative SQLite paths are taken from the working directory."""
    return settings.store.url


async def _open_with_backoff(app: web.Application) -> None:
    store = app[STORE_KEY]
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(StoreUnavailable),
        wait=wait_exponential_jitter(multiplier=0.5, max=app[SETTINGS_KEY].store.connect_retry_max_s),
        before_sleep=lambda rs: log.debug(
            "store_still_unavailable", attempt=rs.attempt_number, error=str(rs.outcome.exception())
        ),
    )
    async for attempt in retrying:
        with attempt:
            await store.open()
    app[STORE_READY_KEY].set()
    log.info("store_open", url=safe_url(store_url(app[SETTINGS_KEY])))


async def store_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the store; while it is unreachable, retry in the background and serve degraded.

    A store that can be reached but not read (a corrupt SQLite file) stops the start-up with an
    error naming it: retrying cannot help, and serving "no warnings" from nothing would be a lie.
    """
    try:
        await app[STORE_KEY].open()
    except StoreUnavailable as exc:
        log.error("store_unavailable", error=str(exc), retrying=True)
    else:
        app[STORE_READY_KEY].set()
        log.info("store_open", url=safe_url(store_url(app[SETTINGS_KEY])))
    opener = asyncio.create_task(_open_with_backoff(app)) if not app[STORE_READY_KEY].is_set() else None
    yield
    if opener is not None:
        await cancel_and_wait([opener])  # shutting down: an error it ended with was logged
    await app[STORE_KEY].close()
    log.info("store_closed", url=safe_url(store_url(app[SETTINGS_KEY])))


async def current_events_ctx(app: web.Application) -> AsyncIterator[None]:
    """Follow the change feed into the process's read model, supervised, once the store is open."""
    async for _ in supervised_once_store_ready(app, "current_events", app[CURRENT_EVENTS_KEY].run):
        yield


async def supervisor_ctx(app: web.Application) -> AsyncIterator[None]:
    """On shutdown, stop every supervised task still running (each context stops its own first)."""
    yield
    await app[SUPERVISOR_KEY].stop()


async def frozen_heap_ctx(app: web.Application) -> AsyncIterator[None]:
    """Once started, move every object alive (modules, geodata, templates, settings) out of the
    cyclic garbage collector's view.

    A full collection walks every tracked object; with the geodata and libraries loaded that is a
    pause of a tenth of a second on the event loop, several times a minute while ingest allocates.
    These objects live as long as the process, so scanning them finds nothing (gc.freeze is meant
    for this). Objects created later are collected as usual.
    """
    gc.collect()
    gc.freeze()
    # A full collection still walks every object created since (the current events, caches): a
    # pause of tens of milliseconds. Consider one after 100 collections of the middle generation
    # rather than 10, so they come a tenth as often; young objects are collected as before.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], FULL_COLLECTION_EVERY)
    log.debug("heap_frozen", objects=gc.get_freeze_count())
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


async def _start_shutdown_budget(app: web.Application) -> None:
    app[SHUTDOWN_KEY].start()  # before open connections are waited for: every later step takes what is left


def create_app(
    settings: Settings,
    *,
    demo: bool = False,
    extra_contexts: tuple = (),
    long_running: bool = False,
    geo: Region | None = None,
) -> web.Application:
    """Build the service application for validated settings (`demo` starts the simulator in-process).

    `long_running` (the `bosai run` process) freezes the start-up heap once every context has
    started (see `frozen_heap_ctx`); tests building many apps in one process leave it off.
    `geo` is the region already loaded from `settings.region` (tests load it once per session).
    """
    app = web.Application()  # no middlewares: service/web/route_guard.py guards each route instead
    app[SETTINGS_KEY] = settings
    geo = geo if geo is not None else Region.load(settings.region)
    app[REGION_KEY] = geo
    app[AREA_CODES_KEY] = geo.codes
    app[CLOCK_KEY] = ClockRef(utcnow)  # the one clock: the demo switches it to the storm's
    app[STORE_KEY] = open_store(store_url(settings), clock=app[CLOCK_KEY])
    app[STORE_READY_KEY] = asyncio.Event()
    app[CURRENT_EVENTS_KEY] = CurrentEvents(app[STORE_KEY])
    app[PIPELINE_KEY] = Pipeline(
        app[STORE_KEY], geo.codes, rules=push.rules_for(settings, geo.codes), enrich=geo.enricher(),
        clock=app[CLOCK_KEY], current=app[CURRENT_EVENTS_KEY],
    )
    app[SUPERVISOR_KEY] = Supervisor()
    app[SHUTDOWN_KEY] = ShutdownBudget(settings.service.shutdown_timeout_s)
    app.on_shutdown.append(_start_shutdown_budget)
    app.cleanup_ctx.append(supervisor_ctx)  # first: its cleanup, stopping what is left, runs last
    if settings.service.clock_url:
        app.cleanup_ctx.append(remote_clock_ctx)  # before anything reads the time
    app.cleanup_ctx.append(store_ctx)
    app.cleanup_ctx.append(current_events_ctx)
    portal.create(app)
    portal.install_snapshot(app)
    pages.install_shelter_pages(app)
    channels.install_documents(app)
    channels.install_push(app)
    if demo:
        app.cleanup_ctx.append(simulator_ctx)
    for ctx in extra_contexts:
        app.cleanup_ctx.append(ctx)
    app.cleanup_ctx.append(scheduler_ctx)
    if long_running:
        app.cleanup_ctx.append(frozen_heap_ctx)
    token = secrets().operator_token
    orders_api.install(app, token.get_secret_value() if token else None)
    for routes in (api.routes, health.routes, here_api.routes, metrics.routes, station_api.routes, cap_feeds.routes,
                   openapi.routes, orders_api.routes, pages.shelter_routes, channels.routes):
        route_guard.add_routes(app, routes)
    sse.install(app)
    portal.add_routes(app)
    pages.install_event_pages(app)  # it renders through the portal's templates
    route_guard.add_routes(app, pages.event_routes)
    route_guard.add_fallback(app)  # last: it matches every path
    install_security_headers(app, tile_origins(settings))
    return app
