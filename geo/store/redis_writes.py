"""The commands one Redis `apply` queues inside its MULTI/EXEC, grouped per key.

Kept apart from the store class so the write plan can be read (and benchmarked) on its own:
events, metadata and index sets are written with one command per key rather than per event.
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from geo.model import Event, Kind
from geo.store.base import Batch, ChangeOp, FeedEntry, OutboxMessage
from geo.store.redis_keys import RedisKeys
from geo.store.rows import from_us, geometry_bbox, message_json, opt_us, to_us

GEO_MAX_LAT = 85.05112878  # Redis GEO cannot index beyond this latitude
PRIORITY_SPAN = 2**40  # rank = -priority * span + insertion order; exact in a double for |priority| < 4096


def event_meta(event: Event) -> dict[str, Any]:
    """The compact record queries filter on before loading whole events."""
    bbox = geometry_bbox(event.geometry)
    point = None
    if event.geometry and event.geometry.get("type") == "Point" and bbox and abs(bbox[1]) <= GEO_MAX_LAT:
        point = [bbox[0], bbox[1]]
    return {
        "v": event.version,
        "k": event.kind.value,
        "l": event.level,
        "st": event.state.value,
        "s": event.status.value,
        "src": event.source.source_id,
        "a": list(event.areas),
        "b": list(bbox) if bbox else None,
        "p": point,
    }


def message_rank(message: OutboxMessage, order: int) -> int:
    """Claim order: higher priority first, then insertion order."""
    if not -4096 < message.priority < 4096:
        raise ValueError(f"outbox message {message.id}: priority {message.priority} outside -4095..4095")
    return -message.priority * PRIORITY_SPAN + order


class WritePlan:
    """Accumulates one batch's writes and queues them on a pipeline in MULTI mode."""

    def __init__(self, keys: RedisKeys, old_meta: dict[str, dict[str, Any] | None]) -> None:
        self.keys = keys
        self.old = old_meta
        self.new: dict[str, dict[str, Any]] = {}
        self.events: dict[str, str] = {}
        self.versions: dict[str, dict[int, str]] = defaultdict(dict)
        self.feed: list[tuple[str, dict[str, Any]]] = []

    def add_change(self, seq: int, op: str, event: Event, at_us: int) -> None:
        """One event version: current record, history, feed entry."""
        data = event.model_dump_json()
        self.events[event.id] = data
        self.versions[event.id][event.version] = data
        self.new[event.id] = event_meta(event)
        self.feed.append(
            (f"{seq}-0", {"op": op, "id": event.id, "kind": event.kind.value, "v": event.version, "at": at_us})
        )

    def queue(self, pipe: Any) -> None:
        """Queue event, history, index and feed commands."""
        k = self.keys
        if not self.events:
            return
        pipe.hset(k.events, mapping=self.events)
        pipe.hset(k.meta, mapping={i: json.dumps(m, separators=(",", ":")) for i, m in self.new.items()})
        for event_id, versions in self.versions.items():
            pipe.hset(k.versions(event_id), mapping=versions)
        adds: dict[str, list[str]] = defaultdict(list)
        removes: dict[str, list[str]] = defaultdict(list)
        geo_add: list[Any] = []
        for event_id, new in self.new.items():
            old = self.old.get(event_id) or {}
            for key_of, field in ((k.kind, "k"), (k.source, "src")):
                if old.get(field) != new[field]:
                    if field in old:
                        removes[key_of(old[field])].append(event_id)
                    adds[key_of(new[field])].append(event_id)
            old_areas, new_areas = set(old.get("a", ())), set(new["a"])
            for code in old_areas - new_areas:
                removes[k.area(code)].append(event_id)
            for code in new_areas - old_areas:
                adds[k.area(code)].append(event_id)
            old_shape, new_shape = _is_shape(old), _is_shape(new)
            if old.get("p") and not new["p"]:
                pipe.zrem(k.geo, event_id)
            if new["p"] and new["p"] != old.get("p"):
                geo_add += [new["p"][0], new["p"][1], event_id]
            if old_shape and not new_shape:
                removes[k.shapes].append(event_id)
            if new_shape and not old_shape:
                adds[k.shapes].append(event_id)
        for key, members in removes.items():
            pipe.srem(key, *members)
        for key, members in adds.items():
            pipe.sadd(key, *members)
        if geo_add:
            pipe.geoadd(k.geo, geo_add)
        for stream_id, fields in self.feed:
            pipe.xadd(k.feed, fields, id=stream_id)


def _is_shape(meta: dict[str, Any]) -> bool:
    # Anything with a bbox that is not indexed as a GEO point is found by scanning the shapes set.
    return bool(meta) and meta.get("b") is not None and not meta.get("p")


def queue_observations(pipe: Any, keys: RedisKeys, batch: Batch) -> None:
    """Upsert readings: per station one ZADD of times and one HSET of values."""
    times: dict[str, dict[str, int]] = defaultdict(dict)
    values: dict[str, dict[str, str]] = defaultdict(dict)
    for o in batch.observations:
        us = to_us(o.time)
        times[o.station][str(us)] = us
        values[o.station][str(us)] = f"{'' if o.value is None else repr(float(o.value))}|{o.quality}"
    for station, members in times.items():
        pipe.zadd(keys.obs_times(station), members)
        pipe.hset(keys.obs_values(station), mapping=values[station])


def queue_outbox(pipe: Any, keys: RedisKeys, messages: list[OutboxMessage], order: int) -> int:
    """Enqueue new messages (already filtered for exactly-once); returns the last insertion order."""
    if not messages:
        return order
    pipe.hset(keys.outbox_messages, mapping={m.id: message_json(m) for m in messages})
    pipe.sadd(keys.outbox_channels, *{m.channel for m in messages})
    for m in messages:
        order += 1
        rank = message_rank(m, order)
        state = {"id": m.id, "channel": m.channel, "state": "pending", "attempts": 0, "rank": rank, "order": order}
        if m.not_before is not None:
            state["not_before"] = opt_us(m.not_before)
            pipe.zadd(keys.outbox_delayed(m.channel), {m.id: state["not_before"]})
        else:
            pipe.zadd(keys.outbox_ready(m.channel), {m.id: rank})
        pipe.hset(keys.outbox_state(m.id), mapping=state)
    return order


def feed_entry(stream_id: str, fields: dict[str, str]) -> FeedEntry:
    """A FeedEntry from a feed stream record."""
    return FeedEntry(
        seq=int(stream_id.split("-", 1)[0]),
        op=ChangeOp(fields["op"]),
        event_id=fields["id"],
        kind=Kind(fields["kind"]),
        version=int(fields["v"]),
        at=from_us(int(fields["at"])),
    )
