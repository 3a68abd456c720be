"""Push wiring: channels from config and secrets, the rules for the pipeline, a dispatcher per channel.

`install(app)` adds one cleanup context that, once the store is open, starts every channel's
dispatcher as its own task under the app's supervisor (restarted with backoff if it fails, so one
jammed channel never stops another) and one waker that listens to the app's change-feed fan-out
(the read SSE streams share) and wakes the dispatchers on every commit — the store commits outbox
rows together with the feed entries of their changes. `start` / `stop` run the same without an app (tests, benchmarks).
"""
from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, Union

import structlog
from aiohttp import web
from pydantic import Field

from geo.codes import AreaCodes
from geo.store.base import Store
from publishers.channel import Channel, DryChannel, DryConfig
from publishers.dispatcher import Dispatcher
from publishers.lalert import LAlertChannel, LAlertConfig
from publishers.mastodon import MastodonChannel, MastodonConfig
from publishers.rules import PushRules
from publishers.x import LIMIT as X_LIMIT
from publishers.x import XChannel, XConfig
from publishers.x import weigh as x_weigh
from service.change_feed import FeedFanout

log = structlog.get_logger(__name__)

ChannelSettings = Annotated[Union[XConfig, MastodonConfig, LAlertConfig, DryConfig], Field(discriminator="type")]  # noqa: UP007

DISPATCHERS_KEY: web.AppKey[dict[str, Dispatcher]] = web.AppKey("dispatchers")
routes = web.RouteTableDef()


@routes.get("/api/v1/push")
async def push_status(request: web.Request) -> web.Response:
    """Each channel: dry or live, messages per state, spend and budget left, quota, pause."""
    from geo.store.base import OutboxState
    from service.keys import STORE_KEY

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


def rules_for(settings: Any, codes: AreaCodes) -> PushRules:
    """The pipeline's rules from the settings' rule table and channels."""
    return PushRules(settings.rules, settings.channels, codes, settings.service.public_url)


def _secret(value: Any) -> str | None:
    return None if value is None else value.get_secret_value()


def build_channel(name: str, config: Any, secrets: Any) -> Channel:
    """The channel for one config entry; without credentials (or with dry_run) a dry channel."""
    if isinstance(config, XConfig):
        creds = tuple(_secret(getattr(secrets, f)) for f in ("x_api_key", "x_api_secret", "x_access_token", "x_access_secret"))
        if config.dry_run or not all(creds):
            return DryChannel(name, config, X_LIMIT, x_weigh)
        return XChannel(name, config, creds)  # type: ignore[arg-type]
    if isinstance(config, MastodonConfig):
        token = os.environ.get(f"BOSAI_MASTODON_TOKEN_{name.upper()}") or _secret(secrets.mastodon_token)
        if config.dry_run or not token:
            return DryChannel(name, config, config.limit)
        return MastodonChannel(name, config, token)
    if isinstance(config, LAlertConfig):
        password = _secret(secrets.lalert_password)
        if config.dry_run or (config.username and not password):
            return DryChannel(name, config)
        return LAlertChannel(name, config, password)
    return DryChannel(name, config)


async def keep_running(name: str, run: Callable[[], Any], max_backoff_s: float = 30.0) -> None:
    """Run `run()` forever: an error is logged once and the task restarted after a growing pause."""
    backoff = 0.5
    while True:
        try:
            await run()
            backoff = 0.5
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a supervised task: log and restart
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # a library turned our cancellation into an error (a Redis call cut short): stop
                raise asyncio.CancelledError from exc
            log.error("push_task_failed", task=name, error=repr(exc))
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(max_backoff_s, backoff * 2)


async def wake_on_commits(store: Store, dispatchers: dict[str, Dispatcher]) -> None:
    """Follow the change feed from its head; wake every dispatcher on each commit."""
    head = await store.feed_head()
    async for _entry in store.subscribe(head.seq if head else 0):
        for dispatcher in dispatchers.values():
            dispatcher.wake()


async def wake_on_fanout(fanout: FeedFanout, dispatchers: dict[str, Dispatcher]) -> None:
    """Wake every dispatcher on each commit the app's feed fan-out reads (the one SSE streams read)."""
    while True:
        with fanout.listen(10_000) as listener:
            while await listener.queue.get() is not None:
                for dispatcher in dispatchers.values():
                    dispatcher.wake()
        # fell behind the fan-out (a stalled loop): look once, then listen again
        for dispatcher in dispatchers.values():
            dispatcher.wake()


def start(
    store: Store, channels: dict[str, Channel], clock: Callable[[], datetime]
) -> tuple[dict[str, Dispatcher], list[asyncio.Task]]:
    """A dispatcher task per channel plus the waker; the caller cancels the tasks.

    A clock with a `speed` attribute (a simulator's scenario clock) makes the dispatchers' timers
    run that many times faster.
    """
    speed = lambda: getattr(clock, "speed", 1.0)  # noqa: E731 - read per wait: set once the simulator runs
    dispatchers = {name: Dispatcher(ch, store, clock, speed=speed) for name, ch in channels.items()}
    tasks = [
        asyncio.create_task(keep_running(f"dispatch:{name}", d.run), name=f"dispatch:{name}")
        for name, d in dispatchers.items()
    ]
    tasks.append(asyncio.create_task(keep_running("push:waker", lambda: wake_on_commits(store, dispatchers))))
    return dispatchers, tasks


async def stop(tasks: list[asyncio.Task], channels: dict[str, Channel]) -> None:
    """Cancel the tasks and close the channels' connections."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels.values():
        await channel.close()


def install(app: web.Application) -> None:
    """Run the push dispatchers for the app's lifetime."""
    app.cleanup_ctx.append(push_ctx)


async def push_ctx(app: web.Application) -> AsyncIterator[None]:
    """Once the store is open, run each dispatcher and the waker under the app's supervisor."""
    from service.keys import AREA_CODES_KEY, CLOCK_KEY, SETTINGS_KEY, SHUTDOWN_KEY, STORE_KEY, STORE_READY_KEY
    from service.settings import secrets
    from service.supervisor import SUPERVISOR_KEY
    from service.web.sse import FANOUT_KEY

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
    starter.cancel()
    await asyncio.gather(starter, return_exceptions=True)
    budget = app[SHUTDOWN_KEY]
    await asyncio.gather(*(d.finish(budget.remaining()) for d in dispatchers.values()))
    for name in names:
        await supervisor.stop(name)
    for channel in channels.values():
        await channel.close()
