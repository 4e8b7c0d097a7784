"""
The bot's send rate, shared by every sender instance: next-free-slot reservation (GCRA with
no burst) on rows of the database every instance already uses.

Each key ("global", "chat:<id>") has one row holding the earliest time the next send may
go. Reserving is one atomic statement,

    UPDATE slot SET next_at = max(next_at, :at) + :interval WHERE key = :key RETURNING next_at

so two instances can never get the same slot: PostgreSQL serialises them on the row lock,
SQLite on its write lock. The caller then waits until its slot (slot = returned - interval)
and sends. N instances together therefore send at most one message per interval per key,
however many there are, without knowing of each other. Why not a per-instance share of the
limit: Lambda scales pollers with the queue, so a share is either too small (30/N each, idle
capacity when one instance has all the work) or wrong when N changes. See docs/OUTBOX.md.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from django.db import connection, transaction

from . import conf
from .models import RateLimitSlot

GLOBAL = "global"


def chat_key(chat_id: int) -> str:
    return f"chat:{int(chat_id)}"


def chat_interval(chat_id: int) -> float:
    # Negative ids are groups and channels: 20 a minute. Private chats: about one a second.
    return conf.group_chat_interval() if int(chat_id) < 0 else conf.private_chat_interval()


def global_interval() -> float:
    return 1.0 / conf.global_rate()


def _table() -> str:
    return connection.ops.quote_name(RateLimitSlot._meta.db_table)


def reserve(key: str, interval: float, at: float | None = None) -> float:
    """Take the next free slot of `key` at or after `at` (default now); returns its time."""
    at = time.time() if at is None else at
    sql = (
        f"UPDATE {_table()} SET next_at = (CASE WHEN next_at > %s THEN next_at ELSE %s END) + %s "
        f"WHERE \"key\" = %s RETURNING next_at"
    )
    for _ in range(2):
        with connection.cursor() as cursor:
            cursor.execute(sql, [at, at, interval, key])
            row = cursor.fetchone()
        if row is not None:
            return float(row[0]) - interval
        RateLimitSlot.objects.bulk_create([RateLimitSlot(key=key, next_at=0.0)], ignore_conflicts=True)
    raise RuntimeError(f"rate-limit slot {key!r} could not be created")


def release(key: str, interval: float, slot: float) -> bool:
    """Give back a slot nobody will use, if it is still the last one taken on that key."""
    sql = f"UPDATE {_table()} SET next_at = next_at - %s WHERE \"key\" = %s AND next_at = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [interval, key, slot + interval])
        return cursor.rowcount == 1


def push_back(key: str, until: float) -> None:
    """No send on `key` before `until` (Telegram answered 429 with retry_after)."""
    sql = f"UPDATE {_table()} SET next_at = (CASE WHEN next_at > %s THEN next_at ELSE %s END) WHERE \"key\" = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [until, until, key])
        if cursor.rowcount == 0:
            RateLimitSlot.objects.bulk_create([RateLimitSlot(key=key, next_at=until)], ignore_conflicts=True)


def peek_many(keys) -> dict[str, float]:
    """Each key's next free time (0 for a key never used), in one query."""
    keys = list(keys)
    found = dict(RateLimitSlot.objects.filter(key__in=keys).values_list("key", "next_at"))
    return {key: float(found.get(key) or 0.0) for key in keys}


@contextmanager
def _write_transaction():
    """A transaction that holds the write lock from its first statement.

    PostgreSQL: a normal transaction; the rows are locked with SELECT ... FOR UPDATE.
    SQLite: BEGIN IMMEDIATE, so the read and the write cannot be split by another writer
    (a deferred transaction would fail with "database is locked" on the lock upgrade
    instead of waiting its turn).
    """
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            yield cursor


def reserve_sends(chat_ids: list[int], at: float | None = None, lookahead: float = 0.05,
                  horizon: float = 0.5) -> list[tuple[float | None, float, str]]:
    """Reserve one send to each of `chat_ids` (in order), in one transaction.

    For each: (slot, 0, "") or, when nothing was reserved, (None, when to ask again, "chat"
    or "global": which key was busy). Nothing is reserved while the chat is busy beyond
    `lookahead` or the bot beyond `horizon`:

    * a message waiting a second for its chat must not hold a global slot a second ahead,
      leaving the slots before it unused by everyone (the schedule stays dense);
    * no instance books more than `horizon` of the bot's time ahead, so a burst taken by
      one instance cannot push the others' messages beyond what they can wait for, and
      instances that are free share the next slots as they come.

    One transaction for several messages keeps the database cost per send low (one commit,
    one fsync on SQLite), which is what lets a single instance keep up with 30 a second.
    """
    at = time.time() if at is None else at
    ginterval = global_interval()
    ckeys = [chat_key(c) for c in chat_ids]
    keys = sorted(set(ckeys) | {GLOBAL})
    table, key_col = _table(), connection.ops.quote_name("key")
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    marks = ", ".join(["%s"] * len(keys))
    select = f"SELECT {key_col}, next_at FROM {table} WHERE {key_col} IN ({marks}) ORDER BY {key_col}{lock}"
    results: list[tuple[float | None, float, str]] = []
    with _write_transaction() as cursor:
        cursor.execute(select, keys)
        rows = {k: float(v) for k, v in cursor.fetchall()}
        if len(rows) < len(keys):
            for key in keys:
                if key not in rows:
                    cursor.execute(
                        f"INSERT INTO {table} ({key_col}, next_at) VALUES (%s, 0) ON CONFLICT DO NOTHING", [key]
                    )
            cursor.execute(select, keys)
            rows = {k: float(v) for k, v in cursor.fetchall()}
        before = dict(rows)
        for chat_id, ckey in zip(chat_ids, ckeys):
            chat_next, global_next = rows[ckey], rows[GLOBAL]
            if chat_next > at + lookahead:
                results.append((None, max(chat_next - lookahead, global_next - horizon), "chat"))
                continue
            if global_next > at + horizon:
                results.append((None, global_next - horizon, "global"))
                continue
            slot = max(at, chat_next, global_next)
            rows[ckey] = slot + chat_interval(chat_id)
            rows[GLOBAL] = slot + ginterval
            results.append((slot, 0.0, ""))
        changed = [(value, key) for key, value in rows.items() if value != before[key]]
        if changed:
            cursor.executemany(f"UPDATE {table} SET next_at = %s WHERE {key_col} = %s", changed)
    return results


def reserve_send(chat_id: int, at: float | None = None, lookahead: float = 0.05,
                 horizon: float = 0.5) -> tuple[float | None, float, str]:
    """reserve_sends() for one message."""
    return reserve_sends([chat_id], at, lookahead, horizon)[0]


def release_send(chat_id: int, slot: float) -> None:
    """Give back a reservation nobody will use (where it is still the last on its key)."""
    release(chat_key(chat_id), chat_interval(chat_id), slot)
    release(GLOBAL, global_interval(), slot)
