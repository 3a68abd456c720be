"""GET /api/v1/stream: the change feed as Server-Sent Events.

Every event's `id:` is its feed sequence number, so a browser's EventSource reconnects with
Last-Event-ID and resumes after exactly the last change it saw (the store's `subscribe(after_seq)`
gives each entry once and in order). Without Last-Event-ID the stream starts at the current head.
Comment lines keep idle connections (and proxies) alive; on shutdown every open stream is told
to end and finishes its response cleanly instead of holding the server until it is cancelled.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from aiohttp import web

from geo.store.base import FeedEntry
from service import edge
from service.api import check_params
from service.change_feed import feed_head
from service.errors import BadRequest
from service.keys import STORE_KEY

routes = web.RouteTableDef()

HEARTBEAT_S = 15.0
RETRY_MS = 3000  # how soon a browser reconnects after the stream ends
QUEUE_SIZE = 1000  # a client this far behind is dropped; it resumes with Last-Event-ID


class Streams:
    """Open SSE streams of one app, so shutdown can end them."""

    def __init__(self, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.heartbeat_s = heartbeat_s
        self.closing = asyncio.Event()
        self.open = 0


STREAMS_KEY: web.AppKey[Streams] = web.AppKey("sse_streams", Streams)


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


async def _pump(source: AsyncIterator[FeedEntry], queue: asyncio.Queue) -> None:
    try:
        async for entry in source:
            queue.put_nowait(entry)
    except asyncio.QueueFull:
        pass  # a reader this far behind ends its stream after what it has; the client resumes
    finally:
        with contextlib.suppress(Exception):
            await source.aclose()  # type: ignore[attr-defined]


@routes.get("/api/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """Changes as they are committed: `event: change`, `id:` the feed sequence number."""
    check_params(request.query, frozenset())
    streams = request.app[STREAMS_KEY]
    store = request.app[STORE_KEY]
    after = parse_last_event_id(request)
    if after is None:
        head = await feed_head(store)
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
    queue: asyncio.Queue[FeedEntry] = asyncio.Queue(QUEUE_SIZE)
    pump = asyncio.create_task(_pump(store.subscribe(after), queue))
    closing = asyncio.create_task(streams.closing.wait())
    streams.open += 1
    try:
        while not streams.closing.is_set():
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, closing, pump}, timeout=streams.heartbeat_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await response.write(entry_message(getter.result()))
                while not queue.empty():
                    await response.write(entry_message(queue.get_nowait()))
                continue
            getter.cancel()
            if pump in done:
                break  # the subscription ended (store error or an overrun reader): the client resumes
            if not done:
                await response.write(b": heartbeat\n\n")
        if streams.closing.is_set():
            await response.write(b"event: shutdown\ndata: {}\n\n")
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away: nothing to finish
    finally:
        streams.open -= 1
        for task in (pump, closing):
            task.cancel()
        await asyncio.gather(pump, closing, return_exceptions=True)
    return response


async def _close_streams(app: web.Application) -> None:
    app[STREAMS_KEY].closing.set()
    for _ in range(100):  # up to a second for the handlers to write their last message
        if app[STREAMS_KEY].open == 0:
            return
        await asyncio.sleep(0.01)


def install(app: web.Application, heartbeat_s: float = HEARTBEAT_S) -> None:
    """Register the stream route and the shutdown hook that ends open streams."""
    app[STREAMS_KEY] = Streams(heartbeat_s)
    app.on_shutdown.append(_close_streams)
    edge.add_routes(app, routes)
