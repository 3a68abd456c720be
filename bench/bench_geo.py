"""Geo lookups in bulk against a plain per-point Python loop over the same data, in the same run.

    python bench/bench_geo.py [--points N] [--runs N] [--seed N]

Workload: N (default 100,000) random points inside Ishikawa's municipalities (seeded).
- municipality lookup: the grid index (`Boundaries.lookup`), the exact vectorised method
  (`lookup_exact`, every polygon in order) and one STRtree predicate query, against a Python loop
  asking each prepared polygon `intersects(Point)` per point. Goal >= 1,000,000 points/s.
- nearest shelter suitable for floods (洪水 flag), projection included (`Shelters.nearest`),
  against a Python loop projecting each point and scanning the suitable shelters. Goal >= 200,000
  points/s.
Loops are timed on a subsample and extrapolated; every fast answer is checked against the loop's
on that subsample (and the grid against the exact method on all points) before timing counts.
Ratio = loop time / method time for the same number of points.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.hazards import Hazard
from geo.region import Region


def random_points(region: Region, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n uniform random points on land (inside some municipality), seeded."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = region.boundaries.bounds
    land = shapely.union_all(region.boundaries.polygons)
    shapely.prepare(land)
    xs, ys = [], []
    while sum(map(len, xs)) < n:
        x = rng.uniform(minx, maxx, n)
        y = rng.uniform(miny, maxy, n)
        keep = shapely.contains_xy(land, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def best_of(runs: int, fn) -> float:
    """Shortest wall time of `runs` calls (seconds)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def loop_municipality(polygons, x, y) -> list[int]:
    """Reference: per point, the first prepared polygon that intersects it."""
    out = []
    for px, py in zip(x.tolist(), y.tolist()):
        p = shapely.Point(px, py)
        out.append(next((i for i, poly in enumerate(polygons) if poly.intersects(p)), -1))
    return out


def loop_nearest(region: Region, mask: np.ndarray, x, y) -> list[int]:
    """Reference: per point, project it and scan the suitable shelters for the smallest distance."""
    members = np.flatnonzero(mask).tolist()
    sx, sy = region.shelters.x.tolist(), region.shelters.y.tolist()
    out = []
    for lon, lat in zip(x.tolist(), y.tolist()):
        px, py = region.metric.to_xy(np.array([lon]), np.array([lat]))
        px, py = float(px[0]), float(py[0])
        best, best_d = -1, float("inf")
        for i in members:
            d = (sx[i] - px) ** 2 + (sy[i] - py) ** 2
            if d < best_d:
                best, best_d = i, d
        out.append(best)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20260701)
    parser.add_argument("--loop-sample", type=int, default=5_000, help="points timed in the Python loops")
    args = parser.parse_args()

    region = Region.default()
    bounds, shelters = region.boundaries, region.shelters
    x, y = random_points(region, args.points, args.seed)
    n = len(x)
    sub = slice(0, min(args.loop_sample, n))
    rows: list[tuple[str, str, float, float | None]] = []  # (task, method, points/s, ratio)

    # -- municipality ---------------------------------------------------------------------------
    grid = bounds.lookup(x, y)
    if not (grid == bounds.lookup_exact(x, y)).all():
        raise SystemExit("grid lookup disagrees with the exact method")
    polygons = list(bounds.polygons)
    t0 = time.perf_counter()
    reference = loop_municipality(polygons, x[sub], y[sub])
    loop_s = (time.perf_counter() - t0) * n / len(reference)
    if reference != grid[sub].tolist():
        raise SystemExit("grid lookup disagrees with the per-point loop")
    tree = shapely.STRtree(bounds.polygons)
    points = shapely.points(x, y)
    methods = {
        "grid index (Boundaries.lookup)": lambda: bounds.lookup(x, y),
        "exact, polygon by polygon": lambda: bounds.lookup_exact(x, y),
        "STRtree.query intersects": lambda: tree.query(points, predicate="intersects"),
    }
    rows.append(("municipality", f"Python loop ({len(reference):,} pts, extrapolated)", n / loop_s, 1.0))
    for name, fn in methods.items():
        seconds = best_of(args.runs, fn)
        rows.append(("municipality", name, n / seconds, loop_s / seconds))

    # -- nearest suitable shelter ---------------------------------------------------------------
    mask = shelters.suitable([Hazard.FLOOD])
    index, _ = shelters.nearest(x, y, mask)
    t0 = time.perf_counter()
    reference = loop_nearest(region, mask, x[sub], y[sub])
    loop_s = (time.perf_counter() - t0) * n / len(reference)
    if reference != index[sub].tolist():
        raise SystemExit("vectorised nearest disagrees with the per-point loop")
    rows.append(("nearest flood shelter", f"Python loop ({len(reference):,} pts, extrapolated)", n / loop_s, 1.0))
    seconds = best_of(args.runs, lambda: shelters.nearest(x, y, mask))
    rows.append(("nearest flood shelter", "Shelters.nearest (AEQD + STRtree)", n / seconds, loop_s / seconds))

    print(f"{n:,} random points in {region.codes.prefecture_name}; {int(mask.sum()):,} of "
          f"{len(shelters):,} shelters suitable for floods; grid cells needing exact tests: "
          f"{bounds.grid_exact_share:.1%}; best of {args.runs} runs")
    print(f"{'task':<24}{'method':<46}{'points/s':>14}{'x loop':>10}")
    for task, method, rate, ratio in rows:
        print(f"{task:<24}{method:<46}{rate:>14,.0f}{ratio:>10.1f}")
    grid_rate = rows[1][2]
    nearest_rate = rows[-1][2]
    print(f"goal municipality >= 1,000,000/s: {'met' if grid_rate >= 1e6 else 'NOT met'} ({grid_rate:,.0f}/s)")
    print(f"goal nearest shelter >= 200,000/s: {'met' if nearest_rate >= 2e5 else 'NOT met'} ({nearest_rate:,.0f}/s)")


if __name__ == "__main__":
    main()
