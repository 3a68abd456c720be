"""Probes for an orchestrator: /healthz (liveness, with what is degraded) and /readyz (readiness).

/healthz answers 200 while the process works, naming degraded sources and supervised tasks that
are down; a store that is not open or does not answer makes it 503 (as before), the tasks still named. /readyz answers 200 only when the store answers
a read now and every supervised task runs: a load balancer or compose health check sends traffic
(or starts dependants) on it, and a replica whose snapshot follower is down is taken out.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from geo.store.base import SourceState, StoreError, StoreUnavailable
from service.keys import STORE_KEY, STORE_READY_KEY
from service.supervisor import SUPERVISOR_KEY
from service.web.api import json_response

routes = web.RouteTableDef()

NO_STORE = {"Cache-Control": "no-store"}
STORE_PROBE_TIMEOUT_S = 2.0  # a hung store must not hang the probe past the orchestrator's own timeout


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """ok when the store is open, no source is failing and no supervised task is down; degraded (still 200) otherwise."""
    supervisor = request.app[SUPERVISOR_KEY]
    body: dict[str, Any] = {"status": "ok", "store": "ok", "tasks": supervisor.states()}
    if down := supervisor.down():
        body["status"] = "degraded"
        body["tasks_down"] = down
    try:
        if not request.app[STORE_READY_KEY].is_set():
            raise StoreUnavailable("the store is not open yet")
        statuses = await request.app[STORE_KEY].source_statuses()
    except StoreUnavailable as exc:
        body.update(status="degraded", store="unavailable", store_error=str(exc))
        return json_response(body, status=503, headers=NO_STORE)
    bad = sorted(s.source_id for s in statuses if s.state in (SourceState.FAILING, SourceState.STALE))
    if bad:
        body["status"] = "degraded"
        body["sources_not_ok"] = bad
    return json_response(body, headers=NO_STORE)


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """200 `ready` when the store answers and every supervised task runs; 503 `not_ready` naming what is not."""
    supervisor = request.app[SUPERVISOR_KEY]
    body: dict[str, Any] = {"status": "ready", "store": "ok", "tasks": supervisor.states()}
    if not request.app[STORE_READY_KEY].is_set():
        body["store"] = "not_open"
    else:
        try:
            async with asyncio.timeout(STORE_PROBE_TIMEOUT_S):
                await request.app[STORE_KEY].feed_since(0, limit=1)  # one small read on every backend
        except (StoreError, TimeoutError) as exc:
            body["store"] = "unavailable"
            body["store_error"] = str(exc) or f"no answer in {STORE_PROBE_TIMEOUT_S:g} s"
    if down := supervisor.down():
        body["tasks_down"] = down
    if body["store"] != "ok" or down:
        body["status"] = "not_ready"
        return json_response(body, status=503, headers=NO_STORE)
    return json_response(body, headers=NO_STORE)
