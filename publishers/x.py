"""X (Twitter) channel: posts through tweepy's AsyncClient (API v2, OAuth 1.0a user context).

Weighted length is the twitter-text rules' (CJK 2, any URL 23, limit 280) from the kept
`twitter-text-parser` library, never a hand count. Answers are classified for the dispatcher:
201 posted; 429 rate-limited until `x-rate-limit-reset`; 403 "duplicate content" to a resend means
the interrupted first attempt was posted; 401/400/other 403 refused for good; 5xx and a timeout
leave the outcome unknown (X has posted despite a 503), which the dispatcher settles by re-sending
the identical text. `x-rate-limit-remaining/-reset` of every answer feed the channel's quota.
tweepy always names https://api.twitter.com; `api_url` sends its requests to another origin (a
forwarding proxy, the crash test's fake X) and `ca_file` trusts that origin's certificate authority.
"""
from __future__ import annotations

import asyncio
import ssl
from datetime import datetime, timezone

import aiohttp
import tweepy
from tweepy.asynchronous import AsyncClient
from yarl import URL

from publishers.channel import Post, Quota, RateLimited, Receipt, Rejected, Retryable, Unknown
from service.push_config import API_URL, XConfig

LIMIT = 280


def weigh(text: str) -> int:
    """The text's weighted length by the twitter-text rules (CJK and emoji 2, URLs 23)."""
    # Imported on first use: twitter-text compiles its emoji and URL patterns on import (~0.4 s of
    # CPU), which every start of the service would otherwise pay, X channel configured or not.
    from twitter_text import parse_tweet

    return parse_tweet(text).weightedLength


class _Rerouted:
    """The session tweepy is handed when `api_url` is not X's: each request goes to that origin instead.

    The path and signed query stay as tweepy made them; the OAuth signature names api.twitter.com,
    which is what X checks behind a forwarding proxy.
    """

    def __init__(self, session: aiohttp.ClientSession, origin: URL) -> None:
        self.session = session
        self.origin = origin

    def request(self, method: str, url: URL | str, **kwargs):
        """The session's request, to the same path and query at the configured origin."""
        url = url if isinstance(url, URL) else URL(url)
        rerouted = url.with_scheme(self.origin.scheme).with_host(self.origin.host).with_port(self.origin.explicit_port)
        return self.session.request(method, rerouted, **kwargs)


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
        if session is None:
            ssl_context = ssl.create_default_context(cafile=str(config.ca_file)) if config.ca_file else True
            session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=config.timeout_s), connector=aiohttp.TCPConnector(ssl=ssl_context)
            )
        self.session = session
        self.client.session = session if config.api_url == API_URL else _Rerouted(session, URL(config.api_url))

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
        if self._own_session:
            await self.session.close()
