"""One gauge poll cycle's parse + normalise over 1,000 stations, against a bare json.loads of the same bytes.

The area_info payload is synthesised from the 88 real Ishikawa crisis gauges (stations CSV),
each copied under new codes with its real thresholds and a reading between start and flooding.
Run: .venv/bin/python bench/bench_gauges.py
"""
from __future__ import annotations

import csv
import json
import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collectors.gauge_formats import JST  # noqa: E402
from collectors.river_gauge import Config, GaugeBook  # noqa: E402
from geo.codes import AreaCodes  # noqa: E402

# The recorded reference data is in the repository (BOSAI_SHARED_DATA may point at a fuller copy).
SHARED = Path(os.environ.get("BOSAI_SHARED_DATA", Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"))

STATIONS_CSV = SHARED / "river_water_level/ishikawa_kiki_gauges_stations.csv"
N_GAUGES = 1000
ROUNDS = 30
NOW = datetime(2026, 8, 23, 8, 10, tzinfo=JST)


def synthesise(minute: int) -> bytes:
    """An area_info document with N_GAUGES stations, readings at NOW - 10 min + `minute`."""
    with open(STATIONS_CSV, encoding="utf-8") as fh:
        real = list(csv.DictReader(fh))
    obss = []
    for i in range(N_GAUGES):
        s = real[i % len(real)]
        start, flad = float(s["startLevel"]), float(s["fladLevel"])
        level = round(start + (flad - start) * ((i * 37 + minute) % 100) / 100, 2)
        obss.append({
            "code": f"{s['code'][:2]}{i:08d}", "name": s["name"], "kana": s["kana"],
            "obsTime": (NOW - timedelta(minutes=10 - minute)).isoformat(), "point": 40, "level": level,
            "townCode": s["townCode"], "prefCode": s["prefCode"], "over": 1,
            "startLevel": start, "warnLevel": float(s["warnLevel"]) if s["warnLevel"] else None,
            "fladLevel": flad, "qt": None, "lat": float(s["latitude"]), "lon": float(s["longitude"]),
        })
    return json.dumps({"obss": obss}, ensure_ascii=False).encode()


def best_of(fn, rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main() -> None:
    codes = AreaCodes.load()
    cfg = Config(url="https://k.river.go.jp/swin/files/area_info/current/17000.json", format="area_info")
    bodies = [synthesise(m) for m in range(ROUNDS + 1)]
    book = GaugeBook("bench", cfg, codes)  # the mapping without HTTP
    book.area_info(bodies[0], NOW)  # warm: later cycles carry history and trends
    rounds = iter(bodies[1:])

    def cycle() -> None:
        snap = book.area_info(next(rounds), NOW)
        assert len(snap.events) == N_GAUGES

    cycle_min, cycle_med = best_of(cycle)
    loads_min, loads_med = best_of(lambda: json.loads(bodies[0]))
    size_kb = len(bodies[0]) / 1024
    print(f"gauges: {N_GAUGES}, payload {size_kb:.0f} KiB, {ROUNDS} cycles")
    print(f"parse+normalise per cycle: min {cycle_min * 1000:.1f} ms, median {cycle_med * 1000:.1f} ms")
    print(f"bare json.loads:           min {loads_min * 1000:.2f} ms, median {loads_med * 1000:.2f} ms")
    print(f"ratio (cycle / json.loads, median): {cycle_med / loads_med:.1f}x")
    print(f"share of the 200 ms cycle budget (median): {cycle_med / 0.2:.0%}")
    full_cycle(codes, cfg, bodies)


def full_cycle(codes: AreaCodes, cfg: Config, bodies: list[bytes]) -> None:
    """The whole poll cycle the service runs: parse + normalise + diff + apply, on a SQLite file."""
    import asyncio
    import logging
    import tempfile

    from geo.region import Region
    from geo.store import open_store
    from service.logging import configure
    from service.pipeline import Pipeline

    configure(level=logging.WARNING)  # one info line per apply would be timed too
    geo = Region.default()

    async def run() -> list[float]:
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(str(Path(tmp) / "bench.sqlite3"))
            await store.open()
            pipeline = Pipeline(store, codes, enrich=geo.enricher())
            book = GaugeBook("bench", cfg, codes)
            await pipeline.ingest(book.area_info(bodies[0], NOW))
            times = []
            for body in bodies[1:]:
                t = time.perf_counter()
                entries = await pipeline.ingest(book.area_info(body, NOW))
                times.append(time.perf_counter() - t)
                assert len(entries) == N_GAUGES
            await store.close()
            return times

    times = asyncio.run(run())
    med = statistics.median(times)
    print(f"full cycle parse+diff+apply (SQLite, {N_GAUGES} changed gauges): min {min(times) * 1000:.1f} ms, "
          f"median {med * 1000:.1f} ms  (goal < 200 ms: {'met' if med < 0.2 else 'NOT met'})")


if __name__ == "__main__":
    main()
