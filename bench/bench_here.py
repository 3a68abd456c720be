"""/api/v1/here ("near me") under a crowd with wrk, against a reference measured in the same run.

    python bench/bench_here.py [--features 2400] [--duration 5] [--connections 64] [--repeat 3]

Residents press "near me" from wherever they stand: every request asks for a different point, so
no answer is shared and the app computes each one (the level in force, the nearest gauges, road
closures, the hazard-aware shelters). The service runs in its own process on the heavy-rain store
of bench_api.py (N features: gauges at raised levels, sediment warnings, road closures, shelters,
cameras); wrk asks for points near Ishikawa's shelters (jittered by up to ~500 m), a different one
per request, from a Lua script.

Reference, same run, same machine: a trivial aiohttp handler returning an answer of the same size
from memory. The figures: requests/s and p99 at --connections; the app's CPU milliseconds per
answer (requests/s against one busy core); and how many times the reference's cost it is.
Needs wrk (Debian package).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import free_port, median_of, serve_reference, start_child, stop  # noqa: E402

HERE = "/api/v1/here"


def points(n: int, seed: int = 7) -> list[tuple[float, float]]:
    """N points where residents are: near the region's shelters, jittered by up to ~500 m."""
    from geo.region import Region

    shelters = Region.default().shelters.items
    rng = random.Random(seed)
    return [(s.lat + rng.uniform(-0.0045, 0.0045), s.lon + rng.uniform(-0.0055, 0.0055))
            for s in (rng.choice(shelters) for _ in range(n))]


def lua_script(path: Path, coords: list[tuple[float, float]]) -> Path:
    """A wrk script asking for a different point with every request."""
    rows = ",\n".join(f'  "{HERE}?lat={lat:.6f}&lon={lon:.6f}"' for lat, lon in coords)
    path.write_text(f"""
paths = {{
{rows}
}}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
""")
    return path


async def reference(args) -> None:
    """Child: an answer of the same size from memory, for any query."""
    from aiohttp import web

    body = Path(args.file).read_bytes()

    async def handler(request):
        return web.Response(body=body, content_type="application/json")

    await serve_reference(HERE, handler, args.port, Path(args.ready))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_reference"])
    parser.add_argument("--features", type=int, default=2400)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int)
    parser.add_argument("--file")
    parser.add_argument("--ready", help="file a child creates once it serves")
    args = parser.parse_args()
    if args.mode == "_reference":
        asyncio.run(reference(args))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="bench-here-"))
    procs = []
    try:
        app_port, ref_port = free_port(), free_port()
        started = time.monotonic()
        procs.append(start_child("_serve", workdir, "--dir", str(workdir), "--port", str(app_port),
                                 "--features", str(args.features)))
        print(f"heavy-rain store of {args.features} features seeded in {time.monotonic() - started:.1f} s")
        coords = points(2000)
        sizes = []
        for lat, lon in coords[:20]:
            with urllib.request.urlopen(f"http://127.0.0.1:{app_port}{HERE}?lat={lat:.6f}&lon={lon:.6f}",
                                        timeout=30) as resp:
                sizes.append(len(resp.read()))
        answer = workdir / "answer.json"
        answer.write_bytes(b'{"pad":"' + b"x" * (sorted(sizes)[len(sizes) // 2] - 10) + b'"}')
        procs.append(start_child("_reference", workdir, "--file", str(answer), "--port", str(ref_port), program=__file__))
        script = lua_script(workdir / "points.lua", coords)

        d, c, n = args.duration, args.connections, args.repeat
        results = {}
        for name, port in (("reference", ref_port), ("app", app_port)):
            results[name] = median_of(n, f"http://127.0.0.1:{port}/", d, c, script=script)
        print(f"\n/api/v1/here, a different point per request ({len(coords)} points near shelters), "
              f"answer ~{answer.stat().st_size / 1e3:.1f} kB")
        print(f"wrk -t2 -c{c} -d{d}s --latency, median of {n} runs:   requests/s   p99 ms   ms per answer")
        for name, r in results.items():
            print(f"  {name:10}                              {r['rps']:>10.0f} {r['p99_ms']:>8.1f} {1e3 / r['rps']:>10.2f}")
        print(f"  app cost / reference cost: {results['reference']['rps'] / results['app']['rps']:.1f}x "
              "(ms per answer while one process is busy; wrk shares the machine's cores)")
        bad = {k: (r["errors"], r["socket"]) for k, r in results.items() if r["errors"] or r["socket"]}
        if bad:
            print("errors seen:", bad)
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
