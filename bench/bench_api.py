"""/api/v1/events under load with wrk, against references measured in the same run.

    python bench/bench_api.py [--features 2400] [--duration 6] [--connections 64]

A heavy-rain store of N features (gauges at raised levels, sediment warnings, road closures,
shelters, cameras) is built in a temporary SQLite file; the service runs in its own process
(one aiohttp worker, access log off) and serves /api/v1/events from its in-memory snapshot. While
the ingest phase runs, that process ingests changes (40 gauge levels every 0.5 s), so snapshots
are rebuilt under load. References, on the same bytes:
  trivial   an aiohttp handler returning the snapshot's bytes from memory
  nginx     nginx (1 worker) serving the snapshot file written by the service
  nginx+app nginx with config/nginx.conf in front of the service (static path: the file, no Python)
Ratios: app / trivial (goal >= 0.9), app / nginx (goal >= 0.25), nginx+app / nginx (goal 1.0).
Latency: p99 at 256 connections against the app while it ingests (goal < 50 ms).
Throughput ratios are measured with ingest paused, then the same runs and the p99 with it on.
Loopback only; each run lasts --duration seconds. Needs wrk and nginx (Debian packages).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MUNICIPALITIES = ["17201", "17202", "17203", "17204", "17205", "17206", "17207", "17209", "17210", "17211",
                  "17212", "17324", "17344", "17361", "17365", "17384", "17386", "17407", "17461", "17463"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def heavy_rain_events(n: int, rng: random.Random, version_salt: int = 0):
    """N events shaped like a heavy-rain day in Ishikawa (points, lines and warnings)."""
    from geo.model import Event, Kind, Severity, SourceRef

    events = []
    for i in range(n):
        code = MUNICIPALITIES[i % len(MUNICIPALITIES)]
        lon, lat = 136.25 + rng.random() * 0.9, 36.1 + rng.random() * 1.3
        point = {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}
        kind_roll = i % 20
        if kind_roll < 12:
            level = rng.choice([0, 0, 1, 2, 3, 4])
            events.append(Event(id=f"gauge:{1700000000 + i}", kind=Kind.GAUGE, level=level, areas=(code,),
                                geometry=point, title=f"観測所{i} 水位", source=SourceRef(source_id="bench"),
                                properties={"level_m": round(rng.random() * 5, 2), "trend_m_10min": 0.05,
                                            "thresholds": {"L2": 2.0, "L3": 2.8, "L4": 3.5}}))
        elif kind_roll < 15:
            line = {"type": "LineString", "coordinates": [[round(lon, 6), round(lat, 6)],
                                                          [round(lon + 0.01, 6), round(lat + 0.01, 6)]]}
            events.append(Event(id=f"road_closure:{i}", kind=Kind.ROAD_CLOSURE, level=3, areas=(code,),
                                geometry=line, title=f"国道{i % 400} 通行止め", text="大雨のため全面通行止め",
                                source=SourceRef(source_id="bench"), properties={"route": f"R{i % 400}"}))
        elif kind_roll < 18:
            events.append(Event(id=f"shelter:{i}", kind=Kind.SHELTER, areas=(code,), geometry=point,
                                title=f"避難所{i}", source=SourceRef(source_id="bench"),
                                properties={"open": True, "capacity": 200}))
        elif kind_roll < 19:
            events.append(Event(id=f"camera:{i}", kind=Kind.CAMERA, areas=(code,), geometry=point,
                                title=f"カメラ{i}", source=SourceRef(source_id="bench")))
        else:
            events.append(Event(id=f"sediment_warning:{code}-{i}", kind=Kind.SEDIMENT_WARNING, level=4,
                                severity=Severity.SEVERE, areas=(code,), title="土砂災害警戒情報",
                                text="土砂災害の危険度が非常に高まっています。", source=SourceRef(source_id="bench")))
    return events


# -- child processes ---------------------------------------------------------------------------


async def serve(args) -> None:
    """Child: seed the store, run the service with access log off, ingest changes until killed."""
    from aiohttp import web

    from collectors.base import Snapshot
    from publishers.portal_snapshot import SNAPSHOT_KEY
    from service.app import create_app
    from service.keys import PIPELINE_KEY, STORE_READY_KEY
    from service.settings import load_settings

    settings = load_settings(overrides={"store": {"url": str(Path(args.dir) / "bench.sqlite3")},
                                        "service": {"data_dir": args.dir}})
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024).start()
    await app[STORE_READY_KEY].wait()
    rng = random.Random(7)
    events = heavy_rain_events(args.features, rng)
    entries = await app[PIPELINE_KEY].ingest(Snapshot("bench", events))
    await app[SNAPSHOT_KEY].wait_built(entries[-1].seq, timeout_s=120)
    Path(args.ready).touch()
    gauges = [e for e in events if e.kind.value == "gauge"]
    while True:
        await asyncio.sleep(0.5)
        if (Path(args.dir) / "ingest.on").exists():
            changed = [g.model_copy(update={"level": rng.randint(0, 5)}) for g in rng.sample(gauges, 40)]
            await app[PIPELINE_KEY].ingest(Snapshot("bench", changed))


async def trivial(args) -> None:
    """Child: the reference handler, the same bytes from memory."""
    from aiohttp import web

    body = Path(args.file).read_bytes()

    async def handler(request):
        return web.Response(body=body, content_type="application/geo+json")

    app = web.Application()
    app.router.add_get("/api/v1/events", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024).start()
    Path(args.ready).touch()
    await asyncio.Event().wait()


# -- the parent ---------------------------------------------------------------------------------


def start_child(mode: str, workdir: Path, *extra: str) -> subprocess.Popen:
    ready = workdir / f"{mode}.ready"
    log = open(workdir / f"{mode}.log", "wb")
    proc = subprocess.Popen([sys.executable, __file__, mode, "--ready", str(ready), *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{mode} did not start:\n{(workdir / f'{mode}.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def nginx_conf(workdir: Path, static: Path, file_port: int, front_port: int, app_port: int) -> Path:
    site = (ROOT / "config" / "nginx.conf").read_text()
    site = site.replace("server app:8080;", f"server 127.0.0.1:{app_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{front_port};").replace("/srv/static", str(static))
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{file_port};
        location / {{ root {static}; default_type application/geo+json; }}
    }}
{site}
}}
""")
    return conf


def wrk(url: str, duration: int, connections: int, threads: int = 2, headers: tuple[str, ...] = ()) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    for header in headers:
        cmd += ["-H", header]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale,
            "errors": (int(errors.group(1)) if errors else 0), "socket": socket_errors.group(1) if socket_errors else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_serve", "_trivial"])
    parser.add_argument("--features", type=int, default=2400)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--dir")
    parser.add_argument("--port", type=int)
    parser.add_argument("--file")
    parser.add_argument("--ready", help="file a child creates once it serves")
    args = parser.parse_args()
    if args.mode == "_serve":
        asyncio.run(serve(args))
        return
    if args.mode == "_trivial":
        asyncio.run(trivial(args))
        return
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install {tool})")

    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    workdir.chmod(0o755)  # nginx workers run as an unprivileged user and must reach the static files
    procs: list[subprocess.Popen] = []
    try:
        app_port, trivial_port, file_port, front_port = (free_port() for _ in range(4))
        started = time.monotonic()
        procs.append(start_child("_serve", workdir, "--dir", str(workdir), "--port", str(app_port),
                                 "--features", str(args.features)))
        static = workdir / "static"
        snapshot_file = static / "api" / "v1" / "events.geojson"
        body = urllib.request.urlopen(f"http://127.0.0.1:{app_port}/api/v1/events").read()
        features = body.count(b'"type":"Feature"')
        print(f"heavy-rain snapshot: {features} features, {len(body) / 1e6:.2f} MB identity, "
              f"{len((static / 'api/v1/events.geojson.gz').read_bytes()) / 1e3:.0f} kB gzip, "
              f"{len((static / 'api/v1/events.geojson.br').read_bytes()) / 1e3:.0f} kB br "
              f"(store seeded and snapshot built in {time.monotonic() - started:.1f} s)")
        reference = workdir / "reference.geojson"
        reference.write_bytes(snapshot_file.read_bytes())
        procs.append(start_child("_trivial", workdir, "--file", str(reference), "--port", str(trivial_port)))
        conf = nginx_conf(workdir, static, file_port, front_port, app_port)
        nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(workdir)], stderr=subprocess.PIPE)
        procs.append(nginx)
        time.sleep(0.5)
        if nginx.poll() is not None:
            raise SystemExit(f"nginx did not start: {nginx.stderr.read().decode()}")

        d, c = args.duration, args.connections
        rows = []
        for label, coding in (("identity", ()), ("gzip", ("Accept-Encoding: gzip",))):
            ref = wrk(f"http://127.0.0.1:{trivial_port}/api/v1/events", d, c) if not coding else None
            app = wrk(f"http://127.0.0.1:{app_port}/api/v1/events", d, c, headers=coding)
            static_file = "/api/v1/events.geojson"
            ngx = wrk(f"http://127.0.0.1:{file_port}{static_file}", d, c, headers=coding) if not coding else None
            front = wrk(f"http://127.0.0.1:{front_port}/api/v1/events", d, c, headers=coding)
            rows.append((label, ref, app, ngx, front))
        (workdir / "ingest.on").touch()  # from here on the service ingests while it serves
        ingest_rows = [wrk(f"http://127.0.0.1:{app_port}/api/v1/events", d, c),
                       wrk(f"http://127.0.0.1:{app_port}/api/v1/events", d, c, headers=("Accept-Encoding: gzip",))]
        p99 = wrk(f"http://127.0.0.1:{app_port}/api/v1/events", d, 256, headers=("Accept-Encoding: gzip",))
        p99_id = wrk(f"http://127.0.0.1:{app_port}/api/v1/events", d, 256)

        print(f"\nwrk -t2 -c{c} -d{d}s, requests/s (p99 ms); no ingest during these runs")
        print(f"{'encoding':10} {'trivial aiohttp':>18} {'app':>18} {'nginx file':>18} {'nginx+app':>18}")
        fmt = lambda r: f"{r['rps']:>9.0f} ({r['p99_ms']:5.1f})" if r else f"{'-':>17}"  # noqa: E731
        for label, ref, app, ngx, front in rows:
            print(f"{label:10} {fmt(ref):>18} {fmt(app):>18} {fmt(ngx):>18} {fmt(front):>18}")
        print(f"app while ingesting 40 changes / 0.5 s: identity {fmt(ingest_rows[0]).strip()}, "
              f"gzip {fmt(ingest_rows[1]).strip()}")
        ident = rows[0]
        print("\nratios (identity bytes, same run):")
        print(f"  app / trivial aiohttp     {ident[2]['rps'] / ident[1]['rps']:5.2f}   goal >= 0.9")
        print(f"  app / nginx file          {ident[2]['rps'] / ident[3]['rps']:5.2f}   goal >= 0.25")
        print(f"  nginx+app / nginx file    {ident[4]['rps'] / ident[3]['rps']:5.2f}   goal 1.0 (static path)")
        print(f"\np99 at 256 connections against the app while ingesting: gzip {p99['p99_ms']:.1f} ms "
              f"({p99['rps']:.0f} req/s), identity {p99_id['p99_ms']:.1f} ms ({p99_id['rps']:.0f} req/s); goal < 50 ms")
        bad = [r for row in rows for r in row[1:] if r and (r["errors"] or r["socket"])] + \
              [r for r in (p99, p99_id, *ingest_rows) if r["errors"] or r["socket"]]
        if bad:
            print("errors seen:", [(r["errors"], r["socket"]) for r in bad])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
