"""An order from the simulator reaches the portal, the event's API page, the shelter pages and a fake L-Alert:
simulator (公共情報コモンズ feed) -> publiccommons collector -> the service's pipeline with the push rules ->
store, portal snapshot, shelter pages and the outbox -> dispatcher -> SOAP publish to the fake endpoint."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from aiohttp import web
from aiohttp.test_utils import TestServer

from collectors.http import Fetcher
from collectors.publiccommons import Config, PublicCommonsCollector
from collectors.publiccommons_wire import parse_document
from geo.store.base import OutboxState
from publishers.dispatcher import Dispatcher
from publishers.lalert import LAlertChannel, LAlertConfig
from publishers.rules import PushRules
from service.keys import AREA_CODES_KEY, PIPELINE_KEY, STORE_KEY
from service.poller import SourcePoller
from service.push_config import DEFAULT_RULES
from service.web.keys import SHELTER_PAGES_KEY, SNAPSHOT_KEY
from simulator.server import running_simulator
from tests.service_client import service_client

SHELTER = "E1720100102111"  # 伏見台小学校, opened by 金沢市 in the heavy-rain scenario


async def test_an_order_from_the_simulator_reaches_every_output(tmp_path):
    received: list[bytes] = []

    async def publish(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="<r xmlns:p='http://soap.publiccommons.ne.jp/'><p:return>OK</p:return></r>",
                            content_type="text/xml")

    fake = web.Application()
    fake.router.add_post("/publish", publish)
    async with TestServer(fake) as lalert, running_simulator("heavy-rain", speed=1, seed=1, port=0) as sim, \
            Fetcher() as fetcher:
        sim.clock.pause()
        config = LAlertConfig(endpoint=str(lalert.make_url("/publish")), retry_base_s=0.05)

        def push(app):
            app[PIPELINE_KEY].rules = PushRules(DEFAULT_RULES, {"lalert": config}, app[AREA_CODES_KEY],
                                                "http://127.0.0.1:8080/")

        async with service_client(tmp_path, push) as client:
            app = client.app
            store = app[STORE_KEY]
            # the page of the shelter is asked for before the order: its files then follow every change
            assert (await client.get(f"/shelters/{SHELTER}/?lang=ja")).status == 200
            collector = PublicCommonsCollector(
                "municipal_orders", Config(url=f"{sim.base_url}/publiccommons/feed.atom", allow_private=True,
                                           retries=0), fetcher, app[AREA_CODES_KEY])
            poller = SourcePoller(collector, app[PIPELINE_KEY], store, clock=sim.clock.now)
            sim.clock.jump_elapsed(12.4)  # 金沢市: 高齢者等避難 (corrected), then 避難指示 in 湯涌地区
            await poller.run_once()
            order = await store.get("evacuation:17201")
            assert order is not None and order.level == 4
            head = (await store.feed_since(0, limit=10_000))[-1].seq
            await app[SNAPSHOT_KEY].wait_built(head)
            await app[SHELTER_PAGES_KEY].wait_built(head, timeout_s=60)

            # the portal (its list page, no script) and the public API
            listed = await (await client.get("/list?lang=ja")).text()
            assert "避難指示" in listed
            page = await (await client.get("/api/v1/events/evacuation:17201")).json()
            assert page["properties"]["level"] == 4 and "避難指示" in page["properties"]["title"]
            # the shelter page and its static copy
            static = app[SHELTER_PAGES_KEY].static_dir / f"shelters/{SHELTER}/index.ja.html"
            html = static.read_text()
            assert "開設中" in html and "【警戒レベル４】" in html and "避難指示" in html and "湯涌地区" in html

            # the outbox holds the L-Alert documents; the dispatcher publishes them to the fake endpoint
            channel = LAlertChannel("lalert", config, None)
            channel.bind(store, app[AREA_CODES_KEY])
            dispatcher = Dispatcher(channel, store, lambda: datetime.now(timezone.utc))
            task = asyncio.create_task(dispatcher.run())
            try:
                for _ in range(200):
                    left = await store.outbox_list("lalert", [OutboxState.PENDING, OutboxState.LEASED,
                                                              OutboxState.SENDING])
                    if not left and received:
                        break
                    await asyncio.sleep(0.05)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await channel.close()
            docs = [parse_document(body) for body in received]
            orders = [d for d in docs if d.category == "EvacuationOrder"]
            # issued (rev 1), corrected (rev 2, 訂正), raised to 避難指示 (rev 3): one documentID
            assert [(d.revision, d.operation) for d in orders] == [(1, "new"), (2, "correction"), (3, "update")]
            assert len({d.document_id for d in orders}) == 1
            assert orders[-1].body.details[0].sort == "避難指示"
            assert any(d.category == "Shelter" and d.body.shelters[0].sort == "開設" for d in docs)


async def test_the_running_service_publishes_an_operator_order_to_l_alert(tmp_path, monkeypatch):
    from aiohttp.test_utils import TestClient

    from service.keys import STORE_READY_KEY
    from service.settings import load_settings
    from tests.service_client import build_app

    received: list[bytes] = []

    async def publish(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="<r xmlns:p='http://soap.publiccommons.ne.jp/'><p:return>R1</p:return></r>",
                            content_type="text/xml")

    fake = web.Application()
    fake.router.add_post("/publish", publish)
    monkeypatch.setenv("BOSAI_OPERATOR_TOKEN", "t0ken")
    async with TestServer(fake) as lalert:
        settings = load_settings(overrides={
            "store": {"url": str(tmp_path / "bosai.sqlite3")}, "service": {"data_dir": str(tmp_path / "var")},
            "channels": {"lalert": {"type": "lalert", "endpoint": str(lalert.make_url("/publish"))}},
        })
        async with TestClient(TestServer(build_app(settings))) as client:
            await asyncio.wait_for(client.app[STORE_READY_KEY].wait(), 10)
            resp = await client.post("/api/v1/orders", headers={"Authorization": "Bearer t0ken"}, json={
                "municipality": "17203", "action": "issue", "level": 5, "districts": ["白江町"]})
            assert resp.status == 201
            for _ in range(400):
                if received:
                    break
                await asyncio.sleep(0.05)
            (body,) = received
            doc = parse_document(body)
            assert (doc.category, doc.status, doc.revision) == ("EvacuationOrder", "Actual", 1)
            assert doc.body.details[0].sort == "緊急安全確保" and doc.target_areas == ("172031",)
            store = client.app[STORE_KEY]
            for _ in range(100):
                record = await store.outbox_get("lalert:ja:evacuation:17203@1")
                if record.state == OutboxState.DONE:
                    break
                await asyncio.sleep(0.05)
            assert record.state == OutboxState.DONE and record.receipt["id"] == "R1"
