"""CAP 1.2 documents and Atom feeds: schema-valid (OASIS XSD), lifecycle message types, areas, geometry."""
from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from geo.codes import AreaCodes
from geo.model import Event, Kind, Severity, SourceRef, State, Status
from publishers.cap import ATOM_NS, CAP_NS, CapContext, alert_document, atom_entry_bytes, atom_feed
from tests.service_client import publish, service_client

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "data" / "cap" / "cap12.xsd")))
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
NS = {"cap": CAP_NS, "a": ATOM_NS}
SQUARE = {"type": "Polygon", "coordinates": [[[136.6, 36.5], [136.7, 36.5], [136.7, 36.6], [136.6, 36.6], [136.6, 36.5]]]}


def parse(body: bytes) -> etree._Element:
    return etree.fromstring(body, PARSER)


def validate(alert: etree._Element) -> None:
    if not SCHEMA.validate(alert):
        raise AssertionError(str(SCHEMA.error_log))


def warning(code: str, level: int, state: State = State.ACTIVE, status: Status = Status.ACTUAL, **kw) -> Event:
    return Event(id=f"sediment_warning:{code}", kind=Kind.SEDIMENT_WARNING, level=level, state=state, status=status,
                 severity=Severity.SEVERE, areas=(code,), title="土砂災害警戒情報", text="大雨 & 土砂 <危険>",
                 source=SourceRef(source_id="jma"), **kw)


@pytest.fixture
async def client(tmp_path):
    async with service_client(tmp_path) as c:
        yield c


async def ingest(client, *events: Event) -> None:
    await publish(client, "jma", *events)


async def test_event_lifecycle_alert_update_cancel(client):
    await ingest(client, warning("17201", 3, geometry=SQUARE))
    first = parse(await (await client.get("/feeds/cap/sediment_warning:17201.xml")).read())
    validate(first)
    assert first.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert first.findtext("cap:identifier", namespaces=NS) == "sediment_warning:17201@1"
    assert first.findtext("cap:status", namespaces=NS) == "Actual"
    assert first.find("cap:references", NS) is None
    info = first.find("cap:info", NS)
    assert info.findtext("cap:language", namespaces=NS) == "ja-JP"
    assert info.findtext("cap:category", namespaces=NS) == "Geo"
    assert info.findtext("cap:description", namespaces=NS) == "大雨 & 土砂 <危険>"  # escaped, not injected
    area = info.find("cap:area", NS)
    assert area.findtext("cap:areaDesc", namespaces=NS) == "金沢市"
    assert area.findtext("cap:geocode/cap:valueName", namespaces=NS) == "JIS X 0402"
    assert area.findtext("cap:geocode/cap:value", namespaces=NS) == "17201"
    ring = area.findtext("cap:polygon", namespaces=NS).split()
    assert ring[0] == ring[-1] == "36.500000,136.600000" and len(ring) == 5

    await ingest(client, warning("17201", 4, geometry=SQUARE))
    second = parse(await (await client.get("/feeds/cap/sediment_warning:17201.xml")).read())
    validate(second)
    assert second.findtext("cap:msgType", namespaces=NS) == "Update"
    sender = second.findtext("cap:sender", namespaces=NS)
    sent_first = first.findtext("cap:sent", namespaces=NS)
    assert second.findtext("cap:references", namespaces=NS) == f"{sender},sediment_warning:17201@1,{sent_first}"

    await ingest(client, warning("17201", 0, state=State.CANCELLED, geometry=SQUARE))
    third = parse(await (await client.get("/feeds/cap/sediment_warning:17201.xml")).read())
    validate(third)
    assert third.findtext("cap:msgType", namespaces=NS) == "Cancel"
    assert "sediment_warning:17201@2" in third.findtext("cap:references", namespaces=NS)


async def test_feeds_validate_and_filter_by_municipality(client):
    point = {"type": "Point", "coordinates": [136.65, 36.56]}
    await ingest(client, warning("17201", 4, geometry=point), warning("17202", 3),
                 warning("17203", 4, status=Status.EXERCISE),
                 Event(id="camera:c1", kind=Kind.CAMERA, areas=("17201",), source=SourceRef(source_id="cam")))
    resp = await client.get("/feeds/cap.atom")
    assert resp.status == 200 and resp.content_type == "application/atom+xml"
    feed = parse(await resp.read())
    assert feed.tag == f"{{{ATOM_NS}}}feed"
    entries = feed.findall("a:entry", NS)
    ids = sorted(e.findtext("a:content/cap:alert/cap:identifier", namespaces=NS) for e in entries)
    # Exercises never reach the public feed; cameras are not alerts.
    assert ids == ["sediment_warning:17201@1", "sediment_warning:17202@1"]
    for entry in entries:
        assert entry.findtext("a:id", namespaces=NS) and entry.findtext("a:updated", namespaces=NS)
        assert entry.find("a:link[@rel='alternate']", NS).get("href").endswith(".xml")
        validate(entry.find("a:content/cap:alert", NS))
    circle = feed.findtext(".//cap:circle", namespaces=NS)
    assert circle == "36.560000,136.650000 0"

    area = parse(await (await client.get("/feeds/cap/17202.atom")).read())
    area_ids = [e.findtext("a:content/cap:alert/cap:identifier", namespaces=NS) for e in area.findall("a:entry", NS)]
    assert area_ids == ["sediment_warning:17202@1"]
    empty = parse(await (await client.get("/feeds/cap/17204.atom")).read())
    assert empty.findall("a:entry", NS) == []

    exercise = parse(await (await client.get("/feeds/cap/sediment_warning:17203.xml")).read())
    validate(exercise)
    assert exercise.findtext("cap:status", namespaces=NS) == "Exercise"


def test_every_kind_level_and_state_validates():
    class Settings:
        class service:
            public_url = "https://bosai.example.jp/"

    ctx = CapContext.from_settings(Settings, AreaCodes.load())
    events = []
    for kind in Kind:
        for level in range(6):
            for state in State:
                events.append(Event(id=f"{kind.value}:{level}{state.value}", kind=kind, level=level, state=state,
                                    areas=("17201", "17202") if level % 2 else (),
                                    geometry={"type": "LineString", "coordinates": [[136.6, 36.5], [136.7, 36.6]]},
                                    source=SourceRef(source_id="s"), version=1 + level,
                                    supersedes=f"{kind.value}:x@{level}" if level else None))
    for event in events:
        validate(parse(alert_document(event, ctx)))
    feed = parse(atom_feed([atom_entry_bytes(e, ctx) for e in events], ctx, path="/feeds/cap.atom", title="t",
                           updated=events[0].received_at))
    assert len(feed.findall("a:entry", NS)) == len(events)
    for alert in feed.iterfind(".//cap:alert", NS):
        validate(alert)
