"""What every request passes through: errors answered as problem+json, and request metrics.

Both wrap each route's handler when its routes are added, instead of running as aiohttp
middlewares: aiohttp builds and runs a middleware chain for every request (a fifth of the cost of
answering /api/v1/events from the in-memory snapshot, measured with bench/bench_api.py) and skips
that machinery entirely in an application without middlewares. A request no route matches goes
to the fallback route, added last, which answers 404 or 405 as problem+json and is counted too.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from service.metrics import REQUESTS
from service.web.errors import NotFound, problem_for

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNMATCHED = "unmatched"  # the metrics label of requests no route matches


def guarded(handler: Handler, route: str) -> Handler:
    """`handler` answering errors as problem+json and counted under `route` with its status."""

    @functools.wraps(handler)
    async def guarded_handler(request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        try:
            response = await handler(request)
        except Exception as exc:
            problem = problem_for(exc, request.path)
            if problem is None:  # a redirect passes through; anything else is the 500 aiohttp sends
                REQUESTS.observe(route, getattr(exc, "status", 500), time.perf_counter() - start)
                raise
            response = problem
        REQUESTS.observe(route, response.status, time.perf_counter() - start)
        return response

    return guarded_handler


def add_routes(app: web.Application, routes: web.RouteTableDef) -> None:
    """Register a route table with every handler guarded (GET routes answer HEAD as well)."""
    for route in routes:
        if not isinstance(route, web.RouteDef):
            raise TypeError(f"{route!r}: only plain routes are supported; serve files through a handler")
        web.RouteDef(route.method, route.path, guarded(route.handler, route.path), route.kwargs).register(app.router)


async def _unmatched(request: web.Request) -> web.StreamResponse:
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name != UNMATCHED:
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise NotFound(f"nothing is served at {request.path}")


def add_fallback(app: web.Application) -> None:
    """The last route: 404 (no resource at the path) or 405 (not with this method) as problem+json."""
    app.router.add_route("*", "/{path:.*}", guarded(_unmatched, UNMATCHED), name=UNMATCHED)
