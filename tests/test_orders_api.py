"""Operator entry of orders and shelter status over real HTTP against the whole service (SQLite)."""
from __future__ import annotations

import pytest

from geo.model import Kind, State, Status
from service.keys import STORE_KEY
from tests.service_client import service_client

TOKEN = "s3cret-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SHELTER = "E1720100102111"  # 伏見台小学校, 金沢市


@pytest.fixture
async def client(tmp_path, monkeypatch):
    monkeypatch.setenv("BOSAI_OPERATOR_TOKEN", TOKEN)
    async with service_client(tmp_path) as client:
        yield client


async def _nothing_stored(client) -> None:
    store = client.app[STORE_KEY]
    assert await store.query(kinds=[Kind.EVACUATION, Kind.SHELTER], include_exercise=True, include_ended=True) == []
    assert await store.audit() == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}])
async def test_without_the_credential_401_and_nothing_stored(client, headers):
    for path, body in (("/api/v1/orders", {"municipality": "17201", "action": "issue", "level": 4}),
                       (f"/api/v1/shelters/{SHELTER}/status", {"status": "open"})):
        resp = await client.post(path, json=body, headers=headers)
        assert resp.status == 401
        assert resp.content_type == "application/problem+json"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    await _nothing_stored(client)


async def test_without_a_configured_token_everything_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("BOSAI_OPERATOR_TOKEN", raising=False)
    async with service_client(tmp_path) as client:
        resp = await client.post("/api/v1/orders", json={"municipality": "17201", "action": "issue", "level": 4},
                                 headers={"Authorization": "Bearer "})
        assert resp.status == 401
        assert "BOSAI_OPERATOR_TOKEN" in (await resp.json())["detail"]


@pytest.mark.parametrize(("body", "detail"), [
    ({"municipality": "17201", "action": "issue", "level": 2}, "level"),
    ({"municipality": "17201", "action": "issue"}, "level (3, 4 or 5) is required"),
    ({"municipality": "99999", "action": "issue", "level": 4}, "not in 石川県"),
    ({"municipality": "1720", "action": "issue", "level": 4}, "municipality"),
    ({"municipality": "17201", "action": "issue", "level": 4, "colour": "red"}, "colour"),
    ({"municipality": "17201", "action": "issue", "level": 4, "issued_at": "2026-07-10T10:00:00"}, "issued_at"),
    ({"municipality": "17201", "action": "issue", "level": 4, "districts": [""]}, "district names"),
    ({"municipality": "17201", "action": "lift"}, "no order in force"),
    ({"municipality": "17201", "action": "evacuate", "level": 4}, "action"),
])
async def test_bad_orders_400_problem_and_nothing_stored(client, body, detail):
    resp = await client.post("/api/v1/orders", json=body, headers=AUTH)
    assert resp.status == 400 and resp.content_type == "application/problem+json"
    assert detail in (await resp.json())["detail"]
    await _nothing_stored(client)


async def test_malformed_bodies_400(client):
    for data, ctype in ((b"{not json", "application/json"), (b"municipality=17201", "application/x-www-form-urlencoded"),
                        (b"[]", "application/json"), (b"x" * 70_000, "application/json")):
        resp = await client.post("/api/v1/orders", data=data, headers={**AUTH, "Content-Type": ctype})
        assert resp.status == 400, data[:20]
        assert resp.content_type == "application/problem+json"
    await _nothing_stored(client)


async def test_orders_issue_merge_and_lift_through_the_pipeline(client):
    store = client.app[STORE_KEY]
    resp = await client.post("/api/v1/orders", headers=AUTH, json={
        "municipality": "17201", "action": "issue", "level": 4, "districts": ["湯涌地区"]})
    assert resp.status == 201, await resp.text()
    answer = await resp.json()
    assert answer["id"] == "evacuation:17201" and answer["level"] == 4 and answer["version"] == 1
    event = await store.get("evacuation:17201")
    assert "避難指示" in event.title and "警戒レベル４" in event.title and "相当" not in event.title
    assert event.geometry is not None and event.areas == ("17201",)
    # the public API and the event page show it
    listed = await (await client.get("/api/v1/events?kind=evacuation")).json()
    assert [f["id"] for f in listed["features"]] == ["evacuation:17201"]
    assert (await client.get("/api/v1/events/evacuation:17201")).status == 200

    same = await client.post("/api/v1/orders", headers=AUTH, json={
        "municipality": "17201", "action": "issue", "level": 4, "districts": ["湯涌地区"]})
    assert same.status == 200 and (await same.json())["changed"] is False

    await client.post("/api/v1/orders", headers=AUTH, json={
        "municipality": "17201", "action": "issue", "level": 3, "districts": ["犀川地区"]})
    event = await store.get("evacuation:17201")
    assert event.level == 4 and [(o["level"], o["districts"]) for o in event.properties["orders"]] == [
        (4, ["湯涌地区"]), (3, ["犀川地区"])]

    resp = await client.post("/api/v1/orders", headers=AUTH, json={"municipality": "17201", "action": "lift", "level": 4})
    assert resp.status == 201
    event = await store.get("evacuation:17201")
    assert event.level == 3 and event.state == State.ACTIVE
    assert {(o["action"], o["level"]) for o in event.properties["orders"]} == {("発令", 3), ("解除", 4)}

    await client.post("/api/v1/orders", headers=AUTH, json={"municipality": "17201", "action": "lift"})
    event = await store.get("evacuation:17201")
    assert (event.level, event.state) == (0, State.LIFTED)
    assert [a.action for a in await store.audit()] == ["order.lift", "order.lift", "order.issue", "order.issue"]


async def test_exercise_orders_never_replace_the_real_record(client):
    store = client.app[STORE_KEY]
    await client.post("/api/v1/orders", headers=AUTH, json={
        "municipality": "17203", "action": "issue", "level": 5, "status": "exercise"})
    assert await store.get("evacuation:17203") is None
    drill = await store.get("evacuation:17203:exercise")
    assert drill.status == Status.EXERCISE and drill.level == 5
    listed = await (await client.get("/api/v1/events?kind=evacuation")).json()
    assert listed["features"] == []


async def test_shelter_status(client):
    store = client.app[STORE_KEY]
    assert (await client.post("/api/v1/shelters/E0000000000000/status", json={"status": "open"},
                              headers=AUTH)).status == 404
    bad = await client.post(f"/api/v1/shelters/{SHELTER}/status", json={"status": "full"}, headers=AUTH)
    assert bad.status == 400 and "status" in (await bad.json())["detail"]
    bad = await client.post(f"/api/v1/shelters/{SHELTER}/status", json={"status": "open", "head_count": -1},
                            headers=AUTH)
    assert bad.status == 400
    await _nothing_stored(client)
    resp = await client.post(f"/api/v1/shelters/{SHELTER}/status", headers=AUTH,
                             json={"status": "open", "head_count": 25, "capacity": 400})
    assert resp.status == 201
    event = await store.get(f"shelter:{SHELTER}")
    assert event.properties["status"] == "open" and event.properties["head_count"] == 25
    assert event.properties["name"] == "伏見台小学校" and event.areas == ("17201",)
    await client.post(f"/api/v1/shelters/{SHELTER}/status", headers=AUTH, json={"status": "crowded", "head_count": 390})
    assert (await store.get(f"shelter:{SHELTER}")).properties["status"] == "crowded"
    assert (await store.get(f"shelter:{SHELTER}")).version == 2


async def test_openapi_documents_the_operator_routes(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert doc["paths"]["/api/v1/orders"]["post"]["security"] == [{"operatorToken": []}]
    assert "/api/v1/shelters/{shelter_id}/status" in doc["paths"]
