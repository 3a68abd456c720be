"""`bosai replay`: recorded payloads in, JSON lines of changes out, bad files reported after the rest."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

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
