"""The service can follow an external simulator's clock (so it can be killed while the simulator runs on)."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from service.keys import CLOCK_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.web.app import create_app
from simulator.server import running_simulator


async def test_the_service_runs_on_the_external_simulators_clock_and_follows_its_jumps(tmp_path, unused_tcp_port):
    async with running_simulator("heavy-rain", 720, 1, "127.0.0.1", unused_tcp_port) as sim:
        settings = load_settings(overrides={
            "store": {"url": str(tmp_path / "bosai.sqlite3")},
            "service": {"data_dir": str(tmp_path / "var"), "clock_url": sim.base_url, "clock_sync_s": 0.1},
        })
        app = create_app(settings)
        async with TestClient(TestServer(app)) as client:
            await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
            clock = client.app[CLOCK_KEY]
            assert clock.speed == 720
            assert abs(clock() - sim.clock.now()) < timedelta(seconds=720 * 0.2)  # within a fifth of a real second
            async with aiohttp.ClientSession() as http:
                await http.post(f"{sim.base_url}/_sim/clock", json={"elapsed_h": 15, "speed": 60})
            await asyncio.sleep(0.4)
            assert clock.speed == 60
            assert abs(clock() - (sim.clock.start + timedelta(hours=15))) < timedelta(minutes=2)
