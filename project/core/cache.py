"""
The cache deployed stages share across Lambda containers (contract C7).

It holds allauth's rate limits and the legacy Telegram sign-in's used-hash records: state
an attacker would like to see gone. Django's DatabaseCache makes room when it is full by
deleting a third of its rows, live or not, in key order (300 rows by default), so a flood of
sign-in requests from a few addresses used to wipe every earlier limit. `DatabaseCache`
here never deletes a live entry: past MAX_ENTRIES it only deletes the expired ones. Every
entry it holds expires within minutes (the longest rate-limit window, or a login result's
freshness), so the table stays as large as the last few minutes' traffic.

Its table is made by `manage.py migrate` (project/accounts/migrations/0003_cache_table.py)
with Django's own `createcachetable` code, so a new stage needs no separate step.

With REDIS_URL the same rule is the server's: it must run with `maxmemory-policy
noeviction`, since every key here has a timeout and the volatile-* policies would evict
exactly these.
"""

from __future__ import annotations

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import connections

# The table migrate makes; settings.CACHES names it as the LOCATION.
TABLE = "django_cache"


class DatabaseCache(DjangoDatabaseCache):
    """Django's database cache, except that making room never drops a live entry."""

    def _cull(self, db, cursor, now, num):
        connection = connections[db]
        cursor.execute(
            "DELETE FROM %s WHERE %s < %%s"
            % (connection.ops.quote_name(self._table), connection.ops.quote_name("expires")),
            [connection.ops.adapt_datetimefield_value(now)],
        )


def create_table(database: str, table: str = TABLE) -> None:
    """Make the cache table as `createcachetable` would (nothing if it exists)."""
    from django.core.management.commands.createcachetable import Command

    command = Command()
    command.verbosity = 0
    command.create_table(database, table, dry_run=False)
