"""JMA's Atom PULL feeds (extra.xml, regular.xml) over the scenario's precomputed messages."""
from __future__ import annotations

import bisect
from datetime import datetime, timedelta

from lxml import etree

from geo.codes import AreaCodes
from simulator import jma_flood, jma_sediment, jma_warnings
from simulator import jma_xml as jx
from simulator.hydrology import Hydrology
from simulator.scenario import Scenario

ATOM = "http://www.w3.org/2005/Atom"
WINDOW = timedelta(minutes=10)  # the short feeds cover at least the last 10 minutes
LONG_WINDOW = timedelta(days=3)  # the long feeds (*_l.xml) cover days, rebuilt every hour
FEED_TITLES = {"extra": "高頻度（随時）", "regular": "高頻度（定時）", "extra_l": "長期（随時）", "regular_l": "長期（定時）"}
FEED_PATH = "/developer/xml/feed/{}.xml"
OVERVIEW_HOURS = (5, 11, 17)  # 府県天気概況 goes out three times a day


class JmaArchive:
    """Every message of the scenario, queried by scenario time."""

    def __init__(self, scenario: Scenario, hydro: Hydrology, seed: int, codes: AreaCodes) -> None:
        messages = (
            jma_sediment.build(scenario, seed, codes)
            + jma_flood.build(scenario, hydro, seed)
            + jma_warnings.build(scenario, hydro, seed, codes)
            + _overviews(scenario, hydro, seed)
        )
        self.messages = sorted(messages, key=lambda m: (m.at, m.data_type))
        self.start = scenario.scenario.start
        self._times = [m.at for m in self.messages]
        self.by_name = {m.name: m for m in self.messages}

    def published(self, now: datetime) -> list[jx.JmaMessage]:
        """Messages already out at `now`."""
        return self.messages[: bisect.bisect_right(self._times, now)]

    def document(self, name: str, now: datetime) -> jx.JmaMessage | None:
        """A document by file name, if it has been published by `now`."""
        msg = self.by_name.get(name)
        return msg if msg is not None and msg.at <= now else None

    def entries(self, feed: str, now: datetime) -> list[jx.JmaMessage]:
        """The feed's entries at `now`, newest first: the last 10 minutes, or for a long feed
        (`extra_l`) the last days as of the top of the hour."""
        if feed.endswith("_l"):
            feed, upto, window = feed[:-2], long_feed_time(now), LONG_WINDOW
        else:
            upto, window = now, WINDOW
        lo = bisect.bisect_right(self._times, upto - window)
        hi = bisect.bisect_right(self._times, upto)
        return [m for m in reversed(self.messages[lo:hi]) if m.feed == feed]


def long_feed_time(now: datetime) -> datetime:
    """When the long feeds were last rebuilt: the top of the hour."""
    return now.replace(minute=0, second=0, microsecond=0)


def render(feed: str, entries: list[jx.JmaMessage], updated: datetime, base_url: str) -> bytes:
    """The Atom document, shaped like the real extra.xml / regular.xml."""
    root = etree.Element(f"{{{ATOM}}}feed", {"lang": "ja"}, nsmap={None: ATOM})
    self_url = base_url + FEED_PATH.format(feed)
    jx.sub(root, "title", FEED_TITLES[feed])
    jx.sub(root, "subtitle", "JMAXML publishing feed")
    jx.sub(root, "updated", jx.iso_jst(updated))
    jx.sub(root, "id", f"{self_url}#{'long' if feed.endswith('_l') else 'short'}_{int(updated.timestamp())}")
    jx.sub(root, "link", rel="related", href="https://www.jma.go.jp/")
    jx.sub(root, "link", rel="self", href=self_url)
    jx.sub(root, "link", rel="hub", href="http://alert-hub.appspot.com/")
    for m in entries:
        url = base_url + jx.DATA_URL_PATH + m.name
        entry = jx.sub(root, "entry")
        jx.sub(entry, "title", m.title)
        jx.sub(entry, "id", url)
        jx.sub(entry, "updated", jx.iso_utc(m.at))
        jx.sub(jx.sub(entry, "author"), "name", m.author)
        jx.sub(entry, "link", type="application/xml", href=url)
        jx.sub(entry, "content", m.headline, type="text")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="UTF-8", pretty_print=True)


def _overviews(scenario: Scenario, hydro: Hydrology, seed: int) -> list[jx.JmaMessage]:
    """府県天気概況 (VPFG50) at 05, 11 and 17 JST: what the regular feed carries."""
    out = []
    start = scenario.scenario.start.astimezone(jx.JST)
    day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=scenario.scenario.duration_h)
    for day in range(0, int((end - day0).total_seconds() // 86400) + 1):
        for hour in OVERVIEW_HOURS:
            report_dt = day0 + timedelta(days=day, hours=hour)
            if not start <= report_dt <= end:
                continue
            kaga = hydro.accumulated("kaga", report_dt, 6)
            noto = hydro.accumulated("noto", report_dt, 6)
            wet = kaga + noto >= 10
            text = ("前線が北陸地方に停滞しています。石川県は雨で、雷を伴い激しく降っている所があります。"
                    "土砂災害や低い土地の浸水、河川の増水に警戒してください。" if wet else
                    "高気圧に覆われて、石川県はおおむね晴れています。")
            at = jx.publish_time(report_dt, seed, f"vpfg50:{report_dt.isoformat()}")
            root, _hl, body = jx.report(
                control_title="府県天気概況", status=scenario.scenario.status, at=at, editorial=jx.OFFICE,
                publishing=jx.OFFICE, head_title="石川県天気概況", report_dt=report_dt, event_id=None,
                info_type="発表", serial=None, info_kind="天気概況", version="1.0_0", headline="",
            )
            target = jx.sub(body, "TargetArea")
            jx.sub(target, "Name", jx.PREF_NAME)
            jx.sub(target, "Code", jx.PREF_AREA)
            jx.sub(jx.sub(body, "Comment"), "Text", text, type="本文")
            out.append(jx.JmaMessage(at, "VPFG50", "regular", "府県天気概況", jx.OFFICE, "【石川県天気概況】" + text, jx.serialize(root)))
    return out
