"""Supervised long-running tasks: logged, restarted with backoff, and shown by /healthz, /readyz and /metrics."""
from __future__ import annotations

import asyncio
import socket

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from service.keys import STORE_READY_KEY
from service.settings import load_settings
from service.supervisor import SUPERVISOR_KEY, Supervisor, TaskState
from tests.service_client import build_app


async def wait_for(predicate, timeout_s: float = 5) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_a_failing_task_is_logged_restarted_with_backoff_and_down_until_it_settles():
    supervisor = Supervisor(initial_backoff_s=0.05, max_backoff_s=0.2, settle_s=0.3)
    runs: list[float] = []
    healthy = asyncio.Event()

    async def flaky() -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) <= 3:
            raise ConnectionError(f"failure {len(runs)}")
        healthy.set()
        await asyncio.Event().wait()

    with capture_logs() as logs:
        sup = supervisor.start("flaky", flaky)
        await wait_for(lambda: len(runs) >= 2)
        assert sup.state is TaskState.DOWN and supervisor.down() == ["flaky"]
        text = generate_latest(supervisor.registry).decode()
        assert 'bosai_task_up{task="flaky"} 0.0' in text
        await healthy.wait()
        assert not sup.up  # restarted, not yet settled
        await wait_for(lambda: sup.up)
        text = generate_latest(supervisor.registry).decode()
        assert 'bosai_task_up{task="flaky"} 1.0' in text and 'bosai_task_restarts_total{task="flaky"} 3.0' in text
        await supervisor.stop()
    assert sup.restarts == 3 and sup.last_error == "ConnectionError: failure 3"
    gaps = [b - a for a, b in zip(runs, runs[1:])]
    assert gaps[0] >= 0.025 and gaps[2] >= 0.1  # backoff doubles (with jitter of up to half)
    events = [(e["event"], e["log_level"]) for e in logs if e.get("task") == "flaky"]
    # one ERROR for the outage (with its traceback), the repeats at DEBUG, one INFO on recovery
    assert events == [("task_failed", "error"), ("task_failed_again", "debug"), ("task_failed_again", "debug"),
                      ("task_recovered", "info")]
    assert supervisor.tasks == {}


async def test_stop_ends_a_task_whose_first_cancellation_a_library_lost():
    """A library may lose a cancellation (Python 3.11's asyncio.wait_for, under every redis-py
    command) and the task run on; stop() cancels it again rather than waiting for ever."""
    supervisor = Supervisor(settle_s=0.05)
    cancels = 0

    async def loses_one() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancels += 1
                if cancels > 1:
                    raise
                asyncio.current_task().uncancel()  # what the lost cancellation leaves behind

    supervisor.start("loses_one", loses_one)
    await asyncio.sleep(0.1)
    async with asyncio.timeout(5):
        await supervisor.stop()
    assert cancels == 2 and supervisor.tasks == {}


async def test_a_task_that_returns_is_run_again():
    supervisor = Supervisor(initial_backoff_s=0.01, settle_s=10)
    runs = 0

    async def returns() -> None:
        nonlocal runs
        runs += 1

    sup = supervisor.start("returns", returns)
    await wait_for(lambda: runs >= 3)
    assert sup.last_error == "returned" and not sup.up
    await supervisor.stop("returns")
    assert "returns" not in supervisor.tasks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_readyz_and_healthz_follow_the_store_and_the_tasks(tmp_path):
    settings = load_settings(overrides={"store": {"url": str(tmp_path / "s.sqlite3")},
                                        "service": {"data_dir": str(tmp_path / "var")}})
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        supervisor = app[SUPERVISOR_KEY]
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200 and body["status"] == "ready" and body["store"] == "ok"
        assert {"portal_snapshot", "change_feed_fanout"} <= set(body["tasks"])  # and any other module's
        assert resp.headers["Cache-Control"] == "no-store"

        supervisor.settle_s = 60  # a task that keeps failing stays down

        async def broken() -> None:
            raise RuntimeError("cannot follow")

        supervisor.start("broken", broken)
        await wait_for(lambda: supervisor.down() == ["broken"])
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503 and body["status"] == "not_ready" and body["tasks_down"] == ["broken"]
        resp = await client.get("/healthz")
        body = await resp.json()
        assert resp.status == 200 and body["status"] == "degraded" and body["tasks_down"] == ["broken"]
        assert body["tasks"]["broken"] == "down"
        assert 'bosai_task_up{task="broken"} 0.0' in await (await client.get("/metrics")).text()
        await supervisor.stop("broken")
        assert (await client.get("/readyz")).status == 200


async def test_readyz_is_503_while_the_store_was_never_opened():
    settings = load_settings(overrides={"store": {"url": f"redis://127.0.0.1:{free_port()}/0",
                                                  "connect_retry_max_s": 0.3}})
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503 and body["store"] == "not_open" and body["status"] == "not_ready"
