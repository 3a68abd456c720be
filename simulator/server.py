"""The simulator: scenario state, the aiohttp app that serves it, and an in-process runner."""
from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from aiohttp import web

from geo.codes import AreaCodes
from simulator import cameras, control, faults, routes
from simulator import scenario as scenario_mod
from simulator.clock import ScenarioClock
from simulator.hydrology import Hydrology
from simulator.jma_feed import JmaArchive
from simulator.keys import NOW, SIM
from simulator.publiccommons import CommonsArchive
from simulator.roads import RoadPlan

SERVED_LOG_SIZE = 10_000


class Simulator:
    """Everything one scenario run serves, as a function of its clock and seed."""

    def __init__(self, scenario: str = "heavy-rain", speed: float = 60.0, seed: int = 1) -> None:
        self.scenario = scenario_mod.load(scenario)
        self.seed = seed
        meta = self.scenario.scenario
        self.clock = ScenarioClock(meta.start, speed)
        self.hydro = Hydrology(self.scenario, seed)
        self.codes = AreaCodes.load()
        self.jma = JmaArchive(self.scenario, self.hydro, seed, self.codes)
        self.roads = RoadPlan(self.scenario, self.hydro, seed)
        self.commons = CommonsArchive(self.scenario, seed, self.codes)
        self.stations = {s.code: s for s in self.hydro.crisis}
        self.camera_station = {c.id: cameras.nearest_station(c, self.hydro.crisis) for c in cameras.CAMERAS}
        self.camera_freeze_at = meta.start + timedelta(hours=self.scenario.cameras.frozen_from_h)
        self.camera_stuck_at = meta.start + timedelta(hours=self.scenario.cameras.stuck_from_h)
        self.faults = faults.FaultTable()
        for f in self.scenario.fault:
            self.faults.schedule(f, meta.start + timedelta(hours=f.from_h), f.from_h * 3600, f.until_h * 3600)
        self.served: deque[dict] = deque(maxlen=SERVED_LOG_SIZE)
        self._seq = itertools.count(1)
        self.base_url = ""

    def set_fault(self, path: str, mode: str, **knobs) -> faults.ActiveFault:
        """Set a run-time fault on the paths matching `path` (fnmatch pattern)."""
        return self.faults.set(faults.FaultSpec(path=path, mode=mode, **knobs), self.clock.now())

    def clear_faults(self, fault_id: int | None = None) -> int:
        """Clear one run-time fault, or all."""
        return self.faults.clear(fault_id)

    def status(self) -> dict:
        """JSON-ready summary."""
        meta = self.scenario.scenario
        return {
            "scenario": meta.name, "title": meta.title, "seed": self.seed, "status": meta.status,
            "duration_h": meta.duration_h, "clock": self.clock.state(), "base_url": self.base_url,
            "jma_messages": len(self.jma.messages),
        }

    def record(self, entry: dict) -> None:
        """Append to the served log."""
        entry["seq"] = next(self._seq)
        self.served.append(entry)


def _size(resp: web.StreamResponse) -> int:
    body = getattr(resp, "body", None)
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    return resp.body_length


@web.middleware
async def upstream_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Apply faults, fix the request's content time, and log what was served."""
    if request.path.startswith("/_sim/"):
        return await handler(request)
    sim = request.app[SIM]
    fault = sim.faults.match(request.path, sim.clock.elapsed_s())
    now = sim.clock.now()
    request[NOW] = fault.frozen_at if fault is not None and fault.spec.mode == "stale" else now
    entry = {"path": request.path, "method": request.method, "status": 0, "bytes": 0,
             "time": time.time(), "scenario_time": now.isoformat(), "fault": fault.spec.mode if fault else None}
    try:
        resp = await (faults.apply(fault, request, handler) if fault else handler(request))
    except web.HTTPException as exc:
        entry["status"] = exc.status
        raise
    except (asyncio.CancelledError, ConnectionError):
        raise
    finally:
        sim.record(entry)
    entry["status"], entry["bytes"] = resp.status, _size(resp)
    return resp


def make_app(sim: Simulator) -> web.Application:
    """The aiohttp application serving one simulator."""
    app = web.Application(middlewares=[upstream_middleware])
    app[SIM] = sim
    app.add_routes(control.routes)
    app.add_routes(routes.routes)
    return app


@asynccontextmanager
async def running_simulator(
    scenario: str = "heavy-rain", speed: float = 60.0, seed: int = 1,
    host: str = "127.0.0.1", port: int = 0,
) -> AsyncIterator[Simulator]:
    """Serve a simulator in this event loop; port 0 picks a free port (see sim.base_url)."""
    sim = Simulator(scenario, speed, seed)
    runner = web.AppRunner(make_app(sim), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    sim.base_url = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}"
    try:
        yield sim
    finally:
        await runner.cleanup()
