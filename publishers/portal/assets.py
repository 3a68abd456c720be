"""Static assets of the portal: the npm build output and the municipality boundaries layer.

`npm run build` (frontend/build.mjs) copies the map library from node_modules and the portal's own
script and styles into publishers/portal/static/build/ under content-hashed names, with .gz and .br
beside each file and a manifest.json mapping logical to hashed names. Hashed names never change
content, so they are served as immutable; aiohttp's FileResponse picks the pre-compressed file
the client accepts. Nothing is fetched from a CDN.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli
import structlog
from aiohttp import web

from geo.areas import to_geojson

log = structlog.get_logger(__name__)

BUILD_DIR = Path(__file__).parent / "static" / "build"
IMMUTABLE = "public, max-age=31536000, immutable"
BOUNDARY_SIMPLIFY_DEG = 0.001  # about 100 m: plenty for a prefecture-wide overview, a small download


class AssetsMissing(RuntimeError):
    """The npm build has not run: the map cannot load (the list still works)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """Logical asset name -> served (hashed) name."""

    names: dict[str, str]

    @classmethod
    def load(cls, build_dir: Path = BUILD_DIR) -> Manifest:
        """Read the build manifest; AssetsMissing when the build has not run."""
        path = build_dir / "manifest.json"
        if not path.exists():
            raise AssetsMissing(f"{path} not found: run `npm ci && npm run build` (make does this)")
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def url(self, logical: str) -> str:
        """The URL of an asset by its logical name."""
        return f"/static/{self.names[logical]}"


def load_manifest(build_dir: Path = BUILD_DIR) -> Manifest | None:
    """The manifest, or None (logged once) so the JavaScript-free portal still serves."""
    try:
        return Manifest.load(build_dir)
    except AssetsMissing as exc:
        log.error("portal_assets_missing", error=str(exc))
        return None


@dataclass(frozen=True, slots=True)
class Encoded:
    """One document serialised and compressed once, with its strong ETag."""

    raw: bytes
    gz: bytes
    br: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Encoded:
        """Compress a body both ways and hash it."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return cls(body, gzip.compress(body, 9), brotli.compress(body, quality=11), etag)

    def response(self, request: web.Request, content_type: str, cache_control: str) -> web.Response:
        """200 with the best encoding the client accepts, or 304 when its ETag matches."""
        headers = {"ETag": self.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
        if self.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        accepted = request.headers.get("Accept-Encoding", "")
        body = self.raw
        if "br" in accepted:
            body, headers["Content-Encoding"] = self.br, "br"
        elif "gzip" in accepted:
            body, headers["Content-Encoding"] = self.gz, "gzip"
        return web.Response(body=body, content_type=content_type, headers=headers)


def boundaries_geojson(region: Any) -> bytes:
    """The region's municipalities as a small GeoJSON: code, names and reading per polygon."""
    import shapely

    features: list[dict[str, Any]] = []
    boundaries = region.boundaries
    for code, polygon in zip(boundaries.codes, boundaries.polygons):
        m = region.codes.municipality(code)
        simple = shapely.simplify(polygon, BOUNDARY_SIMPLIFY_DEG, preserve_topology=True)
        label = polygon.representative_point()
        features.append(
            {
                "type": "Feature",
                "id": code,
                "geometry": to_geojson(shapely.set_precision(simple, 1e-4)),
                "properties": {
                    "code": code,
                    "name": m.name,
                    "name_en": m.name_en,
                    "kana": m.kana,
                    # where the map puts the level label: always inside the polygon, unlike its centroid
                    "label": [round(label.x, 4), round(label.y, 4)],
                },
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    return json.dumps(collection, ensure_ascii=False, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=2)
def encoded_boundaries(region: Any) -> Encoded:
    """`boundaries_geojson` encoded, once per loaded region (apps built on one region share it)."""
    return Encoded.of(boundaries_geojson(region))
