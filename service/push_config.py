"""Push configuration: the rule table and each channel's settings, as `[[rules]]` and `[channels.*]` read them.

They are part of the closed configuration (service/settings.py), so they live in the service core;
the channels (publishers/x.py, publishers/mastodon.py, publishers/lalert.py) and the rules
(publishers/rules.py) read them. A channel's Config is a subclass of `ChannelConfig` with its `type` tag.
"""
from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator
from yarl import URL

from geo.model import Event, Kind

API_URL = "https://api.twitter.com"  # where tweepy sends every request


class ChannelConfig(BaseModel):
    """Settings every channel has; a channel's own Config adds its API's."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Which channel module: x, mastodon, dry.")
    enabled: bool = Field(default=True, description="False keeps the channel out of the rules entirely.")
    langs: list[Literal["ja", "en", "easy"]] = Field(
        default=["ja"], min_length=1, description="Languages posted, one message each (ja, en, easy = やさしい日本語)."
    )
    drill: bool = Field(
        default=False,
        description="A drill channel: receives only exercise and test events (stamped 【訓練】), never real ones.",
    )
    link: Literal["first", "always", "never"] = Field(
        default="first", description="Where the event page link goes: the first post of a thread, every post, none."
    )
    dry_run: bool = Field(default=False, description="Render and record every message, send nothing (also without credentials).")
    coalesce_window_s: float = Field(
        default=300, ge=0, description="Lower-level messages (below 4, not cancellations) wait for this window and go as one digest."
    )
    posts_per_window: int = Field(default=100, ge=1, description="Quota: posts allowed per quota window.")
    quota_window_s: float = Field(default=900, gt=0, description="Length of the quota window.")
    cost_per_post_usd: float = Field(default=0, ge=0, description="What one post costs.")
    cost_per_link_post_usd: float = Field(default=0, ge=0, description="What one post containing a URL costs.")
    daily_budget_usd: float | None = Field(default=None, gt=0, description="Spend allowed per day (JST); none = unlimited.")
    monthly_budget_usd: float | None = Field(default=None, gt=0, description="Spend allowed per month (JST).")
    reserve_fraction: float = Field(
        default=0.2, ge=0, le=1,
        description="When less than this share of a budget is left, only level 4-5 and cancellations go out.",
    )
    lease_s: float = Field(default=60, gt=0, description="How long a claimed message is held before another process may take it.")
    timeout_s: float = Field(default=15, gt=0, description="Timeout of one API call.")
    retry_base_s: float = Field(default=5, gt=0, description="First retry delay; doubled on every attempt, with jitter.")
    retry_max_s: float = Field(default=600, gt=0, description="Longest retry delay.")
    max_attempts: int = Field(default=8, ge=1, description="Attempts before a message is failed for good.")


class DryConfig(ChannelConfig):
    """A channel that only records: for drills, staging, and as the fallback without credentials."""

    type: Literal["dry"] = "dry"
    limit: int = Field(default=500, ge=1, description="Longest text, in characters.")


class XConfig(ChannelConfig):
    """An X account (credentials from BOSAI_X_API_KEY, _API_SECRET, _ACCESS_TOKEN, _ACCESS_SECRET)."""

    type: Literal["x"] = "x"
    # X's published pay-per-use pricing (2026): $0.015 per post, $0.20 per post containing a URL;
    # 100 posts per 15 minutes per user.
    cost_per_post_usd: float = Field(default=0.015, ge=0, description="What one post costs.")
    cost_per_link_post_usd: float = Field(default=0.20, ge=0, description="What one post containing a URL costs.")
    posts_per_window: int = Field(default=100, ge=1, description="Quota: posts per quota window (X: 100 / 15 min).")
    quota_window_s: float = Field(default=900, gt=0, description="Length of the quota window.")
    api_url: str = Field(
        default=API_URL,
        description="Origin the API requests go to (https://HOST[:PORT], nothing else): a forwarding proxy, a test's fake X.",
    )
    ca_file: Path | None = Field(
        default=None, description="PEM bundle of the authorities trusted for api_url (default: the system's)."
    )

    @field_validator("api_url")
    @classmethod
    def _origin_only(cls, value: str) -> str:
        # Only where the requests go may change, never what they ask: an origin, and TLS always.
        url = URL(value)
        if url.scheme != "https" or not url.host or url.user or url.password or url.query_string \
                or url.fragment or url.path not in ("", "/"):
            raise ValueError(f"must be https://HOST[:PORT] with nothing after it, not {value!r}")
        return str(url.origin())

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


class MastodonConfig(ChannelConfig):
    """A Mastodon account (access token from BOSAI_MASTODON_TOKEN, or BOSAI_MASTODON_TOKEN_<NAME>)."""

    type: Literal["mastodon"] = "mastodon"
    base_url: str = Field(description="The instance, e.g. https://mastodon.example.")
    limit: int = Field(default=500, ge=1, description="The instance's status length limit.")
    visibility: Literal["public", "unlisted", "private"] = Field(default="public", description="Visibility of posts.")


class LAlertConfig(ChannelConfig):
    """An L-Alert (公共情報コモンズ) endpoint taking SOAP `publish` requests; password from BOSAI_LALERT_PASSWORD.

    A drill endpoint is a second channel of this type with `drill = true`: exercise and test events
    (訓練 documents) go there and nowhere else.
    """

    type: Literal["lalert"] = "lalert"
    endpoint: str = Field(description="URL of the SOAP publish endpoint (https in production).")
    username: str | None = Field(default=None, description="HTTP Basic user, with BOSAI_LALERT_PASSWORD.")
    sender_id: str = Field(default="bosai-hub", description="EDXL-DE senderID and the documentIDs' namespace.")
    office_name: str = Field(default="危機対策課", description="The publishing office named in every document.")
    langs: list[Literal["ja"]] = Field(default=["ja"], min_length=1, description="L-Alert documents are in Japanese.")
    link: Literal["first", "always", "never"] = Field(default="never", description="Unused: documents carry no link.")
    coalesce_window_s: float = Field(default=0, ge=0, description="0: every document goes on its own, never as a digest.")


ChannelSettings = Annotated[Union[XConfig, MastodonConfig, LAlertConfig, DryConfig], Field(discriminator="type")]  # noqa: UP007


class Happening(enum.StrEnum):
    """What a change means to a resident, under one rule's threshold."""

    ISSUED = "issued"  # crossed into the threshold (発表, or a gauge rising into it)
    RAISED = "raised"
    LOWERED = "lowered"  # still at or above the threshold
    AREAS = "areas"  # same level, another set of municipalities
    CORRECTED = "corrected"  # 訂正 with a material change: a reply to the original post
    LIFTED = "lifted"  # 解除, expiry, or falling back below the threshold
    CANCELLED = "cancelled"  # 取消 of something that was posted: a retraction


class Rule(BaseModel):
    """One row of the rule table."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="What operators call this rule (shown in the outbox).")
    kinds: list[Kind] = Field(min_length=1, description="Event kinds it applies to.")
    min_level: int = Field(ge=1, le=5, description="警戒レベル(相当) at or above which the event is posted.")
    families: list[str] | None = Field(
        default=None, description="Weather warnings only: hazard families (e.g. 土砂災害); none = every family."
    )
    routes: list[str] | None = Field(default=None, description="Road closures only: the routes posted; none = all.")
    on: list[Happening] = Field(default=list(Happening), description="Which happenings make a message.")
    channels: list[str] = Field(min_length=1, description="Channels the messages go to (absent ones are skipped).")
    top: bool = Field(default=False, description="Top priority: sent before everything else.")

    def matches(self, event: Event) -> bool:
        """True when the event is of this rule's kinds, family and routes."""
        if event.kind not in self.kinds:
            return False
        if self.families is not None and event.properties.get("family") not in self.families:
            return False
        return self.routes is None or event.properties.get("route") in self.routes


ISHIKAWA_ROUTES = ["国道8号", "国道157号", "国道159号", "国道160号", "国道249号", "国道304号", "のと里山海道"]
SNS = ["x", "mastodon"]
SNS_LALERT = ["x", "mastodon", "lalert"]

DEFAULT_RULES = [
    # A municipality's own orders come first: they are what residents act on (publishers/lalert.py).
    Rule(name="避難情報（市町の発令）", kinds=[Kind.EVACUATION], min_level=3, channels=SNS_LALERT, top=True),
    # Shelters: opened, crowded, closed (their status, not a level) go to L-Alert's Shelter document.
    Rule(name="避難所の開設・混雑・閉鎖", kinds=[Kind.SHELTER], min_level=1, channels=["lalert"]),
    Rule(name="特別警報", kinds=[Kind.WEATHER_WARNING], min_level=5, channels=SNS_LALERT, top=True),
    Rule(name="土砂災害警戒情報", kinds=[Kind.SEDIMENT_WARNING], min_level=4, channels=SNS_LALERT),
    Rule(name="レベル４土砂災害危険警報", kinds=[Kind.WEATHER_WARNING], families=["土砂災害"], min_level=4,
         channels=SNS_LALERT),
    Rule(name="指定河川洪水予報", kinds=[Kind.FLOOD_FORECAST], min_level=3, channels=SNS_LALERT),
    Rule(name="河川水位（避難判断水位以上）", kinds=[Kind.GAUGE], min_level=3, channels=SNS),
    Rule(name="通行止め（指定路線）", kinds=[Kind.ROAD_CLOSURE], min_level=2, routes=ISHIKAWA_ROUTES, channels=SNS),
]
