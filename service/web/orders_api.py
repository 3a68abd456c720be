"""Operator entry of municipal orders and shelter status: `POST /api/v1/orders`, `POST /api/v1/shelters/{id}/status`.

Accepted only with the operator credential: `Authorization: Bearer <token>`, the token from
BOSAI_OPERATOR_TOKEN (until the console's accounts land). Without a configured token every request
is refused. A body that does not validate is a 400 problem+json and nothing is stored; a valid one
becomes an `evacuation` or `shelter` event applied through the pipeline (outbox rows, change feed
and snapshots with it), and an audit entry.

An order is merged with what the municipality has in force: issuing adds the districts to that
order, lifting removes the districts named (or the whole order, or every order when no level is
given) and records them as 解除. The order words come from geo/wording.py.
"""
from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from collectors.base import Snapshot
from collectors.json_wire import describe
from collectors.publiccommons import order_event, record_id
from geo.model import Certainty, Event, Kind, SourceRef, Status
from geo.wording import level_words
from service.keys import AREA_CODES_KEY, CLOCK_KEY, PIPELINE_KEY, REGION_KEY, STORE_KEY
from service.web.api import json_response
from service.web.errors import BadRequest, NotFound

routes = web.RouteTableDef()

SOURCE_ID = "operator"
MAX_BODY = 64_000
OPERATOR_TOKEN_KEY: web.AppKey[str | None] = web.AppKey("operator_token", str)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderEntry(_Closed):
    """An order issued or lifted by a municipality, as the operator records it."""

    municipality: str = Field(pattern=r"^\d{5}$", description="JIS X 0402 5-digit municipality code.")
    action: Literal["issue", "lift"] = Field(description="issue 発令 or lift 解除.")
    level: Literal[3, 4, 5] | None = Field(
        None, description="3 高齢者等避難, 4 避難指示, 5 緊急安全確保; required to issue, optional to lift.")
    districts: list[str] = Field(default_factory=list, max_length=500, description="地区 names; none: the whole municipality.")
    issued_at: AwareDatetime | None = Field(None, description="When the municipality gave it (default: now).")
    status: Literal["actual", "exercise", "test"] = Field("actual", description="actual, or exercise (訓練) / test.")
    text: str = Field("", max_length=2000, description="The municipality's own words, if any.")
    correction: bool = Field(False, description="This entry corrects the previous one (訂正).")

    @field_validator("districts")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v or len(v) > 100 for v in cleaned):
            raise ValueError("district names must be 1-100 characters")
        return cleaned


class ShelterEntry(_Closed):
    """A shelter's status as the operator records it."""

    status: Literal["open", "crowded", "closed", "unknown"]
    head_count: int | None = Field(None, ge=0, le=100_000, description="People in the shelter now.")
    capacity: int | None = Field(None, ge=0, le=100_000, description="How many it takes (default: the list's).")
    at: AwareDatetime | None = Field(None, description="When it changed (default: now).")
    exercise: bool = Field(False, description="A drill (訓練): never reaches real channels.")
    correction: bool = Field(False, description="Corrects the previous record; never announced as a new opening.")


def check_operator(request: web.Request) -> str:
    """The operator's name for the audit log, or 401 without the credential."""
    token = request.app.get(OPERATOR_TOKEN_KEY)
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise web.HTTPUnauthorized(
            text="operator credential required" if token else "operator entry is not configured (BOSAI_OPERATOR_TOKEN)",
            headers={"WWW-Authenticate": 'Bearer realm="bosai-operator"'},
        )
    return "operator"


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    if request.content_type != "application/json":
        raise BadRequest(f"the body must be application/json, not {request.content_type or 'missing'}")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadRequest(f"the body is over {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is over {MAX_BODY} bytes")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise BadRequest(describe(exc)) from None


_id = record_id  # a drill never replaces the real record of the same municipality or shelter


def merged_orders(current: Event | None, entry: OrderEntry, at: datetime) -> list[dict]:
    """The municipality's orders after `entry`: those in force, then those this entry lifts."""
    in_force = [dict(o) for o in (current.properties.get("orders", []) if current and not current.ended else [])
                if o.get("action") == "発令"]
    if entry.action == "issue":
        words = level_words(entry.level, Kind.EVACUATION, "ja")  # type: ignore[arg-type]
        mine = next((o for o in in_force if o["level"] == entry.level), None)
        if mine is None or entry.correction:
            in_force = [o for o in in_force if o["level"] != entry.level]
            mine = {"sort": words.name, "level": entry.level, "action": "発令", "districts": [], "at": at.isoformat()}
            in_force.append(mine)
        mine["districts"] = list(dict.fromkeys([*mine["districts"], *entry.districts]))
        return sorted(in_force, key=lambda o: -o["level"])
    result: list[dict] = []
    for order in in_force:
        if entry.level is not None and order["level"] != entry.level:
            result.append(order)  # another order, still in force
            continue
        gone = set(entry.districts) or set(order["districts"])
        left = [d for d in order["districts"] if d not in gone]
        named = [d for d in order["districts"] if d in gone] or list(entry.districts)
        result.append({**order, "action": "解除", "districts": named, "at": at.isoformat()})
        if left:
            result.append({**order, "districts": left})
    return sorted(result, key=lambda o: (o["action"] != "発令", -o["level"]))


@routes.post("/api/v1/orders")
async def post_order(request: web.Request) -> web.Response:
    """Record a municipality's order (issue or lift) and apply it through the pipeline."""
    actor = check_operator(request)
    entry: OrderEntry = await _body(request, OrderEntry)
    codes = request.app[AREA_CODES_KEY]
    if entry.municipality not in codes:
        raise BadRequest(f"municipality {entry.municipality} is not in {codes.prefecture_name}")
    if entry.action == "issue" and entry.level is None:
        raise BadRequest("level (3, 4 or 5) is required to issue an order")
    now = request.app[CLOCK_KEY]()
    at = entry.issued_at or now
    event_id = _id(f"evacuation:{entry.municipality}", entry.status)
    current = await request.app[STORE_KEY].get(event_id)
    if entry.action == "lift":
        in_force = [] if current is None or current.ended else [
            o for o in current.properties.get("orders", []) if o.get("action") == "発令"]
        if not any(entry.level is None or o["level"] == entry.level for o in in_force):
            what = "no order" if entry.level is None else f"no {level_words(entry.level, Kind.EVACUATION).name}"
            raise BadRequest(f"{codes.municipality(entry.municipality).name} has {what} in force to lift")
    orders = merged_orders(current, entry, at)
    if current is not None and not current.ended and orders == current.properties.get("orders") and not entry.text:
        return _answer(current, [])  # already recorded: the same order again is no news
    event = order_event(codes, entry.municipality, orders, now, text=entry.text,
                        extra={"correction": entry.correction, "entered_by": actor},
                        status=Status(entry.status), issued_at=at,
                        source=SourceRef(source_id=SOURCE_ID, upstream_id=event_id))
    event = event.model_copy(update={"id": event_id})
    return await _apply(request, event, actor, f"order.{entry.action}", entry.model_dump(mode="json"))


@routes.post("/api/v1/shelters/{shelter_id}/status")
async def post_shelter_status(request: web.Request) -> web.Response:
    """Record a shelter's status (open / crowded / closed) and apply it through the pipeline."""
    actor = check_operator(request)
    entry: ShelterEntry = await _body(request, ShelterEntry)
    site = request.app[REGION_KEY].shelters.get(request.match_info["shelter_id"])
    if site is None:
        raise NotFound(f"no designated shelter has the id {request.match_info['shelter_id']}")
    now = request.app[CLOCK_KEY]()
    status = Status.EXERCISE if entry.exercise else Status.ACTUAL
    event = Event(
        id=_id(f"shelter:{site.id}", status),
        kind=Kind.SHELTER,
        status=status,
        certainty=Certainty.OBSERVED,
        areas=(site.municipality,) if site.municipality else (),
        geometry={"type": "Point", "coordinates": (site.lon, site.lat)},
        issued_at=entry.at or now,
        received_at=now,
        title=f"{site.name} {SHELTER_WORDS[entry.status]}",
        text=f"{site.name}（{site.address}）は{SHELTER_WORDS[entry.status]}です。",
        source=SourceRef(source_id=SOURCE_ID, upstream_id=site.id),
        properties={
            "status": entry.status, "name": site.name, "address": site.address, "head_count": entry.head_count,
            "capacity": entry.capacity if entry.capacity is not None else site.capacity, "registered": True,
            "changed_at": (entry.at or now).isoformat(), "correction": entry.correction, "entered_by": actor,
        },
    )
    return await _apply(request, event, actor, "shelter.status", {"shelter": site.id, **entry.model_dump(mode="json")})


SHELTER_WORDS = {"open": "開設", "crowded": "開設（混雑）", "closed": "閉鎖", "unknown": "状況不明"}


async def _apply(request: web.Request, event: Event, actor: str, action: str, detail: dict) -> web.Response:
    entries = await request.app[PIPELINE_KEY].ingest(Snapshot(SOURCE_ID, [event]))
    stored = await request.app[STORE_KEY].get(event.id)
    if stored is None:
        raise BadRequest(f"{event.id}: the pipeline did not accept it (see the service log)")
    if entries:
        await request.app[STORE_KEY].audit_append(actor, action, event.id,
                                                  json.loads(json.dumps(detail, ensure_ascii=False)))
    return _answer(stored, entries)


def _answer(stored: Event, entries: list) -> web.Response:
    body = {"id": stored.id, "version": stored.version, "level": stored.level, "state": stored.state.value,
            "status": stored.status.value, "changed": bool(entries), "feed_seq": entries[-1].seq if entries else None}
    return json_response(body, status=201 if entries else 200, headers={"Cache-Control": "no-store"})


_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _post(summary: str, schema: dict, params: list | None = None) -> dict[str, Any]:
    problem = {"description": "Problem", "content": {"application/problem+json": {"schema": _PROBLEM}}}
    return {"post": {
        "summary": summary, "parameters": params or [], "security": [{"operatorToken": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {"201": {"description": "Stored (a change)"}, "200": {"description": "Nothing changed"},
                      "400": problem, "401": problem, "404": problem, "503": problem}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/orders": _post("Operator: record a municipality's evacuation order (issue or lift).",
                            OrderEntry.model_json_schema()),
    "/api/v1/shelters/{shelter_id}/status": _post(
        "Operator: record a shelter's status.", ShelterEntry.model_json_schema(),
        [{"name": "shelter_id", "in": "path", "required": True, "schema": {"type": "string"},
          "description": "The shelter's 共通ID."}]),
}


def install(app: web.Application, token: str | None) -> None:
    """Add the routes' credential (BOSAI_OPERATOR_TOKEN); the routes are added with the others."""
    app[OPERATOR_TOKEN_KEY] = token
