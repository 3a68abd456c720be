"""Serving the app: requests that never reach a route answered as problem+json, without tracebacks.

aiohttp answers a request it cannot parse (a request line or header too long, too many headers, an
invalid method, bytes no HTTP allows, TLS on the plain port) by itself, before any route or signal
runs: text/plain, the offending bytes echoed, and a traceback in the log for every such request.
The internet sends these all day. `ProblemRequestHandler` answers them as the app's other errors
(problem+json, the security headers; 414 for a request line too long, 431 for headers) and logs
one debug line each. aiohttp has no public hook for this (aio-libs/aiohttp#3287), so the handler
class is swapped in by `ServiceRunner`; tests/test_protocol_errors.py fails if aiohttp changes
underneath.
"""
from __future__ import annotations

import asyncio
import os
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web, web_protocol
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, LineTooLong

from publishers.headers import SECURITY_HEADERS
from service.metrics import REQUESTS
from service.web.errors import problem_response

log = structlog.get_logger(__name__)

# Distinct limits, so that a LineTooLong says which one it hit (aiohttp's default is 8190 for both).
MAX_REQUEST_LINE = 8192
MAX_HEADER_FIELD = 8190
STOP_MARGIN_S = 5.0  # beyond the shutdown budget, before the process exits regardless
UNPARSED = "unparsed"  # the metrics label of requests refused before routing

_REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


def classify(exc: BaseException | None, status: int) -> tuple[int, str]:
    """(status, detail) for a request aiohttp could not parse; the detail never echoes the request."""
    if isinstance(exc, LineTooLong):
        if exc.args[1:2] == (MAX_REQUEST_LINE,):
            return 414, f"the request line is longer than {MAX_REQUEST_LINE} bytes"
        return 431, f"a header field is longer than {MAX_HEADER_FIELD} bytes"
    if isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc):
        return 431, "too many header fields"
    if isinstance(exc, BadHttpMethod):
        if "HTTPS traffic" in str(exc):
            return 400, "TLS sent to the plain HTTP port"
        return 400, "the request method is not a valid HTTP method"
    return status, "the request is not valid HTTP/1.1 (request line, header or framing)"


class ProblemRequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler, answering unparsable requests as problem+json."""

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A problem+json answer for a request refused before routing (aiohttp's own for a 5xx)."""
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:  # as aiohttp: a response already started cannot be replaced
            raise ConnectionError("response already sent, cannot send the error")
        status, detail = classify(exc, status)
        log.debug("http_request_refused", status=status, error=type(exc).__name__, peer=request.remote)
        REQUESTS.observe(UNPARSED, status, 0.0)
        response = problem_response(status, _REASONS.get(status, "Bad Request"), detail, "")
        response.headers.update(SECURITY_HEADERS)
        response.force_close()
        return response


class _ProblemServer(web.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ServiceRunner(web.AppRunner):
    """web.AppRunner whose connections are handled by ProblemRequestHandler, with the service's
    request-line and header limits."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_REQUEST_LINE)
        kwargs.setdefault("max_field_size", MAX_HEADER_FIELD)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _ProblemServer  # the same server; only the connection handler class differs
        return server


async def _serve(app: web.Application, host: str, port: int, shutdown_timeout: float) -> None:
    runner = ServiceRunner(app, handle_signals=True, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await asyncio.Event().wait()  # until SIGINT/SIGTERM raise GracefulExit
    finally:
        await runner.cleanup()


def run(app: web.Application, host: str, port: int, shutdown_timeout: float) -> None:
    """Serve `app` until SIGINT or SIGTERM, as web.run_app does, through ServiceRunner.

    The stop gets `shutdown_timeout` (service/shutdown.py) and a short margin; if it is still
    running then, the tasks left are logged and the process exits with status 1.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, host, port, shutdown_timeout))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()  # runs the runner's cleanup: sites, app cleanup contexts, store
        done, _ = loop.run_until_complete(asyncio.wait({main}, timeout=shutdown_timeout + STOP_MARGIN_S))
        if not done:
            _abandon(loop, shutdown_timeout)
        with suppress(asyncio.CancelledError, web.GracefulExit):
            main.result()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _where(task: asyncio.Task) -> str:
    """The task's name and the chain of coroutines it waits in, outermost first."""
    chain, awaited = [], task.get_coro()
    while awaited is not None and len(chain) < 20:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is None:
            break
        chain.append(f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name}:{frame.f_lineno})")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    return f"{task.get_name()}: " + " > ".join(chain)


def _abandon(loop: asyncio.AbstractEventLoop, shutdown_timeout: float) -> None:
    """Exit now: the stop outlived its budget (a call that ignores its cancellation, a hung upstream)."""
    stuck = sorted(_where(task) for task in asyncio.all_tasks(loop))
    log.error("shutdown_timed_out", budget_s=shutdown_timeout + STOP_MARGIN_S, tasks=stuck)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)  # threads blocked in a call would keep the interpreter from exiting
