"""The store URL is shown only through geo.store.redis_connect.safe_url: a password never reaches
the log, not even one holding an '@' (which an earlier redaction split at and leaked in part)."""
from __future__ import annotations

import shutil
import socket
import subprocess
from urllib.parse import quote

import pytest
import structlog

from geo.store.redis_connect import safe_url
from service.keys import STORE_READY_KEY
from service.settings import load_settings
from service.web.app import store_ctx
from tests.conftest import _wait_for_ping
from tests.service_client import build_app

PASSWORD = "s3cr@t-h@lf"  # an '@' inside the password


@pytest.mark.parametrize("url,shown", [
    ("redis://:s3cret@db:6379/2", "redis://:***@db:6379/2"),
    ("rediss://app:s3cret@db/0", "rediss://app:***@db/0"),
    ("redis://:p@ss@db:6379/0", "redis://:***@db:6379/0"),
    ("redis://app:p@ss/w@rd@db/0", "redis://app:***@db/0"),
    ("redis+sentinel://:p@w@h1:26379,h2:26379/mymaster", "redis+sentinel://:***@h1:26379,h2:26379/mymaster"),
    ("redis://db:6379/0", "redis://db:6379/0"),
    ("var/bosai.sqlite3", "var/bosai.sqlite3"),
])
def test_safe_url_hides_the_whole_password(url, shown):
    assert safe_url(url) == shown


@pytest.fixture
def password_redis(tmp_path):
    """A redis-server of this test's own that requires PASSWORD; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is required (the store tests need it too)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--requirepass", PASSWORD],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_ping(f"redis://:{quote(PASSWORD)}@127.0.0.1:{port}/0", proc)
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}/0"  # as an operator writes it: '@' unescaped
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.redis
async def test_the_store_open_log_line_hides_a_password_with_an_at_sign(password_redis, tmp_path):
    settings = load_settings(overrides={"store": {"url": password_redis},
                                        "service": {"data_dir": str(tmp_path / "var")}})
    app = build_app(settings)
    with structlog.testing.capture_logs() as logs:
        lifecycle = store_ctx(app)  # the store's own start-up and shutdown, as the app runs them
        await anext(lifecycle)
        assert app[STORE_READY_KEY].is_set()
        await anext(lifecycle, None)
    opened = [entry for entry in logs if entry["event"] == "store_open"]
    assert opened and opened[0]["url"] == safe_url(password_redis) == "redis://:***@127.0.0.1:" + \
        password_redis.rsplit(":", 1)[1]
    text = repr(logs)
    for part in ("s3cr", "h@lf", "t-h"):
        assert part not in text, part
