"""What a dispatcher posts for the messages it claimed: one post per report and wording (all its
municipalities, threaded under the event's first post), routine messages claimed together as one
digest per language; and what a channel has spent on its posts."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from geo.store.base import OutboxItem
from publishers.channel import Channel
from publishers.messages import render, render_digest

JST = ZoneInfo("Asia/Tokyo")


@dataclass
class Planned:
    """One post to make: the claimed messages it covers and how it reads."""

    items: list[OutboxItem]
    text: str
    reply_to: str | None
    has_link: bool
    resend: bool = False
    roots: list[tuple[str, str]] = field(default_factory=list)  # (event id, lang) threads it starts

    @property
    def priority(self) -> int:
        return max(i.message.priority for i in self.items)

    @property
    def key(self) -> str:
        return self.items[0].message.id


def groups(items: Sequence[OutboxItem]) -> list[list[OutboxItem]]:
    """Messages of one report and wording, in claim order."""
    by_group: dict[str, list[OutboxItem]] = {}
    for item in items:
        by_group.setdefault(item.message.payload.get("group", item.message.id), []).append(item)
    return list(by_group.values())


def single(group: list[OutboxItem], roots: dict[tuple[str, str], str], link_mode: str, channel: Channel) -> Planned:
    """One post for a group, replying in the thread its events started (`roots`: (event id, lang) -> post id)."""
    notices = [i.message.payload for i in group]
    lang = notices[0].get("lang", "ja")
    thread = [(i.message.event_id, lang) for i in group]
    reply_to = next((roots[t] for t in thread if t in roots), None)
    link = link_mode == "always" or (link_mode == "first" and reply_to is None)
    text = render(notices, link, channel.weigh, channel.limit)
    starts = [t for t in thread if t not in roots]
    return Planned(group, text, reply_to, link, roots=starts)


def digests(items: list[OutboxItem], link_mode: str, channel: Channel) -> list[Planned]:
    """One digest post per language for routine messages claimed together."""
    by_lang: dict[str, list[OutboxItem]] = {}
    for item in items:
        by_lang.setdefault(item.message.payload.get("lang", "ja"), []).append(item)
    posts = []
    for group in by_lang.values():
        url = None
        if link_mode != "never":
            url = group[0].message.payload["url"].split("events/", 1)[0]
        text, _named = render_digest([i.message.payload for i in group], url, channel.weigh, channel.limit)
        posts.append(Planned(group, text, None, url is not None))
    return posts


class Spend:
    """What a channel has spent today and this month (JST), from its receipts."""

    def __init__(self) -> None:
        self.by_post: dict[str, tuple[datetime, float]] = {}

    def add(self, key: str, at: datetime, cost: float) -> None:
        """Count one post's cost once, whatever number of messages it covered."""
        self.by_post.setdefault(key, (at, cost))

    def totals(self, now: datetime) -> tuple[float, float]:
        """(today, this month) in JST."""
        local = now.astimezone(JST)
        day = month = 0.0
        for at, cost in self.by_post.values():
            t = at.astimezone(JST)
            if (t.year, t.month) == (local.year, local.month):
                month += cost
                if t.day == local.day:
                    day += cost
        return day, month
