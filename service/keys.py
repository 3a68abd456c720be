"""Typed application keys for every object the aiohttp app shares between handlers."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from geo.codes import AreaCodes
    from geo.region import Region
    from geo.store.base import Store
    from service.clock import ClockRef
    from service.current_events import CurrentEvents
    from service.pipeline import Pipeline
    from service.poller import SourcePoller
    from service.settings import Settings
    from service.shutdown import ShutdownBudget

STORE_KEY: web.AppKey[Store] = web.AppKey("store")
SETTINGS_KEY: web.AppKey[Settings] = web.AppKey("settings")
AREA_CODES_KEY: web.AppKey[AreaCodes] = web.AppKey("area_codes")
# The loaded region (boundaries, shelters, spatial indexes) from geo/region.py.
REGION_KEY: web.AppKey[Region] = web.AppKey("region")
# Set once the store is open; until then the API answers 503 and /healthz says degraded.
STORE_READY_KEY: web.AppKey[asyncio.Event] = web.AppKey("store_ready")
PIPELINE_KEY: web.AppKey[Pipeline] = web.AppKey("pipeline")
# The process's read model of the current events, following the change feed (service/current_events.py).
CURRENT_EVENTS_KEY: web.AppKey[CurrentEvents] = web.AppKey("current_events")
# source id -> SourcePoller, for the console and tests that trigger a poll now
POLLERS_KEY: web.AppKey[dict[str, SourcePoller]] = web.AppKey("pollers")
# The service's notion of "now": the wall clock, or the simulator's scenario clock in the demo.
CLOCK_KEY: web.AppKey[ClockRef] = web.AppKey("clock")
# The stop's one time budget, started when shutdown begins (service/shutdown.py).
SHUTDOWN_KEY: web.AppKey[ShutdownBudget] = web.AppKey("shutdown")
