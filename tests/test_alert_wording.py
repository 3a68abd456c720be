"""The level words in the outputs built here (CAP, OpenAPI, the event API): 相当 for JMA and gauges,
order words only on a municipality's order; and the API links two events of one hazard."""
from __future__ import annotations

import json

import pytest
from lxml import etree

from collectors.jma import parse_document, to_events
from geo.codes import AreaCodes
from geo.model import Event, Kind, SourceRef, State
from geo.wording import LANGS, ORDER_NAMES, level_words
from publishers.cap import CAP_NS, CapContext, alert_document
from service.web.openapi import document
from tests.service_client import publish, service_client
from tests.upstreams import SAMPLES, as_ishikawa

CODES = AreaCodes.load()
CTX = CapContext(sender="bosai-hub@example.org", base_url="https://example.org/", codes=CODES)
ORDER_WORDS = [word for lang in LANGS for word in ORDER_NAMES[lang].values()]
INFORMATION = [Kind.GAUGE, Kind.SEDIMENT_WARNING, Kind.FLOOD_FORECAST, Kind.WEATHER_WARNING]


def event(kind: Kind, level: int) -> Event:
    return Event(id=f"{kind.value}:17201", kind=kind, level=level, areas=("17201",), title="見出し",
                 source=SourceRef(source_id="jma"))


def instruction(ev: Event) -> str | None:
    return etree.fromstring(alert_document(ev, CTX)).findtext(f"{{{CAP_NS}}}info/{{{CAP_NS}}}instruction")


@pytest.mark.parametrize("kind", INFORMATION)
@pytest.mark.parametrize("level", range(1, 6))
def test_cap_of_jma_and_gauge_events_says_equivalent_never_an_order(kind, level):
    document = alert_document(event(kind, level), CTX).decode()
    assert not any(word in document for word in ORDER_WORDS)
    assert instruction(event(kind, level)) == level_words(level, kind).headline
    assert f"警戒レベル{'０１２３４５'[level]}相当" in instruction(event(kind, level))


def test_cap_sediment_level_4_reads_as_the_table_says():
    assert instruction(event(Kind.SEDIMENT_WARNING, 4)) == "警戒レベル４相当：危険な場所から全員避難"


@pytest.mark.parametrize("level", [3, 4, 5])
def test_cap_of_a_municipal_order_names_the_order(level):
    words = level_words(level, Kind.EVACUATION)
    assert instruction(event(Kind.EVACUATION, level)) == f"{words.label}：{words.name} {words.action}"
    assert "相当" not in instruction(event(Kind.EVACUATION, level))


def test_no_instruction_when_ended_or_level_zero():
    assert instruction(event(Kind.GAUGE, 0)) is None
    lifted = event(Kind.SEDIMENT_WARNING, 4).model_copy(update={"state": State.LIFTED, "level": 0})
    assert instruction(lifted) is None


def test_openapi_event_example_speaks_with_the_table():
    # the event schema and its example (the operators' order endpoint rightly names the orders)
    text = json.dumps(document()["components"]["schemas"]["Feature"], ensure_ascii=False)
    assert not any(word in text for word in ORDER_WORDS)
    assert level_words(4, Kind.SEDIMENT_WARNING).headline in text


def test_cap_of_every_real_jma_sample_has_no_order_word():
    paths = sorted(SAMPLES.glob("1[567]_*.xml")) + sorted((SAMPLES.parent / "samples_r06").glob("1[56]_*.xml"))
    seen = 0
    for path in paths:
        for ev in to_events(parse_document(path.read_bytes()), CODES, "jma", all_areas=True):
            # every element but the description, which quotes JMA's own text (「市町村から発令される
            # 避難指示などの情報に留意し」 names the order as the municipality's, as it should)
            root = etree.fromstring(alert_document(ev, CTX))
            ours = [e.text or "" for e in root.iter() if e.tag != f"{{{CAP_NS}}}description"]
            assert not any(word in text for text in ours for word in ORDER_WORDS), (path.name, ev.id)
            seen += ev.level > 0
    assert seen > 100


async def test_event_api_links_the_same_hazard_of_one_municipality(tmp_path):
    sediment = to_events(parse_document(as_ishikawa((SAMPLES / "17_03_01_190529_VXWW50.xml").read_bytes())),
                         CODES, "jma")
    (vxww50,) = sediment
    r06 = next(e for e in to_events(parse_document(
        (SAMPLES.parent / "samples_r06" / "15_16_01_241031_VPWW56.xml").read_bytes().replace(b"0121400", b"1720100")),
        CODES, "jma", all_areas=True) if e.id == "weather:17201:土砂災害")
    async with service_client(tmp_path) as client:
        await publish(client, "jma", vxww50, r06)
        one = await (await client.get("/api/v1/events/sediment:17201")).json()
        other = await (await client.get("/api/v1/events/weather:17201:土砂災害")).json()
    assert one["same_as"] == ["weather:17201:土砂災害"]
    assert other["same_as"] == ["sediment:17201"]
