"""/api/v1/events under load with wrk, against references measured in the same run.

    python bench/bench_api.py [--features 2400] [--duration 5] [--connections 64] [--repeat 3]

A heavy-rain store of N features (gauges at raised levels, sediment warnings, road closures,
shelters, cameras) is built in a temporary SQLite file; the service runs in its own process (one
aiohttp worker, access log off, INFO logging as deployed) and serves /api/v1/events from its
in-memory snapshot, which it also writes to a static directory. References, on the same bytes
(the bench checks that every server sends byte-identical bodies with the same Content-Encoding):
  trivial    an aiohttp handler returning the snapshot's bytes (identity or its .gz) from memory
  nginx file nginx serving the snapshot's file (gzip_static for the .gz) with the same file-serving
             directives as the deployment site (sendfile, open_file_cache)
  nginx+app  config/nginx.conf in front of the service: the deployment path residents hit
nginx runs with the nginx image's defaults (worker_processes auto, sendfile, keepalive).
Ratios: app / trivial (goal >= 0.9), app / nginx file (goal >= 0.25), nginx+app / nginx file
(goal 1.0), each for identity and gzip bodies.

Ingest phase: the service is restarted on the same store with the demo sources: the upstream
simulator (in its own process, as real upstreams are: its rendering must not be counted as the
app's) replays the heavy-rain scenario from its peak (hour 10) at --speed, the service runs on the
scenario's clock, and the real pollers fetch it every second, so feeds, gauges, roads and cameras
are parsed and ingested while wrk runs. p99 at 256 connections is measured on the app alone and on
the deployment path (goal < 50 ms), for /api/v1/events and for the list page /list (a browser's
request: `lang` cookie, gzip), which nginx serves from the snapshot's file and the app from its page
cache; the app-alone /list figure is the one the event loop decides (nothing may block it).

Every figure is the median of --repeat runs of --duration seconds. Loopback only; wrk, nginx, the
service and the simulator share the machine's cores. Needs wrk and nginx (Debian packages).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MUNICIPALITIES = ["17201", "17202", "17203", "17204", "17205", "17206", "17207", "17209", "17210", "17211",
                  "17212", "17324", "17361", "17365", "17384", "17386", "17407", "17461", "17463"]
GZIP = ("Accept-Encoding: gzip",)
EVENTS = "/api/v1/events"
LIST = "/list"
BROWSER = ("Accept-Encoding: gzip", "Cookie: lang=ja")  # how a resident's browser asks for /list


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


def demo_config(workdir: Path, sim_port: int) -> Path:
    """config/default.toml pointed at this run's simulator port, polling every second."""
    text = (ROOT / "config" / "default.toml").read_text().replace("127.0.0.1:8081", f"127.0.0.1:{sim_port}")
    text = re.sub(r"(?m)^interval_s = \d+", "interval_s = 1", text)
    text = text.replace('image_dir = "var/demo-cameras"', f'image_dir = "{workdir}/cameras"')
    path = workdir / "demo.toml"
    path.write_text(text)
    return path


def sim_clock(sim_port: int, change: dict) -> dict:
    """POST to the simulator's clock; its state (scenario `now`, `speed`) as it answers."""
    request = urllib.request.Request(f"http://127.0.0.1:{sim_port}/_sim/clock", method="POST",
                                     data=json.dumps(change).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


async def simulate(args) -> None:
    """Child: the upstream simulator alone, at --speed from the heavy-rain scenario's peak (hour 10)."""
    from simulator.server import running_simulator

    async with running_simulator("heavy-rain", args.speed, 1, "127.0.0.1", args.port) as sim:
        sim.clock.jump_elapsed(10)
        Path(args.ready).touch()
        await asyncio.Event().wait()


async def serve(args) -> None:
    """Child: seed the store (first run) or ingest from the simulator at --sim-port."""
    from aiohttp import web

    from collectors.base import Snapshot
    from service.keys import CLOCK_KEY, PIPELINE_KEY, STORE_READY_KEY
    from service.logging import configure
    from service.settings import load_settings
    from service.web.app import create_app
    from service.web.keys import SNAPSHOT_KEY

    configure(level=logging.INFO)
    overrides = {"store": {"url": str(Path(args.dir) / "bench.sqlite3")}, "service": {"data_dir": args.dir}}
    if args.sim_port:
        settings = load_settings(demo_config(Path(args.dir), args.sim_port), overrides=overrides)
    else:
        settings = load_settings(overrides=overrides)
    app = create_app(settings, long_running=True)  # as `bosai run` builds it
    if args.sim_port:
        # The service on the scenario's clock, as `bosai run --demo` puts it, read from the simulator.
        state = await asyncio.to_thread(sim_clock, args.sim_port, {})
        at, speed, started = datetime.fromisoformat(state["now"]), state["speed"], time.monotonic()
        app[CLOCK_KEY].source = lambda: at + timedelta(seconds=(time.monotonic() - started) * speed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024).start()
    await app[STORE_READY_KEY].wait()
    snapshot = app[SNAPSHOT_KEY]
    if args.sim_port:
        while snapshot.builds == 0:
            await asyncio.sleep(0.1)
    else:
        events = heavy_rain_events(args.features, random.Random(7))
        entries = await app[PIPELINE_KEY].ingest(Snapshot("bench", events))
        await snapshot.wait_built(entries[-1].seq, timeout_s=120)
    Path(args.ready).touch()
    while True:  # the parent reads how much was ingested
        await asyncio.sleep(0.5)
        progress = Path(args.dir) / "feed.seq.tmp"
        progress.write_text(f"{snapshot.seen_seq} {snapshot.builds}")
        progress.replace(progress.with_suffix(""))  # by rename: the parent never reads a half-written file


async def trivial(args) -> None:
    """Child: the reference handler, the same bytes (identity or the snapshot's gzip) from memory."""
    from aiohttp import web

    body = Path(args.file).read_bytes()
    gz = Path(args.file + ".gz").read_bytes()

    async def handler(request):
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=gz, headers={"Content-Type": "application/geo+json", "Content-Encoding": "gzip"})
        return web.Response(body=body, content_type="application/geo+json")

    await serve_reference(EVENTS, handler, args.port, Path(args.ready))


async def serve_reference(path: str, handler, port: int, ready: Path) -> None:
    """Serve one route with a bare aiohttp app until killed; `ready` is created once it listens."""
    from aiohttp import web

    app = web.Application()
    app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    ready.touch()
    await asyncio.Event().wait()


# -- the parent ---------------------------------------------------------------------------------


def start_child(mode: str, workdir: Path, *extra: str, program: str = __file__) -> subprocess.Popen:
    """`program` (this file by default) run as a child in `mode`; returns once it has created its ready file."""
    ready = workdir / f"{mode}.ready"
    ready.unlink(missing_ok=True)
    log = open(workdir / f"{mode}.log", "ab")
    proc = subprocess.Popen([sys.executable, program, mode, "--ready", str(ready), *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"{mode} did not start:\n{(workdir / f'{mode}.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def nginx_conf(workdir: Path, static: Path, file_port: int, front_port: int, app_port: int) -> Path:
    """The nginx image's http defaults, a plain static server (the reference) and the deployment site."""
    site = (ROOT / "config" / "nginx.conf").read_text()
    site = site.replace("server app:8080;", f"server 127.0.0.1:{app_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{front_port};").replace("/srv/static", str(static))
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes auto;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    server {{
        listen 127.0.0.1:{file_port};
        # The same file-serving directives as the deployment site: the ratio isolates its routing.
        sendfile on;
        open_file_cache max=2000 inactive=60s;
        open_file_cache_valid 1s;
        open_file_cache_errors on;
        keepalive_requests 10000;
        location / {{ root {static}; default_type application/geo+json; gzip_static on; }}
    }}
{site}
}}
""")
    return conf


def wrk(url: str, duration: int, connections: int, headers: tuple[str, ...] = (), script: Path | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    for header in headers:
        cmd += ["-H", header]
    if script is not None:
        cmd += ["-s", str(script)]  # a Lua script choosing each request's path
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale,
            "errors": (int(errors.group(1)) if errors else 0), "socket": socket_errors.group(1) if socket_errors else ""}


def median_of(
    repeat: int, url: str, duration: int, connections: int, headers: tuple[str, ...] = (), script: Path | None = None
) -> dict:
    """The median requests/s and p99 of `repeat` wrk runs; errors summed."""
    runs = [wrk(url, duration, connections, headers, script) for _ in range(repeat)]
    return {"rps": statistics.median(r["rps"] for r in runs), "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "errors": sum(r["errors"] for r in runs), "socket": "; ".join(r["socket"] for r in runs if r["socket"])}


def fetch(url: str, headers: tuple[str, ...]) -> tuple[bytes, str | None]:
    request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.read(), resp.headers.get("Content-Encoding")


def check_same_bytes(urls: dict[str, str], headers: tuple[str, ...]) -> int:
    """Every server must send the same body with the same coding, or the comparison means nothing."""
    answers = {name: fetch(url, headers) for name, url in urls.items()}
    first = next(iter(answers.values()))
    for name, answer in answers.items():
        if answer != first:
            raise SystemExit(f"{name} sends different bytes or coding ({answer[1]}, {len(answer[0])} B) "
                             f"than {next(iter(answers))} ({first[1]}, {len(first[0])} B) for {headers or 'identity'}")
    return len(first[0])


def fmt(r: dict | None) -> str:
    return f"{r['rps']:>9.0f} ({r['p99_ms']:6.1f})" if r else f"{'-':>18}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_serve", "_trivial", "_simulate"])
    parser.add_argument("--features", type=int, default=2400)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--speed", type=float, default=720, help="scenario seconds per second while ingesting")
    parser.add_argument("--sim-port", type=int, help=argparse.SUPPRESS)
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
    if args.mode == "_simulate":
        asyncio.run(simulate(args))
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
        service = start_child("_serve", workdir, "--dir", str(workdir), "--port", str(app_port),
                              "--features", str(args.features))
        procs.append(service)
        static = workdir / "static"
        snapshot_file = static / "api" / "v1" / "events.geojson"
        body = snapshot_file.read_bytes()
        features = body.count(b'"type":"Feature"')
        print(f"heavy-rain snapshot: {features} features, {len(body) / 1e6:.2f} MB identity, "
              f"{len((static / 'api/v1/events.geojson.gz').read_bytes()) / 1e3:.0f} kB gzip, "
              f"{len((static / 'api/v1/events.geojson.br').read_bytes()) / 1e3:.0f} kB br "
              f"(store seeded and snapshot built in {time.monotonic() - started:.1f} s)")
        reference = workdir / "reference.geojson"
        reference.write_bytes(body)
        Path(str(reference) + ".gz").write_bytes((static / "api/v1/events.geojson.gz").read_bytes())
        procs.append(start_child("_trivial", workdir, "--file", str(reference), "--port", str(trivial_port)))
        conf = nginx_conf(workdir, static, file_port, front_port, app_port)
        nginx = subprocess.Popen(["nginx", "-e", str(workdir / "nginx-error.log"), "-c", str(conf), "-p", str(workdir)],
                                 stderr=subprocess.PIPE)
        procs.append(nginx)
        time.sleep(0.5)
        if nginx.poll() is not None:
            raise SystemExit(f"nginx did not start: {nginx.stderr.read().decode()}")

        urls = {"trivial": f"http://127.0.0.1:{trivial_port}{EVENTS}", "app": f"http://127.0.0.1:{app_port}{EVENTS}",
                "nginx file": f"http://127.0.0.1:{file_port}{EVENTS}.geojson",
                "nginx+app": f"http://127.0.0.1:{front_port}{EVENTS}"}
        d, c, n = args.duration, args.connections, args.repeat
        rows = []
        for label, coding in (("identity", ()), ("gzip", GZIP)):
            size = check_same_bytes(urls, coding)
            rows.append((f"{label} {size / 1e3:.0f} kB", {k: median_of(n, u, d, c, coding) for k, u in urls.items()}))

        # Ingest phase: the same store, now fed by the real pollers from the simulator's heavy-rain scenario.
        stop(service)
        seq_file = workdir / "feed.seq"
        seq_file.unlink(missing_ok=True)
        sim_port = free_port()
        procs.append(start_child("_simulate", workdir, "--port", str(sim_port), "--speed", str(args.speed)))
        procs.append(start_child("_serve", workdir, "--dir", str(workdir), "--port", str(app_port),
                                 "--sim-port", str(sim_port)))
        time.sleep(3)  # the first polls of every source land before measuring
        seq0, builds0 = map(int, seq_file.read_text().split())
        t0 = time.monotonic()
        loaded = {}
        for target in ("app", "nginx+app"):
            for label, coding in (("gzip", GZIP), ("identity", ())):
                loaded[(target, label)] = median_of(n, urls[target], d, 256, coding)
        list_urls = {"app": f"http://127.0.0.1:{app_port}{LIST}", "nginx+app": f"http://127.0.0.1:{front_port}{LIST}"}
        list_size = len(fetch(list_urls["app"], BROWSER)[0])  # pages change with every build: no byte check here
        for target, url in list_urls.items():
            loaded[(target, "list")] = median_of(n, url, d, 256, BROWSER)
        seq1, builds1 = map(int, seq_file.read_text().split())
        elapsed = time.monotonic() - t0

        print(f"\nwrk -t2 -c{c} -d{d}s --latency, median of {n} runs: requests/s (p99 ms); no ingest")
        print(f"{'body':16} " + " ".join(f"{k:>18}" for k in urls))
        for label, results in rows:
            print(f"{label:16} " + " ".join(f"{fmt(results[k]):>18}" for k in urls))
        print("\nratios (same bytes, same run):      identity   gzip   goal")
        ratio = lambda a, b: " ".join(f"{r[a]['rps'] / r[b]['rps']:8.2f}" for _, r in rows)  # noqa: E731
        print(f"  app / trivial aiohttp            {ratio('app', 'trivial')}   >= 0.9")
        print(f"  app / nginx file                 {ratio('app', 'nginx file')}   >= 0.25")
        print(f"  nginx+app / nginx file           {ratio('nginx+app', 'nginx file')}   1.0 (static path)")
        print(f"\nwhile ingesting the heavy-rain scenario (simulator at {args.speed:g}x from hour 10, pollers every "
              f"1 s): {seq1 - seq0} feed entries, {builds1 - builds0} snapshot builds in {elapsed:.0f} s")
        print(f"wrk -t2 -c256 -d{d}s --latency, median of {n} runs: requests/s (p99 ms); goal p99 < 50 ms")
        for target in ("app", "nginx+app"):
            print(f"  {target:10} gzip {fmt(loaded[(target, 'gzip')])}   identity {fmt(loaded[(target, 'identity')])}")
        print(f"/list ({BROWSER[1]}, gzip {list_size / 1e3:.0f} kB) at 256 connections while ingesting; goal p99 < 50 ms:")
        print(f"  app alone {fmt(loaded[('app', 'list')])}   nginx+app (its static file) {fmt(loaded[('nginx+app', 'list')])}")
        # Little's law: with every connection always waiting, the mean latency is connections / throughput.
        floor = {label: 256e3 / loaded[("nginx+app", label)]["rps"] for label in ("gzip", "identity")}
        print(f"  (mean latency implied by 256 connections at the nginx+app rate: gzip {floor['gzip']:.0f} ms, "
              f"identity {floor['identity']:.0f} ms: browsers send Accept-Encoding, so the gzip row is the residents' "
              "case; the 1.8 MB identity body is bound by copying bandwidth)")
        bad = [(k, r["errors"], r["socket"]) for _, results in rows for k, r in results.items()
               if r["errors"] or r["socket"]]
        bad += [(k, r["errors"], r["socket"]) for k, r in loaded.items() if r["errors"] or r["socket"]]
        if bad:
            print("errors seen:", bad)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
