"""One hazard once per municipality: VXWW50 and the Ｒ０６ 土砂 warning of one town merge into one entry."""
from __future__ import annotations

from datetime import timedelta

from collectors.jma import parse_document, to_events
from geo.codes import AreaCodes
from geo.model import Event, Kind, SourceRef, State, Status
from geo.same_hazard import hazard_of, merge_same_hazard, same_as
from tests.upstreams import SAMPLES

CODES = AreaCodes.load()
R06 = SAMPLES.parent / "samples_r06"


def read(data: bytes) -> list[Event]:
    return to_events(parse_document(data), CODES, "jma_extra", all_areas=True)


# 17_02_01: 土砂災害警戒情報 for 松前町 (0133100) and 福島町 (0133200).
VXWW50 = read((SAMPLES / "17_02_01_190529_VXWW50.xml").read_bytes())
# 15_16_01: Ｒ０６ 土砂 for 宗谷; its レベル４土砂災害危険警報 town (0121400) moved to 松前町.
R06_SEDIMENT = read((R06 / "15_16_01_241031_VPWW56.xml").read_bytes().replace(b"0121400", b"0133100"))


def test_vxww50_and_r06_sediment_of_one_town_are_one_entry():
    events = VXWW50 + R06_SEDIMENT
    entries = [e for e in merge_same_hazard(events) if e.area == "01331"]
    assert len(entries) == 1
    (entry,) = entries
    assert entry.hazard == "土砂災害" and entry.level == 4
    assert set(entry.ids) == {"sediment:01331", "weather:01331:土砂災害"}
    assert {s.upstream_id for s in entry.sources} == {
        "渡島・檜山地方土砂災害警戒情報", "気象警報・注意報（Ｒ０６）（土砂）|稚内地方気象台"}
    # first issued: the earlier of the two reports (2013 VXWW50 vs the 2020 Ｒ０６ sample)
    assert entry.first_issued_at == min(e.issued_at for e in entry.events)
    as_json = entry.as_json()
    assert as_json["level"] == 4 and as_json["event"] in entry.ids and len(as_json["sources"]) == 2
    assert as_json["first_issued_at"] == entry.first_issued_at.isoformat()
    # the other town of the VXWW50 report is an entry of its own
    assert [e.ids for e in merge_same_hazard(events) if e.area == "01332"] == [("sediment:01332",)]


def test_highest_level_wins_and_provenance_keeps_both():
    sediment = next(e for e in VXWW50 if e.id == "sediment:01331")
    lower = next(e for e in R06_SEDIMENT if e.id == "weather:01331:土砂災害").model_copy(update={"level": 3})
    (entry,) = [e for e in merge_same_hazard([lower, sediment]) if e.area == "01331"]
    assert entry.event.id == "sediment:01331" and entry.level == 4
    assert len(entry.sources) == 2


def test_first_issued_is_kept_across_versions():
    sediment = next(e for e in VXWW50 if e.id == "sediment:01331")
    first = sediment.issued_at - timedelta(hours=5)
    later = sediment.model_copy(update={"properties": sediment.properties | {"first_issued_at": first.isoformat()}})
    (entry,) = [e for e in merge_same_hazard([later] + R06_SEDIMENT) if e.area == "01331"]
    assert entry.first_issued_at == first


def test_links_both_ways_and_leaves_the_rest_alone():
    links = same_as(VXWW50 + R06_SEDIMENT)
    assert links["sediment:01331"] == ["weather:01331:土砂災害"]
    assert links["weather:01331:土砂災害"] == ["sediment:01331"]
    assert "sediment:01332" not in links


def test_ended_drill_and_other_kinds_are_not_merged():
    sediment = next(e for e in VXWW50 if e.id == "sediment:01331")
    r06 = next(e for e in R06_SEDIMENT if e.id == "weather:01331:土砂災害")
    drill = r06.model_copy(update={"id": r06.id + "#exercise", "status": Status.EXERCISE})
    lifted = sediment.model_copy(update={"state": State.LIFTED, "level": 0})
    gauge = Event(id="gauge:1", kind=Kind.GAUGE, level=4, areas=("01331",), source=SourceRef(source_id="g"))
    entries = merge_same_hazard([sediment, drill, lifted, gauge])
    assert sorted(len(e.events) for e in entries) == [1, 1, 1, 1]
    assert hazard_of(gauge) is None and hazard_of(sediment) == "土砂災害"
