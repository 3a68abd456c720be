"""JSON payload readers for `bosai replay`: each collector module's mapping function, without HTTP.

A recorded JSON payload says nothing of its source, so every reader is tried in turn; the first
that accepts the payload wins, and if none does, every reader's reason is reported.
"""
from __future__ import annotations

from collectors.base import Snapshot
from geo.codes import AreaCodes
from geo.model import utcnow

PLACEHOLDER_URL = "http://replay.invalid/"
SOURCE_ID = "replay"


def read_crisis_gauges(data: bytes, name: str, codes: AreaCodes, all_areas: bool) -> Snapshot:
    """危機管理型水位計 area_info JSON."""
    from collectors.river_gauge import Config, area_info_snapshot

    config = Config(url=PLACEHOLDER_URL, format="area_info", prefecture_only=not all_areas)
    return area_info_snapshot(data, config, codes, SOURCE_ID, utcnow())


def _roads(fmt: str):
    def read(data: bytes, name: str, codes: AreaCodes, all_areas: bool) -> Snapshot:
        from collectors.road_closure import Config, road_snapshot

        config = Config(url=PLACEHOLDER_URL, format=fmt, in_force_only=False)
        snapshot = road_snapshot([data], config, SOURCE_ID, utcnow())
        snapshot.complete = False  # one recorded file need not list everything in force
        return snapshot

    read.__doc__ = f"Road restrictions ({fmt})."
    return read


JSON_READERS = (read_crisis_gauges, _roads("wzdx"), _roads("mlit"))
