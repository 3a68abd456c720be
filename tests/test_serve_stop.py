"""The stop is bounded: a cleanup that ignores its cancellation (a hung upstream call, a library
swallowing CancelledError) cannot keep `bosai run` alive past its shutdown budget. The process
names what was still running and exits with status 1; a clean stop exits 0.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import asyncio, sys
from aiohttp import web
from service.web import serve
from service.logging import configure

async def cleanup(app):
    yield
    if sys.argv[2] == "stubborn":
        while True:  # swallows every cancellation, as a hung call would
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass

configure()
app = web.Application()
app.router.add_get("/", lambda request: web.Response(text="up"))
app.cleanup_ctx.append(cleanup)
serve.run(app, "127.0.0.1", int(sys.argv[1]), 0.5)
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _stop(tmp_path: Path, mode: str) -> tuple[int, float, str]:
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT)
    port = _port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(port), mode], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
        return proc.returncode, time.monotonic() - started, out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_stop_stuck_in_a_cleanup_ends_after_the_budget_and_names_what_was_running(tmp_path):
    code, took, out = await _stop(tmp_path, "stubborn")
    assert code == 1, out
    assert "shutdown_timed_out" in out and "cleanup" in out, out
    assert took < 20, took  # 0.5 s budget + 5 s margin, with room for a loaded machine


async def test_a_clean_stop_exits_0(tmp_path):
    code, took, out = await _stop(tmp_path, "clean")
    assert code == 0, out
    assert "shutdown_timed_out" not in out
