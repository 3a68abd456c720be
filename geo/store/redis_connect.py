"""Turning a store URL into a redis.asyncio client, and naming it safely in errors."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel


def safe_url(url: str) -> str:
    """The URL with any password replaced, fit for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def client_from_url(url: str, connect_timeout_s: float) -> aioredis.Redis:
    """A client for redis://, rediss://, unix:// or redis+sentinel://host:port[,host:port]/service[/db]."""
    if not url.startswith("redis+sentinel://"):
        return aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=connect_timeout_s)
    # redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]
    parts = urlsplit(url)
    hosts = []
    for hostport in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        hosts.append((host, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError(f"{safe_url(url)}: a Sentinel URL needs /service_name")
    sentinel = Sentinel(hosts, socket_connect_timeout=connect_timeout_s)
    return sentinel.master_for(
        path[0],
        password=unquote(parts.password) if parts.password else None,
        db=int(path[1]) if len(path) > 1 else 0,
        decode_responses=True,
    )
