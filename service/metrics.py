"""Prometheus metrics: request counts and latency, ingest and rejection counters, /metrics."""
from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

routes = web.RouteTableDef()

REQUESTS = Counter("bosai_http_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram("bosai_http_request_seconds", "HTTP request latency", ["route"])
POLLS = Counter("bosai_polls_total", "Source polls by outcome", ["source", "outcome"])
CHANGES = Counter("bosai_changes_total", "Event changes applied", ["source", "op"])
REJECTED = Counter("bosai_events_rejected_total", "Events rejected by the pipeline", ["source", "reason"])


@web.middleware
async def middleware(request: web.Request, handler):
    """Count and time every request by its route pattern (not raw path, to bound cardinality)."""
    start = time.perf_counter()
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    response = await handler(request)
    LATENCY.labels(route).observe(time.perf_counter() - start)
    REQUESTS.labels(route, str(response.status)).inc()
    return response


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition."""
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp
