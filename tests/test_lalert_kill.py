"""Exactly once across a `kill -9`: a dispatcher process is killed after its SOAP publish reached the fake
L-Alert endpoint and before the answer; a new dispatcher resends the same document (same distributionID),
which the endpoint recognises, and records the receipt. The endpoint holds one accepted document."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from collectors.base import Snapshot
from collectors.publiccommons import order_event
from collectors.publiccommons_wire import parse_document
from geo.model import SourceRef
from geo.region import Region
from geo.store import open_store
from geo.store.base import OutboxState
from publishers.dispatcher import Dispatcher
from publishers.lalert import LAlertChannel, LAlertConfig
from publishers.rules import PushRules
from service.pipeline import Pipeline
from service.push_config import DEFAULT_RULES

ROOT = Path(__file__).resolve().parent.parent
CODES = Region.default().codes
NOW = datetime(2026, 7, 10, 4, 0, tzinfo=timezone.utc)
MID = "lalert:ja:evacuation:17201@1"

DISPATCH = textwrap.dedent("""
    import asyncio, sys
    from datetime import datetime, timezone
    from geo.codes import AreaCodes
    from geo.store import open_store
    from publishers.dispatcher import Dispatcher
    from publishers.lalert import LAlertChannel, LAlertConfig

    async def main(path, endpoint):
        store = open_store(path)
        await store.open()
        config = LAlertConfig(endpoint=endpoint, timeout_s=60, lease_s=1)
        channel = LAlertChannel("lalert", config, None)
        channel.bind(store, AreaCodes.load())
        await Dispatcher(channel, store, lambda: datetime.now(timezone.utc)).run()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


async def test_a_send_cut_by_kill_9_is_resent_once_and_recorded(tmp_path):
    requests: list[bytes] = []
    accepted: dict[str, bytes] = {}
    hang = asyncio.Event()  # the first answer never comes: the dispatcher is killed while waiting for it

    async def publish(request: web.Request) -> web.Response:
        body = await request.read()
        requests.append(body)
        doc = parse_document(body)
        duplicate = doc.distribution_id in accepted
        accepted.setdefault(doc.distribution_id, body)
        if len(requests) == 1:
            await hang.wait()
        return web.Response(text=(
            "<r xmlns:p='http://soap.publiccommons.ne.jp/'><p:return>RCPT-1</p:return>"
            f"<p:duplicate>{str(duplicate).lower()}</p:duplicate></r>"), content_type="text/xml")

    fake = web.Application()
    fake.router.add_post("/publish", publish)
    path = str(tmp_path / "s.sqlite3")
    async with TestServer(fake) as server:
        endpoint = str(server.make_url("/publish"))
        config = LAlertConfig(endpoint=endpoint, lease_s=1, retry_base_s=0.05)
        store = open_store(path)
        await store.open()
        pipeline = Pipeline(store, CODES, rules=PushRules(DEFAULT_RULES, {"lalert": config}, CODES, "https://b.example/"))
        event = order_event(CODES, "17201", [{"sort": "避難指示", "level": 4, "action": "発令", "districts": ["湯涌地区"],
                                              "at": NOW.isoformat()}], NOW, source=SourceRef(source_id="operator"))
        await pipeline.ingest(Snapshot("operator", [event]))
        await store.close()

        script = tmp_path / "dispatch.py"
        script.write_text(DISPATCH)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, str(script), path, endpoint], cwd=ROOT, env=env)
        try:
            for _ in range(600):
                if requests or proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            assert requests, "the dispatcher process never sent"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        hang.set()

        store = open_store(path)
        await store.open()
        try:
            assert (await store.outbox_state(MID))[0] in (OutboxState.SENDING, OutboxState.UNKNOWN)
            await asyncio.sleep(1.2)  # the killed process's lease runs out
            channel = LAlertChannel("lalert", config, None)
            channel.bind(store, CODES)
            dispatcher = Dispatcher(channel, store, lambda: datetime.now(timezone.utc))
            task = asyncio.create_task(dispatcher.run())
            try:
                for _ in range(400):
                    if (await store.outbox_state(MID))[0] == OutboxState.DONE:
                        break
                    dispatcher.wake()
                    await asyncio.sleep(0.05)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await channel.close()
            assert (await store.outbox_state(MID))[0] == OutboxState.DONE
            record = await store.outbox_get(MID)
            assert record.receipt["id"] == "RCPT-1" and record.receipt["duplicate"] is True
            assert len(requests) == 2 and len(accepted) == 1  # resent once, the same document: accepted once
            assert requests[0] == requests[1]
        finally:
            await store.close()
