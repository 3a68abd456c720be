"""Turning a store URL into a redis.asyncio client, and naming it safely in errors."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# A pooled connection to a Redis that restarted fails on its next command: try again on a fresh one
# (a few times, quickly) rather than fail that command. Only connection errors: a timeout means a
# hung server, and waiting the socket timeout again would only delay the answer. A client built
# from a URL otherwise gets no retries at all.
RETRY_CONNECTION_ERRORS = dict(backoff=ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries=3,
                               supported_errors=(RedisConnectionError,))


def safe_url(url: str) -> str:
    """The URL with its password replaced, fit for error messages and logs: the one redaction used
    wherever a store URL is shown.

    The user information ends at the *last* '@' before the host, so a password that itself holds
    an '@' (or a '/', which ends the netloc for urlsplit) is hidden whole.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, location = rest.rpartition("@")
    user = userinfo.split(":", 1)[0] if ":" in userinfo else userinfo
    return f"{scheme}://{user}:***@{location}"


def client_from_url(url: str, connect_timeout_s: float, socket_timeout_s: float | None = None) -> aioredis.Redis:
    """A client for redis://, rediss://, unix:// or redis+sentinel://host:port[,host:port]/service[/db].

    `socket_timeout_s` bounds every read (redis-py 8 defaults to 5 s; None waits forever); a
    `?socket_timeout=` in the URL wins over it, so read the effective value with `socket_timeout_of`.
    """
    if not url.startswith("redis+sentinel://"):
        return aioredis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=connect_timeout_s, socket_timeout=socket_timeout_s,
            retry=Retry(**RETRY_CONNECTION_ERRORS),
        )
    # redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]
    parts = urlsplit(url)
    hosts = []
    for hostport in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        hosts.append((host, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError(f"{safe_url(url)}: a Sentinel URL needs /service_name")
    sentinel = Sentinel(hosts, socket_connect_timeout=connect_timeout_s, socket_timeout=socket_timeout_s)
    return sentinel.master_for(
        path[0],
        password=unquote(parts.password) if parts.password else None,
        db=int(path[1]) if len(path) > 1 else 0,
        decode_responses=True,
        socket_timeout=socket_timeout_s,
        retry=Retry(**RETRY_CONNECTION_ERRORS),
    )


def socket_timeout_of(client: aioredis.Redis) -> float | None:
    """The read timeout the client's connections really use (None: none)."""
    return client.connection_pool.connection_kwargs.get("socket_timeout")


def block_ms(block_s: float, socket_timeout_s: float | None) -> int:
    """How long one XREAD BLOCK may wait so that Redis always answers before the socket timeout fires.

    A block as long as the socket timeout makes every quiet spell end in a TimeoutError (redis-py 8
    sets 5 s, the same as a 5 s block): the wait is capped at half the timeout.
    """
    if socket_timeout_s is None:
        return max(1, int(block_s * 1000))
    return max(1, int(min(block_s, socket_timeout_s / 2) * 1000))
