"""Hypothesis: no input makes parse_document/to_events raise anything but PayloadError."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from collectors.base import PayloadError
from collectors.jma import parse_document, parse_feed, to_events
from geo.codes import AreaCodes
from tests.upstreams import SHARED

DATA = SHARED / "jma_xml"
# The time-series sample (VPWP50, 427 kB) is left out to keep each example fast.
SAMPLES = [p.read_bytes() for p in sorted(DATA.glob("samples*/*.xml")) if p.stat().st_size < 100_000]
CODES = AreaCodes.load()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(data: bytes) -> None:
    """Parse and map with both area policies; only PayloadError may escape."""
    try:
        report = parse_document(data)
        to_events(report, CODES, "fuzz", all_areas=True)
        to_events(report, CODES, "fuzz", all_areas=False)
    except PayloadError:
        pass


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data):
    run(data)
    try:
        parse_feed(data)
    except PayloadError:
        pass


@FUZZ
@given(st.sampled_from(SAMPLES), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8))
def test_byte_flips(sample, flips):
    data = bytearray(sample)
    for at, value in flips:
        data[at % len(data)] = value
    run(bytes(data))


@FUZZ
@given(st.sampled_from(SAMPLES), st.floats(0, 1))
def test_truncation(sample, fraction):
    run(sample[: int(len(sample) * fraction)])


@FUZZ
@given(st.sampled_from(SAMPLES), st.lists(st.integers(0, 10**6), min_size=1, max_size=5))
def test_element_deletion(sample, picks):
    root = etree.fromstring(sample)
    for pick in picks:
        elements = [e for e in root.iter() if e.getparent() is not None]
        if not elements:
            break
        victim = elements[pick % len(elements)]
        victim.getparent().remove(victim)
    run(etree.tostring(root, encoding="utf-8", xml_declaration=True))


TEXT_EDITS = st.sampled_from(["", " ", "0", "-1", "９９", "レベル９", "解除", "なし", "x" * 50, "2024-13-40T99:99:99+09:00"])


@FUZZ
@given(st.sampled_from(SAMPLES), st.lists(st.tuples(st.integers(0, 10**6), TEXT_EDITS), min_size=1, max_size=5))
def test_element_text_edits(sample, edits):
    root = etree.fromstring(sample)
    leaves = [e for e in root.iter() if len(e) == 0 and isinstance(e.tag, str)]
    for pick, value in edits:
        leaves[pick % len(leaves)].text = value
    run(etree.tostring(root, encoding="utf-8", xml_declaration=True))
