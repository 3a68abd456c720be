"""aiohttp application keys of the simulator."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from simulator.server import Simulator

SIM: web.AppKey[Simulator] = web.AppKey("simulator")
NOW = web.RequestKey("sim_now", datetime)  # scenario time whose content a request gets
