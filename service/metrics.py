"""Prometheus metrics: request counts and latency, ingest and rejection counters, /metrics."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from service.supervisor import SUPERVISOR_KEY

routes = web.RouteTableDef()

POLLS = Counter("bosai_polls_total", "Source polls by outcome", ["source", "outcome"])
CHANGES = Counter("bosai_changes_total", "Event changes applied", ["source", "op"])
REJECTED = Counter("bosai_events_rejected_total", "Events rejected by the pipeline", ["source", "reason"])
HTTP_REQUESTS = Counter("bosai_http_requests", "HTTP requests", ["route", "status"])
HTTP_LATENCY = Histogram("bosai_http_request_seconds", "HTTP request latency", ["route"])


class RequestMetrics:
    """Every answer counted by (route, status) and timed by route, in the two metrics above."""

    def __init__(self) -> None:
        # The labelled children, looked up once per (route, status): `labels()` takes a lock and
        # builds a key on every call, and a service has a few dozen routes.
        self._counts: dict[tuple[str, int], Counter] = {}
        self._latency: dict[str, Histogram] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one request of `route` answered with `status` after `seconds`."""
        count = self._counts.get((route, status))
        if count is None:
            count = self._counts[(route, status)] = HTTP_REQUESTS.labels(route, str(status))
        count.inc()
        latency = self._latency.get(route)
        if latency is None:
            latency = self._latency[route] = HTTP_LATENCY.labels(route)
        latency.observe(seconds)


REQUESTS = RequestMetrics()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition: the process's metrics, then the app's supervised tasks."""
    body = generate_latest()
    if (supervisor := request.app.get(SUPERVISOR_KEY)) is not None:
        body += generate_latest(supervisor.registry)
    resp = web.Response(body=body)
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp
