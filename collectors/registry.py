"""Collector kinds by their config `type` tag: module path, config class and collector class."""
from __future__ import annotations

import importlib
from functools import cache

from collectors.base import SourceConfig

# type tag -> module holding `Config` and the collector class named in the tuple
COLLECTOR_MODULES: dict[str, tuple[str, str]] = {
    "jma_feed": ("collectors.jma_feed", "JmaFeedCollector"),
    "river_gauge": ("collectors.river_gauge", "RiverGaugeCollector"),
    "river_camera": ("collectors.river_camera", "RiverCameraCollector"),
    "road_closure": ("collectors.road_closure", "RoadClosureCollector"),
    "publiccommons": ("collectors.publiccommons", "PublicCommonsCollector"),
}

# Types whose events can set or lift a 警戒レベル somewhere (orders, warnings, gauges, rain closures).
# A camera never does: a missing picture makes its own source failing, not a resident's level unknown.
LEVEL_SOURCE_TYPES = frozenset({"jma_feed", "river_gauge", "road_closure", "publiccommons"})


def level_sources(sources: dict[str, SourceConfig]) -> frozenset[str]:
    """Ids of the configured sources a level answer depends on (see LEVEL_SOURCE_TYPES)."""
    return frozenset(source_id for source_id, config in sources.items() if config.type in LEVEL_SOURCE_TYPES)


@cache
def config_classes() -> dict[str, type[SourceConfig]]:
    """Config model per type tag, for every collector module present."""
    found: dict[str, type[SourceConfig]] = {}
    for tag, (module_name, _) in COLLECTOR_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found[tag] = module.Config
    return found


def collector_class(tag: str) -> type:
    """The collector class for a type tag."""
    module_name, class_name = COLLECTOR_MODULES[tag]
    return getattr(importlib.import_module(module_name), class_name)
