"""The X channel's `api_url` and `ca_file`: tweepy's requests go to a configured origin over verified TLS."""
from __future__ import annotations

import pytest
import trustme
from pydantic import ValidationError

from publishers.channel import Post, Retryable
from publishers.x import API_URL, XChannel, XConfig
from tests.fake_channels import FakeX

CREDS = ("key", "secret", "token", "token-secret")


@pytest.fixture
async def fake_x_localhost(tmp_path):
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    fake = FakeX()
    fake.host = "localhost"
    await fake.start(ca)
    yield fake, ca_file
    await fake.stop()


@pytest.mark.parametrize("url", [
    "http://localhost:8443", "https://localhost:8443/2", "https://localhost?x=1", "https://u:p@localhost",
    "https://localhost#f", "localhost:8443",
])
def test_api_url_is_an_https_origin_and_nothing_else(url):
    with pytest.raises(ValidationError, match="api_url"):
        XConfig(api_url=url)


def test_api_url_default_and_normal_form(tmp_path):
    assert XConfig().api_url == API_URL == "https://api.twitter.com"
    assert XConfig(api_url="https://LOCALHOST:8443/").api_url == "https://localhost:8443"
    with pytest.raises(ValidationError, match="no such file"):
        XConfig(ca_file=tmp_path / "missing.pem")


async def test_default_origin_hands_tweepy_the_plain_session():
    channel = XChannel("x", XConfig(), CREDS)
    try:
        assert channel.client.session is channel.session
    finally:
        await channel.close()


async def test_posts_reach_the_configured_origin_over_verified_tls(fake_x_localhost):
    fake, ca_file = fake_x_localhost
    config = XConfig(api_url=f"https://localhost:{fake.port}", ca_file=ca_file, timeout_s=3)
    channel = XChannel("x", config, CREDS)  # its own session, as the service builds it
    try:
        receipt = await channel.send(Post("土砂災害警戒情報 金沢市", key="m1"))
        assert receipt.id == fake.posts[0]["id"] and not receipt.duplicate
        reply = await channel.send(Post("続報 金沢市", key="m2", reply_to=receipt.id))
        assert fake.posts[1]["reply_to"] == receipt.id and reply.id == fake.posts[1]["id"]
        # the resend of an interrupted send: X's 403 "duplicate content" proves the first was posted
        again = await channel.send(Post("土砂災害警戒情報 金沢市", key="m1", resend=True))
        assert again.duplicate and again.id is None and len(fake.posts) == 2
    finally:
        await channel.close()


async def test_an_origin_whose_certificate_is_not_trusted_is_not_posted_to(fake_x_localhost):
    fake, _ = fake_x_localhost
    channel = XChannel("x", XConfig(api_url=f"https://localhost:{fake.port}", timeout_s=3), CREDS)
    try:
        with pytest.raises(Retryable, match="cannot connect"):
            await channel.send(Post("土砂災害警戒情報 金沢市", key="m1"))
        assert fake.requests == 0 and not fake.posts
    finally:
        await channel.close()
