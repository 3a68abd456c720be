"""Poll timing: JMA feeds are polled at a fixed second of each minute."""
from __future__ import annotations

from datetime import datetime, timezone

from service.scheduler import first_run


def at(h: int, m: int, s: float) -> datetime:
    return datetime(2026, 7, 10, h, m, int(s), int((s % 1) * 1e6), tzinfo=timezone.utc)


def test_first_run_lands_on_the_offset_of_the_next_interval():
    assert first_run(60, 20, at(3, 0, 5)) == at(3, 0, 20)
    assert first_run(60, 20, at(3, 0, 25)) == at(3, 1, 20)
    assert first_run(60, 20, at(3, 0, 20)) == at(3, 1, 20)  # exactly on it: the next one, never twice
    assert first_run(300, 40, at(3, 2, 0)) == at(3, 5, 40)


def test_offset_sources_keep_their_second_others_are_jittered():
    from collectors.base import SourceConfig
    from service.scheduler import trigger_for

    now = at(3, 0, 5)
    jma = SourceConfig(type="jma_feed", url="http://127.0.0.1/", interval_s=60, offset_s=20, jitter_s=2)
    trigger = trigger_for(jma, now)
    fire = trigger.get_next_fire_time(None, now)
    assert fire == at(3, 0, 20)
    for _ in range(1, 200):  # hundreds of polls later, still on second 20
        fire = trigger.get_next_fire_time(fire, fire)
    assert (fire.second, fire.microsecond) == (20, 0)
    gauges = SourceConfig(type="river_gauge", url="http://127.0.0.1/", interval_s=10, jitter_s=1)
    assert trigger_for(gauges, now).jitter == 1
