"""The SQLite store's schema: tables, the R*Tree bbox index and the statements `apply` runs.

`apply` maintains the bbox and area indexes itself with executemany, writing only rows whose
geometry or areas changed (measured: row triggers doubled the time of a 10,000-event snapshot).
"""
from __future__ import annotations

SCHEMA_VERSION = 2

# What brings a file of schema version N to N + 1 (each step one script, run in order at open).
MIGRATIONS = {
    1: "ALTER TABLE outbox ADD COLUMN receipt TEXT; ALTER TABLE outbox ADD COLUMN unknown_at INTEGER;",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    level INTEGER NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    source_id TEXT NOT NULL,
    areas TEXT NOT NULL,              -- JSON array of JIS codes
    min_lon REAL, min_lat REAL, max_lon REAL, max_lat REAL,
    data TEXT NOT NULL                -- the Event as pydantic JSON
);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind);
CREATE INDEX IF NOT EXISTS events_source ON events(source_id);

CREATE VIRTUAL TABLE IF NOT EXISTS event_bbox USING rtree(rid, min_lon, max_lon, min_lat, max_lat);

CREATE TABLE IF NOT EXISTS event_areas (
    area TEXT NOT NULL,
    rid INTEGER NOT NULL,
    PRIMARY KEY (area, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_areas_rid ON event_areas(rid);


CREATE TABLE IF NOT EXISTS event_versions (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (id, version)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS observations (
    station TEXT NOT NULL,
    t INTEGER NOT NULL,               -- microseconds since the epoch, UTC
    value REAL,
    quality TEXT NOT NULL,
    PRIMARY KEY (station, t)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS outbox (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,   -- insertion order breaks priority ties
    id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    message TEXT NOT NULL,                   -- immutable part, JSON
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    lease_token TEXT,
    lease_until INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    receipt TEXT,                            -- the channel's answer once sent, JSON
    unknown_at INTEGER                       -- when a send was found interrupted
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(channel, state, priority DESC, rid);

CREATE TABLE IF NOT EXISTS feed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS source_status (
    source_id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

UPSERT_EVENT = """
INSERT INTO events (rid, id, kind, version, level, state, status, source_id, areas,
                    min_lon, min_lat, max_lon, max_lat, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(id) DO UPDATE SET
    kind = excluded.kind, version = excluded.version, level = excluded.level,
    state = excluded.state, status = excluded.status, source_id = excluded.source_id,
    areas = excluded.areas, min_lon = excluded.min_lon, min_lat = excluded.min_lat,
    max_lon = excluded.max_lon, max_lat = excluded.max_lat, data = excluded.data
"""
INSERT_VERSION = "INSERT INTO event_versions (id, version, data) VALUES (?, ?, ?)"
INSERT_FEED = "INSERT INTO feed (seq, op, event_id, kind, version, at) VALUES (?, ?, ?, ?, ?, ?)"
UPSERT_OBSERVATION = "INSERT OR REPLACE INTO observations (station, t, value, quality) VALUES (?, ?, ?, ?)"
INSERT_OUTBOX = """
INSERT OR IGNORE INTO outbox (id, channel, message, priority, state, not_before)
VALUES (?, ?, ?, ?, 'pending', ?)
"""
DELETE_BBOX = "DELETE FROM event_bbox WHERE rid = ?"
INSERT_BBOX = "INSERT INTO event_bbox (rid, min_lon, max_lon, min_lat, max_lat) VALUES (?, ?, ?, ?, ?)"
DELETE_AREAS = "DELETE FROM event_areas WHERE rid = ?"
INSERT_AREA = "INSERT INTO event_areas (area, rid) VALUES (?, ?)"
