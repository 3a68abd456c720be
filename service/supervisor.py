"""Long-running tasks of the app, supervised: none dies silently.

A supervised task (the portal snapshot's follower, the change-feed fan-out to SSE streams) that
raises, or returns, is logged and started again after a backoff that doubles per consecutive
failure (with jitter, capped). From its failure until a restart has run `settle_s` without failing
it counts as down: /healthz names it, /readyz fails, and /metrics shows `bosai_task_up 0`.
The first failure of an outage is logged at ERROR with its traceback, the recovery at INFO, the
failures in between at DEBUG (structlog event names, key-values).
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.cancel import cancel_and_wait
from service.keys import STORE_READY_KEY

log = structlog.get_logger(__name__)

INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
SETTLE_S = 5.0  # a restart that runs this long without failing ends the outage


class TaskState(StrEnum):
    """Where a supervised task stands."""

    STARTING = "starting"  # first run, not failed yet
    RUNNING = "running"
    DOWN = "down"  # failed: waiting to restart, or restarted and not yet settled


@dataclass
class Supervised:
    """One supervised task and its record."""

    name: str
    factory: Callable[[], Awaitable[None]]
    state: TaskState = TaskState.STARTING
    restarts: int = 0
    last_error: str | None = None
    down_since: float | None = None  # time.monotonic() of the failure that began the outage
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def up(self) -> bool:
        """False from a failure until a restart has settled."""
        return self.state is not TaskState.DOWN


class Supervisor(Collector):
    """Runs named long-running coroutines, restarts them with backoff, and reports their state."""

    def __init__(
        self,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        settle_s: float = SETTLE_S,
    ) -> None:
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.settle_s = settle_s
        self.tasks: dict[str, Supervised] = {}
        # Per app, not the process-wide registry: tests build many apps in one process.
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> Supervised:
        """Run `factory()` under supervision as `name` (a name runs once at a time)."""
        if name in self.tasks and self.tasks[name].task is not None and not self.tasks[name].task.done():
            raise RuntimeError(f"supervised task {name!r} is already running")
        sup = Supervised(name, factory)
        self.tasks[name] = sup
        sup.task = asyncio.create_task(self._supervise(sup), name=f"supervised:{name}")
        return sup

    async def stop(self, name: str | None = None) -> None:
        """Cancel one supervised task (or all) and wait for it to finish."""
        chosen = [self.tasks[name]] if name is not None else list(self.tasks.values())
        tasks = [sup.task for sup in chosen if sup.task is not None]
        await cancel_and_wait(tasks)
        for sup in chosen:
            self.tasks.pop(sup.name, None)

    def down(self) -> list[str]:
        """Names of the tasks that are down, sorted."""
        return sorted(name for name, sup in self.tasks.items() if not sup.up)

    def states(self) -> dict[str, str]:
        """Every task's state by name, for /healthz and /readyz."""
        return {name: self.tasks[name].state.value for name in sorted(self.tasks)}

    async def _supervise(self, sup: Supervised) -> None:
        backoff = self.initial_backoff_s
        while True:
            attempt = asyncio.ensure_future(sup.factory())
            try:
                done, _ = await asyncio.wait({attempt}, timeout=self.settle_s)
                if not done:
                    self._settled(sup)
                    backoff = self.initial_backoff_s
                    await attempt
                else:
                    attempt.result()
                error = "returned"  # a long-running task never ends by itself: run it again
            except asyncio.CancelledError:
                if _stopping():
                    raise  # the supervisor is stopping
                error = "cancelled"  # the task was cancelled from elsewhere: it still has to run
            except Exception as exc:  # noqa: BLE001 - logged and restarted: that is the point
                error = f"{type(exc).__name__}: {exc}"
            finally:
                if not attempt.done():
                    with contextlib.suppress(BaseException):
                        await cancel_and_wait([attempt])
            if _stopping():
                # Cancelling the supervisor cancels the attempt it awaits, and a library call cut
                # short may answer that with its own error (redis-py: a connection or timeout error)
                # or the task may just return. Restarting it then would outlive the shutdown: stop()
                # waited for ever, and so did the app's cleanup.
                raise asyncio.CancelledError
            delay = random.uniform(backoff / 2, backoff)
            self._failed(sup, error, attempt, delay)
            await asyncio.sleep(delay)
            backoff = min(backoff * 2, self.max_backoff_s)
            sup.restarts += 1

    def _failed(self, sup: Supervised, error: str, attempt: asyncio.Future, delay: float) -> None:
        sup.last_error = error
        exc = None if attempt.cancelled() else attempt.exception()
        if sup.state is TaskState.DOWN:
            log.debug("task_failed_again", task=sup.name, error=error, restart_in_s=round(delay, 2))
            return
        sup.state, sup.down_since = TaskState.DOWN, time.monotonic()
        log.error("task_failed", task=sup.name, error=error, restart_in_s=round(delay, 2),
                  exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None)

    def _settled(self, sup: Supervised) -> None:
        if sup.state is TaskState.DOWN and sup.down_since is not None:
            log.info("task_recovered", task=sup.name, restarts=sup.restarts,
                     down_s=round(time.monotonic() - sup.down_since, 1))
        sup.state, sup.down_since = TaskState.RUNNING, None

    def collect(self) -> Iterator[Metric]:
        """`bosai_task_up` (1 or 0) and `bosai_task_restarts_total` per supervised task."""
        up = GaugeMetricFamily("bosai_task_up", "1 while a supervised long-running task runs, 0 while it is down",
                               labels=["task"])
        restarts = CounterMetricFamily("bosai_task_restarts", "Restarts of a supervised task after a failure",
                                       labels=["task"])
        for name in sorted(self.tasks):
            sup = self.tasks[name]
            up.add_metric([name], 1 if sup.up else 0)
            restarts.add_metric([name], sup.restarts)
        yield up
        yield restarts


def _stopping() -> bool:
    """True in a task asked to cancel (the supervisor's, when stop() cancels it)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


SUPERVISOR_KEY: web.AppKey[Supervisor] = web.AppKey("supervisor", Supervisor)


async def supervised_once_store_ready(
    app: web.Application, name: str, run: Callable[[], Awaitable[None]]
) -> AsyncIterator[None]:
    """Body of a cleanup context: `run` supervised as `name` once the store is open, stopped on shutdown."""

    async def start() -> None:
        await app[STORE_READY_KEY].wait()
        await run()

    supervisor = app[SUPERVISOR_KEY]
    supervisor.start(name, start)
    yield
    await supervisor.stop(name)
