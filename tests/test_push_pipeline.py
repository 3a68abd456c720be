"""The pipeline hands the rules the version each change replaces (取消 included), on both stores."""
from __future__ import annotations

import pytest

from collectors.base import Cancellation, Snapshot
from geo.codes import AreaCodes
from geo.model import Event, Kind, SourceRef, State
from geo.store import open_store
from geo.store.base import ChangeOp
from service.pipeline import Pipeline


@pytest.fixture(params=["sqlite", "redis"])
async def store(request, tmp_path, clock):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else str(tmp_path / "s.sqlite3")
    s = open_store(url, clock=clock)
    await s.open()
    yield s
    await s.close()


def sediment(code: str, serial: int, level: int = 4, **kw) -> Event:
    return Event(
        id=f"sediment:{code}", kind=Kind.SEDIMENT_WARNING, level=level, areas=(code,), title="土砂災害警戒情報",
        source=SourceRef(source_id="jma", upstream_id="EV1", sequence=serial), **kw,
    )


async def test_rules_see_the_version_a_cancellation_replaces(store, clock):
    seen: list[tuple[str, ChangeOp, int, int | None, State | None]] = []

    def rules(change, previous):
        seen.append((change.event.id, change.op, change.event.version,
                     None if previous is None else previous.version, None if previous is None else previous.state))
        return ()

    pipeline = Pipeline(store, AreaCodes.load(), clock=clock, rules=rules)
    await pipeline.ingest(Snapshot("jma", [sediment("17201", 4)]))
    await pipeline.ingest(Snapshot("jma", [sediment("17201", 5, text="継続"), sediment("17463", 5)]))
    seen.clear()
    await pipeline.ingest(Snapshot("jma", [], cancellations=[Cancellation("EV1", 6)]))
    assert sorted(seen) == [
        ("sediment:17201", ChangeOp.UPDATED, 3, 2, State.ACTIVE),  # restored: it replaces version 2
        ("sediment:17463", ChangeOp.CANCELLED, 2, 1, State.ACTIVE),  # the warning it retracts
    ]
