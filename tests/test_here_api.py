"""GET /api/v1/here over real HTTP, a real SQLite store and the shipped Ishikawa data."""
from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from geo.enrich import enrich_event
from geo.model import Event, Kind, SourceRef
from geo.region import Region
from geo.store import open_store
from geo.store.base import Batch, Change, ChangeOp
from service.keys import REGION_KEY, STORE_KEY
from service.web import route_guard
from service.web.here_api import routes
from tests.service_client import publish, service_client

SRC = SourceRef(source_id="test")


@pytest.fixture
async def client(tmp_path, clock):
    region = Region.default()
    store = open_store(str(tmp_path / "api.sqlite3"), clock=clock)
    await store.open()
    warning = Event(id="sediment:17204", kind=Kind.SEDIMENT_WARNING, level=4, areas=("17204",), source=SRC)
    await store.apply(Batch(changes=[Change(ChangeOp.CREATED, enrich_event(warning, region))]))
    app = web.Application()
    app[STORE_KEY] = store
    app[REGION_KEY] = region
    route_guard.add_routes(app, routes)  # errors answered as the service answers them
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c
    await store.close()


async def test_here_answers_with_level_words(client):
    resp = await client.get("/api/v1/here", params={"lat": "37.3906", "lon": "136.8990"})
    assert resp.status == 200 and resp.content_type == "application/json"
    body = await resp.json()
    assert body["municipality"]["code"] == "17204"
    assert (body["level"], body["label_ja"], body["name_ja"]) == (4, "警戒レベル４相当", "土砂災害警戒情報")
    assert body["colour"] == "#aa00aa"
    assert body["events"][0]["id"] == "sediment:17204" and body["events"][0]["name_ja"] == "土砂災害警戒情報"
    assert body["shelters"] and all("sediment" in s["hazards"] for s in body["shelters"])
    assert body["radius_m"] == 2000
    assert "max-age" in resp.headers["Cache-Control"]
    again = await client.get(
        "/api/v1/here", params={"lat": "37.3906", "lon": "136.8990"}, headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert again.status == 304


async def test_radius_is_accepted_and_echoed(client):
    resp = await client.get("/api/v1/here", params={"lat": "36.5613", "lon": "136.6562", "radius_m": "500"})
    body = await resp.json()
    assert resp.status == 200 and body["radius_m"] == 500 and body["level"] == 0
    assert (body["name_ja"], body["label_ja"]) == ("", "警戒レベルなし")


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("lon=136.6562", "missing parameter(s) lat"),
        ("lat=abc&lon=136.6562", "'lat' is not a number"),
        ("lat=inf&lon=136.6562", "'lat' must be between"),
        ("lat=36.56&lon=136.65&zoom=3", "unknown parameter(s) zoom"),
        ("lat=36.56&lat=36.57&lon=136.65", "given 2 times"),
        ("lat=36.56&lon=136.65&radius_m=0", "'radius_m' must be between"),
        ("lat=36.56&lon=136.65&radius_m=50000", "'radius_m' must be between"),
        ("lat=35.6895&lon=139.6917", "outside the region"),
        ("lat=136.6562&lon=36.5613", "'lat' must be between"),
        ("lat=36.5613&lon=36.5613", "outside the region"),
    ],
)
async def test_bad_requests_are_problem_json(client, query, words):
    resp = await client.get("/api/v1/here?" + query)
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    problem = await resp.json(content_type=None)
    assert problem["status"] == 400 and problem["title"] == "Bad Request"
    assert words in problem["detail"]


async def test_here_is_not_an_all_clear_while_a_source_is_failing(tmp_path):
    """Level 0 with a failing source says so: `complete` is false and the source is named."""
    from datetime import datetime, timezone

    from geo.store.base import SourceState, SourceStatus

    store = open_store(str(tmp_path / "here.sqlite3"))
    await store.open()
    try:
        now = datetime(2026, 7, 10, 3, 0, tzinfo=timezone.utc)
        await store.set_source_status(SourceStatus("jma_extra", SourceState.FAILING, last_attempt=now))
        await store.set_source_status(SourceStatus("crisis_gauges", SourceState.OK, last_success=now, content_time=now))
        from geo.here import HereOptions, what_affects

        report = await what_affects(store, Region.default(), 136.65, 36.56, HereOptions())
        assert report["level"] == 0 and report["complete"] is False
        assert {s["id"]: s["state"] for s in report["sources"]} == {"jma_extra": "failing", "crisis_gauges": "ok"}
        await store.set_source_status(SourceStatus("jma_extra", SourceState.OK, last_success=now, content_time=now))
        assert (await what_affects(store, Region.default(), 136.65, 36.56, HereOptions()))["complete"] is True
    finally:
        await store.close()


async def test_a_failing_camera_never_makes_the_level_unknown_but_a_silent_level_source_does(tmp_path):
    """`complete` covers the sources a level depends on: cameras apart, and a level source not yet heard from counts."""
    from datetime import datetime, timezone
    from pathlib import Path

    from collectors.registry import level_sources
    from geo.here import HereOptions, what_affects
    from geo.store.base import SourceState, SourceStatus
    from service.settings import load_settings

    settings = load_settings(Path(__file__).resolve().parent.parent / "config" / "default.toml")
    answer = level_sources(settings.sources)
    assert answer == {"jma_extra", "crisis_gauges", "road_closures", "municipal_orders"}  # not river_cameras
    answer = frozenset({"jma_extra", "crisis_gauges"})  # the two this test reports for
    store = open_store(str(tmp_path / "here.sqlite3"))
    await store.open()
    try:
        now = datetime(2026, 7, 10, 3, 0, tzinfo=timezone.utc)
        ok = dict(last_success=now, content_time=now)
        await store.set_source_status(SourceStatus("jma_extra", SourceState.OK, **ok))
        await store.set_source_status(SourceStatus("river_cameras", SourceState.FAILING, last_attempt=now))
        report = await what_affects(store, Region.default(), 136.65, 36.56, HereOptions(answer_sources=answer))
        assert report["complete"] is False and report["incomplete_sources"] == ["crisis_gauges"]  # never reported
        await store.set_source_status(SourceStatus("crisis_gauges", SourceState.OK, **ok))
        report = await what_affects(store, Region.default(), 136.65, 36.56, HereOptions(answer_sources=answer))
        assert report["complete"] is True and report["incomplete_sources"] == []
        assert {s["id"]: s["state"] for s in report["sources"]}["river_cameras"] == "failing"  # still shown as it is
    finally:
        await store.close()


async def test_in_the_service_shelter_statuses_come_from_its_current_events(tmp_path):
    """The service answers with its read model's shelter statuses (the store is not asked for every
    shelter per answer): an opening shows at once, a closing takes the site out of the advice."""
    site = "E1720100102111"  # 伏見台小学校, 金沢市窪
    point = {"lat": "36.5266", "lon": "136.6380"}
    async with service_client(tmp_path) as client:
        store = client.app[STORE_KEY]
        asked: list[tuple] = []
        query = store.query

        async def recording_query(**kw):
            asked.append(tuple(kw.get("kinds") or ()))
            return await query(**kw)

        store.query = recording_query
        shelter = Event(id=f"shelter:{site}", kind=Kind.SHELTER, areas=("17201",), title="伏見台小学校 開設",
                        source=SRC, properties={"status": "open"})
        await publish(client, "orders", shelter)
        body = await (await client.get("/api/v1/here", params=point)).json()
        assert (body["shelters"][0]["id"], body["shelters"][0]["status"]) == (site, "open")
        assert (Kind.SHELTER,) not in asked and asked  # the store answered the rest

        closed = shelter.model_copy(update={"title": "伏見台小学校 閉鎖", "properties": {"status": "closed"}})
        await publish(client, "orders", closed)
        body = await (await client.get("/api/v1/here", params=point)).json()
        assert site not in [s["id"] for s in body["shelters"]]
