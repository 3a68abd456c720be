"""What every push channel shares: its common config, the post it is handed, its receipt and errors.

A channel module (publishers/x.py, publishers/mastodon.py) holds its own Config (a subclass of
`ChannelConfig` with its `type` tag) and a class with `send(post) -> Receipt`. The dispatcher
(publishers/dispatcher.py) decides what to send and when; a channel only talks to its API and
classifies the answer into a `Receipt` or one `ChannelError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


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


@dataclass(frozen=True, slots=True)
class Post:
    """One post as the dispatcher hands it to a channel."""

    text: str
    key: str  # idempotency key: the first message id of the post
    reply_to: str | None = None  # the channel's id of the post this one answers (a thread per event)
    resend: bool = False  # a send whose first attempt was interrupted: the channel makes it safe


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the channel answered: its post id and URL (None when only a duplicate answer proves it)."""

    id: str | None
    url: str | None = None
    duplicate: bool = False  # the channel said it already had this exact post


class ChannelError(Exception):
    """A send that did not succeed; `outcome` says what the dispatcher does with the message."""

    outcome: Literal["retry", "failed", "unknown"] = "retry"

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at  # when the channel said it can take more (rate limit reset)


class Retryable(ChannelError):
    """Try again later (5xx, connection refused): nothing was posted."""


class RateLimited(ChannelError):
    """The channel's quota is spent until `retry_at`; nothing was posted."""


class Rejected(ChannelError):
    """The channel refused the post for good (bad credentials, invalid text)."""

    outcome = "failed"


class Unknown(ChannelError):
    """The post may or may not have been made (timeout after sending, 5xx to a repeated key)."""

    outcome = "unknown"


@dataclass(slots=True)
class Quota:
    """What the channel's last answer said of its rate limit (x-rate-limit-remaining / -reset)."""

    remaining: int | None = None
    reset_at: datetime | None = None


class Channel(Protocol):
    """A push target: renders nothing, sends one post at a time."""

    name: str
    config: ChannelConfig
    limit: int
    dry: bool
    quota: Quota

    def weigh(self, text: str) -> int:
        """The text's length as the channel counts it."""

    async def send(self, post: Post) -> Receipt:
        """Post it; raise a ChannelError subclass when it did not (surely) happen."""

    async def close(self) -> None:
        """Release connections."""


class DryChannel:
    """Records instead of sending: every message is rendered, acked with a dry receipt, never posted."""

    def __init__(self, name: str, config: ChannelConfig, limit: int | None = None, weigh=None) -> None:
        self.name = name
        self.config = config
        self.limit = limit or getattr(config, "limit", 500)
        self.dry = True
        self.quota = Quota()
        self._weigh = weigh or len
        self.sent: list[Post] = []

    def weigh(self, text: str) -> int:
        """As the real channel would count it."""
        return self._weigh(text)

    async def send(self, post: Post) -> Receipt:
        """Record the post; nothing leaves the process."""
        self.sent.append(post)
        return Receipt(id=None, url=None)

    async def close(self) -> None:
        """Nothing to release."""
