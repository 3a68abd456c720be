"""Push rules: which changes make which messages on which channels.

The rule table is read top to bottom: the first rule that matches an event and under whose
threshold something happened decides (a 特別警報 falling to level 4 is the 特別警報 rule's lift,
not a new level-4 message too). The table is
configuration (`[[rules]]` in the TOML), with Ishikawa's defaults below. A change makes a message
only when something material to a resident moved — the level (crossing the rule's threshold, or
up/down above it), the state (解除, 取消) or the set of areas — never a new serial or a new gauge
reading alone. A 訂正 is posted as a correction in reply to the original post; a 取消 retracts it.
Exercise and test events go to every channel configured as a drill channel (`drill = true`) and
nowhere else, stamped 【訓練】 (【試験】 for tests); a drill channel never gets a real event.

    rule                       kinds              threshold  channels               priority
    避難情報（市町の発令）     evacuation         3          x, mastodon, lalert    top
    避難所の開設・混雑・閉鎖   shelter            (status)   lalert                 routine
    特別警報                   weather_warning    5          x, mastodon, lalert    top
    土砂災害警戒情報           sediment_warning   4          x, mastodon, lalert    urgent
    レベル４土砂災害危険警報   weather_warning    4 (土砂災害) x, mastodon, lalert  urgent
    指定河川洪水予報           flood_forecast     3          x, mastodon, lalert    4-5 urgent
    河川水位                   gauge              3          x, mastodon            4-5 urgent
    通行止め（指定路線）       road_closure       2          x, mastodon            digest
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from geo.codes import AreaCodes
from geo.model import Event, Kind, Status
from geo.store.base import Change, ChangeOp, OutboxMessage
from publishers.messages import render
from service.push_config import ChannelConfig, Happening, Rule

TOP, URGENT, ROUTINE = 100, 50, 10  # outbox priorities: claimed highest first


OPEN_STATUSES = ("open", "crowded")


def shelter_happening(change: Change, previous: Event | None) -> Happening | None:
    """A shelter's status change: opened (issued), crowded / open again, closed (lifted), corrected."""
    new = change.event
    was = previous.properties.get("status") if previous is not None and not previous.ended else None
    now = new.properties.get("status") if not new.ended else None
    if change.op == ChangeOp.CANCELLED:
        return Happening.CANCELLED if was in OPEN_STATUSES else None
    if now == was or now not in (*OPEN_STATUSES, "closed"):
        return None  # a new head count, or nothing known: no announcement
    if new.properties.get("correction"):
        return Happening.CORRECTED  # never announced as a new opening
    if now == "closed":
        return Happening.LIFTED if was in OPEN_STATUSES else None
    if was not in OPEN_STATUSES:
        return Happening.ISSUED
    return Happening.RAISED if now == "crowded" else Happening.LOWERED


def happening(change: Change, previous: Event | None, min_level: int) -> Happening | None:
    """What `change` means under a threshold, given the version it replaces; None = nothing to post."""
    new = change.event
    if new.kind == Kind.SHELTER:
        return shelter_happening(change, previous)
    was_in = previous is not None and not previous.ended and previous.level >= min_level
    if change.op == ChangeOp.CANCELLED:
        return Happening.CANCELLED if was_in else None
    now_in = not new.ended and new.level >= min_level
    if not was_in:
        return Happening.ISSUED if now_in else None
    if not now_in:
        return Happening.LIFTED
    assert previous is not None
    if new.level == previous.level and set(new.areas) == set(previous.areas):
        if new.kind == Kind.EVACUATION and _districts(new) != _districts(previous):
            return Happening.CORRECTED if new.properties.get("correction") else Happening.AREAS
        return None  # 継続, a new serial or reading: nothing a resident must learn
    if new.properties.get("correction"):
        return Happening.CORRECTED
    if new.level > previous.level:
        return Happening.RAISED
    return Happening.LOWERED if new.level < previous.level else Happening.AREAS


def _districts(event: Event) -> set[tuple[int, str]]:
    """The (level, 地区) pairs an order is in force for."""
    return {(int(o.get("level", 0)), d) for o in event.properties.get("orders", [])
            if o.get("action") == "発令" for d in o.get("districts") or ["*"]}


def coalesce_until(at: datetime, window_s: float) -> datetime | None:
    """The end of the aligned window `at` falls in: messages of one window become due together."""
    if window_s <= 0:
        return None
    epoch = at.timestamp()
    return at + timedelta(seconds=window_s - epoch % window_s)


class PushRules:
    """The pipeline's `rules`: a change and the version it replaces -> outbox messages."""

    def __init__(
        self, rules: Iterable[Rule], channels: dict[str, ChannelConfig], codes: AreaCodes, public_url: str
    ) -> None:
        self.rules = list(rules)
        self.channels = {name: c for name, c in channels.items() if c.enabled}
        self.codes = codes
        self.public_url = public_url.rstrip("/") + "/"

    def event_url(self, event_id: str) -> str:
        """The event's own page, which every push links to."""
        return f"{self.public_url}events/{quote(event_id, safe=':')}"

    def _area_names(self, areas: Iterable[str], lang: str) -> list[str]:
        names = []
        for code in areas:
            if code not in self.codes:
                names.append(code)
                continue
            m = self.codes.municipality(code)
            names.append(m.name_en if lang == "en" else m.name)
        return names

    def notice(self, rule: Rule, what: Happening, change: Change, previous: Event | None, lang: str) -> dict[str, Any]:
        """The payload of one message: everything its templates need, nothing else."""
        event = change.event
        # a lift or a retraction names the areas that were warned
        areas = previous.areas if what in (Happening.LIFTED, Happening.CANCELLED) and previous else event.areas
        issued = event.issued_at or event.received_at
        level = event.level if what not in (Happening.LIFTED, Happening.CANCELLED) else 0
        return {
            "rule": rule.name, "happening": what.value, "lang": lang, "kind": event.kind.value,
            "level": level, "previous_level": previous.level if previous else 0,
            "event_id": event.id, "version": event.version, "status": event.status.value,
            "areas": list(areas), "area_names": self._area_names(areas, lang),
            "title": previous.title if what == Happening.CANCELLED and previous else event.title,
            "issued_at": issued.isoformat(), "url": self.event_url(event.id),
            "reply_to_original": what in (Happening.CORRECTED, Happening.CANCELLED),
            # notices of one report with the same wording go out as one post for every municipality
            "group": "|".join([event.kind.value, what.value, str(level), lang, event.status.value,
                               str(event.source.upstream_id), str(event.source.sequence), issued.isoformat()]),
        }

    def priority(self, rule: Rule, what: Happening, change: Change, previous: Event | None) -> int:
        """Top rules first, then level 4-5 and retractions, then the rest (which may be coalesced)."""
        if rule.top:
            return TOP
        level = max(change.event.level, previous.level if previous else 0)
        if what == Happening.CANCELLED or level >= 4:
            return URGENT
        return ROUTINE + level

    def __call__(self, change: Change, previous: Event | None) -> list[OutboxMessage]:
        """The messages a change makes (first rule with a happening decides), per channel and language."""
        event = change.event
        for rule in self.rules:
            if rule.matches(event):
                what = happening(change, previous, rule.min_level)
                if what is not None:
                    break
        else:
            return []
        if what not in rule.on:
            return []
        drill = event.status != Status.ACTUAL
        priority = self.priority(rule, what, change, previous)
        messages = []
        # drills go to every drill channel (and only there); real events to the rule's channels
        names = [n for n, c in self.channels.items() if c.drill] if drill else rule.channels
        for name in names:
            config = self.channels.get(name)
            if config is None or config.drill != drill:
                continue  # a drill channel never gets real events
            not_before = None if priority >= URGENT else coalesce_until(event.received_at, config.coalesce_window_s)
            for lang in config.langs:
                notice = self.notice(rule, what, change, previous, lang)
                notice["text"] = render([notice], link=config.link != "never")
                messages.append(OutboxMessage(
                    id=f"{name}:{lang}:{event.version_ref}", channel=name, event_id=event.id,
                    version=event.version, payload=notice, priority=priority, not_before=not_before,
                ))
        return messages
