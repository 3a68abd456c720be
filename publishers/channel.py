"""What every push channel shares: the post it is handed, its receipt and errors.

A channel module (publishers/x.py, publishers/mastodon.py) holds a class with `send(post) -> Receipt`;
its settings (a subclass of `ChannelConfig` with its `type` tag) are part of the configuration, in
service/push_config.py. The dispatcher
(publishers/dispatcher.py) decides what to send and when; a channel only talks to its API and
classifies the answer into a `Receipt` or one `ChannelError`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from service.push_config import ChannelConfig


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
