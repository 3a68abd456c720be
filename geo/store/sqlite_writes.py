"""What the SQLite store runs inside its write transactions: one batch, one claim, one settle.

Kept apart from the store class, which owns the connection, the worker thread and the reads.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from geo.store import sqlite_schema as sql
from geo.store.base import Batch, Change, ChangeOp, FeedEntry
from geo.store.rows import (
    areas_json,
    check_versions,
    dumps,
    geometry_bbox,
    message_json,
    opt_us,
    to_us,
)


def last_seq(conn: sqlite3.Connection) -> int:
    """The highest feed sequence number ever assigned (0 for a new store)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='feed'").fetchone()
    return row[0] if row else 0


def apply_batch(conn: sqlite3.Connection, batch: Batch, at: datetime) -> list[FeedEntry]:
    """Write a batch inside the caller's transaction; raises VersionConflict before writing anything."""
    entries: list[FeedEntry] = []
    if batch.changes:
        entries = _apply_changes(conn, batch.changes, at)
    if batch.observations:
        conn.executemany(
            sql.UPSERT_OBSERVATION,
            [(o.station, to_us(o.time), o.value, o.quality) for o in batch.observations],
        )
    if batch.outbox:
        conn.executemany(
            sql.INSERT_OUTBOX,
            [(m.id, m.channel, message_json(m), m.priority, opt_us(m.not_before) or 0) for m in batch.outbox],
        )
    return entries

def _apply_changes(conn: sqlite3.Connection, changes: Sequence[Change], at: datetime) -> list[FeedEntry]:
    ids = dumps(sorted({c.event.id for c in changes}))
    stored = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT id, version, rid, areas, min_lon, min_lat, max_lon, max_lat FROM events "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
    }
    check_versions(changes, {i: row[0] for i, row in stored.items()})
    (next_rid,) = conn.execute("SELECT coalesce(max(rid), 0) + 1 FROM events").fetchone()
    at_us = to_us(at)
    seq = last_seq(conn)
    events, versions, feed, entries = [], [], [], []
    final: dict[str, tuple[Any, ...]] = {}  # id -> rid, areas JSON, bbox, areas after the batch
    for change in changes:
        e = change.event
        data = e.model_dump_json()
        box = geometry_bbox(e.geometry) or (None, None, None, None)
        areas = areas_json(e.areas)
        if e.id in final:
            rid = final[e.id][0]
        elif e.id in stored:
            rid = stored[e.id][1]
        else:
            rid, next_rid = next_rid, next_rid + 1
        final[e.id] = (rid, areas, box, e.areas)
        # StrEnum members bind as their text, so no .value lookups on this hot path.
        events.append((rid, e.id, e.kind, e.version, e.level, e.state, e.status, e.source.source_id, areas, *box, data))
        versions.append((e.id, e.version, data))
        seq += 1
        feed.append((seq, change.op, e.id, e.kind, e.version, at_us))
        entries.append(FeedEntry(seq, ChangeOp(change.op), e.id, e.kind, e.version, at))
    conn.executemany(sql.UPSERT_EVENT, events)
    conn.executemany(sql.INSERT_VERSION, versions)
    conn.executemany(sql.INSERT_FEED, feed)
    _index(conn, stored, final)
    return entries

def _index(conn: sqlite3.Connection, stored: dict[str, tuple[Any, ...]], final: dict[str, Any]) -> None:
    """Bring the bbox and area indexes in line, touching only events whose geometry or areas moved."""
    del_box, add_box, del_areas, add_areas = [], [], [], []
    for event_id, (rid, areas, box, codes) in final.items():
        old = stored.get(event_id)
        if old is None or tuple(old[3:]) != box:
            if old is not None and old[3] is not None:
                del_box.append((rid,))
            if box[0] is not None:
                add_box.append((rid, box[0], box[2], box[1], box[3]))
        if old is None or old[2] != areas:
            if old is not None:
                del_areas.append((rid,))
            add_areas += [(code, rid) for code in codes]
    conn.executemany(sql.DELETE_BBOX, del_box)
    conn.executemany(sql.INSERT_BBOX, add_box)
    conn.executemany(sql.DELETE_AREAS, del_areas)
    conn.executemany(sql.INSERT_AREA, add_areas)
