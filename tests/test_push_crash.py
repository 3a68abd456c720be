"""Crash test: `kill -9` the service at 10 random moments of the heavy-rain scenario, restart it each
time; the simulator (another process's clock, followed through `service.clock_url`) keeps
publishing. Afterwards every message the rules made was posted to the fake X and the fake Mastodon
exactly once, or is shown `unknown` / held for an operator — never twice, nothing lost — on SQLite
and on Redis. The killed service's own tweepy AsyncClient reaches the fake X over HTTPS through the
X channel's `api_url` and `ca_file`; Mastodon through its `base_url` and SSL_CERT_FILE.
"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import trustme

from geo.store import open_store
from geo.store.base import OutboxState
from publishers.rules import URGENT
from service.push_config import ChannelConfig
from simulator.server import running_simulator
from tests.fake_channels import FakeApi, FakeMastodon, FakeX

ROOT = Path(__file__).resolve().parent.parent
START_H, END_H, SPEED = 9.8, 15.5, 360  # the sediment warnings' issue, correction and spread, at 360x
KILLS = 10
CHANNELS = ("x", "mastodon")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(path: Path, store_url: str, sim: str, x: str, mastodon: str, ca_file: Path, port: int) -> None:
    default = (ROOT / "config" / "default.toml").read_text()
    sources = default[default.index("[sources.jma_extra]"):].replace("http://127.0.0.1:8081", sim)
    sources = sources.replace('image_dir = "var/demo-cameras"', f'image_dir = "{path.parent / "cams"}"')
    path.write_text(f"""
[service]
port = {port}
public_url = "https://bosai.example/"
data_dir = "{path.parent / 'var'}"
clock_url = "{sim}"
clock_sync_s = 1

[store]
url = "{store_url}"

[channels.x]
type = "x"
api_url = "{x}"
ca_file = "{ca_file}"
lease_s = 3
coalesce_window_s = 600
timeout_s = 3

[channels.mastodon]
type = "mastodon"
base_url = "{mastodon}"
lease_s = 3
coalesce_window_s = 600
timeout_s = 3

{sources}
""")


async def _up(port: int, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the service exited with {proc.returncode}"
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the service did not become ready")


RETRY_MAX_S = ChannelConfig.model_fields["retry_max_s"].default  # the longest backoff between two attempts


async def _waiting(store_url: str) -> list[str]:
    """Messages still leased or being sent, or announcements above the lowest levels not yet sent."""
    store = open_store(store_url)
    await store.open()
    try:
        return [r.message.id for name in CHANNELS for r in await store.outbox_list(name)
                if r.state in (OutboxState.LEASED, OutboxState.SENDING)
                or (r.state == OutboxState.PENDING and r.message.priority >= URGENT)]
    finally:
        await store.close()


async def _quiet(port: int, timeout_s: float = 60) -> None:
    """Wait until no message is being sent or due (lower levels may wait in their window)."""
    deadline = time.monotonic() + timeout_s
    calm = 0
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and calm < 3:
            async with http.get(f"http://127.0.0.1:{port}/api/v1/push") as r:
                channels = (await r.json())["channels"]
            busy = sum(channels[c]["messages"]["leased"] + channels[c]["messages"]["sending"] for c in CHANNELS)
            calm = calm + 1 if busy == 0 else 0
            await asyncio.sleep(0.5)


@pytest.mark.long
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_kill_9_ten_times_every_message_once_or_unknown(backend, tmp_path, request):
    store_url = request.getfixturevalue("redis_url") if backend == "redis" else str(tmp_path / "bosai.sqlite3")
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    fakes: dict[str, FakeApi] = {"x": FakeX(), "mastodon": FakeMastodon()}
    for fake in fakes.values():
        fake.host = "localhost"  # the certificate's name: each fake is reached by its URL in the config
        fake.latency_s = 0.25  # an API's answer time: a kill may land after the post, before the answer
        await fake.start(ca)
    rng = random.Random(14)
    env = {**os.environ, "SSL_CERT_FILE": str(ca_file), "BOSAI_MASTODON_TOKEN": "test-token",
           "BOSAI_STORE_URL": store_url, "BOSAI_X_API_KEY": "k", "BOSAI_X_API_SECRET": "s",
           "BOSAI_X_ACCESS_TOKEN": "t", "BOSAI_X_ACCESS_SECRET": "ts"}
    env.pop("BOSAI_MASTODON_TOKEN_MASTODON", None)
    port = _port()
    config = tmp_path / "crash.toml"
    proc: subprocess.Popen | None = None
    try:
        async with running_simulator("heavy-rain", SPEED, 1, "127.0.0.1", _port()) as sim:
            sim.clock.jump_elapsed(START_H)
            _config(config, store_url, sim.base_url, f"https://localhost:{fakes['x'].port}",
                    f"https://localhost:{fakes['mastodon'].port}", ca_file, port)
            cmd = [sys.executable, "-m", "service.cli", "run", "--config", str(config)]
            for _ in range(KILLS):
                proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await _up(port, proc)
                await asyncio.sleep(rng.uniform(0.3, 3.0))
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
            log_path = tmp_path / "last-run.log"
            with log_path.open("wb") as log_file:
                proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
            await _up(port, proc)
            while sim.clock.elapsed_s() < END_H * 3600:
                await asyncio.sleep(0.5)
            sim.clock.pause()  # the storm stops here: let the service finish what it has
            await _quiet(port)
            # Retries and leases run on the storm's clock, which the pause stopped: a post that failed under load
            # (a timeout) would wait for ever. Move the clock past the longest backoff until none is left waiting.
            for _ in range(6):
                if not await _waiting(store_url):
                    break
                sim.clock.jump(sim.clock.now() + timedelta(seconds=RETRY_MAX_S))
                await _quiet(port)
            proc.send_signal(signal.SIGTERM)
            # waited for off the loop: the simulator and the fake APIs keep answering while it stops
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                pytest.fail("still running 30 s after SIGTERM:\n" + log_path.read_text(errors="replace")[-3000:])
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for fake in fakes.values():
            await fake.stop()

    store = open_store(store_url)
    await store.open()
    try:
        for name in CHANNELS:
            _check(backend, name, await store.outbox_list(name), fakes[name])
    finally:
        await store.close()
    assert fakes["x"].posts and fakes["mastodon"].posts


def _check(backend: str, channel: str, records: list, fake: FakeApi) -> None:
    """Every message of `channel` posted once, or unknown / held for an operator; none posted twice."""
    assert records, "the scenario made no messages"
    assert any(r.message.event_id == "sediment:17201" for r in records)  # 土砂災害警戒情報 for 金沢市
    states = {r.state for r in records}
    assert states <= {OutboxState.DONE, OutboxState.UNKNOWN, OutboxState.HELD, OutboxState.PENDING}, states
    unsettled = [r for r in records if r.state != OutboxState.DONE]
    print(f"{backend} {channel}: {len(records)} messages, {len(fake.posts)} posts, {fake.requests} requests, "
          f"{sum(bool(r.receipt and r.receipt.get('duplicate')) for r in records)} proven by a duplicate answer, "
          f"{sum(r.state == OutboxState.DONE for r in records)} sent, {len(unsettled)} not sent: "
          f"{sorted((r.state.value, r.message.id, r.message.priority, r.last_error) for r in unsettled)}")
    assert all(r.state != OutboxState.HELD or (r.last_error or "").startswith("unknown") for r in unsettled)
    # not yet due: only lower-level messages still inside their last coalescing window
    assert all(r.message.priority < URGENT for r in unsettled if r.state == OutboxState.PENDING)
    assert len(fake.posts) >= 3 and sum(r.state == OutboxState.DONE for r in records) >= len(records) // 2
    done = [r for r in records if r.state == OutboxState.DONE]
    # X's answer to a re-sent identical text, 403 "duplicate content", proves the post without its id
    receipts = {r.receipt["id"] for r in done if not r.receipt.get("duplicate")}
    proven = sum(1 for r in done if r.receipt.get("duplicate"))
    assert all(r.receipt["id"] for r in done if not r.receipt.get("duplicate")), "sent without a post id"
    posted = [p["id"] for p in fake.posts]
    assert len(posted) == len(set(posted))
    assert receipts <= set(posted), "a receipt for a post the channel never made"
    # a post no receipt names can only be a duplicate-proven or an unknown message's (shown to an operator)
    unknown = [r for r in unsettled if r.state in (OutboxState.UNKNOWN, OutboxState.HELD)]
    assert len(set(posted) - receipts) <= proven + len(unknown), "a message sent twice under another key"
    texts = [p["text"] for p in fake.posts]
    assert len(texts) == len(set(texts)), "the same announcement posted twice"
