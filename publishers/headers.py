"""The security headers every answer of the service carries (service/web/headers.py adds them to each).

The portal loads only its own scripts, stylesheets and data (no CDN; images also from the base-map
tile server configured in `[portal] tile_url`), so the policy allows scripts from 'self' only and
never inline: a string that slipped into a page as markup cannot run. The JSON data block the portal reads
(`<script type="application/json">`) is data, not script, and needs no exception. config/nginx.conf
sends the same policy on the files it serves itself.
"""
from __future__ import annotations

# The default base map's tile server ([portal] tile_url, GSI 淡色地図); config/nginx.conf allows it too.
GSI_TILES = "https://cyberjapandata.gsi.go.jp"


def content_security_policy(image_origins: tuple[str, ...] = (GSI_TILES,)) -> str:
    """The policy, with the origins images may also come from (the portal's base-map tile server)."""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        # Styles may be inline: a shelter Wi-Fi page carries its own to stay one small file. Scripts never.
        "style-src 'self' 'unsafe-inline'",
        # data: for the marker and control images the map library inlines
        " ".join(("img-src 'self' data:", *image_origins)),
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


CONTENT_SECURITY_POLICY = content_security_policy()
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Other sites learn the origin a resident came from, never the page (an area or a shelter).
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Server": "bosai-hub",  # instead of aiohttp's, which names the Python and aiohttp versions
}
