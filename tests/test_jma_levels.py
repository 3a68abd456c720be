"""The level JMA states is the level given: both formats of one issue agree, Body/Notice levels of
the 2026 old-format reports count, and `bosai replay` ends as the last report of a series says."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from collectors.jma import WarningReport, parse_document, to_events
from geo.codes import AreaCodes
from geo.same_hazard import merge_same_hazard
from tests.test_replay import bosai
from tests.upstreams import SAMPLES

CODES = AreaCodes.load()
R06 = SAMPLES.parent / "samples_r06"
WEATHER_SAMPLES = sorted(SAMPLES.glob("15_*.xml")) + sorted(R06.glob("15_*.xml"))


def levels(data: bytes) -> dict[tuple[str, str], tuple[int, str]]:
    """(municipality, hazard) -> (level, state), whichever format the report is in."""
    return {
        (e.areas[0], e.properties["family"]): (e.level, e.state.value)
        for e in to_events(parse_document(data), CODES, "jma", all_areas=True)
    }


def same_issue_pairs() -> list[tuple[str, str]]:
    """Sample reports of one office at one report time in two formats (VPWW53 / 54 / Ｒ０６)."""
    by_issue: dict[tuple, list] = {}
    for path in WEATHER_SAMPLES:
        report = parse_document(path.read_bytes())
        if isinstance(report, WarningReport):
            key = (report.control.editorial_office, report.head.report_datetime)
            by_issue.setdefault(key, []).append((path, report.generation))
    return [
        (a.name, b.name)
        for group in by_issue.values()
        for i, (a, gen_a) in enumerate(group)
        for b, gen_b in group[i + 1:]
        if gen_a != gen_b
    ]


PAIRS = same_issue_pairs()


def test_there_are_sample_pairs():
    assert ("15_14_01_170216_VPWW53.xml", "15_14_01_170216_VPWW54.xml") in PAIRS


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_both_formats_of_one_issue_agree(first, second):
    def read(name):
        return (SAMPLES / name if (SAMPLES / name).exists() else R06 / name).read_bytes()

    a, b = levels(read(first)), levels(read(second))
    common = set(a) & set(b)
    assert common
    assert {k: a[k] for k in common} == {k: b[k] for k in common}


def with_notice(data: bytes, notice: str) -> bytes:
    """An old-format report as JMA sends it since 2026: the level-named kinds in Body/Notice."""
    body = re.search(rb"<Body [^>]*>", data)
    assert body is not None
    return data[: body.end()] + f"<Notice>{notice}</Notice>".encode() + data[body.end():]


TOKYO = (SAMPLES / "15_14_01_170216_VPWW53.xml").read_bytes()  # 荒川区 大雨警報, 奥多摩町 大雨特別警報


def test_a_municipality_listed_in_the_notice_gets_its_level():
    assert levels(TOKYO)[("13118", "大雨")] == (3, "active")  # 荒川区: Kind 大雨警報
    notice = "［危険警報・氾濫特別警報の発表状況］\n〈レベル４大雨危険警報〉荒川区　足立区\n〈レベル４氾濫危険警報〉荒川＊"
    got = levels(with_notice(TOKYO, notice))
    assert got[("13118", "大雨")] == (4, "active") and got[("13121", "大雨")] == (4, "active")
    assert got[("13308", "大雨")] == (5, "active")  # a higher Kind is never lowered by the Notice
    events = {e.id: e for e in to_events(parse_document(with_notice(TOKYO, notice)), CODES, "jma", all_areas=True)}
    arakawa = events["weather:13118:大雨:old"]
    assert arakawa.properties["notice_kind_name"] == "レベル４大雨危険警報"
    assert "レベル４大雨危険警報" in arakawa.title and arakawa.properties["kind_name"] == "大雨警報"


def test_a_notice_sediment_level_merges_with_the_vxww50_of_the_town():
    notice = "〈レベル４土砂災害危険警報〉奥多摩町"
    old = to_events(parse_document(with_notice(TOKYO, notice)), CODES, "jma", all_areas=True)
    sediment = to_events(parse_document((SAMPLES / "17_02_01_190529_VXWW50.xml").read_bytes()
                                         .replace(b"0133100", b"1330800")), CODES, "jma", all_areas=True)
    assert ("weather:13308:土砂災害:old", 4) in {(e.id, e.level) for e in old}
    (entry,) = [e for e in merge_same_hazard(old + sediment) if e.area == "13308" and e.hazard == "土砂災害"]
    assert set(entry.ids) == {"weather:13308:土砂災害:old", "sediment:13308"} and entry.level == 4


def final_state(stdout: str) -> dict[str, tuple[str, int]]:
    last: dict[str, tuple[str, int]] = {}
    for line in stdout.splitlines():
        change = json.loads(line)
        last[change["id"]] = (change["state"], change["level"])
    return {i: s for i, s in last.items() if s[0] == "active"}


OKAYAMA = sorted(SAMPLES.glob("17_03_*_VXWW50.xml"), key=lambda p: int(p.name.split("_")[2]))


@pytest.mark.parametrize("left_out", [None, 7, 8, 9], ids=["all", "without 08", "without 09", "without 10"])
def test_replay_of_a_series_ends_as_its_last_report_says(left_out):
    files = [str(p) for i, p in enumerate(OKAYAMA) if i != left_out]
    proc = bosai("--all-areas", *files)
    assert proc.returncode == 0, proc.stderr
    last = parse_document(Path(files[-1]).read_bytes())
    expected = {e.id: ("active", e.level) for e in to_events(last, CODES, "replay", all_areas=True)
                if e.state.value == "active"}
    assert final_state(proc.stdout) == expected
