"""Mastodon channel: `POST /api/v1/statuses` over aiohttp, threaded with `in_reply_to_id`.

Every post carries an `Idempotency-Key` (the id of its first outbox message); the server keeps it
one hour and answers a repeat with the status it already made, so a resend after a crash or a
timeout within that hour cannot post twice. A 5xx answer to such a resend is still `unknown`.
Rate limits come from `X-RateLimit-Remaining` / `X-RateLimit-Reset` (an ISO 8601 time).
"""
from __future__ import annotations

from datetime import datetime

import aiohttp

from publishers.channel import Post, Quota, RateLimited, Receipt, Rejected, Retryable, Unknown
from service.push_config import MastodonConfig


class MastodonChannel:
    """Posts statuses to one Mastodon account."""

    resend_window_s = 55 * 60  # the server keeps an Idempotency-Key for an hour; a margin for clocks

    def __init__(
        self, name: str, config: MastodonConfig, token: str, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.limit = config.limit
        self.dry = False
        self.quota = Quota()
        self.token = token
        self._own_session = session is None
        self.session = session or aiohttp.ClientSession()

    def weigh(self, text: str) -> int:
        """Characters, as Mastodon counts them (a URL counts 23, so this never undercounts one)."""
        return len(text)

    def _read_quota(self, headers) -> None:
        remaining, reset = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset")
        if remaining is not None and remaining.isdigit():
            self.quota.remaining = int(remaining)
        if reset:
            try:
                self.quota.reset_at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            except ValueError:
                pass  # an unreadable reset time: the configured quota still holds

    async def send(self, post: Post) -> Receipt:
        """Create the status; classify the answer."""
        url = self.config.base_url.rstrip("/") + "/api/v1/statuses"
        form = {"status": post.text, "visibility": self.config.visibility}
        if post.reply_to:
            form["in_reply_to_id"] = post.reply_to
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": post.key}
        try:
            async with self.session.post(
                url, data=form, headers=headers, timeout=aiohttp.ClientTimeout(total=self.config.timeout_s)
            ) as response:
                self._read_quota(response.headers)
                status = response.status
                body = await response.json(content_type=None) if status < 500 else None
        except TimeoutError:
            raise Unknown(f"no answer within {self.config.timeout_s} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise Retryable(f"cannot connect: {exc}") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise Unknown(f"answer lost: {exc}") from None
        if status == 200:
            return Receipt(id=str(body["id"]), url=body.get("url"))
        if status == 429:
            raise RateLimited("429 rate limited", self.quota.reset_at)
        if status >= 500:
            if post.resend:
                raise Unknown(f"HTTP {status} to a repeated Idempotency-Key")
            raise Retryable(f"HTTP {status}")  # a retry carries the same key: safe within the hour
        error = body.get("error") if isinstance(body, dict) else None
        raise Rejected(f"HTTP {status}: {error or 'refused'}")

    async def close(self) -> None:
        """Close the HTTP session if this channel opened it."""
        if self._own_session:
            await self.session.close()
