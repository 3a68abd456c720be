"""The outward channels in the app: the push dispatchers' context and `/api/v1/push` (their state),
and the L-Alert documents with their feed `/feeds/lalert.atom` (publishers/push.py, publishers/lalert.py).

`install_push(app)` adds one cleanup context that, once the store is open, starts every channel's
dispatcher as its own task under the app's supervisor (restarted with backoff if it fails, so one
jammed channel never stops another) and one waker that listens to the app's change-feed fan-out
(the read SSE streams share) and wakes the dispatchers on every commit — the store commits outbox
rows together with the feed entries of their changes.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from geo.model import utcnow
from geo.store.base import OutboxState
from publishers.dispatcher import Dispatcher
from publishers.http_cache import LIVE_CACHE_CONTROL, cached_response
from publishers.lalert import ATOM_CONTENT_TYPE, FEED_PATH, DocumentCache, LAlertChannel
from publishers.push import build_channel, wake_on_commits, wake_on_fanout
from service.cancel import cancel_and_wait
from service.keys import AREA_CODES_KEY, CLOCK_KEY, SETTINGS_KEY, SHUTDOWN_KEY, STORE_KEY, STORE_READY_KEY
from service.settings import secrets
from service.supervisor import SUPERVISOR_KEY
from service.web.api import check_params
from service.web.keys import DISPATCHERS_KEY, DOCUMENTS_KEY
from service.web.sse import FANOUT_KEY

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()


@routes.get("/api/v1/push")
async def push_status(request: web.Request) -> web.Response:
    """Each channel: dry or live, messages per state, spend and budget left, quota, pause."""
    store = request.app[STORE_KEY]
    channels = {}
    for name, d in request.app.get(DISPATCHERS_KEY, {}).items():
        counts = {s.value: 0 for s in OutboxState}
        for record in await store.outbox_list(name, limit=1_000_000):
            counts[record.state.value] += 1
        day, month = d.spend.totals(d.clock())
        left_day, left_month = d.budget_left()
        channels[name] = {
            "type": d.config.type, "dry": d.channel.dry, "drill": d.config.drill, "messages": counts,
            "spent_usd": {"day": round(day, 4), "month": round(month, 4)},
            "budget_left_usd": {"day": left_day, "month": left_month},
            "quota_remaining": d.channel.quota.remaining,
            "paused_until": d.paused_until.isoformat() if d.paused_until else None,
        }
    response = web.json_response({"channels": channels})
    response.headers["Cache-Control"] = "no-store"
    return response


def install_push(app: web.Application) -> None:
    """Run the push dispatchers for the app's lifetime."""
    app.cleanup_ctx.append(push_ctx)


async def push_ctx(app: web.Application) -> AsyncIterator[None]:
    """Once the store is open, run each dispatcher and the waker under the app's supervisor."""
    settings = app[SETTINGS_KEY]
    supervisor = app[SUPERVISOR_KEY]
    channels = {name: build_channel(name, c, secrets()) for name, c in settings.channels.items() if c.enabled}
    for channel in channels.values():
        if isinstance(channel, LAlertChannel):  # its documents are built from the event versions in the store
            channel.bind(app[STORE_KEY], app[AREA_CODES_KEY])
    clock = app[CLOCK_KEY]
    speed = lambda: getattr(clock, "speed", 1.0)  # noqa: E731 - the demo switches the clock after start
    dispatchers = {name: Dispatcher(ch, app[STORE_KEY], clock, speed=speed) for name, ch in channels.items()}
    app[DISPATCHERS_KEY] = dispatchers
    names: list[str] = []

    async def begin() -> None:
        await app[STORE_READY_KEY].wait()
        for name, dispatcher in dispatchers.items():
            names.append(f"push:{name}")
            supervisor.start(names[-1], dispatcher.run)
        if dispatchers:
            names.append("push:waker")
            if FANOUT_KEY in app:
                # the same read of the feed SSE streams get: woken with them, no second subscription
                supervisor.start(names[-1], lambda: wake_on_fanout(app[FANOUT_KEY], dispatchers))
            else:
                supervisor.start(names[-1], lambda: wake_on_commits(app[STORE_KEY], dispatchers))
        log.info("push_started", channels={n: ("dry" if c.dry else c.config.type) for n, c in channels.items()})

    starter = asyncio.create_task(begin())
    yield
    await cancel_and_wait([starter])
    budget = app[SHUTDOWN_KEY]
    await asyncio.gather(*(d.finish(budget.remaining()) for d in dispatchers.values()))
    for name in names:
        await supervisor.stop(name)
    for channel in channels.values():
        await channel.close()


@routes.get(FEED_PATH)
async def lalert_feed(request: web.Request) -> web.Response:
    """Atom feed of the L-Alert documents of the events in force."""
    check_params(request.query, frozenset())
    app = request.app
    clock = app.get(CLOCK_KEY) or utcnow
    body, updated = await app[DOCUMENTS_KEY].feed(app[SETTINGS_KEY].service.public_url, clock())
    return await cached_response(request, body, ATOM_CONTENT_TYPE, updated, LIVE_CACHE_CONTROL)


def install_documents(app: web.Application) -> None:
    """Create the app's L-Alert document cache (the feed's and the channel's)."""
    host = urlsplit(app[SETTINGS_KEY].service.public_url).hostname or "bosai-hub"
    app[DOCUMENTS_KEY] = DocumentCache(app[STORE_KEY], app[AREA_CODES_KEY], f"bosai-hub@{host}")
