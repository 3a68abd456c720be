"""Push latency: from a changed document reaching the pipeline to the fake channel receiving the post,
printed beside the same figure for the portal's SSE stream (its reference: a resident on the page).

    python bench/bench_push.py [--speed 720] [--from-h 9.8] [--to-h 16] [--backend sqlite|redis URL]

The upstream simulator replays the heavy-rain scenario (in this process, on its own clock) from
--from-h to --to-h at --speed; the service (create_app, in this process) follows that clock
(`service.clock_url`), its real pollers fetch the simulator over HTTP, and every change's messages
go through the outbox and the Mastodon dispatcher to a local fake Mastodon over HTTPS (a trustme
CA). An SSE client follows /api/v1/stream. For each event version that made a post:

    latency = (fake channel received the post) - (the pipeline was handed the fetched document)

and for each feed entry the same up to the SSE client reading it. Coalescing windows are set to 0,
so no figure includes a wait for a digest. Goal: push p99 < 250 ms and SSE p99 < 250 ms.
The figure starts when `Pipeline.ingest` is called: the HTTP fetch and the parse before it are
the collectors' (bench/bench_jma.py), the same for both paths.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trustme

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The fake channel's CA, trusted through SSL_CERT_FILE: set before aiohttp builds its default
# TLS context (at import), as a deployment's trust store would be.
TMP = Path(tempfile.mkdtemp(prefix="bench_push_"))
CA = trustme.CA()
CA.cert_pem.write_to_path(str(TMP / "ca.pem"))
os.environ["SSL_CERT_FILE"] = str(TMP / "ca.pem")

import aiohttp  # noqa: E402

from geo.store.base import OutboxState  # noqa: E402
from service.keys import PIPELINE_KEY, STORE_KEY, STORE_READY_KEY  # noqa: E402
from service.settings import load_settings  # noqa: E402
from service.web.app import create_app  # noqa: E402
from simulator.server import running_simulator  # noqa: E402
from tests.fake_channels import FakeMastodon  # noqa: E402

GOAL_MS = 250


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _sources(sim_url: str, tmp: Path) -> dict:
    import tomllib

    data = tomllib.loads((ROOT / "config" / "default.toml").read_text().replace("http://127.0.0.1:8081", sim_url))
    sources = data["sources"]
    for source in sources.values():
        source["interval_s"] = 1  # poll every second, as a busy deployment would during a storm
        if "image_dir" in source:
            source["image_dir"] = str(tmp / "cams")
    return sources


async def run(args: argparse.Namespace) -> dict:
    tmp, ca = TMP, CA
    os.environ["BOSAI_MASTODON_TOKEN"] = "test-token"
    fake = FakeMastodon()
    fake.host = "localhost"
    arrivals: dict[str, float] = {}
    original_post = fake._post

    def timed_post(form, key):
        post = original_post(form, key)
        arrivals.setdefault(post["id"], time.perf_counter())
        return post

    fake._post = timed_post
    await fake.start(ca)
    handed: dict[tuple[str, int], float] = {}
    sse_seen: dict[tuple[str, int], float] = {}
    async with running_simulator("heavy-rain", args.speed, 1, "127.0.0.1", 0) as sim:
        sim.clock.jump_elapsed(args.from_h)
        store_url = args.backend if args.backend != "sqlite" else str(tmp / "bosai.sqlite3")
        settings = load_settings(overrides={
            "store": {"url": store_url},
            "service": {"data_dir": str(tmp / "var"), "clock_url": sim.base_url, "clock_sync_s": 1, "port": 0},
            "sources": _sources(sim.base_url, tmp),
            "channels": {"mastodon": {"type": "mastodon", "base_url": f"https://localhost:{fake.port}",
                                      "coalesce_window_s": 0, "posts_per_window": 100_000}},
        })
        app = create_app(settings)
        pipeline = app[PIPELINE_KEY]
        ingest = pipeline.ingest

        async def timed_ingest(snapshot):
            started = time.perf_counter()
            entries = await ingest(snapshot)
            for entry in entries:
                handed.setdefault((entry.event_id, entry.version), started)
            return entries

        pipeline.ingest = timed_ingest
        runner = aiohttp.web.AppRunner(app, access_log=None)
        await runner.setup()
        site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 30)

        async def follow_sse() -> None:
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/api/v1/stream") as r:
                async for line in r.content:
                    if line.startswith(b"data: {"):
                        data = json.loads(line[6:])
                        sse_seen.setdefault((data["event_id"], data["version"]), time.perf_counter())

        sse = asyncio.create_task(follow_sse())
        while sim.clock.elapsed_s() < args.to_h * 3600:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # the last posts
        records = await app[STORE_KEY].outbox_list("mastodon", [OutboxState.DONE])
        sse.cancel()
        await asyncio.gather(sse, return_exceptions=True)
        await runner.cleanup()
    await fake.stop()
    push_ms = []
    for rec in records:
        t0 = handed.get((rec.message.event_id, rec.message.version))
        t1 = arrivals.get((rec.receipt or {}).get("id"))
        if t0 is not None and t1 is not None:
            push_ms.append((t1 - t0) * 1000)
    sse_ms = [(sse_seen[k] - handed[k]) * 1000 for k in sse_seen if k in handed]
    return {"push": push_ms, "sse": sse_ms, "posts": len(fake.posts), "messages": len(records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=720)
    parser.add_argument("--from-h", type=float, default=9.8)
    parser.add_argument("--to-h", type=float, default=16.0)
    parser.add_argument("--backend", default="sqlite", help="sqlite, or a redis:// URL")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(f"heavy-rain {args.from_h}-{args.to_h} h at {args.speed:g}x, {args.backend}: "
          f"{result['messages']} messages in {result['posts']} posts")
    for name, values in (("push (fetched document -> fake Mastodon)", result["push"]),
                         ("SSE  (fetched document -> SSE client)   ", result["sse"])):
        if not values:
            print(f"{name}: no samples")
            continue
        p50, p99 = statistics.median(values), _pct(values, 0.99)
        verdict = "ok" if p99 < GOAL_MS else "OVER GOAL"
        print(f"{name}: n={len(values):4d}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  (goal p99 < {GOAL_MS} ms: {verdict})")


if __name__ == "__main__":
    main()
