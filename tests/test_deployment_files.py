"""docker-compose.yml and Dockerfile: exact image versions, Redis behind a password from the
environment, no-new-privileges and a read-only root for every container."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = (ROOT / "docker-compose.yml").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
EXACT = re.compile(r"^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.]+)*$")  # name:MAJOR.MINOR.PATCH[-variant]


def _services() -> dict[str, str]:
    """Each service's block of the compose file, by name."""
    body = COMPOSE.split("\nservices:\n", 1)[1].split("\nvolumes:\n", 1)[0]
    return dict(re.findall(r"^  ([a-z-]+):\n((?:    .*\n|\s*\n)*)", body, flags=re.M))


def test_images_are_pinned_to_exact_versions():
    images = re.findall(r"^\s*image:\s*(\S+)", COMPOSE, flags=re.M)
    images += re.findall(r"^FROM\s+(\S+)", DOCKERFILE, flags=re.M)
    assert len(images) == 4, images
    floating = [image for image in images if not EXACT.match(image)]
    assert floating == [], f"floating tags: {floating}"


def test_every_container_has_no_new_privileges_and_a_read_only_root():
    services = _services()
    assert set(services) == {"redis", "app", "nginx"}
    anchor = COMPOSE.split("x-hardened: &hardened\n", 1)[1].split("\n\n", 1)[0]
    assert "read_only: true" in anchor and "no-new-privileges:true" in anchor
    for name, block in services.items():
        assert "<<: *hardened" in block, name


def test_redis_requires_the_password_from_the_environment():
    services = _services()
    assert '"--requirepass", "${BOSAI_REDIS_PASSWORD:?' in services["redis"]
    assert 'command: ["redis-server"' in services["redis"]  # the entrypoint then drops root
    assert "REDISCLI_AUTH: ${BOSAI_REDIS_PASSWORD:?" in services["redis"]  # the health check authenticates
    assert "BOSAI_STORE_URL: redis://:${BOSAI_REDIS_PASSWORD:?" in services["app"]


def _compose(env: dict[str, str]) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is required in CI (.ci/run installs it)")
        pytest.skip("docker-compose is not installed")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOSAI_")}
    return subprocess.run([binary, "-f", str(ROOT / "docker-compose.yml"), "config"], env={**clean, **env},
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_compose_refuses_to_start_without_a_redis_password():
    refused = _compose({})
    assert refused.returncode != 0 and "BOSAI_REDIS_PASSWORD" in refused.stderr
    accepted = _compose({"BOSAI_REDIS_PASSWORD": "0123abcd"})
    assert accepted.returncode == 0, accepted.stderr
    assert "redis://:0123abcd@redis:6379/0" in accepted.stdout
    assert "--requirepass\n    - 0123abcd" in accepted.stdout
