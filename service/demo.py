"""`bosai run --demo`: the upstream simulator in-process, and the service on its scenario clock.

The simulator's content carries scenario times (a July storm replayed at `speed`x), so the
service judges freshness, silence and expiry on the same clock: a demo source is "stale" for the
same reasons a real one would be.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from service.keys import CLOCK_KEY, SETTINGS_KEY

log = structlog.get_logger(__name__)


class DemoSettings(BaseModel):
    """The simulator `bosai run --demo` starts."""

    model_config = ConfigDict(extra="forbid")

    scenario: str = Field(default="heavy-rain", description="Scenario name or path of a scenario TOML file.")
    speed: float = Field(default=60, gt=0, description="Scenario seconds per real second.")
    seed: int = Field(default=1, description="Seed of every random draw in the scenario.")
    host: str = Field(default="127.0.0.1", description="Address the simulator listens on.")
    port: int = Field(default=8081, ge=1, le=65535, description="Port the demo sources point at.")


class ClockRef:
    """A clock whose source can be switched once at start-up (wall clock -> scenario clock)."""

    def __init__(self, source: Callable[[], datetime]) -> None:
        self.source = source

    def __call__(self) -> datetime:
        return self.source().astimezone(timezone.utc)


async def simulator_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the simulator for the app's lifetime and put the service on its clock."""
    from simulator.server import running_simulator

    demo: DemoSettings = app[SETTINGS_KEY].demo
    async with running_simulator(demo.scenario, demo.speed, demo.seed, demo.host, demo.port) as sim:
        app[CLOCK_KEY].source = sim.clock.now
        log.info("demo_simulator", url=sim.base_url, scenario=demo.scenario, speed=demo.speed)
        yield
