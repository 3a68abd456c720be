"""The service pushes: rules wired into the pipeline, dispatchers under the supervisor, dry without credentials."""
from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from collectors.base import Snapshot
from geo.model import Event, Kind, SourceRef, Status
from geo.store.base import OutboxState
from service.keys import PIPELINE_KEY, STORE_KEY, STORE_READY_KEY
from service.settings import load_settings
from service.web.keys import DISPATCHERS_KEY
from tests.service_client import build_app


def sediment(code: str, status: Status = Status.ACTUAL) -> Event:
    suffix = "" if status == Status.ACTUAL else f"#{status.value}"
    return Event(id=f"sediment:{code}{suffix}", kind=Kind.SEDIMENT_WARNING, level=4, areas=(code,), status=status,
                 title="土砂災害警戒情報", source=SourceRef(source_id="jma", upstream_id="EV1", sequence=1))


async def _done(store, channel: str, n: int) -> list:
    for _ in range(200):
        done = await store.outbox_list(channel, [OutboxState.DONE])
        if len(done) >= n:
            return done
        await asyncio.sleep(0.02)
    raise AssertionError(f"{channel}: {await store.outbox_list(channel)}")


async def test_a_warning_is_pushed_dry_to_sns_and_a_drill_only_to_the_drill_channel(tmp_path, monkeypatch):
    for var in ("BOSAI_X_API_KEY", "BOSAI_X_API_SECRET", "BOSAI_X_ACCESS_TOKEN", "BOSAI_X_ACCESS_SECRET"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(overrides={
        "store": {"url": str(tmp_path / "bosai.sqlite3")},
        "service": {"data_dir": str(tmp_path / "var"), "public_url": "https://bosai.example/"},
        "channels": {"x": {"type": "x"}, "drill": {"type": "dry", "drill": True}},
    })
    app = build_app(settings)
    async with TestClient(TestServer(app)) as client:
        await asyncio.wait_for(app[STORE_READY_KEY].wait(), 10)
        store = client.app[STORE_KEY]
        await client.app[PIPELINE_KEY].ingest(Snapshot("jma", [sediment("17201"), sediment("17202", Status.EXERCISE)]))
        (sent,) = await _done(store, "x", 1)
        assert sent.message.event_id == "sediment:17201" and sent.receipt["dry"] is True
        (drill,) = await _done(store, "drill", 1)
        assert drill.message.event_id == "sediment:17202#exercise"
        assert drill.message.payload["text"].startswith("【訓練】")
        assert [r.message.event_id for r in await store.outbox_list("x")] == ["sediment:17201"]
        x = client.app[DISPATCHERS_KEY]["x"]
        assert x.channel.dry and x.channel.sent[0].text.endswith("https://bosai.example/events/sediment:17201")
        status = await (await client.get("/api/v1/push")).json()
        assert status["channels"]["x"]["dry"] is True and status["channels"]["x"]["messages"]["done"] == 1
        assert status["channels"]["drill"]["drill"] is True
        assert status["channels"]["x"]["budget_left_usd"] == {"day": None, "month": None}
