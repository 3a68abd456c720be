"""JMA XML parse + normalise: time per report against an absolute budget, and beside a bare lxml parse.

Run: .venv/bin/python bench/bench_jma.py [--rounds N]
The user-facing figure is the time from a report's bytes to its Events: JMA sends tens of reports an
hour, so the goal is an absolute budget per report (< 5 ms for the largest sample), printed with the
largest sample's time; the readers are plain lxml (`iterfind` / `findtext`), not tuned for speed.
Per document family it also prints MB/s and the ratio to `lxml.etree.fromstring` of the same bytes
measured in the same run (the best times, and the median of each round's paired ratio). Unsupported
documents count with the work done to refuse them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.jma import UnsupportedDocument, parse_document, to_events  # noqa: E402
from geo.codes import AreaCodes  # noqa: E402

# The recorded reference data is in the repository (BOSAI_SHARED_DATA may point at a fuller copy).
SHARED = Path(os.environ.get("BOSAI_SHARED_DATA", Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"))

DATA = SHARED / "jma_xml"


def family(name: str) -> str:
    return name.rsplit("_", 1)[1].removesuffix(".xml")[:4]


def full(data: bytes, codes: AreaCodes) -> None:
    try:
        to_events(parse_document(data), codes, "bench", all_areas=True)
    except UnsupportedDocument:
        pass


def readable(data: bytes, codes: AreaCodes) -> bool:
    """True for a report read into events (not refused as a kind bosai-hub does not read)."""
    try:
        to_events(parse_document(data), codes, "bench", all_areas=True)
    except UnsupportedDocument:
        return False
    return True


def bare(data: bytes, codes: AreaCodes) -> None:
    etree.fromstring(data)


def timed(fns, docs: list[bytes], codes: AreaCodes, rounds: int) -> list[list[float]]:
    """Each round's time of each function, the functions interleaved round by round so that load
    from other processes on this shared machine falls on both sides alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for data in docs:
                fn(data, codes)
            times[i].append(time.perf_counter() - start)
    return times


BUDGET_MS = 5.0  # per report, the largest sample included


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="repetitions; the fastest is reported")
    args = parser.parse_args()
    codes = AreaCodes.load()
    groups: dict[str, list[bytes]] = defaultdict(list)
    for path in sorted(DATA.glob("samples*/*.xml")):
        groups[family(path.name)].append(path.read_bytes())
    groups["all"] = [d for docs in list(groups.values()) for d in docs]
    print(f"{'family':8} {'docs':>5} {'kB':>8} {'lxml MB/s':>10} {'jma MB/s':>10} {'ratio':>6} {'paired':>7}")
    for name, docs in groups.items():
        size = sum(map(len, docs))
        refs, ours = timed((bare, full), docs, codes, args.rounds)
        ref, our = min(refs), min(ours)
        paired = statistics.median(r / o for r, o in zip(refs, ours))
        mb = size / 1e6
        print(f"{name:8} {len(docs):5d} {size / 1e3:8.1f} {mb / ref:10.1f} {mb / our:10.1f} {ref / our:6.2f} {paired:7.2f}")
    # the largest report read into events (the larger 時系列 VPWP50 is refused after its parse)
    largest = max((d for d in groups["all"] if readable(d, codes)), key=len)
    (one,) = timed((full,), [largest], codes, args.rounds)
    (ref,) = timed((bare,), [largest], codes, args.rounds)
    per_report = min(one) * 1e3
    (every,) = timed((full,), groups["all"], codes, args.rounds)
    mean = min(every) * 1e3 / len(groups["all"])
    verdict = "within" if per_report < BUDGET_MS else "OVER"
    print(f"largest report read ({len(largest) / 1e3:.0f} kB): {per_report:.2f} ms per report ({verdict} the "
          f"{BUDGET_MS:.0f} ms budget; its bare lxml parse {min(ref) * 1e3:.2f} ms); "
          f"mean over the {len(groups['all'])} samples {mean:.2f} ms")


if __name__ == "__main__":
    main()
