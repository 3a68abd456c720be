"""The hook that adds the security headers (publishers/headers.py) to every answer of the app."""
from __future__ import annotations

from aiohttp import web

from publishers.headers import GSI_TILES, SECURITY_HEADERS, content_security_policy


async def add_security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: the security headers on every answer that lacks them.

    Hot documents carry them already in their pre-built headers (publishers/http_cache.py), so this
    costs them one lookup.
    """
    headers = response.headers
    if "Content-Security-Policy" not in headers:
        headers.update(SECURITY_HEADERS)  # replaces the Server header aiohttp has set by now


def install(app: web.Application, image_origins: tuple[str, ...] = ()) -> None:
    """Add the security headers to every answer of `app`; images may also come from `image_origins`."""
    # One policy per process (the pre-built documents copy this dict): the default tile server and
    # the configured one, when a deployment chose another (nginx.conf then needs it too).
    SECURITY_HEADERS["Content-Security-Policy"] = content_security_policy(tuple(dict.fromkeys((GSI_TILES, *image_origins))))
    app.on_response_prepare.append(add_security_headers)
