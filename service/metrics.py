"""Prometheus metrics: request counts and latency, ingest and rejection counters, /metrics."""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from service.supervisor import SUPERVISOR_KEY

routes = web.RouteTableDef()

POLLS = Counter("bosai_polls_total", "Source polls by outcome", ["source", "outcome"])
CHANGES = Counter("bosai_changes_total", "Event changes applied", ["source", "op"])
REJECTED = Counter("bosai_events_rejected_total", "Events rejected by the pipeline", ["source", "reason"])


class RequestMetrics(Collector):
    """HTTP request counts by (route, status) and latency histograms by route, exposed at scrape time.

    Counted in plain dicts rather than through labelled Counter/Histogram children: a request then
    costs two dict updates and a bisect instead of a label lookup and three locked increments, which
    on the hot path cost more than the handler. Requests are counted on the event loop's thread, and
    the exposition reads the dicts on the same thread (/metrics), so no lock is needed.
    """

    def __init__(self, buckets: tuple[float, ...] = Histogram.DEFAULT_BUCKETS) -> None:
        self.bounds = tuple(buckets)  # upper bounds, the last +Inf
        self.counts: dict[tuple[str, int], int] = {}
        self.latency: dict[str, list[float]] = {}  # route -> count per bucket (not cumulative), then sum

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one request of `route` answered with `status` after `seconds`."""
        key = (route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        row = self.latency.get(route)
        if row is None:
            row = self.latency[route] = [0] * (len(self.bounds) + 1)
        row[bisect_left(self.bounds, seconds)] += 1  # the first bucket whose bound is >= the value
        row[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        """The two metric families, as prometheus_client's own Counter and Histogram expose them."""
        requests = CounterMetricFamily("bosai_http_requests", "HTTP requests", labels=["route", "status"])
        for (route, status), count in sorted(self.counts.items()):
            requests.add_metric([route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily("bosai_http_request_seconds", "HTTP request latency", labels=["route"])
        for route, row in sorted(self.latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(self.bounds, row):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
            latency.add_metric([route], buckets, sum_value=row[-1])
        yield latency


REQUESTS = RequestMetrics()
REGISTRY.register(REQUESTS)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition: the process's metrics, then the app's supervised tasks."""
    body = generate_latest()
    if (supervisor := request.app.get(SUPERVISOR_KEY)) is not None:
        body += generate_latest(supervisor.registry)
    resp = web.Response(body=body)
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp
