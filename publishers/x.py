"""X (Twitter) channel: posts through tweepy's AsyncClient (API v2, OAuth 1.0a user context).

Weighted length is the twitter-text rules' (CJK 2, any URL 23, limit 280) from the kept
`twitter-text-parser` library, never a hand count. Answers are classified for the dispatcher:
201 posted; 429 rate-limited until `x-rate-limit-reset`; 403 "duplicate content" to a resend means
the interrupted first attempt was posted; 401/400/other 403 refused for good; 5xx and a timeout
leave the outcome unknown (X has posted despite a 503), which the dispatcher settles by re-sending
the identical text. `x-rate-limit-remaining/-reset` of every answer feed the channel's quota.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Literal

import aiohttp
import tweepy
from pydantic import Field
from tweepy.asynchronous import AsyncClient
from twitter_text import parse_tweet

from publishers.channel import ChannelConfig, Post, Quota, RateLimited, Receipt, Rejected, Retryable, Unknown

LIMIT = 280


class XConfig(ChannelConfig):
    """An X account (credentials from BOSAI_X_API_KEY, _API_SECRET, _ACCESS_TOKEN, _ACCESS_SECRET)."""

    type: Literal["x"] = "x"
    # X's published pay-per-use pricing (2026): $0.015 per post, $0.20 per post containing a URL;
    # 100 posts per 15 minutes per user.
    cost_per_post_usd: float = Field(default=0.015, ge=0, description="What one post costs.")
    cost_per_link_post_usd: float = Field(default=0.20, ge=0, description="What one post containing a URL costs.")
    posts_per_window: int = Field(default=100, ge=1, description="Quota: posts per quota window (X: 100 / 15 min).")
    quota_window_s: float = Field(default=900, gt=0, description="Length of the quota window.")


def weigh(text: str) -> int:
    """The text's weighted length by the twitter-text rules (CJK and emoji 2, URLs 23)."""
    return parse_tweet(text).weightedLength


class XChannel:
    """Posts to X; `session` lets tests (and deployments behind a proxy) supply the HTTP session."""

    resend_window_s = 24 * 3600  # X refuses identical text as a duplicate within at least this

    def __init__(
        self, name: str, config: XConfig, credentials: tuple[str, str, str, str],
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.limit = LIMIT
        self.dry = False
        self.quota = Quota()
        key, secret, token, token_secret = credentials
        self.client = AsyncClient(
            consumer_key=key, consumer_secret=secret, access_token=token, access_token_secret=token_secret,
            return_type=aiohttp.ClientResponse,
        )
        self._own_session = session is None
        self.client.session = session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=config.timeout_s)
        )

    def weigh(self, text: str) -> int:
        """The weighted length X counts."""
        return weigh(text)

    def _read_quota(self, headers) -> None:
        remaining, reset = headers.get("x-rate-limit-remaining"), headers.get("x-rate-limit-reset")
        if remaining is not None and remaining.isdigit():
            self.quota.remaining = int(remaining)
        if reset is not None and reset.isdigit():
            self.quota.reset_at = datetime.fromtimestamp(int(reset), timezone.utc)

    async def send(self, post: Post) -> Receipt:
        """Create the post (a reply when `post.reply_to`); classify X's answer."""
        try:
            async with asyncio.timeout(self.config.timeout_s):
                response = await self.client.create_tweet(
                    text=post.text, in_reply_to_tweet_id=post.reply_to, user_auth=True
                )
        except TimeoutError:
            raise Unknown(f"no answer within {self.config.timeout_s} s") from None
        except tweepy.TooManyRequests as exc:
            self._read_quota(exc.response.headers)
            reset = exc.reset_time
            raise RateLimited("429 rate limited", datetime.fromtimestamp(reset, timezone.utc) if reset else None) from None
        except tweepy.Forbidden as exc:
            self._read_quota(exc.response.headers)
            if any("duplicate" in m.lower() for m in exc.api_messages) and post.resend:
                return Receipt(id=None, duplicate=True)  # the interrupted attempt was posted
            raise Rejected(str(exc).replace("\n", " ")) from None
        except (tweepy.Unauthorized, tweepy.BadRequest, tweepy.NotFound) as exc:
            raise Rejected(str(exc).replace("\n", " ")) from None
        except tweepy.TwitterServerError as exc:
            self._read_quota(exc.response.headers)
            raise Unknown(str(exc).replace("\n", " ")) from None
        except tweepy.HTTPException as exc:
            raise Rejected(str(exc).replace("\n", " ")) from None
        except aiohttp.ContentTypeError as exc:  # an error page that is not JSON (a proxy's 502)
            raise Unknown(f"HTTP {exc.status}: not an API answer") from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            if isinstance(exc, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
                raise Retryable(f"cannot connect: {exc}") from None  # nothing reached X
            raise Unknown(f"connection lost: {exc}") from None
        self._read_quota(response.headers)
        data = (await response.json())["data"]
        return Receipt(id=str(data["id"]), url=f"https://x.com/i/status/{data['id']}")

    async def close(self) -> None:
        """Close the HTTP session if this channel opened it."""
        if self._own_session and self.client.session is not None:
            await self.client.session.close()
