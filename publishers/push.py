"""Push wiring: channels from config and secrets, the rules for the pipeline, a dispatcher per channel.

The app runs them under its supervisor (service/web/channels.py); `start` / `stop` run the same
without an app (tests, benchmarks): every channel's dispatcher and one waker that wakes them on
every commit — the store commits outbox rows together with the feed entries of their changes.
"""
from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from geo.codes import AreaCodes
from geo.store.base import Store
from publishers.channel import Channel, DryChannel
from publishers.dispatcher import Dispatcher
from publishers.lalert import LAlertChannel
from publishers.mastodon import MastodonChannel
from publishers.rules import PushRules
from publishers.x import LIMIT as X_LIMIT
from publishers.x import XChannel
from publishers.x import weigh as x_weigh
from service.cancel import cancel_and_wait
from service.change_feed import FeedFanout
from service.push_config import LAlertConfig, MastodonConfig, XConfig
from service.settings import Settings

log = structlog.get_logger(__name__)



def rules_for(settings: Settings, codes: AreaCodes) -> PushRules:
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
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError  # a library call answered our cancellation by returning
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
    await cancel_and_wait(tasks)
    for channel in channels.values():
        await channel.close()
