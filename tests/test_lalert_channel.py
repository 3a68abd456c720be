"""The L-Alert channel through the push pipeline: rules -> outbox -> dispatcher -> SOAP `publish` to a fake
L-Alert endpoint (real HTTP) that fails with 5xx and stalls, on a real SQLite store."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from collectors.base import Snapshot
from collectors.publiccommons import order_event
from collectors.publiccommons_wire import parse_document
from geo.model import Event, Kind, SourceRef, Status
from geo.region import Region
from geo.store import open_store
from geo.store.base import OutboxState
from publishers.dispatcher import SEND_ACTION, Dispatcher
from publishers.lalert import LAlertChannel, LAlertConfig
from publishers.rules import TOP, PushRules
from service.pipeline import Pipeline
from service.push_config import DEFAULT_RULES

CODES = Region.default().codes
NOW = datetime(2026, 7, 10, 4, 0, tzinfo=timezone.utc)
SRC = SourceRef(source_id="operator")


@dataclass
class FakeLAlert:
    """Answers SOAP publish: `fail` 503s first, then `stall` answers too slow, then a receipt per distributionID."""

    fail: int = 0
    stall: int = 0
    stall_s: float = 2.0
    attempts: int = 0
    accepted: dict[str, bytes] = field(default_factory=dict)  # distributionID -> document, once each
    auth: list[str | None] = field(default_factory=list)

    async def publish(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.auth.append(request.headers.get("Authorization"))
        body = await request.read()
        if self.fail:
            self.fail -= 1
            return web.Response(status=503, text="busy")
        if self.stall:
            self.stall -= 1
            await asyncio.sleep(self.stall_s)
        doc = parse_document(body)
        duplicate = doc.distribution_id in self.accepted
        self.accepted.setdefault(doc.distribution_id, body)
        answer = (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<pcsoap:publishResponse xmlns:pcsoap="http://soap.publiccommons.ne.jp/">'
            f"<pcsoap:return>RCPT-{doc.distribution_id}</pcsoap:return>"
            f"<pcsoap:duplicate>{'true' if duplicate else 'false'}</pcsoap:duplicate>"
            "</pcsoap:publishResponse></soap:Body></soap:Envelope>")
        return web.Response(body=answer.encode(), content_type="text/xml")


@pytest.fixture
async def world(tmp_path):
    real, drill = FakeLAlert(), FakeLAlert()
    servers = []
    for fake in (real, drill):
        app = web.Application()
        app.router.add_post("/soap/publish", fake.publish)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
    store = open_store(str(tmp_path / "s.sqlite3"))
    await store.open()
    common = {"timeout_s": 0.5, "retry_base_s": 0.05, "retry_max_s": 0.2, "lease_s": 1.0}
    configs = {
        "lalert": LAlertConfig(endpoint=str(servers[0].make_url("/soap/publish")), username="ishikawa", **common),
        "lalert_drill": LAlertConfig(endpoint=str(servers[1].make_url("/soap/publish")), drill=True, **common),
    }
    rules = PushRules(DEFAULT_RULES, configs, CODES, "https://bosai.example/")
    pipeline = Pipeline(store, CODES, rules=rules, enrich=Region.default().enricher())
    channels = {}
    for name, config in configs.items():
        channel = LAlertChannel(name, config, "pw")
        channel.bind(store, CODES)
        channels[name] = channel
    try:
        yield store, pipeline, channels, real, drill
    finally:
        for channel in channels.values():
            await channel.close()
        for server in servers:
            await server.close()
        await store.close()


SETTLED = (OutboxState.DONE, OutboxState.DEAD, OutboxState.HELD)


async def deliver(store, channel, *message_ids: str, timeout_s: float = 20) -> OutboxState:
    """Run the channel's dispatcher until the messages are settled (done, dead or held); the last one's state."""
    dispatcher = Dispatcher(channel, store, lambda: datetime.now(timezone.utc))
    task = asyncio.create_task(dispatcher.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            states = [(await store.outbox_state(m))[0] for m in message_ids]
            if all(state in SETTLED for state in states):
                return states[-1]
            dispatcher.wake()
            await asyncio.sleep(0.05)
        return (await store.outbox_state(message_ids[-1]))[0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def order(level: int = 4, status: Status = Status.ACTUAL, **kw) -> Event:
    return order_event(CODES, "17201", [{"sort": "避難指示", "level": level, "action": "発令",
                                         "districts": ["湯涌地区"], "at": NOW.isoformat()}],
                       NOW, source=SRC, issued_at=NOW, status=status, **kw)


async def test_an_order_is_published_through_5xx_and_timeouts_once_with_its_receipt(world):
    store, pipeline, channels, real, drill = world
    real.fail, real.stall = 2, 1
    await pipeline.ingest(Snapshot("operator", [order()]))
    mid = "lalert:ja:evacuation:17201@1"
    record = await store.outbox_get(mid)
    assert record is not None and record.message.priority == TOP  # orders go first
    assert [r.message.id for r in await store.outbox_list("x", [OutboxState.PENDING])] == []  # x not configured
    assert await deliver(store, channels["lalert"], mid) == OutboxState.DONE
    assert real.attempts == 4  # 503, 503, too slow, accepted
    assert len(real.accepted) == 1 and drill.attempts == 0
    (body,) = real.accepted.values()
    doc = parse_document(body)
    assert (doc.category, doc.status, doc.revision, doc.operation) == ("EvacuationOrder", "Actual", 1, "new")
    assert doc.body.details[0].sort == "避難指示"
    receipt = (await store.outbox_get(mid)).receipt
    assert receipt["id"] == f"RCPT-{doc.distribution_id}"
    assert real.auth[-1].startswith("Basic ")
    # the next revision (lifted) is the same documentID, revision 2; nothing is sent twice
    lifted = order_event(CODES, "17201", [{"sort": "避難指示", "level": 4, "action": "解除",
                                           "districts": ["湯涌地区"], "at": NOW.isoformat()}],
                         NOW + timedelta(hours=2), source=SRC)
    await pipeline.ingest(Snapshot("operator", [lifted]))
    assert await deliver(store, channels["lalert"], "lalert:ja:evacuation:17201@2") == OutboxState.DONE
    docs = [parse_document(b) for b in real.accepted.values()]
    assert [(d.document_id, d.revision) for d in docs] == [(doc.document_id, 1), (doc.document_id, 2)]
    assert docs[1].body.details[0].issue_or_lift == "解除"


async def test_an_interrupted_send_is_resent_as_the_same_document_and_accepted_once(world):
    store, pipeline, channels, real, _ = world
    await pipeline.ingest(Snapshot("operator", [order()]))
    mid = "lalert:ja:evacuation:17201@1"
    channel = channels["lalert"]
    # a process that sent and died before recording the answer (kill -9 between send and ack)
    (item,) = await store.outbox_claim("lalert", 10, 0.2)
    await store.outbox_sending(mid, item.lease_token)
    await store.audit_append("dispatcher:lalert", SEND_ACTION, "lalert", {
        "ids": {mid: item.attempts}, "text": "", "reply_to": None, "has_link": False, "key": mid})
    from publishers.channel import Post
    await channel.send(Post("", mid))
    assert len(real.accepted) == 1
    await asyncio.sleep(0.3)  # its lease runs out: the message is `unknown`
    assert await deliver(store, channel, mid) == OutboxState.DONE
    assert real.attempts == 2 and len(real.accepted) == 1  # resent, recognised as the same distributionID
    assert (await store.outbox_get(mid)).receipt["duplicate"] is True


async def test_exercise_goes_only_to_the_drill_endpoint_as_kunren(world):
    store, pipeline, channels, real, drill = world
    await pipeline.ingest(Snapshot("operator", [order(status=Status.EXERCISE).model_copy(
        update={"id": "evacuation:17201:exercise"})]))
    assert await store.outbox_list("lalert", [OutboxState.PENDING]) == []
    (record,) = await store.outbox_list("lalert_drill", [OutboxState.PENDING])
    assert await deliver(store, channels["lalert_drill"], record.message.id) == OutboxState.DONE
    (body,) = drill.accepted.values()
    assert parse_document(body).status == "Exercise" and real.attempts == 0


async def test_shelter_opened_crowded_closed_become_shelter_documents(world):
    store, pipeline, channels, real, _ = world
    base = Event(id="shelter:E1720100102111", kind=Kind.SHELTER, areas=("17201",), title="伏見台小学校",
                 issued_at=NOW, source=SRC, properties={"status": "open", "name": "伏見台小学校", "head_count": 10})
    steps = [("open", 10), ("open", 50), ("crowded", 390), ("closed", 0)]
    for status, count in steps:
        await pipeline.ingest(Snapshot("operator", [base.model_copy(update={
            "properties": {**base.properties, "status": status, "head_count": count}})]))
    pending = await store.outbox_list("lalert", [OutboxState.PENDING])
    # a new head count alone is no announcement: opened, crowded, closed
    assert sorted(r.message.version for r in pending) == [1, 3, 4]
    ids = [r.message.id for r in sorted(pending, key=lambda r: r.message.version)]
    assert await deliver(store, channels["lalert"], *ids) == OutboxState.DONE
    assert {(await store.outbox_state(m))[0] for m in ids} == {OutboxState.DONE}
    docs = [parse_document(b) for b in real.accepted.values()]
    assert [(d.category, d.body.shelters[0].sort, d.body.shelters[0].status) for d in docs] == [
        ("Shelter", "開設", "空き"), ("Shelter", "開設", "混雑"), ("Shelter", "閉鎖", "不明")]
    assert [d.revision for d in docs] == [1, 3, 4] and len({d.document_id for d in docs}) == 1


def test_lalert_channels_validate_in_the_config_and_build_without_a_password_as_dry(monkeypatch):
    from publishers.channel import DryChannel
    from publishers.push import build_channel
    from service.settings import ConfigError, load_settings, secrets

    channels = {"lalert": {"type": "lalert", "endpoint": "https://lalert.example.jp/soap", "username": "ishikawa"},
                "lalert_drill": {"type": "lalert", "endpoint": "https://drill.example.jp/soap", "drill": True}}
    settings = load_settings(overrides={"channels": channels})
    config = settings.channels["lalert"]
    assert isinstance(config, LAlertConfig) and config.coalesce_window_s == 0 and config.langs == ["ja"]
    monkeypatch.delenv("BOSAI_LALERT_PASSWORD", raising=False)
    assert isinstance(build_channel("lalert", config, secrets()), DryChannel)  # no credential: nothing sent
    monkeypatch.setenv("BOSAI_LALERT_PASSWORD", "pw")
    assert isinstance(build_channel("lalert", config, secrets()), LAlertChannel)
    with pytest.raises(ConfigError, match="endpoint"):
        load_settings(overrides={"channels": {"lalert": {"type": "lalert"}}})
