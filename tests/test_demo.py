"""`bosai run --demo` is repeatable: a fresh store each run (or resumed where a kept one left off), and
every time the service shows is on the storm's clock."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from geo.store import open_store
from geo.store.base import SourceState, SourceStatus
from service.cli import build_parser
from service.keys import CLOCK_KEY, STORE_KEY
from service.settings import PROJECT_ROOT, load_settings
from service.web.demo import fresh_store, resume_point, sqlite_path
from service.web.keys import SHELTER_PAGES_KEY, SNAPSHOT_KEY
from simulator import scenario as scenario_mod
from tests.service_client import build_app

STORM = scenario_mod.load("heavy-rain").scenario
START = STORM.start.astimezone(UTC)
SPAN = timedelta(hours=STORM.duration_h)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fresh_store_replaces_a_sqlite_file_and_never_touches_other_stores(tmp_path):
    db = tmp_path / "demo.sqlite3"
    for path in (db, tmp_path / "demo.sqlite3-wal", tmp_path / "demo.sqlite3-shm"):
        path.write_bytes(b"old storm")
    keep = tmp_path / "other.sqlite3"
    keep.write_bytes(b"x")
    assert sorted(p.name for p in fresh_store(str(db))) == ["demo.sqlite3", "demo.sqlite3-shm", "demo.sqlite3-wal"]
    assert not db.exists() and keep.exists()
    assert fresh_store(str(db)) == []  # nothing left to remove
    assert fresh_store("redis://127.0.0.1:6379/0") == [] and sqlite_path("redis://127.0.0.1:6379/0") is None
    assert sqlite_path("sqlite:///var/demo.sqlite3").as_posix() == "var/demo.sqlite3"
    assert build_parser().parse_args(["run", "--demo"]).demo is True


async def _store_with_poll_at(path, at: datetime | None):
    store = open_store(str(path), clock=lambda: at or START)
    await store.open()
    if at is not None:
        await store.set_source_status(SourceStatus("jma_extra", SourceState.OK, last_attempt=at, last_success=at))
    return store


async def test_resume_point_is_the_last_poll_inside_the_storm(tmp_path):
    store = await _store_with_poll_at(tmp_path / "a.sqlite3", START + timedelta(hours=10))
    assert await resume_point(store, START, SPAN) == START + timedelta(hours=10)
    await store.close()
    after = await _store_with_poll_at(tmp_path / "b.sqlite3", START + SPAN + timedelta(hours=1))
    assert await resume_point(after, START, SPAN) is None  # past the storm: it starts again
    await after.close()
    empty = await _store_with_poll_at(tmp_path / "c.sqlite3", None)
    assert await resume_point(empty, START, SPAN) is None
    await empty.close()


def _demo_settings(tmp_path, fresh: bool):
    return load_settings(overrides={
        "store": {"url": str(tmp_path / "demo.sqlite3")},
        "service": {"data_dir": str(tmp_path / "var")},
        "demo": {"port": _free_port(), "fresh_store": fresh},
    })


async def test_a_kept_store_resumes_the_storm_and_every_time_shown_is_storm_time(tmp_path):
    left_off = START + timedelta(hours=10)
    store = await _store_with_poll_at(tmp_path / "demo.sqlite3", left_off)
    await store.close()
    app = build_app(_demo_settings(tmp_path, fresh=False), demo=True)
    async with TestClient(TestServer(app)) as client:
        now = app[CLOCK_KEY]()
        assert left_off <= now < left_off + timedelta(minutes=30)  # resumed at 10:00, not 00:00
        assert app[CLOCK_KEY].speed == 60
        # One clock for everything that dates what residents see: store (as_of, SSE at), portal, shelter pages.
        assert app[STORE_KEY].clock is app[CLOCK_KEY] and app[SNAPSHOT_KEY].clock is app[CLOCK_KEY]
        assert app[SHELTER_PAGES_KEY].clock is app[CLOCK_KEY]
        body = await (await client.get("/api/v1/here", params={"lat": "36.5613", "lon": "136.6562"})).json()
        as_of = datetime.fromisoformat(body["as_of"])
        assert START <= as_of < START + SPAN  # storm time, never the wall clock
        assert abs(as_of - now) < timedelta(minutes=5)


def _demo_config(tmp_path) -> tuple[Path, int, int]:
    """config/default.toml on free ports, with its store and images under tmp_path."""
    web_port, sim_port = _free_port(), _free_port()
    text = (PROJECT_ROOT / "config" / "default.toml").read_text(encoding="utf-8")
    text = text.replace("127.0.0.1:8081", f"127.0.0.1:{sim_port}").replace("port = 8081", f"port = {sim_port}")
    text = text.replace("port = 8080", f"port = {web_port}").replace('"var/', f'"{tmp_path}/')
    path = tmp_path / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return path, web_port, sim_port


def _get_json(url: str, data: bytes | None = None) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as resp:
        return json.loads(resp.read())


def _wait_for(predicate, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = predicate()
            if found:
                return found
        except (OSError, ValueError):
            pass  # not listening yet, or mid-start
        if time.monotonic() > deadline:
            raise AssertionError("the demo did not get there in time")
        time.sleep(0.5)


@pytest.mark.long
def test_bosai_run_demo_twice_starts_the_storm_afresh_each_time(tmp_path):
    """The issue's reproduction: a restarted demo used to show the old store's 10:00 warnings at 00:11."""
    config, web_port, sim_port = _demo_config(tmp_path)
    here = f"http://127.0.0.1:{web_port}/api/v1/here?lat=36.5613&lon=136.6562"
    bosai = [sys.executable, "-m", "service.cli", "run", "--demo", "--config", str(config)]
    for run in (1, 2):
        proc = subprocess.Popen(bosai, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            first = _wait_for(lambda: _get_json(here))
            as_of = datetime.fromisoformat(first["as_of"])
            assert START <= as_of < START + timedelta(hours=1), (run, as_of)  # 00:xx of the storm, both times
            if run == 1:
                # Jump the storm to 10:00 and let the service record it, as a demo left running would.
                _get_json(f"http://127.0.0.1:{sim_port}/_sim/clock", json.dumps({"elapsed_h": 10}).encode())
                _wait_for(lambda: datetime.fromisoformat(_get_json(here)["as_of"]) >= START + timedelta(hours=10))
                _wait_for(lambda: _get_json(here)["level"] >= 3)
            else:
                assert first["level"] < 3 and not [e for e in first["events"] if e["level"] >= 3]
        finally:
            proc.send_signal(signal.SIGINT)
            output = proc.communicate(timeout=30)[0]
        assert proc.returncode == 0, output
        if run == 2:
            assert "demo starts on a fresh store" in output


async def test_a_fresh_store_starts_the_storm_at_its_beginning(tmp_path):
    app = build_app(_demo_settings(tmp_path, fresh=True), demo=True)
    async with TestClient(TestServer(app)):
        now = app[CLOCK_KEY]()
        assert START <= now < START + timedelta(minutes=30)
        assert (datetime.now(UTC) - now) > timedelta(days=1)  # the storm's July, not today
