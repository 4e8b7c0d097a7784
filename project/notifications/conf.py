"""
Tunables of the notifications app, each overridable in settings (as Django's contrib apps do).

Read them through these functions, never at import time, so tests can change settings.
"""

from __future__ import annotations

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


# --- outbox and sweep ---------------------------------------------------------------------
def sqs_batch_size() -> int:
    return 10  # SendMessageBatch's own maximum


def sweep_after_seconds() -> float:
    """A queued delivery this long past when it was due is presumed lost and re-enqueued."""
    return float(_get("NOTIFICATIONS_SWEEP_AFTER", 300))


def claim_lease_seconds() -> float:
    """How long a claim ('sending') protects a delivery from other senders. Longer than a
    sender can hold one (rate-limit wait + send timeout), shorter than people's patience."""
    return float(_get("NOTIFICATIONS_CLAIM_LEASE", 120))


# --- sender -------------------------------------------------------------------------------
def max_receive_count() -> int | None:
    """An explicit override of the queue's redrive maxReceiveCount (normally read from the
    queue itself, once per container: see sending.Sender.max_receive_count)."""
    value = _get("OUTBOX_MAX_RECEIVE_COUNT", None)
    return int(value) if value else None


def retry_base_seconds() -> float:
    return float(_get("NOTIFICATIONS_RETRY_BASE", 10))


def retry_cap_seconds() -> float:
    return float(_get("NOTIFICATIONS_RETRY_CAP", 900))


def send_timeout_seconds() -> float:
    return float(_get("NOTIFICATIONS_SEND_TIMEOUT", 10))


def max_hold_seconds() -> float:
    """How long one invocation keeps booking sends: what cannot go out within this goes back
    to the queue at once, as a new message delayed to its slot (never held open)."""
    return float(_get("NOTIFICATIONS_MAX_HOLD", 10))


def booking_horizon_seconds() -> float:
    """How far ahead of now one sender instance may book the bot's schedule: its share of
    slots taken at once (see ratelimit.reserve_sends). Sends booked and not yet made when a
    429 pauses the bot stay home (sending_calls.py)."""
    return float(_get("NOTIFICATIONS_BOOKING_HORIZON", 0.5))


def straggler_after_seconds() -> float:
    """A call still unanswered this long after its slot, when the rest of the batch is done,
    no longer holds the invocation: the container records it when it answers."""
    return float(_get("NOTIFICATIONS_STRAGGLER_AFTER", 2))


def function_timeout_seconds() -> float:
    """The sender function's timeout, for invocations without a Lambda context (tests,
    scripts); Lambda's context says how much time is left (get_remaining_time_in_millis)."""
    return float(_get("NOTIFICATIONS_FUNCTION_TIMEOUT", 60))


# --- rate limits (see docs/OUTBOX.md) --------------------------------------------------------
def global_rate() -> float:
    """Sends per second for the whole bot, across every sender. Telegram's limit is 30; the
    margin absorbs the jitter between a reserved slot and the request reaching Telegram."""
    return float(_get("TELEGRAM_GLOBAL_RATE", 29.2))


def private_chat_interval() -> float:
    return float(_get("TELEGRAM_PRIVATE_CHAT_INTERVAL", 1.1))


def group_chat_interval() -> float:
    return float(_get("TELEGRAM_GROUP_CHAT_INTERVAL", 3.2))
