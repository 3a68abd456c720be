"""公共情報コモンズ documents of the scenario's municipalities: evacuation orders and shelter openings.

Each municipality keeps one EvacuationOrder document and one Shelter document; every step is a new
revision listing everything the municipality has in force (as L-Alert participants send them),
with 発令 for orders given and 解除 for those the step lifts. A `correct` step re-sends the last
revision with other districts, marked 訂正. Documents appear in an Atom feed (newest first) at
FEED_PATH and under DATA_PATH, in the public v1.x structure (publishers/lalert_document.py).
"""
from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from geo.codes import AreaCodes
from publishers import lalert_document as ld
from simulator import jma_xml as jx
from simulator.scenario import OrderStep, Scenario

FEED_PATH = "/publiccommons/feed.atom"
DATA_PATH = "/publiccommons/data/"
ATOM = "http://www.w3.org/2005/Atom"
WINDOW = timedelta(hours=24)  # the feed lists a day of documents
STATUS = {"通常": "actual", "訓練": "exercise"}
SORT_ORDER = ("緊急安全確保", "避難指示", "高齢者等避難")
SHELTER_SORT = {"open": ("開設", "空き"), "crowded": ("開設", "混雑"), "close": ("閉鎖", "不明")}


@dataclass(frozen=True)
class CommonsMessage:
    """One published document revision."""

    at: datetime
    name: str
    title: str
    xml: bytes


def _doc_id(scenario: Scenario, jis: str, category: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bosai-sim:{scenario.scenario.name}:{jis}:{category}"))


def _office(codes: AreaCodes, jis: str) -> ld.Office:
    muni = codes.municipality(jis)
    return ld.Office(name=f"{muni.name}危機管理課", organization=f"{codes.prefecture_name}{muni.name}", jis6=muni.lgcode)


def _orders(scenario: Scenario, codes: AreaCodes, seed: int) -> list[CommonsMessage]:
    start, status = scenario.scenario.start, STATUS[scenario.scenario.status]
    out: list[CommonsMessage] = []
    state: dict[str, dict[str, dict[str, datetime]]] = {}  # jis -> sort -> district -> when given
    last: dict[str, tuple[OrderStep, ld.Document]] = {}
    revision: dict[str, int] = {}
    for step in sorted(scenario.orders, key=lambda s: s.at_h):
        jis = step.municipality
        at = jx.publish_time(start + timedelta(hours=step.at_h), seed, f"pc:{jis}:{step.at_h}")
        muni = codes.municipality(jis)
        orders = state.setdefault(jis, {})
        lifted: dict[str, dict[str, datetime]] = {}
        operation = "update" if jis in revision else "new"
        if step.action == "correct" and jis in last:
            before, _ = last[jis]
            given = orders.get(before.sort or "", {})
            when = next(iter(given.values()), at)
            orders[before.sort or ""] = {d: when for d in step.districts}
            operation = "correction"
        elif step.action == "issue" and step.sort:
            orders.setdefault(step.sort, {}).update({d: at for d in step.districts})
        elif step.action == "lift":
            sorts = [step.sort] if step.sort else list(orders)
            for sort in sorts:
                districts = orders.get(sort, {})
                names = step.districts or list(districts)
                lifted[sort] = {d: at for d in names}
                for d in names:
                    districts.pop(d, None)
            state[jis] = {s: d for s, d in orders.items() if d}
            orders = state[jis]
        revision[jis] = revision.get(jis, 0) + 1
        details = [ld.Order(sort, "発令", tuple((ld.Place(d, muni.lgcode), t) for d, t in orders[sort].items()))
                   for sort in SORT_ORDER if orders.get(sort)]
        details += [ld.Order(sort, "解除", tuple((ld.Place(d, muni.lgcode), t) for d, t in ds.items()))
                    for sort, ds in lifted.items() if ds]
        top = next((s for s in SORT_ORDER if orders.get(s)), None)
        words = f"{top} 発令 ({'、'.join(orders[top])})" if top else "避難情報 解除"
        prefix = "【訂正】" if operation == "correction" else ""
        doc = ld.Document(
            category="EvacuationOrder", document_id=_doc_id(scenario, jis, "EvacuationOrder"),
            revision=revision[jis], operation=operation, status=status, office=_office(codes, jis),
            area_name=f"{codes.prefecture_name}{muni.name}", area_jis6=muni.lgcode,
            title=f"{prefix}{codes.prefecture_name}{muni.name} 避難情報",
            headline=f"{prefix}{muni.name} {words}",
            sent=at, report_time=at.replace(second=0), disaster=scenario.scenario.title,
            urgency="Immediate" if top else "Past", severity="Severe" if top else "Minor", certainty="Observed",
            orders=tuple(details),
        )
        if step.action != "correct":
            last[jis] = (step, doc)
        out.append(_message(doc, at))
    return out


def _shelters(scenario: Scenario, codes: AreaCodes, seed: int) -> list[CommonsMessage]:
    start, status = scenario.scenario.start, STATUS[scenario.scenario.status]
    out: list[CommonsMessage] = []
    lines: dict[str, dict[str, ld.ShelterEntry]] = {}
    revision: dict[str, int] = {}
    for step in sorted(scenario.shelters, key=lambda s: s.at_h):
        jis = step.municipality
        muni = codes.municipality(jis)
        at = jx.publish_time(start + timedelta(hours=step.at_h), seed, f"pcs:{jis}:{step.at_h}")
        sort, crowding = SHELTER_SORT[step.action]
        mine = lines.setdefault(jis, {})
        old = mine.get(step.name)
        changed_at = old.at if old is not None and old.sort == sort else at
        mine[step.name] = ld.ShelterEntry(
            place=ld.Place(step.name, muni.lgcode, address=step.address), sort=sort, status=crowding,
            at=changed_at, capacity=step.capacity, head_count=step.head_count, checked_at=at,
        )
        revision[jis] = revision.get(jis, 0) + 1
        total = sum(e.head_count or 0 for e in mine.values() if e.sort == "開設")
        doc = ld.Document(
            category="Shelter", document_id=_doc_id(scenario, jis, "Shelter"), revision=revision[jis],
            operation="new" if revision[jis] == 1 else "update", status=status, office=_office(codes, jis),
            area_name=f"{codes.prefecture_name}{muni.name}", area_jis6=muni.lgcode,
            title=f"{codes.prefecture_name}{muni.name} 避難所情報",
            headline=f"{muni.name} {step.name} {sort}" + ("（混雑）" if crowding == "混雑" else ""),
            sent=at, report_time=at.replace(second=0), disaster=scenario.scenario.title,
            certainty="Observed", shelters=tuple(mine.values()), head_count=total,
        )
        out.append(_message(doc, at))
    return out


def _message(doc: ld.Document, at: datetime) -> CommonsMessage:
    return CommonsMessage(at, f"{ld.distribution_id(doc)}.xml", doc.title, ld.write(doc))


class CommonsArchive:
    """Every document revision of the scenario, queried by scenario time."""

    def __init__(self, scenario: Scenario, seed: int, codes: AreaCodes) -> None:
        messages = _orders(scenario, codes, seed) + _shelters(scenario, codes, seed)
        self.messages = sorted(messages, key=lambda m: (m.at, m.name))
        self._times = [m.at for m in self.messages]
        self.by_name = {m.name: m for m in self.messages}

    def published(self, now: datetime) -> list[CommonsMessage]:
        """Revisions out at `now`, oldest first."""
        return self.messages[: bisect.bisect_right(self._times, now)]

    def document(self, name: str, now: datetime) -> CommonsMessage | None:
        """A revision by file name, once published."""
        msg = self.by_name.get(name)
        return msg if msg is not None and msg.at <= now else None

    def feed(self, now: datetime, base_url: str) -> tuple[bytes, datetime]:
        """The Atom feed at `now` (the last day, newest first) and its update time.

        The relay regenerates its feed every minute, as JMA's feeds are: the feed's `updated` (and
        Last-Modified) is that minute, so an empty feed still says "nothing in force, as of now".
        """
        listed = [m for m in self.published(now) if m.at > now - WINDOW]
        updated = now.replace(second=0, microsecond=0)
        root = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
        jx.sub(root, "title", "公共情報コモンズ 配信")
        jx.sub(root, "id", base_url + FEED_PATH)
        jx.sub(root, "updated", jx.iso_utc(updated))
        for m in reversed(listed):
            url = base_url + DATA_PATH + m.name
            entry = jx.sub(root, "entry")
            jx.sub(entry, "title", m.title)
            jx.sub(entry, "id", url)
            jx.sub(entry, "updated", jx.iso_utc(m.at))
            jx.sub(entry, "link", type="application/xml", href=url)
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="UTF-8"), updated

