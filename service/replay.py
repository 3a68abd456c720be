"""`bosai replay`: recorded upstream payloads through the same parsers and pipeline, on a throwaway store.

Each payload is mapped by its collector module's mapping function (payload -> Snapshot); no
collector is built, since nothing is fetched.

Files run in argument order, a directory's files in name order. Every resulting change is printed
as one JSON line; a file that cannot be parsed is reported on stderr with the reason, the rest
still run, and the exit status is then 1. Channels run dry: nothing leaves the machine.
"""
from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from collectors.base import PayloadError, Snapshot
from collectors.jma_feed import report_snapshot
from geo.codes import AreaCodes
from geo.model import Event
from geo.region import Region
from geo.store.base import FeedEntry, Store
from geo.store.sqlite import SQLiteStore
from service.pipeline import Pipeline
from service.settings import ConfigError, load_settings

SOURCE_ID = "replay"

# A payload reader: bytes -> Snapshot. Chosen by sniffing, so recorded files need no naming scheme.
Reader = Callable[[bytes, str, AreaCodes, bool], Snapshot]


def read_jma(data: bytes, name: str, codes: AreaCodes, all_areas: bool) -> Snapshot:
    """A JMA XML report (a 取消 also undoes the report it cancels), read as the feed collector reads it."""
    return report_snapshot(data, codes, SOURCE_ID, name, all_areas)


def readers_for(data: bytes) -> list[Reader]:
    """The readers that may understand `data`, most likely first."""
    head = data.lstrip()[:1]
    if head == b"<":
        return [read_jma]
    if head in (b"{", b"["):
        from service.replay_json import JSON_READERS

        return list(JSON_READERS)
    return []


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files in argument order; a directory's regular files in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file()))
        else:
            files.append(path)
    return files


def change_line(entry: FeedEntry, event: Event) -> str:
    """One change as a JSON line."""
    return json.dumps(
        {
            "op": entry.op.value,
            "id": event.id,
            "kind": event.kind.value,
            "level": event.level,
            "state": event.state.value,
            "status": event.status.value,
            "areas": list(event.areas),
            "version": event.version,
            "title": event.title,
            "issued_at": event.issued_at.isoformat() if event.issued_at else None,
        },
        ensure_ascii=False,
    )


def parse_file(path: Path, codes: AreaCodes, all_areas: bool) -> Snapshot:
    """The snapshot of one recorded payload, or PayloadError naming why not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PayloadError(f"cannot read: {exc.strerror}") from None
    readers = readers_for(data)
    if not readers:
        raise PayloadError("neither XML nor JSON")
    errors = []
    for reader in readers:
        try:
            return reader(data, str(path), codes, all_areas)
        except PayloadError as exc:
            errors.append(str(exc))
    raise PayloadError(errors[0] if len(errors) == 1 else " / ".join(errors))


async def run(
    files: list[Path], store: Store, codes: AreaCodes, all_areas: bool, enrich=None, out=sys.stdout, err=sys.stderr
) -> int:
    """Replay `files` into `store`, printing changes; 1 if any file failed, else 0."""
    pipeline = Pipeline(store, codes, all_areas=all_areas, enrich=enrich)
    failed = 0
    for path in files:
        try:
            snapshot = parse_file(path, codes, all_areas)
        except PayloadError as exc:
            failed += 1
            print(f"{path}: {exc}", file=err)
            continue
        entries = await pipeline.ingest(snapshot)
        for entry in entries:
            event = await store.get(entry.event_id)
            if event is not None:
                print(change_line(entry, event), file=out)
    for reason, count in sorted(pipeline.rejected.items()):
        print(f"rejected {count} event(s) for {reason} (reasons logged above)", file=err)
    return 1 if failed else 0


def replay(paths: list[Path], config: str | None = None, all_areas: bool = False) -> int:
    """Entry point of `bosai replay`."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if all_areas:  # events from anywhere: no region to enrich them with
        codes, enrich = AreaCodes.load(settings.region.areas_file), None
    else:
        geo = Region.load(settings.region)
        codes, enrich = geo.codes, geo.enricher()
    missing = [p for p in paths if not p.exists()]
    for p in missing:
        print(f"{p}: no such file or directory", file=sys.stderr)
    files = expand(p for p in paths if p.exists())

    async def go() -> int:
        with tempfile.TemporaryDirectory(prefix="bosai-replay-") as tmp:
            store = SQLiteStore(Path(tmp) / "replay.sqlite3")
            await store.open()
            try:
                return await run(files, store, codes, all_areas, enrich)
            finally:
                await store.close()

    status = asyncio.run(go())
    return 1 if missing else status
