"""L-Alert documents: every body kind parses with the samples' reader and has the samples' element paths;
the documentID / documentRevision lifecycle; 通常 / 訓練; the SOAP request; /feeds/lalert.atom."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from collectors.publiccommons import order_event
from collectors.publiccommons_wire import EvacuationBody, ShelterBody, distribution, local, parse_document
from geo.model import Event, Kind, Severity, SourceRef, State, Status
from geo.region import Region
from publishers import lalert_document as ld
from publishers.lalert_content import document_for
from tests.service_client import publish, service_client

SAMPLES = Path(__file__).parent / "data" / "reference" / "lalert_publiccommons"
SOAP_SAMPLE = SAMPLES / "publiccommons-py_soap1.xml"
NOW = datetime(2026, 7, 10, 4, 0, tzinfo=timezone.utc)
CODES = Region.default().codes
SRC = SourceRef(source_id="test")
# Added by the hub on receipt, never by a sender.
HUB_ADDED = "{http://xml.publiccommons.ne.jp/xml/edxl/}received"
# The Shelter body as FORMAT.md lists it (no public Shelter sample exists): local names below Shelter.
SHELTER_PATHS = {
    "Disaster", "Disaster/DisasterName", "TotalNumber", "TotalNumber/HeadCount", "TotalNumber/Households",
    "TotalNumberOfShelter", "Informations", "Informations/Information", "Informations/Information/Location",
    *(f"Informations/Information/Location/{n}" for n in ("areaName", "areaNameKana", "Address", "circle", "polygon",
                                                          "jisX0402", "ooAzaTyouTyouMokuCode")),
    *(f"Informations/Information/{n}" for n in ("Type", "Sort", "DateTime", "Capacity", "Status", "NumberOf",
                                                 "NumberOf/HeadCount", "NumberOf/Households", "CheckedDateTime")),
}


def paths(element, root_tag: str | None = None) -> set[str]:
    """Every element path below `element`, as Clark names joined by '|' (namespace URIs, not prefixes)."""
    out: set[str] = set()

    def walk(elem, prefix: str) -> None:
        for sub in elem:
            if not isinstance(sub.tag, str):
                continue
            path = f"{prefix}|{sub.tag}" if prefix else sub.tag
            out.add(path)
            walk(sub, path)

    walk(element, "")
    return out


def split(root) -> tuple[set[str], set[str], set[str], set[str]]:
    """(envelope, Control, Head, body) paths of a document."""
    dist = distribution(root)
    report = next(e for e in dist.iter() if isinstance(e.tag, str) and local(e) == "Report")
    envelope = {p for p in paths(dist) if "}Report" not in p and HUB_ADDED not in p}
    parts = {local(c): paths(c) for c in report}
    body = next((paths(c) for c in report if local(c) not in ("Control", "Head")), set())
    return envelope, parts.get("Control", set()), parts.get("Head", set()), body


SAMPLE_ROOT = etree.fromstring(SOAP_SAMPLE.read_bytes())
SAMPLE = split(SAMPLE_ROOT)


def _events() -> dict[str, Event]:
    order = order_event(CODES, "17201", [{"sort": "避難指示", "level": 4, "action": "発令",
                                          "districts": ["湯涌地区", "犀川地区"], "at": NOW.isoformat()}],
                        NOW, source=SRC, issued_at=NOW)
    return {
        "EvacuationOrder": order,
        "Shelter": Event(id="shelter:E1720100102111", kind=Kind.SHELTER, areas=("17201",), title="伏見台小学校 開設",
                         geometry={"type": "Point", "coordinates": (136.638004, 36.526654)}, issued_at=NOW,
                         source=SRC, properties={"status": "crowded", "name": "伏見台小学校", "head_count": 380,
                                                 "capacity": 400, "address": "石川県金沢市窪5-335"}),
        "SedimentDisastersWarning": Event(id="sediment:17201", kind=Kind.SEDIMENT_WARNING, level=4,
                                          severity=Severity.SEVERE, areas=("17201",), issued_at=NOW, source=SRC,
                                          title="石川県レベル４土砂災害危険警報（金沢市）"),
        "floodcontrolwarning": Event(id="flood:kakehashi", kind=Kind.FLOOD_FORECAST, level=4, areas=("17203", "17211"),
                                     issued_at=NOW, source=SRC, title="梯川氾濫危険情報"),
        "GeneralInformation": Event(id="notice:1", kind=Kind.NOTICE, areas=("17201",), issued_at=NOW, source=SRC,
                                    title="給水所の開設", text="金沢市役所前で給水を行っています。"),
    }


@pytest.mark.parametrize("category", list(_events()))
def test_every_body_kind_parses_and_has_the_samples_paths(category):
    event = _events()[category].model_copy(update={"received_at": NOW})
    doc = document_for(event, [event], CODES)
    xml = ld.write(doc)
    read = parse_document(xml)  # the same reader as the samples
    assert (read.category, read.document_id, read.revision, read.operation) == (category, doc.document_id, 1, "new")
    assert read.status == "Actual" and read.target_areas
    envelope, control, head, body = split(etree.fromstring(xml))
    sample_envelope, sample_control, sample_head, sample_body = SAMPLE
    # envelope, Control and Head: exactly the sample's element paths, path by path
    assert envelope == sample_envelope, (envelope ^ sample_envelope)
    assert control == sample_control, (control ^ sample_control)
    assert head == sample_head, (head ^ sample_head)
    if category == "EvacuationOrder":
        assert body == sample_body, (body ^ sample_body)
        assert isinstance(read.body, EvacuationBody)
        assert [(d.sort, d.issue_or_lift, [a.location.name for a in d.areas]) for d in read.body.details] == [
            ("避難指示", "発令", ["湯涌地区", "犀川地区"])]
    elif category == "Shelter":
        local_paths = {"/".join(local_name(part) for part in p.split("|")) for p in body}
        assert local_paths == SHELTER_PATHS, local_paths ^ SHELTER_PATHS
        assert isinstance(read.body, ShelterBody)
        line = read.body.shelters[0]
        assert (line.location.name, line.sort, line.status, line.head_count, line.capacity) == (
            "伏見台小学校", "開設", "混雑", 380, 400)
    else:
        assert body, "a body is written"


def local_name(clark: str) -> str:
    return clark.rsplit("}", 1)[-1]


def test_new_update_cancel_keep_one_document_id_with_rising_revisions():
    base = _events()["SedimentDisastersWarning"]
    v1 = base.model_copy(update={"version": 1, "received_at": NOW})
    v2 = base.model_copy(update={"version": 2, "received_at": NOW + timedelta(minutes=30), "title": "継続"})
    v3 = base.model_copy(update={"version": 3, "state": State.CANCELLED, "level": 0,
                                 "received_at": NOW + timedelta(hours=1)})
    history = [v1, v2, v3]
    read = [parse_document(ld.write(document_for(v, history, CODES))) for v in history]
    assert len({r.document_id for r in read}) == 1
    assert [r.revision for r in read] == [1, 2, 3]
    assert [r.operation for r in read] == ["new", "update", "cancel"]
    assert read[2].distribution_type == "Cancel" and read[2].body is None
    # after the end a new issue is a new document, starting again at revision 1
    v4 = base.model_copy(update={"version": 4, "received_at": NOW + timedelta(hours=2)})
    again = parse_document(ld.write(document_for(v4, [*history, v4], CODES)))
    assert again.document_id != read[0].document_id and (again.revision, again.operation) == (1, "new")
    # a correction says so (訂正), never a new issue
    v2c = v2.model_copy(update={"properties": {"correction": True}})
    corrected = parse_document(ld.write(document_for(v2c, [v1, v2c], CODES)))
    assert (corrected.operation, corrected.revision, corrected.distribution_type) == ("correction", 2, "Update")
    # the same version always gives the same bytes (a retried delivery is the same message)
    assert ld.write(document_for(v2, history, CODES)) == ld.write(document_for(v2, history, CODES))


def test_exercise_is_kunren_and_the_soap_request_carries_the_document():
    drill = _events()["EvacuationOrder"].model_copy(update={"status": Status.EXERCISE, "received_at": NOW})
    doc = document_for(drill, [drill], CODES)
    soap = ld.soap_publish(doc)
    read = parse_document(soap)  # the reader takes a SOAP publish request like the sample's
    assert read.status == "Exercise" and read.category == "EvacuationOrder"
    root = etree.fromstring(soap)
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    assert {local(e) for e in root.iter() if isinstance(e.tag, str)} >= {"Body", "publish", "message"}
    sample_soap = {local(e) for e in SAMPLE_ROOT.iter() if isinstance(e.tag, str)}
    assert {"Envelope", "Body", "publish", "message"} <= sample_soap


async def test_lalert_feed_carries_each_document_inline(tmp_path):
    async with service_client(tmp_path) as client:
        events = _events()
        await publish(client, "test", *events.values())
        resp = await client.get("/feeds/lalert.atom")
        assert resp.status == 200 and resp.content_type == "application/atom+xml"
        feed = etree.fromstring(await resp.read())
        atom = "{http://www.w3.org/2005/Atom}"
        entries = feed.findall(f"{atom}entry")
        categories = set()
        for entry in entries:
            (element,) = entry.find(f"{atom}content")
            read = parse_document(etree.tostring(element))
            categories.add(read.category)
            assert read.revision == 1 and read.status == "Actual"
        assert categories == set(events)
        assert (await client.get("/feeds/lalert.atom", headers={"If-None-Match": resp.headers["ETag"]})).status == 304
