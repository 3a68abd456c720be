"""Scenarios, clock, determinism and the command line of the simulator."""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from simulator import cli
from simulator import scenario as scenario_mod
from simulator.clock import ScenarioClock
from simulator.server import running_simulator

ROOT = Path(__file__).resolve().parents[1]
START = datetime.fromisoformat("2026-07-10T00:00:00+09:00")


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_clock_compresses_pauses_and_jumps():
    mono = FakeMonotonic()
    clock = ScenarioClock(START, speed=720, monotonic=mono)
    mono.t += 120  # two real minutes at x720 are the whole 24 h event
    assert clock.now() == START + timedelta(hours=24)
    clock.pause()
    mono.t += 50
    assert clock.now() == START + timedelta(hours=24)
    clock.resume()
    mono.t += 1
    assert clock.now() == START + timedelta(hours=24, minutes=12)
    clock.jump(START + timedelta(hours=3))
    assert clock.now() == START + timedelta(hours=3)
    clock.set_speed(60)
    mono.t += 60
    assert clock.now() == START + timedelta(hours=4)
    with pytest.raises(ValueError):
        clock.jump(datetime(2026, 7, 10))  # naive datetimes are refused


def test_shipped_scenarios_load():
    assert {"heavy-rain", "calm", "drill"} <= set(scenario_mod.available())
    for name in scenario_mod.available():
        sc = scenario_mod.load(name)
        assert sc.scenario.name == name
    assert scenario_mod.load("drill").scenario.status == "訓練"


async def _snapshot(base: str, http: aiohttp.ClientSession, paths: list[str]) -> list[bytes]:
    out = []
    for p in paths:
        async with http.get(base + p) as resp:
            out.append(await resp.read())
    return out


async def test_same_seed_same_bytes_other_seed_other_bytes():
    paths = ["/developer/xml/feed/extra.xml", "/swin/files/area_info/current/17000.json",
             "/kawabou/file/files/tmlist/swstg/20260710/1300/1700000124.json",
             "/kawabou/file/files/tmlist/stg/20260710/1300/0504200400002.json",
             "/cam/now/cctv_104353128.jpg", "/wzdx/v4.2/road-events.geojson"]
    results = {}
    async with aiohttp.ClientSession() as http:
        for run, seed in (("a", 1), ("b", 1), ("c", 2)):
            async with running_simulator("heavy-rain", speed=60, seed=seed, port=0) as sim:
                sim.clock.jump(START + timedelta(hours=13, minutes=4))
                sim.clock.pause()
                names = [m.name for m in sim.jma.published(sim.clock.now()) if m.data_type in ("VXWW50", "VPWW54")]
                docs = await _snapshot(sim.base_url, http, [f"/developer/xml/data/{n}" for n in names[-2:]])
                # the feed's links carry the host: compare without it
                results[run] = [b.replace(sim.base_url.encode(), b"") for b in await _snapshot(sim.base_url, http, paths)] + docs
    assert results["a"] == results["b"]
    assert results["a"][1] != results["c"][1], "another seed draws other gauge responses"


@pytest.mark.long
async def test_heavy_rain_runs_through_in_seconds_at_high_speed():
    """At x7200 the 24 h event takes 12 s; a client polling the feed sees the sediment warning come and go."""
    async with running_simulator("heavy-rain", speed=7200, seed=1, port=0) as sim:
        expected = {m.name for m in sim.jma.messages if m.data_type == "VXWW50"}
        seen: set[str] = set()
        async with aiohttp.ClientSession() as http:
            t0 = time.monotonic()
            while sim.clock.elapsed_s() < 24 * 3600 and time.monotonic() - t0 < 30:
                async with http.get(sim.base_url + "/developer/xml/feed/extra.xml") as resp:
                    body = await resp.read()
                seen |= {n for n in expected if n.encode() in body}
                await asyncio.sleep(0.01)
        assert time.monotonic() - t0 < 15
    assert len(seen) >= len(expected) - 2, f"saw {len(seen)} of {len(expected)} sediment messages"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _args(scenario: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(["--scenario", scenario, "--port", "0"])


GOOD_HEAD = '[scenario]\nname = "x"\ntitle = "t"\nstart = 2026-07-10T00:00:00+09:00\n'


def test_invalid_scenario_reports_file_line_and_key(tmp_path, capsys):
    path = _write(tmp_path, GOOD_HEAD + '\n[[rain]]\nregion = "kaga"\npeak_h = 1\npeak_mm_h = 500\nwidth_h = 1\n')
    assert cli.run(_args(str(path))) == 2
    err = capsys.readouterr().err
    assert f"{path}:9: rain[0].peak_mm_h:" in err and "less than or equal to 200" in err

    path = _write(tmp_path, GOOD_HEAD + "colour = 'red'\n")
    assert cli.run(_args(str(path))) == 2
    assert "scenario.colour: Extra inputs are not permitted" in capsys.readouterr().err

    path = _write(tmp_path, GOOD_HEAD + "duration_h = = 3\n")
    assert cli.run(_args(str(path))) == 2
    assert f"{path}:5:" in capsys.readouterr().err

    assert cli.run(_args("no-such-scenario")) == 2
    assert "no such scenario" in capsys.readouterr().err


def test_python_m_simulator_serves_until_sigterm():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0", "--scenario", "calm"],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline()
            assert "serving on http://127.0.0.1:" in line
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
