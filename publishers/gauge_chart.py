"""A gauge's last 24 hours as a small SVG chart with its threshold lines: server-rendered, no script.

`gauge_chart_svg` is a pure function of the readings, the thresholds and the window's end, so the
same inputs give the same bytes (and the same ETag). Thresholds are drawn with the level colours
*and* named in text (never colour alone); the y axis states the datum (geo/gauge_reading.py), and a
gap of more than an hour, or a missing reading, breaks the line rather than bridging it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from geo.gauge_reading import gauge_reading
from geo.model import LEVEL_COLOURS

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 22, 24
WINDOW = timedelta(hours=24)
MAX_GAP = timedelta(hours=1)
JST = ZoneInfo("Asia/Tokyo")

# Level 1's colour is white: on a white chart its line is drawn grey (the label names it anyway).
_LINE = {**LEVEL_COLOURS, 1: "#8a8a8a"}
_DASH = {1: "2 3", 2: "6 3", 3: "6 3", 4: "", 5: ""}

WORDS = {
    "ja": {"title": "{name} 過去24時間の水位", "empty": "この24時間の観測値はありません",
           "elevation": "m（標高）", "gauge_datum": "m（観測所の基準面から）"},
    "en": {"title": "{name}: water level, last 24 hours", "empty": "No readings in the last 24 hours",
           "elevation": "m (elevation)", "gauge_datum": "m (above the gauge datum)"},
    "easy": {"title": "{name} この 24じかんの みずの たかさ", "empty": "この 24じかんの データは ありません",
             "elevation": "メートル（うみから）", "gauge_datum": "メートル"},
}


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"


def gauge_chart_svg(
    readings: Sequence[tuple[datetime, float | None]],
    thresholds: Mapping[str, Any] | None,
    until: datetime,
    name: str = "",
    lang: str = "ja",
    tz: ZoneInfo = JST,
    window: timedelta = WINDOW,
) -> str:
    """SVG text of the readings in (until - window, until] with threshold lines, labelled in `lang`."""
    words = WORDS[lang]
    since = until - window
    points = sorted(((t, v) for t, v in readings if since <= t <= until), key=lambda p: p[0])
    latest = next((v for t, v in reversed(points) if v is not None), None)
    reading = gauge_reading(latest, thresholds)
    values = [v for _, v in points if v is not None]
    lines = reading["thresholds"]
    title = words["title"].format(name=name).strip()
    summary = reading["summary"][lang]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        f' role="img" aria-label={quoteattr(f"{title}. {summary}")} font-family="sans-serif" font-size="10">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(summary)}; {escape(reading['datum_words'][lang])}</desc>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{WIDTH - RIGHT}" y="14" text-anchor="end" fill="#222" font-size="11">{escape(summary)}</text>',
    ]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bbb"/>')
    span = values + [r["value_m"] for r in lines]
    if not span:
        out.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#444">'
                   f"{escape(words['empty'])}</text></svg>")
        return "".join(out)
    low, high = min(span), max(span)
    pad = max((high - low) * 0.08, 0.1)
    low, high = low - pad, high + pad

    def x_of(t: datetime) -> float:
        return round(LEFT + (t - since) / window * plot_w, 1)

    def y_of(v: float) -> float:
        return round(TOP + (high - v) / (high - low) * plot_h, 1)

    # Axes: four value ticks labelled with the datum's unit, time ticks every six hours (local time).
    for i in range(5):
        v = low + (high - low) * i / 4
        out.append(f'<text x="{LEFT - 4}" y="{y_of(v) + 3}" text-anchor="end" fill="#444">{_fmt(v)}</text>')
    out.append(f'<text x="4" y="{TOP - 4}" fill="#444">{escape(words[reading["datum"]])}</text>')
    local_until = until.astimezone(tz)
    tick = local_until.replace(minute=0, second=0, microsecond=0)
    tick -= timedelta(hours=tick.hour % 6)
    while tick.astimezone(until.tzinfo) > since:
        x = x_of(tick)
        label = tick.strftime("%H:%M") if tick.date() == local_until.date() else tick.strftime("%m/%d %H:%M")
        out.append(f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{TOP + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{x}" y="{HEIGHT - 8}" text-anchor="middle" fill="#444">{escape(label)}</text>')
        tick -= timedelta(hours=6)
    for row in lines:
        y = y_of(row["value_m"])
        dash = f' stroke-dasharray="{_DASH[row["level"]]}"' if _DASH[row["level"]] else ""
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + plot_w}" y2="{y}" stroke="{_LINE[row["level"]]}"'
                   f' stroke-width="1.5"{dash}/>')
        label = f"{row['name'][lang]} {row['value_m']:.2f}"  # as published, to the centimetre
        out.append(f'<text x="{LEFT + plot_w - 2}" y="{y - 2}" text-anchor="end" fill="#222">{escape(label)}</text>')
    for segment in _segments(points):
        coords = " ".join(f"{x_of(t)},{y_of(v)}" for t, v in segment)
        if len(segment) == 1:
            t, v = segment[0]
            out.append(f'<circle cx="{x_of(t)}" cy="{y_of(v)}" r="1.5" fill="#0b57d0"/>')
        else:
            out.append(f'<polyline points="{coords}" fill="none" stroke="#0b57d0" stroke-width="2"/>')
    last = next(((t, v) for t, v in reversed(points) if v is not None), None)
    if last is not None:
        out.append(f'<circle cx="{x_of(last[0])}" cy="{y_of(last[1])}" r="3" fill="#0b57d0"/>')
    out.append("</svg>")
    return "".join(out)


def _segments(points: Sequence[tuple[datetime, float | None]]) -> list[list[tuple[datetime, float]]]:
    """Runs of readings without a missing value or a gap longer than MAX_GAP."""
    runs: list[list[tuple[datetime, float]]] = []
    current: list[tuple[datetime, float]] = []
    for t, v in points:
        if v is None or (current and t - current[-1][0] > MAX_GAP):
            if current:
                runs.append(current)
            current = []
        if v is not None:
            current.append((t, v))
    if current:
        runs.append(current)
    return runs
