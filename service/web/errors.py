"""Errors that know their HTTP status, and their problem+json (RFC 9457) answers.

The route guards of service/web/route_guard.py turn what a handler raises into these answers.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from geo.store.base import StoreUnavailable


class ProblemError(Exception):
    """An error with a problem+json rendering; subclasses fix the status and title."""

    status = 500
    title = "Internal Server Error"
    retryable = False

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(ProblemError):
    status = 400
    title = "Bad Request"


class NotFound(ProblemError):
    status = 404
    title = "Not Found"


class Unavailable(ProblemError):
    status = 503
    title = "Service Unavailable"
    retryable = True


def problem_response(status: int, title: str, detail: str, instance: str, **extra: Any) -> web.Response:
    """A problem+json response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}
    body.update(extra)
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/problem+json",
        headers={"Cache-Control": "no-store"},
    )


def problem_for(exc: Exception, path: str) -> web.Response | None:
    """The problem+json answer for an error a handler raised, or None for one that must propagate
    (a redirect, or a bug: aiohttp answers 500 and logs it)."""
    if isinstance(exc, ProblemError):
        return problem_response(exc.status, exc.title, exc.detail, path, **exc.extra)
    if isinstance(exc, StoreUnavailable):
        return problem_response(503, "Service Unavailable", f"store unavailable: {exc}", path)
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        response = problem_response(exc.status, exc.reason, exc.text or exc.reason, path)
        for name in ("Allow", "Retry-After", "WWW-Authenticate"):  # what the status tells the client to do
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    return None
