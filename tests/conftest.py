"""Shared fixtures: a real redis-server for the session and a clock the tests drive by hand."""
from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis

T0 = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)


@dataclass
class FakeClock:
    """A wall clock that only moves when a test advances it."""

    now: datetime = field(default=T0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        """Move forward; returns the new time."""
        self.now += timedelta(seconds=seconds, **kwargs)
        return self.now


MAX_WORKERS = 8  # past this, each worker's own setup (region, redis-server, browser) outweighs what it takes on


def _usable_cores() -> int:
    """Cores this process may use: its CPU affinity, and a cgroup's CPU quota where one is set (a
    container on a large host sees all the host's cores but may run on two)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 CPU limit readable: the affinity stands
    return cores


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than usable cores, at most MAX_WORKERS. About a fifth of the suite's
    time is spent waiting (on the service's own processes, the simulator's clock, redis-server
    restarts); the extra worker fills those waits (on 2 cores: 345 s with 2 workers, 295 s with 3)."""
    return min(_usable_cores() + 1, MAX_WORKERS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first: `make test` runs the suite on every core (pytest-xdist), and a long test
    started last would leave the other workers idle while it runs."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # a stable sort keeps the rest in order


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock at T0 (2026-07-01T03:00Z)."""
    return FakeClock()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_ping(url: str, proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {proc.returncode}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server at {url} did not answer PING in {timeout_s}s") from None
                time.sleep(0.05)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis for the session: BOSAI_TEST_REDIS_URL, else a private redis-server from PATH."""
    url = os.environ.get("BOSAI_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not on PATH and BOSAI_TEST_REDIS_URL is not set"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must install redis-server (Redis 7) or point BOSAI_TEST_REDIS_URL at one")
        pytest.skip(f"{reason}; Redis tests skipped")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RedisProcess:
    """A private redis-server that a test can kill (-9) and start again on the same port and data
    (append-only file, fsync on every write, as a deployment's AOF keeps it)."""

    def __init__(self, workdir, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start (or restart) the server and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH: install Redis 7 (Debian: redis-server)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_ping(self.url, self.proc)

    def kill(self) -> None:
        """SIGKILL the server, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def restartable_redis(tmp_path) -> Iterator[RedisProcess]:
    """A redis-server of this test's own (never the session's), started; killed at the end."""
    server = RedisProcess(tmp_path, _free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session Redis, emptied (FLUSHDB) before the test so tests never see each other's keys."""
    client = redis.Redis.from_url(redis_server)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_server
