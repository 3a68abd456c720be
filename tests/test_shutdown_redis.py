"""Shutdown on Redis: `bosai run` on SIGTERM / SIGINT and the app's cleanup end promptly with an SSE
client attached and every supervised task running (snapshot follower, shelter pages, change-feed
fan-out, push dispatchers), and the store is closed; a supervised task that answers its
cancellation with an error (as a cut-short Redis call does) is stopped, not restarted."""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from service.keys import STORE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.supervisor import Supervisor
from tests.service_client import build_app
from tests.test_service import bosai_command, free_port
from tests.upstreams import SAMPLES, FeedServer, as_ishikawa

SHUTDOWN_S = 8.0  # the process measured ~0.05 s to leave the loop, ~2 s to exit, on a loaded machine
CLEANUP_S = 8.0  # the app's cleanup, measured ~0.02 s alone, seconds on a machine busy with other test workers; the bug it guards against waited for ever
TASKS = {"portal_snapshot", "shelter-pages", "event-pages", "change_feed_fanout", "push:drill", "push:waker"}


def _config(tmp_path, port: int, store_url: str, feed_url: str):
    config = tmp_path / "bosai.toml"
    config.write_text(
        f"""
[service]
port = {port}
data_dir = "{tmp_path / 'var'}"
[store]
url = "{store_url}"
[channels.drill]
type = "dry"
drill = true
[sources.jma]
type = "jma_feed"
url = "{feed_url}"
offset_s = 0
office_codes = []
allow_private = true
""",
        encoding="utf-8",
    )
    return config


async def _ready_with_events(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen) -> dict:
    """/readyz 200 (store open, every task running) and the feed's warning ingested."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the service exited with {proc.returncode}"
        try:
            async with session.get(f"{base}/readyz") as ready, session.get(f"{base}/api/v1/events") as events:
                if ready.status == 200 and (await events.json())["features"]:
                    return await ready.json()
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)
    proc.kill()
    pytest.fail("never ready:\n" + proc.communicate(timeout=10)[0].decode(errors="replace")[-3000:])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_bosai_run_on_redis_with_a_stream_open_exits_promptly_and_closes_the_store(tmp_path, redis_url, sig):
    upstream = FeedServer()
    feed_url = await upstream.start()
    upstream.add("20130902063700_0_VXWW50_170000.xml", as_ishikawa((SAMPLES / "17_03_01_190529_VXWW50.xml").read_bytes()))
    port = free_port()
    config = _config(tmp_path, port, redis_url, feed_url)
    proc = subprocess.Popen([*bosai_command(), "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            ready = await _ready_with_events(session, f"http://127.0.0.1:{port}", proc)
            assert TASKS <= set(ready["tasks"]), ready
            stream = await session.get(f"http://127.0.0.1:{port}/api/v1/stream",
                                       timeout=aiohttp.ClientTimeout(total=None))
            assert (await stream.content.readline()).startswith(b"retry:")
            started = time.monotonic()
            proc.send_signal(sig)
            try:
                out, _ = await asyncio.to_thread(proc.communicate, timeout=SHUTDOWN_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                out = proc.communicate()[0]
                pytest.fail(f"still running {SHUTDOWN_S}s after {sig.name}:\n{out.decode(errors='replace')[-3000:]}")
            took = time.monotonic() - started
            rest = await asyncio.wait_for(stream.content.read(), 5)
            stream.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await upstream.stop()
    log = out.decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    events = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
    assert "store_closed" in events, log[-3000:]
    assert "task_failed" not in events, log[-3000:]  # nothing failed, so nothing restarted, on the way out
    assert b"event: shutdown" in rest  # the open stream was ended, not cut
    assert took < SHUTDOWN_S


async def test_app_cleanup_on_redis_with_a_stream_open_is_prompt_and_closes_the_store(tmp_path, redis_url):
    settings = load_settings(overrides={
        "store": {"url": redis_url},
        "service": {"data_dir": str(tmp_path / "var")},
        "channels": {"drill": {"type": "dry", "drill": True}},
    })
    app = build_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        deadline = time.monotonic() + 30
        while (ready := await client.get("/readyz")).status != 200 or not TASKS <= set((await ready.json())["tasks"]):
            assert time.monotonic() < deadline, await ready.text()
            await asyncio.sleep(0.1)
        stream = await client.get("/api/v1/stream")
        assert (await stream.content.readline()).startswith(b"retry:")
    except BaseException:
        await client.close()
        raise
    started = time.monotonic()
    with capture_logs() as logs:
        await asyncio.wait_for(client.close(), CLEANUP_S)
    assert time.monotonic() - started < CLEANUP_S
    assert "store_closed" in [entry["event"] for entry in logs]
    assert app[STORE_KEY]._r is None


async def test_a_task_answering_cancellation_with_an_error_is_stopped_not_restarted():
    # redis-py may report a call cut short by our cancellation as its own ConnectionError or
    # TimeoutError (StoreUnavailable to us): the supervisor restarted the task then, and stop()
    # (the app's cleanup) waited for ever.
    runs: list[float] = []
    honest: list[bool] = []  # set when the test has failed, so the task can end and the loop close

    async def answers_with_an_error() -> None:
        runs.append(time.monotonic())
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if honest:
                raise
            raise ConnectionError("Connection closed by server.") from None

    async def returns() -> None:
        runs.append(time.monotonic())
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if honest:
                raise
            return

    for factory in (answers_with_an_error, returns):
        for settle_s in (0.05, 60.0):  # stopped after the run settled, and while it settles
            runs.clear()
            supervisor = Supervisor(initial_backoff_s=0.01, settle_s=settle_s)
            supervisor.start("follower", factory)
            await asyncio.sleep(0.2)
            stopping = asyncio.ensure_future(supervisor.stop())
            done, _ = await asyncio.wait({stopping}, timeout=2)
            if stopping not in done:
                honest.append(True)
                for sup in supervisor.tasks.values():
                    sup.task.cancel()
                await stopping
            assert stopping in done, f"{factory.__name__} (settle {settle_s}s) still running 2 s after stop()"
            assert len(runs) == 1 and supervisor.tasks == {}, (factory.__name__, settle_s, len(runs))
