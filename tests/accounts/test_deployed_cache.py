"""
The deployed stage's cache (contract C7, issue 12 item 2).

allauth's rate limits and the legacy Telegram sign-in's used-hash records live in the cache.
On a deployed stage it must (1) exist after `manage.py migrate` alone, on an empty
PostgreSQL database, with no separate `createcachetable` step, and (2) keep every live entry
however much traffic arrives: an attacker who floods sign-in must not be able to evict the
limits on an address or an IP (Django's DatabaseCache keeps 300 entries by default and drops
a third of them, live or not, when full).
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from tests.accounts.deployed import (  # noqa: F401 (deployed_cache is a fixture)
    ask,
    database_url,
    deployed_cache,
    deployed_caches,
    flood,
    postgres_server,
    run_deployed,
)
from tests.core.test_settings import DEPLOYED_ENV

SIGN_IN_AFTER_MIGRATE = """
import django, os
os.environ['DJANGO_SETTINGS_MODULE'] = 'project.settings'
django.setup()
from django.test.utils import setup_test_environment
setup_test_environment()  # keeps the email in memory; everything else is the dev stage's
from django.core.cache import cache
from django.test import Client
response = Client().post('/accounts/login/', {'email': 'first@example.com'}, HTTP_HOST='dev.example.org', secure=True)
print('sign-in', response.status_code, response.get('Location'))
print('used-hash', cache.add('telegram-legacy-result:abc', True, 60), cache.add('telegram-legacy-result:abc', True, 60))
"""


@pytest.fixture
def empty_postgres_database():
    server = postgres_server()
    if server is None:
        pytest.skip("no PostgreSQL server reachable")
    import psycopg

    name = f"security_c7_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(**server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(server, name)
    finally:
        with psycopg.connect(**server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_alone_makes_everything_the_deployed_stage_needs(empty_postgres_database):
    env = {**DEPLOYED_ENV, "DATABASE_URL": empty_postgres_database, "SECRETS_BACKEND": "env"}

    migrated = run_deployed(["migrate", "--no-input", "-v", "0"], env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]

    # Nothing is left for createcachetable to make: every cache table the stage uses exists.
    dry_run = run_deployed(["createcachetable", "--dry-run"], env)
    assert dry_run.returncode == 0, dry_run.stderr[-2000:]
    assert "CREATE TABLE" not in dry_run.stdout, dry_run.stdout

    # The email sign-in POST (which consumes allauth's rate limits) and the legacy sign-in's
    # used-hash record both work on the freshly migrated database.
    used = run_deployed([], env, code=SIGN_IN_AFTER_MIGRATE)
    assert used.returncode == 0, used.stderr[-3000:]
    assert "sign-in 302 /accounts/login/code/confirm/" in used.stdout, used.stdout
    assert "used-hash True False" in used.stdout


def test_the_deployed_cache_is_shared_across_containers():
    # Lambda runs many containers: the cache must be in the database or Redis, never in memory.
    for alias, config in deployed_caches().items():
        assert "locmem" not in config["BACKEND"].lower() and "dummy" not in config["BACKEND"].lower(), alias


def test_making_room_drops_expired_entries_and_never_a_live_one(settings, db):
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    config = deployed_caches()["default"]
    if "DatabaseCache" not in config["BACKEND"]:
        pytest.skip("the deployed cache is not in the database")
    settings.CACHES = {"default": {**config, "OPTIONS": {**config.get("OPTIONS", {}), "MAX_ENTRIES": 20}}}
    cache.clear()
    cache.set_many({f"old-{i}": i for i in range(10)}, timeout=600)
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(config["LOCATION"])
        cursor.execute(
            f"UPDATE {table} SET expires = %s", [connection.ops.adapt_datetimefield_value(timezone.now() - timedelta(minutes=1))]
        )

    for i in range(60):  # three times the room, all live
        cache.set(f"live-{i}", i, timeout=600)

    assert cache.get_many([f"live-{i}" for i in range(60)]) == {f"live-{i}": i for i in range(60)}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] == 60  # the expired ones made room
    cache.clear()


# --- floods ---------------------------------------------------------------------------------


def test_a_flood_does_not_evict_earlier_limits_on_an_address_or_an_ip(deployed_cache):
    victim, attacker_ip = "victim@example.com", "203.0.113.7"
    client = Client()
    # The per-address limit on the victim's address is used up (3 emails).
    assert all(ask(client, victim, "192.0.2.1") for _ in range(3))
    assert not ask(client, victim, "192.0.2.1")
    # The per-IP limit of one address is used up (20 emails).
    assert all(ask(client, f"probe-{i}@example.com", attacker_ip) for i in range(20))
    assert not ask(client, "probe-x@example.com", attacker_ip)

    flood()

    # Both limits still hold: the address from a fresh IP, the IP with a fresh address.
    assert not ask(Client(), victim, "192.0.2.200")
    assert not ask(Client(), "probe-y@example.com", attacker_ip)
