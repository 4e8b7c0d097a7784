"""
What a function sees from where it runs, for `doctor`: a Lambda Invoke of the site (or
manage) function with Zappa's {"command": "project.ops.function_check.handler"} event.

The operator's laptop cannot reach a private database, and its environment is not the
function's: only the function can say whether *its* database URL connects, whether the
migrations its code needs are applied, whether the cache table exists, and what its own
environment holds. The answer names no secret (no URL, no password): facts and counts.
"""

from __future__ import annotations

import os


def _setup() -> None:
    from django.apps import apps

    if not apps.ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
        import django

        django.setup()


def pending_migrations(connection) -> list[str]:
    """The migrations this code has that the database has not applied, as app.name."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]


def cache_table_exists(connection) -> bool | None:
    from django.conf import settings

    tables = [c["LOCATION"] for c in settings.CACHES.values() if c["BACKEND"].endswith("DatabaseCache")]
    if not tables:
        return None  # not a database cache (Redis): nothing to check here
    return all(table in connection.introspection.table_names() for table in tables)


def check() -> dict:
    _setup()
    from django.db import DatabaseError, connection

    from django.conf import settings

    # What the function's settings made of its environment (settings.py reads it from there).
    answer: dict = {
        "environment": {
            name: bool(getattr(settings, name, ""))
            for name in ("OUTBOX_QUEUE_URL", "OUTBOX_DLQ_URL", "SECRETS_NAME", "TELEGRAM_BOT_ID", "SITE_DOMAIN")
        },
        "overrides": {
            name: os.environ[name] for name in ("OUTBOX_MAX_RECEIVE_COUNT", "SENDER_MAX_CONCURRENCY") if os.environ.get(name)
        },
        "queue_url": getattr(settings, "OUTBOX_QUEUE_URL", ""),
    }
    try:
        connection.ensure_connection()
        answer["database"] = "ok"
        answer["vendor"] = connection.vendor
        answer["tls"] = connection.settings_dict.get("OPTIONS", {}).get("sslmode", "")
        answer["pending_migrations"] = pending_migrations(connection)
        answer["cache_table"] = cache_table_exists(connection)
    except DatabaseError as exc:
        # psycopg's message names host and port, never the password.
        answer["database"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        connection.close()
    return answer


def handler(event=None, context=None):
    """Zappa runs {"command": "project.ops.function_check.handler"} events by calling this."""
    return check()
