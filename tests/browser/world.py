"""A service fed by the upstream simulator, stepped to a scenario hour through its own pollers.

The page then shows real collector output. The base map is off unless a test serves tiles itself
(`tile_url = ""`): the tests run offline with the municipality outline alone.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from geo.store.base import SourceState
from service.keys import CLOCK_KEY, POLLERS_KEY, STORE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.web.keys import SNAPSHOT_KEY
from simulator import scenario as scenario_mod
from simulator.cameras import CAMERAS
from simulator.server import running_simulator
from tests.service_client import build_app

STEP = timedelta(minutes=5)
PHONE = {"width": 390, "height": 844}
HEAVY_RAIN_MISSING_CAMERA = scenario_mod.load("heavy-rain").cameras.missing
DESKTOP = {"width": 1280, "height": 900}


def sources(base: str, image_dir: Path) -> dict:
    """Every upstream kind the portal shows, pointed at the simulator."""
    common = {"interval_s": 3600, "jitter_s": 0, "allow_private": True, "retries": 0, "timeout_s": 2}
    return {
        "jma_extra": {"type": "jma_feed", "url": f"{base}/developer/xml/feed/extra.xml", **common},
        "crisis_gauges": {
            "type": "river_gauge", "format": "area_info", "url": f"{base}/swin/files/area_info/current/17000.json", **common,
        },
        "road_closures": {"type": "road_closure", "format": "wzdx", "url": f"{base}/wzdx/v4.2/road-events.geojson",
                          "extra_urls": [f"{base}/wzdx/v4.2/road-restrictions.geojson"], **common},
        "river_cameras": {
            "type": "river_camera", "url": f"{base}/kawabou/file/files/master/obs/scam/",
            # all but the storm's missing camera, which would (rightly) leave the camera source failing
            "cameras": [c.id for c in CAMERAS if c.id != HEAVY_RAIN_MISSING_CAMERA], "image_dir": str(image_dir),
            **common,
        },
        "publiccommons": {"type": "publiccommons", "url": f"{base}/publiccommons/feed.atom", **common},
    }


@asynccontextmanager
async def running_world(
    tmp: Path, scenario: str, hours: float, tile_url: str = "", without: tuple[str, ...] = ()
) -> AsyncIterator[tuple]:
    """(simulator, app, base URL) with `scenario` stepped to `hours` and every source polled.

    `tile_url` is the base map (none by default: the outline alone, as offline); `without` leaves
    sources out.
    """
    async with running_simulator(scenario, speed=1, seed=1, port=0) as sim:
        sim.clock.pause()
        settings = load_settings(
            overrides={
                "store": {"url": str(tmp / "bosai.sqlite3")},
                "sources": {k: v for k, v in sources(sim.base_url, tmp / "cameras").items() if k not in without},
                "portal": {"tile_url": tile_url},
            }
        )
        app = build_app(settings)
        app[CLOCK_KEY].source = sim.clock.now
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
            pollers = app[POLLERS_KEY]
            end = sim.clock.now() + timedelta(hours=hours)
            while sim.clock.now() < end:
                await pollers["jma_extra"].run_once()
                if "publiccommons" in pollers:
                    await pollers["publiccommons"].run_once()
                sim.clock.jump(sim.clock.now() + STEP)
            for source_id in pollers:
                status = await pollers[source_id].run_once()
                assert status.state == SourceState.OK, (source_id, status.last_error)
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            await served_events_match_store(base, app)
            yield sim, app, base
        finally:
            await runner.cleanup()


async def served_events_match_store(base: str, app: web.Application) -> None:
    """Once the snapshot includes the store's newest change, /api/v1/events serves what the store holds."""
    head = await app[STORE_KEY].feed_head()
    await app[SNAPSHOT_KEY].wait_built(head.seq if head is not None else 0)
    expected = {e.id for e in await app[STORE_KEY].query()}
    async with aiohttp.ClientSession() as session, session.get(f"{base}/api/v1/events") as resp:
        served = {f["id"] for f in (await resp.json(content_type=None))["features"]}
    assert served == expected, f"events served {len(served)}, stored {len(expected)}"
