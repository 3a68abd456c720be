"""Shared fetch machinery: one aiohttp session, per-request limits, retries and a circuit breaker.

Every collector fetches through a `Fetcher`. It enforces the source's policy (its SourceConfig):
a total timeout per attempt, a cap on the decoded and the compressed body size enforced while
streaming (a gzip bomb stops at the cap, not in memory), retries with exponential backoff and
jitter for retryable failures only, conditional GET, and a host allow-list. Every URL fetched, the
first and each redirect hop (followed by hand), must be http(s) on an allowed host and on the
configured port or the scheme's default; a redirect may not go from https to http. Unless the
source allows private addresses, no URL may reach a loopback/private/link-local address: IP
literals are checked here, names by the resolver on the connection itself
(collectors/public_resolver.py), so the address checked is the address connected to.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import tenacity
from aiohttp.abc import AbstractResolver
from yarl import URL

from collectors.base import CollectorError, PayloadError, SourceConfig
from collectors.public_resolver import PrivateAddress, PublicResolver, check_literal

MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK_BYTES = 64 * 1024

JSON_TYPES = frozenset({"application/json", "application/geo+json", "text/json", "text/plain"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/jpg", "application/octet-stream"})


class FetchError(CollectorError):
    """A request failed before a usable body arrived."""


class FetchTimeout(FetchError):
    """The attempt took longer than the source's timeout_s (slow server or slow drip)."""

    retryable = True


class ConnectionFailed(FetchError):
    """The connection could not be made, was reset, or the body was cut short."""

    retryable = True


class HTTPStatusError(FetchError):
    """The upstream answered with an error status; 5xx and 429 are worth retrying, 4xx not."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.retryable = status >= 500 or status == 429


class CircuitOpen(FetchError):
    """The source failed repeatedly; requests are held off until the cool-down ends."""

    retryable = False


class HostNotAllowed(PayloadError):
    """A URL or redirect points outside the source's allowed hosts or at a private address."""


class BodyTooLarge(PayloadError):
    """The body (decoded or compressed) exceeded the source's max_bytes."""


class ContentTypeError(PayloadError):
    """The response's media type is not one the collector can read (an HTML error page, say)."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One completed request: a body, or not_modified with an empty body on 304."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    not_modified: bool
    latency_ms: float
    final_url: str

    @property
    def etag(self) -> str | None:
        """The response's ETag validator, for the next conditional GET."""
        return self.headers.get("ETag")

    @property
    def last_modified(self) -> str | None:
        """The response's Last-Modified validator, for the next conditional GET."""
        return self.headers.get("Last-Modified")


class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failures -> half-open after `cooldown_s`.

    In half-open state one trial request goes through; its success closes the circuit, its
    failure opens it for another cool-down. The clock is injectable so tests drive time.
    """

    def __init__(self, threshold: int = 5, cooldown_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        """'closed', 'open' or 'half-open' at the current clock time."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def before_request(self) -> None:
        """Raise CircuitOpen unless a request may go out now."""
        state = self.state
        if state == "open" or (state == "half-open" and self._trial_running):
            assert self._opened_at is not None
            wait = max(0.0, self.cooldown_s - (self._clock() - self._opened_at))
            raise CircuitOpen(f"circuit open after {self.failures} consecutive failures; retry in {wait:.0f}s")
        if state == "half-open":
            self._trial_running = True

    def record_success(self) -> None:
        """Close the circuit."""
        self.failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        """Count a failure; open (or re-open) the circuit at the threshold or after a failed trial."""
        self.failures += 1
        if self._trial_running or self.failures >= self.threshold:
            self._opened_at = self._clock()
        self._trial_running = False

    def release_trial(self) -> None:
        """End a half-open trial that neither succeeded nor failed upstream (a payload error)."""
        self._trial_running = False


def _media_type(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Content-Type")
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower()


class Fetcher:
    """Fetches URLs for collectors through shared aiohttp sessions.

    Sources that allow private addresses (the simulator, tests) use `session`: pass the app's, or
    use the Fetcher as an async context manager to own one. Every other source goes through a
    session of the Fetcher's own whose connector resolves through `PublicResolver(resolver)`;
    `close()` (or leaving the context manager) closes it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        resolver: AbstractResolver | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown_s: float = 60.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
        user_agent: str = "bosai-hub/0.1 (+disaster information aggregation)",
    ) -> None:
        self._session = session
        self._owns_session = False
        self._clock = clock
        self._sleep = sleep
        self._resolver = resolver  # the name service under PublicResolver (None: the system's)
        self._public_session: aiohttp.ClientSession | None = None
        self._breaker_threshold = breaker_threshold
        self._breaker_cooldown_s = breaker_cooldown_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._user_agent = user_agent
        self._breakers: dict[str, CircuitBreaker] = {}

    async def __aenter__(self) -> Fetcher:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the sessions the Fetcher made (a session passed in is its owner's to close)."""
        if self._public_session is not None:
            await self._public_session.close()
            self._public_session = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._owns_session = False

    def _session_for(self, policy: SourceConfig) -> aiohttp.ClientSession:
        if policy.allow_private:
            assert self._session is not None
            return self._session
        if self._public_session is None:
            connector = aiohttp.TCPConnector(resolver=PublicResolver(self._resolver))
            self._public_session = aiohttp.ClientSession(connector=connector)
        return self._public_session

    def breaker(self, key: str) -> CircuitBreaker:
        """The circuit breaker of one source (created closed on first use)."""
        if key not in self._breakers:
            self._breakers[key] = CircuitBreaker(self._breaker_threshold, self._breaker_cooldown_s, self._clock)
        return self._breakers[key]

    async def get(
        self,
        url: str,
        policy: SourceConfig,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        content_types: Collection[str] | None = None,
        breaker_key: str | None = None,
    ) -> FetchResult:
        """GET `url` under `policy`; raise a FetchError subclass or a PayloadError on failure.

        `content_types` (media types without parameters) rejects anything else; a response
        without Content-Type passes and is left to the parser. `breaker_key` names the circuit
        (default: the source's configured URL).
        """
        if self._session is None:
            raise RuntimeError("Fetcher has no session: pass one or use 'async with Fetcher()'")
        allowed = {h.lower() for h in policy.allow_hosts}
        if policy.url.host:
            allowed.add(policy.url.host.lower())
        start = URL(url)
        self._check_url(start, policy, allowed, "URL")
        breaker = self.breaker(breaker_key or str(policy.url))
        breaker.before_request()
        started = time.perf_counter()
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(policy.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self._backoff_initial_s, max=self._backoff_max_s)
            + tenacity.wait_random(0, self._backoff_initial_s),
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, CollectorError) and e.retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    status, body, headers, final = await self._attempt(
                        start, policy, allowed, etag, last_modified, content_types
                    )
        except CollectorError as exc:
            if exc.retryable:
                breaker.record_failure()
            else:
                breaker.release_trial()
            raise
        except BaseException:
            breaker.release_trial()  # cancelled mid-trial: let the next poll try again
            raise
        breaker.record_success()
        return FetchResult(
            status=status,
            body=body,
            headers=headers,
            not_modified=status == 304,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            final_url=str(final),
        )

    async def _attempt(
        self,
        url: URL,
        policy: SourceConfig,
        allowed: set[str],
        etag: str | None,
        last_modified: str | None,
        content_types: Collection[str] | None,
    ) -> tuple[int, bytes, Mapping[str, str], URL]:
        request_headers = {"User-Agent": self._user_agent, "Accept-Encoding": "gzip, deflate"}
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        try:
            # One deadline for the whole attempt: connect, every redirect hop and the body.
            async with asyncio.timeout(policy.timeout_s):
                session = self._session_for(policy)
                for hop in range(MAX_REDIRECTS + 1):
                    if hop:
                        self._check_url(url, policy, allowed, "redirect")
                    async with session.get(
                        url, headers=request_headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=None)
                    ) as resp:
                        if resp.status in (301, 302, 303, 307, 308):
                            location = resp.headers.get("Location")
                            if not location:
                                raise ConnectionFailed(f"redirect {resp.status} from {url} without Location")
                            target = url.join(URL(location))
                            if url.scheme == "https" and target.scheme != "https":
                                raise HostNotAllowed(f"redirect from {url} down to {target.scheme}: {target}")
                            url = target
                            continue
                        if resp.status == 304:
                            return 304, b"", resp.headers, url
                        if resp.status >= 400 or resp.status < 200:
                            raise HTTPStatusError(resp.status, str(url))
                        media = _media_type(resp.headers)
                        if content_types is not None and media is not None and media not in content_types:
                            raise ContentTypeError(
                                f"content type {media!r} from {url} is not one of {sorted(content_types)}"
                            )
                        body = await self._read_capped(resp, policy.max_bytes, url)
                        return resp.status, body, resp.headers, url
                raise HostNotAllowed(f"more than {MAX_REDIRECTS} redirects from {url}")
        except TimeoutError:
            raise FetchTimeout(f"no complete response from {url} within {policy.timeout_s:g}s") from None
        except aiohttp.ClientPayloadError as exc:
            raise ConnectionFailed(f"body from {url} cut short or corrupt: {exc}") from None
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, PrivateAddress):
                raise HostNotAllowed(f"{url}: {exc.os_error}") from None
            raise ConnectionFailed(f"cannot resolve {url.host!r}: {exc.os_error}") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientResponseError, OSError) as exc:
            raise ConnectionFailed(f"connection to {url} failed: {exc.__class__.__name__}: {exc}") from None

    @staticmethod
    def _check_url(url: URL, policy: SourceConfig, allowed: set[str], what: str) -> None:
        """Refuse a URL (the first or a redirect hop) outside what the source configures."""
        host = (url.host or "").lower()
        if url.scheme not in DEFAULT_PORTS:
            raise HostNotAllowed(f"{what} {url} is not an http(s) URL")
        if host not in allowed:
            raise HostNotAllowed(f"{what} to host {host!r} ({url}) is not allowed for this source")
        # Another port on an allowed host is another service (a database, an admin console).
        if url.port not in (policy.url.port, DEFAULT_PORTS[url.scheme]):
            raise HostNotAllowed(f"{what} {url}: port {url.port} is neither the configured one nor the default")
        if not policy.allow_private:
            try:
                check_literal(host)
            except PrivateAddress as exc:
                raise HostNotAllowed(f"{what} {url}: {exc}") from None

    @staticmethod
    async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int, url: URL) -> bytes:
        declared = resp.content_length
        if declared is not None and declared > max_bytes:
            raise BodyTooLarge(f"{url} declares {declared} bytes, over the cap of {max_bytes}")
        chunks: list[bytes] = []
        size = 0
        # aiohttp decompresses as it reads, so `size` counts decoded bytes: a gzip bomb is
        # stopped at the cap. total_raw_bytes bounds the compressed stream as well.
        async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes or resp.content.total_raw_bytes > max_bytes:
                raise BodyTooLarge(f"body of {url} exceeds the cap of {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

