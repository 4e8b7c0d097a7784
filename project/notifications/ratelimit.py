"""
The bot's send rate, shared by every sender instance: a next-free-slot schedule (GCRA with no
burst) on rows of the database every instance already uses, and a rate that adapts to 429s.

Each key ("global", "chat:<id>") has one row holding the earliest time the next send may go.
Reserving takes the rows' locks, picks `slot = max(now, chat.next, global.next)` and moves
both on by their intervals, so two instances never get the same slot and all of them
together send at most one message per interval per key, without knowing of each other. Why
not a per-instance share of the limit: Lambda scales pollers with the queue, so a share is
either too small (30/N each, idle capacity when one instance has all the work) or wrong when
N changes. See docs/OUTBOX.md.

Lock order, everywhere (issue 15): every transaction here locks its rows in one statement,
ordered by key ("chat:..." before "global"), and no transaction here touches any other
table, nor runs inside one that does. Two transactions can then never wait on each other in
a circle: on PostgreSQL a deadlock needs two lock orders.

Adaptive rate (the "global" row): Telegram answers 429 when the bot sends too fast overall,
so a 429 is news about the whole bot. It pauses the schedule for every instance until
`retry_after` has passed (`paused_until`; instances with sends already booked see it within
a poll) and lowers the rate; the rate then climbs back in steps, each after a clean period:

* a new 429 (not one of the same pause) at rate r marks r as too fast (`rate_ceiling`) and
  drops to the highest rate known to run clean (`rate_floor`); with none known, above
  SAFE_RATE (Telegram's documented 30/s less our margin) to SAFE_RATE, since the setting is
  wrong, and at or below it to r x BACKOFF (a burst of jitter, or a limit lowered: each new
  429 takes a little more off);
* after STABLE clean seconds the rate is known good (the floor) and rises halfway to the
  ceiling (by GROWTH when no ceiling is known), never above the configured rate, nor, once a
  429 came, above Telegram's documented limit (PROBE_LIMIT);
* within RESOLUTION of the ceiling it stays; after FORGET_CEILING_AFTER clean seconds the
  ceiling is forgotten, so a limit that was raised is found again.

With the configured rate right (below Telegram's 30/s), none of this ever happens.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import NamedTuple

from django.db import connection, transaction

from . import conf
from .models import RateLimitSlot

GLOBAL = "global"

BACKOFF = 0.97
SAFE_RATE = 29.2     # Telegram's documented 30/s less the margin for jitter (docs/OUTBOX.md)
PROBE_LIMIT = 29.85  # after a 429, probing stays under the documented 30/s
GROWTH = 1.1
STABLE = 10.0
RESOLUTION = 0.5
FORGET_CEILING_AFTER = 300.0
MIN_RATE = 1.0
_RATE_COLUMNS = ("paused_until", "rate", "rate_floor", "rate_ceiling", "rate_changed_at")


def chat_key(chat_id: int) -> str:
    return f"chat:{int(chat_id)}"


def chat_interval(chat_id: int) -> float:
    # Negative ids are groups and channels: 20 a minute. Private chats: about one a second.
    return conf.group_chat_interval() if int(chat_id) < 0 else conf.private_chat_interval()


def global_interval() -> float:
    """The configured interval (the adaptive rate never goes faster than this)."""
    return 1.0 / conf.global_rate()


class Booking(NamedTuple):
    """One reservation: a slot, or (slot None) when to ask again and which key was busy."""

    slot: float | None
    again_at: float
    busy: str


class Bookings(list):
    """reserve_sends()'s answer: one Booking per chat asked for, and the bot's state."""

    paused_until: float = 0.0
    rate: float = 0.0
    global_interval: float = 0.0  # the interval these slots were booked at (to give one back)


def _table() -> str:
    return connection.ops.quote_name(RateLimitSlot._meta.db_table)


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


# Keys whose rows this process has seen exist (rows are never deleted, but a test database is
# emptied between tests: a row found missing after all is created again, see _locked()).
_known: set[str] = set()


class _Missing(Exception):
    pass


def _ensure(keys: list[str]) -> None:
    """Create the rows of `keys` that may not exist yet, in a statement of their own, before
    any lock is taken: inserting a row inside a locking transaction would lock it out of key
    order (a deadlock on PostgreSQL with two senders meeting a new chat at once)."""
    missing = [key for key in keys if key not in _known]
    if not missing:
        return
    table, key_col = _table(), connection.ops.quote_name("key")
    values = ", ".join(["(%s, 0, 0, 0, 0, 0, 0)"] * len(missing))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({key_col}, next_at, {', '.join(_RATE_COLUMNS)}) VALUES {values} "
                       f"ON CONFLICT DO NOTHING", missing)
    _known.update(missing)


def prepare(chat_ids) -> None:
    """Make sure the rows of these chats (and the bot's) exist: one statement for a batch,
    instead of one per new chat when its first slot is booked."""
    _ensure(sorted({chat_key(c) for c in chat_ids} | {GLOBAL}))


def _select(cursor, keys: list[str]) -> dict[str, dict]:
    """Lock the rows of `keys` (sorted) in key order; key -> columns."""
    table, key_col = _table(), connection.ops.quote_name("key")
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    marks = ", ".join(["%s"] * len(keys))
    names = ("next_at",) + _RATE_COLUMNS
    cursor.execute(f"SELECT {key_col}, {', '.join(names)} FROM {table} WHERE {key_col} IN ({marks}) "
                   f"ORDER BY {key_col}{lock}", keys)
    return {row[0]: {name: float(value or 0.0) for name, value in zip(names, row[1:])} for row in cursor.fetchall()}


def _locked(keys, change):
    """Run `change(rows)` on the rows of `keys`, locked in key order in one short transaction,
    and write back what it changed. Returns what `change` returns."""
    keys = sorted(set(keys))
    for _attempt in range(3):
        _ensure(keys)
        try:
            with _write_transaction() as cursor:
                rows = _select(cursor, keys)
                if len(rows) < len(keys):
                    raise _Missing([key for key in keys if key not in rows])
                before = {key: dict(row) for key, row in rows.items()}
                result = change(rows)
                _write(cursor, rows, before)
                return result
        except _Missing as missing:
            _known.difference_update(missing.args[0])
    raise RuntimeError(f"rate-limit rows {keys!r} could not be created")


def _write(cursor, rows: dict[str, dict], before: dict[str, dict]) -> None:
    """Write back the changed rows, in key order."""
    table, key_col = _table(), connection.ops.quote_name("key")
    for key in sorted(rows):
        changed = {name: value for name, value in rows[key].items() if value != before[key][name]}
        if changed:
            sets = ", ".join(f"{name} = %s" for name in changed)
            cursor.execute(f"UPDATE {table} SET {sets} WHERE {key_col} = %s", [*changed.values(), key])


def _recover(row: dict, at: float) -> None:
    """Let the global row's rate climb back after clean periods (see the module docstring)."""
    configured = conf.global_rate()
    rate = row["rate"] or configured
    if rate > configured:  # the configuration was lowered since
        row["rate"], row["rate_changed_at"] = configured, at
        return
    if row["rate"] == 0.0 or at < row["paused_until"] or at - row["rate_changed_at"] < STABLE:
        return
    row["rate_floor"] = max(row["rate_floor"], rate)
    limit = min(configured, PROBE_LIMIT)
    ceiling = min(row["rate_ceiling"], limit) if row["rate_ceiling"] else 0.0
    if (ceiling or limit) - rate <= RESOLUTION:  # as close as it gets: stay
        if ceiling and at - row["rate_changed_at"] >= FORGET_CEILING_AFTER:
            row["rate_ceiling"], row["rate_changed_at"] = 0.0, at
        return
    new = min(limit, (rate + ceiling) / 2 if ceiling else rate * GROWTH)
    row["rate"], row["rate_changed_at"] = (0.0 if new >= configured else new), at


def effective_rate(row: dict) -> float:
    return min(conf.global_rate(), row["rate"] or conf.global_rate())


def reserve_sends(chat_ids: list[int], at: float | None = None, lookahead: float = 0.05,
                  horizon: float = 0.5, shift: float = 0.0) -> Bookings:
    """Reserve one send to each of `chat_ids` (in order), in one transaction.

    Nothing is reserved while the chat is busy beyond `lookahead`, the bot beyond `horizon`,
    or the bot is paused (a 429):

    * a message waiting a second for its chat must not hold a global slot a second ahead,
      leaving the slots before it unused by everyone (the schedule stays dense);
    * no instance books more than `horizon` of the bot's time ahead, so a burst taken by
      one instance cannot push the others' messages beyond what they can wait for, and
      instances that are free share the next slots as they come.

    One transaction for several messages keeps the database cost per send low (one commit,
    one fsync on SQLite), which is what lets a single instance keep up with 30 a second.
    `shift`: lateness of this instance's sends to add to the bot's schedule first (shift()).
    """
    at = time.time() if at is None else at
    ckeys = [chat_key(c) for c in chat_ids]

    def book(rows: dict) -> Bookings:
        result = Bookings()
        g = rows[GLOBAL]
        g["next_at"] += shift  # a send that left late: see shift()
        _recover(g, at)
        ginterval = 1.0 / effective_rate(g)
        for chat_id, ckey in zip(chat_ids, ckeys):
            chat_next, global_next = rows[ckey]["next_at"], max(g["next_at"], g["paused_until"])
            if chat_next > at + lookahead:
                result.append(Booking(None, max(chat_next - lookahead, global_next - horizon), "chat"))
            elif global_next > at + horizon:
                result.append(Booking(None, global_next - horizon, "global"))
            else:
                slot = max(at, chat_next, global_next)
                rows[ckey]["next_at"] = slot + chat_interval(chat_id)
                g["next_at"] = slot + ginterval
                result.append(Booking(slot, 0.0, ""))
        result.paused_until, result.rate, result.global_interval = g["paused_until"], effective_rate(g), ginterval
        return result

    return _locked([*ckeys, GLOBAL], book)


def reserve_send(chat_id: int, at: float | None = None, lookahead: float = 0.05, horizon: float = 0.5) -> Booking:
    """reserve_sends() for one message."""
    return reserve_sends([chat_id], at, lookahead, horizon)[0]


def release_send(chat_id: int, slot: float, global_interval_used: float | None = None) -> None:
    """Give back a reservation nobody will use (a send that woke too late, or was paused),
    on each key where it is still the last one taken. One transaction, keys in order."""
    ginterval = global_interval_used or global_interval()
    ckey = chat_key(chat_id)

    def give_back(rows: dict) -> None:
        for key, interval in ((ckey, chat_interval(chat_id)), (GLOBAL, ginterval)):
            if abs(rows[key]["next_at"] - (slot + interval)) < 1e-6:
                rows[key]["next_at"] = slot

    _locked([ckey, GLOBAL], give_back)


def record_429(chat_id: int | None, retry_after: float, at: float | None = None) -> float:
    """Telegram said 429: nobody sends before `retry_after` has passed, and the bot's rate
    backs off (once per pause: the other 429s of the same burst change nothing more).
    Returns when the pause ends."""
    at = time.time() if at is None else at
    until = at + max(0.0, retry_after)
    keys = [GLOBAL] + ([chat_key(chat_id)] if chat_id is not None else [])

    def pause(rows: dict) -> float:
        g = rows[GLOBAL]
        if at >= g["paused_until"]:  # news: not a 429 of a pause already under way
            rate = effective_rate(g)
            g["rate_ceiling"] = rate if not g["rate_ceiling"] else min(g["rate_ceiling"], rate)
            if 0.0 < g["rate_floor"] < rate:
                g["rate"] = g["rate_floor"]
            elif rate > SAFE_RATE:  # faster than Telegram documents: the setting is wrong
                g["rate"], g["rate_floor"] = SAFE_RATE, 0.0
            else:  # at a documented rate a 429 is more likely a burst of jitter: a little less
                g["rate"], g["rate_floor"] = max(MIN_RATE, rate * BACKOFF), 0.0
            g["rate_changed_at"] = until  # the clean period starts when the pause ends
        g["paused_until"] = max(g["paused_until"], until)
        g["next_at"] = max(g["next_at"], until)
        for key in keys[1:]:
            rows[key]["next_at"] = max(rows[key]["next_at"], until)
        return g["paused_until"]

    return _locked(keys, pause)


def shift(seconds: float) -> None:
    """A send left `seconds` after its slot: move the bot's schedule on by as much, so the
    send 30 slots on (booked later than this) keeps its distance from it."""

    def move(rows: dict) -> None:
        rows[GLOBAL]["next_at"] += seconds

    _locked([GLOBAL], move)


def push_back(key: str, until: float) -> None:
    """No send on `key` before `until`."""

    def push(rows: dict) -> None:
        rows[key]["next_at"] = max(rows[key]["next_at"], until)

    _locked([key], push)


def peek_many(keys) -> dict[str, float]:
    """Each key's next free time (0 for a key never used), in one query, without locking."""
    keys = list(keys)
    found = dict(RateLimitSlot.objects.filter(key__in=keys).values_list("key", "next_at"))
    return {key: float(found.get(key) or 0.0) for key in keys}


def peek_global() -> dict:
    """The global row as it is (no lock): next_at, paused_until and the rate's state."""
    row = RateLimitSlot.objects.filter(key=GLOBAL).values("next_at", *_RATE_COLUMNS).first()
    row = {name: float(value or 0.0) for name, value in (row or {}).items()} or dict.fromkeys(("next_at",) + _RATE_COLUMNS, 0.0)
    row["effective_rate"] = effective_rate(row)
    return row
