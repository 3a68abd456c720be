"""`bosai replay`: recorded payloads in, JSON lines of changes out, bad files reported after the rest."""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from collectors.base import PolledCollector
from collectors.jma_feed import report_snapshot
from collectors.river_gauge import Config as GaugeConfig
from collectors.river_gauge import area_info_snapshot
from collectors.road_closure import Config as RoadConfig
from collectors.road_closure import road_snapshot
from geo.codes import AreaCodes
from geo.store.sqlite import SQLiteStore
from service import replay
from service.replay_json import PLACEHOLDER_URL
from tests.upstreams import SAMPLES, SHARED

ROOT = Path(__file__).resolve().parent.parent


def bosai(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("bosai")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "service.cli"]
    return subprocess.run([*cmd, "replay", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def lines(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_a_sequence_ends_with_nothing_active(tmp_path):
    files = sorted(SAMPLES.glob("17_03_*_VXWW50.xml"), key=lambda p: int(p.name.split("_")[2]))
    proc = bosai("--all-areas", *map(str, files))
    assert proc.returncode == 0, proc.stderr
    changes = lines(proc)
    assert {"id", "kind", "level", "state", "status", "areas", "version"} <= set(changes[0])
    last: dict[str, dict] = {}
    for change in changes:
        assert change["version"] == last.get(change["id"], {}).get("version", 0) + 1
        last[change["id"]] = change
    assert len(last) > 10
    assert all(c["state"] == "lifted" and c["level"] == 0 for c in last.values())


def test_a_directory_runs_in_name_order_and_a_bad_file_fails_after_the_rest(tmp_path):
    for name in ("17_02_01_190529_VXWW50.xml", "17_02_02_190529_VXWW50.xml", "17_02_03_190529_VXWW50.xml"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    (tmp_path / "17_02_00_broken.xml").write_bytes(b"<Report><Control>")
    proc = bosai("--all-areas", str(tmp_path))
    assert proc.returncode == 1
    assert "17_02_00_broken.xml" in proc.stderr
    changes = lines(proc)
    assert changes, "the good files still ran"
    assert changes[-1]["state"] == "lifted"


def test_prefecture_filter_applies_without_all_areas():
    gauges = SHARED / "river_water_level" / "k_river_area_info_converted_2026-08-23T08JST.json"
    proc = bosai(str(gauges))
    assert proc.returncode == 0, proc.stderr
    changes = lines(proc)
    assert changes and all(c["kind"] == "gauge" for c in changes)
    assert all(c["areas"] and c["areas"][0].startswith("17") for c in changes)
    nationwide = lines(bosai("--all-areas", str(gauges)))
    assert len(nationwide) > len(changes)


def test_missing_file_is_reported():
    proc = bosai("/nonexistent/payload.xml")
    assert proc.returncode == 1
    assert "/nonexistent/payload.xml" in proc.stderr


COLLECTOR_WITHOUT_FETCHER = re.compile(r"Collector\([^()]*,\s*None\s*,")


async def test_payloads_map_through_the_module_functions_and_no_collector_is_built(tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("replay built a collector")

    monkeypatch.setattr(PolledCollector, "__init__", refuse)
    codes = AreaCodes.load()
    report = SAMPLES / "17_03_01_190529_VXWW50.xml"
    gauges = SHARED / "river_water_level" / "k_river_area_info_converted_2026-08-23T08JST.json"
    roads = SHARED / "road_closures" / "wzdx_examples" / "scenario1_simple_linestring_example.geojson"
    store = SQLiteStore(tmp_path / "replay.sqlite3")
    await store.open()
    out, err = io.StringIO(), io.StringIO()
    try:
        status = await replay.run([report, gauges, roads], store, codes, all_areas=True, out=out, err=err)
    finally:
        await store.close()
    assert status == 0, err.getvalue()
    kinds = {json.loads(line)["kind"] for line in out.getvalue().splitlines()}
    assert {"sediment_warning", "gauge", "road_closure"} <= kinds

    # each file's snapshot is the collector module's mapping function applied to the bytes
    now = datetime.now(UTC)
    gauge_config = GaugeConfig(url=PLACEHOLDER_URL, format="area_info", prefecture_only=False)
    road_config = RoadConfig(url=PLACEHOLDER_URL, format="wzdx", in_force_only=False)
    expected = {
        report: report_snapshot(report.read_bytes(), codes, "replay", str(report), all_areas=True),
        gauges: area_info_snapshot(gauges.read_bytes(), gauge_config, codes, "replay", now),
        roads: road_snapshot([roads.read_bytes()], road_config, "replay", now),
    }
    for path, snapshot in expected.items():
        replayed = replay.parse_file(path, codes, all_areas=True)
        assert replayed.events, path
        assert [(e.id, e.level, e.title) for e in replayed.events] == [
            (e.id, e.level, e.title) for e in snapshot.events
        ]


def test_no_collector_is_built_without_a_fetcher_anywhere():
    sources = [p for d in ("collectors", "service", "bench", "tests", "publishers") for p in (ROOT / d).rglob("*.py")]
    assert len(sources) > 50
    found = [f"{p.relative_to(ROOT)}:{n}" for p in sources if p.name != "test_replay.py"
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if COLLECTOR_WITHOUT_FETCHER.search(line)]
    assert found == []
    assert COLLECTOR_WITHOUT_FETCHER.search('RiverGaugeCollector("replay", config, None, codes)')
