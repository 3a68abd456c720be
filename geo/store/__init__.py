"""Event stores: pick a backend from a URL with `open_store`, then `await store.open()`."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from geo.model import utcnow
from geo.store.base import Store

REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://")


def open_store(url: str, clock: Callable[[], datetime] = utcnow, prefix: str = "bosai") -> Store:
    """A store for `url`: redis://, rediss://, redis+sentinel:// -> Redis; sqlite:///path or a path -> SQLite.

    The store is returned unopened; call `await store.open()` (which reports an unreachable or
    unreadable backend by name).
    """
    if url.startswith(REDIS_SCHEMES):
        from geo.store.redis import RedisStore

        return RedisStore(url, clock=clock, prefix=prefix)
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")
        if not path.startswith("/"):
            raise ValueError(f"SQLite URL {url!r} must be sqlite:///relative/or/sqlite:////absolute path")
        # sqlite:///var/x.db is relative (three slashes, as SQLAlchemy reads it); four is absolute.
        path = path[1:]
        if not path:
            raise ValueError(f"SQLite URL {url!r} names no file")
        url = path
    elif "://" in url:
        raise ValueError(f"store URL {url!r}: unknown scheme (use redis://, rediss://, redis+sentinel:// or sqlite:///)")
    from geo.store.sqlite import SQLiteStore

    return SQLiteStore(Path(url), clock=clock)
