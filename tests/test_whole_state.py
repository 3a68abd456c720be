"""A report is the whole state of its scope: series with reports left out, restarts, late reports,
every serial of one poll, flood 取消 without items, on real JMA samples and copies built from them."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from collectors.base import Snapshot
from geo.codes import AreaCodes
from geo.model import State
from geo.store import open_store
from geo.store.sqlite import SQLiteStore
from service.pipeline import Pipeline
from service.replay import read_jma
from tests.upstreams import SAMPLES

CODES = AreaCodes.load()
R06 = SAMPLES.parent / "samples_r06"
OKAYAMA = sorted(SAMPLES.glob("17_03_*_VXWW50.xml"), key=lambda p: int(p.name.split("_")[2]))
OSHIMA = sorted(SAMPLES.glob("17_02_*_VXWW50.xml"))
KANAGAWA = sorted(SAMPLES.glob("17_04_*_VXWW50.xml"))
MUNICIPALITY_WARNING = "気象警報・注意報（市町村等）"


def snapshot(data: bytes, name: str = "report.xml") -> Snapshot:
    return read_jma(data, name, CODES, True)


async def ingest(pipeline: Pipeline, *docs: bytes) -> None:
    for data in docs:
        await pipeline.ingest(snapshot(data))


async def active(store) -> dict[str, int]:
    return {e.id: e.level for e in await store.query(include_exercise=True)}


def stated(data: bytes) -> dict[str, int]:
    """What one report keeps in force, read alone."""
    return {e.id: e.level for e in snapshot(data).events if e.state == State.ACTIVE}


@pytest.fixture(params=["sqlite", "redis"])
async def store(request, tmp_path):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else str(tmp_path / "bosai.sqlite3")
    s = open_store(url)
    await s.open()
    yield s
    await s.close()


def later(data: bytes, hours: float) -> bytes:
    """A copy of a report issued `hours` later (every date-time in it moved)."""
    def move(match: re.Match) -> bytes:
        moment = datetime.fromisoformat(match.group(1).decode()) + timedelta(hours=hours)
        return b">" + moment.isoformat().encode() + b"<"
    return re.sub(rb">(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)<", move, data)


def nothing_in_force(data: bytes, keep: int = 0) -> bytes:
    """A weather report's copy where municipality items after the first `keep` list 「発表警報・注意報はなし」."""
    text = data.decode()
    start = text.index(f'<Warning type="{MUNICIPALITY_WARNING}">')
    end = text.index("</Warning>", start)
    items = list(re.finditer(r"<Item>.*?</Item>", text[start:end], re.S))
    section = text[start:end]
    for item in reversed(items[keep:]):
        body = re.sub(r"<Kind>.*</Kind>", "<Kind><Status>発表警報・注意報はなし</Status></Kind>", item.group(0), flags=re.S)
        section = section[: item.start()] + body + section[item.end():]
    return (text[:start] + section + text[end:]).encode()


@pytest.mark.parametrize("series", [OKAYAMA, OSHIMA, KANAGAWA], ids=["岡山", "渡島・檜山", "神奈川"])
async def test_vxww50_with_any_report_left_out_ends_as_its_last_report_says(series, tmp_path):
    for left_out in range(len(series)):
        store = SQLiteStore(tmp_path / f"{series[0].name}-{left_out}.sqlite3")
        await store.open()
        try:
            read = [p.read_bytes() for i, p in enumerate(series) if i != left_out]
            await ingest(Pipeline(store, CODES, all_areas=True), *read)
            assert await active(store) == stated(read[-1]), f"without {series[left_out].name}"
        finally:
            await store.close()


async def test_okayama_without_its_big_lift_ends_nothing_active(store):
    read = [p.read_bytes() for p in OKAYAMA if "_08_" not in p.name]  # 17_03_08 lifts 13 towns, never read
    await ingest(Pipeline(store, CODES, all_areas=True), *read)
    assert await active(store) == {}
    ended = {e.id: e for e in await store.query(include_ended=True)}
    assert ended["sediment:33100"].state == State.LIFTED
    assert ended["sediment:33100"].properties["ended_reason"].startswith("not in force in 岡山県土砂災害警戒情報")


async def test_a_restart_between_reports_reaches_the_state_in_force(tmp_path):
    path = tmp_path / "outlived.sqlite3"
    first = open_store(str(path))
    await first.open()
    await ingest(Pipeline(first, CODES, all_areas=True), *(p.read_bytes() for p in OKAYAMA[:7]))
    assert len(await active(first)) == 22
    await first.close()
    # the service restarts against the store that outlived the storm; 17_03_08 was never read and the
    # long feed's newest report is 17_03_09, which keeps only 倉敷市 (3320200 was lifted in 08)
    again = open_store(str(path))
    await again.open()
    try:
        await ingest(Pipeline(again, CODES, all_areas=True), OKAYAMA[8].read_bytes())
        assert await active(again) == stated(OKAYAMA[8].read_bytes()) == {"sediment:33207": 4}
    finally:
        await again.close()


async def test_a_report_read_late_is_superseded_by_the_newer_one(store):
    pipeline = Pipeline(store, CODES, all_areas=True)
    await ingest(pipeline, *(p.read_bytes() for p in OKAYAMA[:7]), OKAYAMA[8].read_bytes())
    await ingest(pipeline, OKAYAMA[7].read_bytes())  # 17_03_08 failed and reads only now
    assert await active(store) == {"sediment:33207": 4}
    # and after a restart the same holds (the order is read back from the store)
    await ingest(Pipeline(store, CODES, all_areas=True), OKAYAMA[6].read_bytes())
    assert await active(store) == {"sediment:33207": 4}


async def test_a_new_storm_with_serials_from_one_again_is_not_older(store):
    pipeline = Pipeline(store, CODES, all_areas=True)
    await ingest(pipeline, *(p.read_bytes() for p in OSHIMA))
    assert await active(store) == {}
    again = later(OSHIMA[0].read_bytes(), 24 * 30)  # next month: Serial 1 of the same EventID
    await ingest(pipeline, again)
    assert await active(store) == {"sediment:01331": 4, "sediment:01332": 4}


WEATHER = [
    SAMPLES / "15_14_01_170216_VPWW53.xml",  # old format, 特別警報 and 警報 in 東京都
    SAMPLES / "15_17_01_250123_VPWW54.xml",  # old format with a Body/Notice level
    R06 / "15_17_01_251222_VPWW55.xml",  # Ｒ０６ 大雨
    R06 / "15_17_01_251222_VPWW56.xml",  # Ｒ０６ 土砂
    R06 / "15_16_02_250630_VPWW57.xml",  # Ｒ０６ 高潮
]


@pytest.mark.parametrize("path", WEATHER, ids=lambda p: p.name)
async def test_weather_series_without_its_lift_ends_with_nothing_active(store, path):
    issued = path.read_bytes()
    assert stated(issued), "the report has warnings in force"
    # the 解除 report was never read; three hours later a report lists nothing in force
    await ingest(Pipeline(store, CODES, all_areas=True), issued, later(nothing_in_force(issued), 3))
    assert await active(store) == {}


@pytest.mark.parametrize("path", WEATHER, ids=lambda p: p.name)
async def test_weather_report_keeping_some_ends_only_the_others(store, path):
    issued = path.read_bytes()
    newer = later(nothing_in_force(issued, keep=1), 3)
    await ingest(Pipeline(store, CODES, all_areas=True), issued, newer)
    assert await active(store) == stated(newer)


async def test_an_r06_report_ends_nothing_of_another_type_or_format(store):
    rain = (R06 / "15_17_01_251222_VPWW55.xml").read_bytes()
    sediment = (R06 / "15_17_01_251222_VPWW56.xml").read_bytes()
    old = (SAMPLES / "15_17_01_250123_VPWW54.xml").read_bytes()
    pipeline = Pipeline(store, CODES, all_areas=True)
    await ingest(pipeline, rain, sediment, old, later(nothing_in_force(rain), 3))
    assert await active(store) == stated(sediment) | stated(old)


def flood_cancel(data: bytes, serial: int) -> bytes:
    """A 取消 of a flood forecast as JMA may send it: no forecast-area items in its headline."""
    data = data.replace("<InfoType>発表</InfoType>".encode(), "<InfoType>取消</InfoType>".encode())
    data = re.sub(rb"<Serial>\d+</Serial>", f"<Serial>{serial}</Serial>".encode(), data)
    return re.sub(rb"<Information type=\"[^\"]*\">.*?</Information>", b"", data, flags=re.S)


async def test_flood_cancellation_without_items_undoes_the_cancelled_report(store):
    third = (R06 / "16_10_01_260312_VXKOii.xml").read_bytes()  # serial 3
    fourth = (R06 / "16_10_02_260312_VXKOii.xml").read_bytes()  # serial 4
    pipeline = Pipeline(store, CODES, all_areas=True)
    await ingest(pipeline, third, fourth)
    assert (await store.get("flood:890910000100")).properties["serial"] == 4
    cancel = snapshot(later(flood_cancel(fourth, 5), 0.1))
    assert cancel.events == [] and cancel.cancellations
    await pipeline.ingest(cancel)
    event = await store.get("flood:890910000100")
    assert event.state == State.ACTIVE and event.properties["serial"] == 3  # serial 3's state is back
    assert event.properties["restored_by_cancellation"] == 5


async def test_every_serial_of_one_poll_counts_so_a_cancellation_restores_the_one_before(store):
    first, second = (p.read_bytes() for p in OSHIMA[:2])  # 2 adds 知内町 (01333) to 松前町, 福島町
    pipeline = Pipeline(store, CODES, all_areas=True)
    both = snapshot(first)
    newer = snapshot(second)
    both.events += newer.events
    both.scopes += newer.scopes
    await pipeline.ingest(both)  # a catch-up poll after an outage reads them together
    assert await active(store) == {"sediment:01331": 4, "sediment:01332": 4, "sediment:01333": 4}
    cancel = second.replace("<InfoType>発表</InfoType>".encode(), "<InfoType>取消</InfoType>".encode())
    cancel = cancel.replace(b"<Serial>2</Serial>", b"<Serial>3</Serial>")
    cancel = re.sub(rb"<Body .*</Body>", b"", cancel, flags=re.S)
    await pipeline.ingest(snapshot(cancel))
    assert await active(store) == {"sediment:01331": 4, "sediment:01332": 4}
    assert (await store.get("sediment:01333")).state == State.CANCELLED


async def test_first_issued_time_is_kept_while_in_force(store):
    pipeline = Pipeline(store, CODES, all_areas=True)
    await ingest(pipeline, *(p.read_bytes() for p in OKAYAMA[:4]))
    kept = await store.get("sediment:33100")  # 岡山市: issued before 17_03_03, continued in 03 and 04
    history = await store.history("sediment:33100")
    assert kept.properties["first_issued_at"] == history[0].issued_at.isoformat()



def flood_as(data: bytes, serial: int, name: str, code: str, hours: float) -> bytes:
    """A copy of a レベル４氾濫危険警報 forecast with another serial and headline kind, issued `hours` later."""
    text = re.sub(r"<Serial>\d+</Serial>", f"<Serial>{serial}</Serial>", data.decode())
    text = re.sub(r"<Name>レベル４氾濫危険警報</Name>\s*<Code>40</Code>", f"<Name>{name}</Name><Code>{code}</Code>", text)
    return later(text.encode(), hours)


async def test_flood_series_without_its_lift_ends_as_the_next_storms_reports_say(store):
    third = (R06 / "16_10_01_260312_VXKOii.xml").read_bytes()  # 緑川 serial 3, レベル４氾濫危険警報
    fourth = (R06 / "16_10_02_260312_VXKOii.xml").read_bytes()  # serial 4; its 解除 (serial 5) never read
    # a month later the river's next flood forecast starts again at serial 1, then is lifted
    issue = flood_as(third, 1, "レベル２氾濫注意報", "20", 24 * 30)
    lift = flood_as(third, 2, "レベル２氾濫注意報解除", "10", 24 * 30 + 6)
    pipeline = Pipeline(store, CODES, all_areas=True)
    await ingest(pipeline, third, fourth, issue)
    assert await active(store) == {"flood:890910000100": 2}  # serial 1 of today is newer than serial 4
    await ingest(pipeline, lift)
    assert await active(store) == {}
