"""GET /api/v1/stream: the change feed as Server-Sent Events.

Every event's `id:` is its feed sequence number, so a browser's EventSource reconnects with
Last-Event-ID and resumes after exactly the last change it saw (the backlog from the store, then
the app's one subscription, the fan-out in service/change_feed.py, each entry once and in order).
Without Last-Event-ID the stream starts at the current head. While the store is unreachable an
open stream stays open with heartbeats and goes on where it was once the fan-out resumes.
Comment lines keep idle connections (and proxies) alive; on shutdown every open stream is told
to end and finishes its response cleanly instead of holding the server until it is cancelled.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from geo.store.base import FeedEntry, Store, StoreError
from service.change_feed import FeedFanout
from service.keys import STORE_KEY, STORE_READY_KEY
from service.supervisor import SUPERVISOR_KEY
from service.web import route_guard
from service.web.api import check_params
from service.web.errors import BadRequest

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

HEARTBEAT_S = 15.0
RETRY_MS = 3000  # how soon a browser reconnects after the stream ends
QUEUE_SIZE = 1000  # a client this far behind is dropped; it resumes with Last-Event-ID
BACKLOG_BATCH = 1000  # feed entries read at a time for a client resuming with Last-Event-ID
FANOUT_TASK = "change_feed_fanout"  # its name in /healthz, /readyz and /metrics


class Streams:
    """Open SSE streams of one app, so shutdown can end them."""

    def __init__(self, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.heartbeat_s = heartbeat_s
        self.closing = asyncio.Event()
        self.open = 0


STREAMS_KEY: web.AppKey[Streams] = web.AppKey("sse_streams", Streams)
FANOUT_KEY: web.AppKey[FeedFanout] = web.AppKey("feed_fanout", FeedFanout)


def entry_message(entry: FeedEntry) -> bytes:
    """One SSE message for a feed entry."""
    data = {
        "seq": entry.seq,
        "op": entry.op.value,
        "event_id": entry.event_id,
        "kind": entry.kind.value,
        "version": entry.version,
        "at": entry.at.isoformat(),
    }
    return f"id: {entry.seq}\nevent: change\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def parse_last_event_id(request: web.Request) -> int | None:
    """The sequence number to resume after, from the Last-Event-ID header; None when absent."""
    value = request.headers.get("Last-Event-ID", "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise BadRequest(f"Last-Event-ID must be a feed sequence number, got {value[:40]!r}")
    return int(value)


async def _write_backlog(response: web.StreamResponse, store: Store, after: int) -> int:
    """Write every entry committed after `after` up to now; the seq of the last one written."""
    while batch := await store.feed_since(after, limit=BACKLOG_BATCH):
        for entry in batch:
            await response.write(entry_message(entry))
        after = batch[-1].seq
    return after


@routes.get("/api/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """Changes as they are committed: `event: change`, `id:` the feed sequence number."""
    check_params(request.query, frozenset())
    streams = request.app[STREAMS_KEY]
    store = request.app[STORE_KEY]
    after = parse_last_event_id(request)
    if after is None:
        head = await store.feed_head()
        after = head.seq if head else 0
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass each message on at once
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n: resuming after {after}\n\n".encode())
    closing = asyncio.create_task(streams.closing.wait())
    getter: asyncio.Task | None = None
    streams.open += 1
    # Listen first, then read what was committed since `after`: an entry is in the backlog, or the
    # fan-out reads it after we listen, or both (then it is skipped by its seq).
    with request.app[FANOUT_KEY].listen(QUEUE_SIZE) as listener:
        try:
            last = await _write_backlog(response, store, after)
            while not streams.closing.is_set():
                getter = asyncio.create_task(listener.queue.get())
                done, _ = await asyncio.wait({getter, closing}, timeout=streams.heartbeat_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    if not done:
                        await response.write(b": heartbeat\n\n")  # also while the store is down
                    continue
                entry = getter.result()
                if entry is None:
                    break  # this reader fell too far behind: the client resumes with Last-Event-ID
                if entry.seq > last:
                    await response.write(entry_message(entry))
                    last = entry.seq
            if streams.closing.is_set():
                await response.write(b"event: shutdown\ndata: {}\n\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away: nothing to finish
        except StoreError as exc:
            # The backlog could not be read: end the stream; the browser reconnects with Last-Event-ID.
            log.warning("sse_backlog_failed", error=str(exc))
        finally:
            streams.open -= 1
            # Also when the handler itself is cancelled (shutdown, the client gone) mid-wait: a
            # waiter left pending was destroyed with the loop ("Task was destroyed but it is pending").
            waiters = [t for t in (closing, getter) if t is not None]
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
    return response


async def _close_streams(app: web.Application) -> None:
    app[STREAMS_KEY].closing.set()
    for _ in range(100):  # up to a second for the handlers to write their last message
        if app[STREAMS_KEY].open == 0:
            return
        await asyncio.sleep(0.01)


async def fanout_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the change-feed fan-out, supervised, once the store is open; stop it on shutdown."""

    async def start() -> None:
        await app[STORE_READY_KEY].wait()
        await app[FANOUT_KEY].run()

    app[SUPERVISOR_KEY].start(FANOUT_TASK, start)
    yield
    await app[SUPERVISOR_KEY].stop(FANOUT_TASK)


def install(app: web.Application, heartbeat_s: float = HEARTBEAT_S) -> None:
    """Register the stream route, the fan-out feeding every stream, and the shutdown hook that ends them."""
    app[STREAMS_KEY] = Streams(heartbeat_s)
    app[FANOUT_KEY] = FeedFanout(app[STORE_KEY])
    app.cleanup_ctx.append(fanout_ctx)
    app.on_shutdown.append(_close_streams)
    route_guard.add_routes(app, routes)
