"""Upstream simulator: local HTTP servers speaking the real upstream formats, driven by scenarios.

In process: ``async with running_simulator(scenario="heavy-rain", speed=60, seed=1, port=0) as sim``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.server import Simulator, running_simulator

__all__ = ["Simulator", "running_simulator"]


def __getattr__(name: str):
    # Imported lazily so that `simulator.cli` and `simulator.scenario` stay light to import.
    if name in __all__:
        from simulator import server

        return getattr(server, name)
    raise AttributeError(name)
