"""
The deployed stage's own settings, for tests that must run against them.

`deployed_caches()` reads CACHES from project.settings set up in a fresh interpreter with a
complete `dev` stage environment, so a test exercises exactly what a Lambda container would
use, not a copy written into the test. `postgres_server()` is the PostgreSQL server the
suite may create scratch databases on (the one DATABASE_URL points at, or the local one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client

from tests.core.test_settings import DEPLOYED_ENV, load_settings

ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def deployed_caches() -> dict:
    result = load_settings(DEPLOYED_ENV, show="import json; print(json.dumps(s.CACHES))")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def postgres_server() -> dict | None:
    """Connection keywords for the PostgreSQL server's maintenance database, or None."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(url)
    server = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password or "",
        "dbname": "postgres",
    }
    try:
        import psycopg

        psycopg.connect(**server, connect_timeout=3).close()
    except Exception:
        return None
    return server


def database_url(server: dict, name: str) -> str:
    auth = server["user"] + (f":{server['password']}" if server["password"] else "")
    return f"postgres://{auth}@{server['host']}:{server['port']}/{name}"


def run_deployed(args: list[str], env: dict, *, code: str | None = None) -> subprocess.CompletedProcess:
    """`manage.py args` (or `python -c code`) in a fresh interpreter with this stage environment."""
    clean = {k: v for k, v in os.environ.items() if k not in DEPLOYED_ENV and not k.startswith("TELEGRAM_")}
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable, "-c", code] if code is not None else [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=300)


# --- the deployed cache under a flood of sign-in requests ----------------------------------


@pytest.fixture(params=["as deployed", "overfull"])
def deployed_cache(request, settings, db):
    """The deployed stage's CACHES on the test database (made by migrate, like the stage's);
    "overfull" gives it less room than the flood needs, so making room is part of the test."""
    caches = deployed_caches()
    if request.param == "overfull":
        default = caches["default"]
        caches = {**caches, "default": {**default, "OPTIONS": {**default.get("OPTIONS", {}), "MAX_ENTRIES": 100}}}
    settings.CACHES = caches
    # Per 10 minutes rather than per minute: the same limits, with no chance that a slow
    # machine lets them lapse by themselves during the flood.
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code": "20/10m/ip,3/10m/key"}
    cache.clear()
    yield
    cache.clear()


def ask(client: Client, email: str, ip: str) -> bool:
    """Ask for a sign-in email; True when it was sent, False when a rate limit refused it."""
    response = client.post("/accounts/login/", {"email": email}, REMOTE_ADDR=ip)
    if response.status_code == 302:
        return True
    assert response.status_code == 200, response.status_code
    assert "Too many sign-in emails" in response.content.decode()
    return False


def flood(requests: int = 420, addresses: int = 21) -> None:
    """Sign-in requests from `addresses` IPs, each within its own per-IP limit, each for a new
    email address: every one of them makes new rate-limit entries."""
    per_ip = -(-requests // addresses)
    sent = 0
    for n in range(addresses):
        client = Client()
        ip = f"198.51.100.{n + 1}"
        for i in range(per_ip):
            assert ask(client, f"flood-{n}-{i}@example.net", ip)
            sent += 1
    assert sent >= 400
