"""
Receiving an update: store it under its update_id, then handle it once.

One transaction, one commit, because the webhook's latency is mostly commits (an fsync, and
on RDS a round trip each). Inside it, storing comes first: a repeat of an update_id (in any
order, however often) fails the insert and is acknowledged without being handled. The
handling runs in a savepoint and does everything the update causes (links, support
messages, outbox rows) all or nothing; if it fails, only the savepoint rolls back (with its
outbox rows and their on-commit enqueue), the stored update is marked failed with its
error in the same commit, Telegram is answered 2xx all the same, and `manage.py
retry_updates` handles it again later (through handle_stored_update).

What the handling says back that needs no result (a callback query's answer, the reply to
/help) comes back as `Received.answer`, a Bot API call for the webhook's response (contract
C2, see project/bot/replies.py); a failed handling has none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from project.bot import updates
from project.bot.models import StoredUpdate
from project.core.logging import redact

logger = logging.getLogger(__name__)


@dataclass
class Received:
    update_id: int | None
    kind: str
    outcome: str  # handled, ignored, repeat, failed
    reason: str = ""
    # A Bot API call ({"method": ..., ...}) for the webhook's 200 response, or None.
    answer: dict | None = None


def receive_update(data: dict) -> Received:
    """Store and handle one update (a dict from `updates.load_update`)."""
    update_id = data["update_id"]
    kind = updates.update_type(data)[:40]
    status = StoredUpdate.Status.RECEIVED
    reason = ""
    if kind not in updates.HANDLED_UPDATE_TYPES:
        status = StoredUpdate.Status.IGNORED
        reason = f"{kind or 'empty'} updates are not used" if kind in updates.KNOWN_UPDATE_TYPES or not kind else (
            f"unknown update kind {kind[:40]!r}"
        )
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a repeat's failed insert leaves the rest usable
                stored = StoredUpdate.objects.create(
                    update_id=update_id,
                    kind=kind,
                    # Without live /start tokens (their hash only); the handling reads this copy.
                    payload=updates.for_storage(data),
                    status=status,
                    error=reason,
                    handled_at=timezone.now() if status == StoredUpdate.Status.IGNORED else None,
                )
        except IntegrityError:
            return Received(update_id, kind, "repeat", "already received")
        if status == StoredUpdate.Status.IGNORED:
            return Received(update_id, kind, "ignored", reason)
        # The row was inserted in this transaction, so no other delivery can handle it.
        return _handle(stored)


def _handle(stored: StoredUpdate) -> Received:
    """Route a stored update inside a savepoint; on failure mark it failed instead."""
    from project.bot import replies

    with replies.webhook_answer_slot() as slot:
        received = _route(stored, slot)
    if received.outcome != "failed" and slot:
        received.answer = slot[0]
    return received


def _route(stored: StoredUpdate, slot: list) -> Received:
    from project.bot import routing

    try:
        with transaction.atomic():
            handled, note = routing.route(stored)
            stored.status = StoredUpdate.Status.HANDLED if handled else StoredUpdate.Status.IGNORED
            stored.error = "" if handled else note[:1000]
            stored.attempts = F("attempts") + 1
            stored.handled_at = timezone.now()
            stored.save(update_fields=["status", "error", "attempts", "handled_at"])
    except Exception as exc:
        error = redact(f"{type(exc).__name__}: {exc}")[:2000]
        slot.clear()  # it rolled back: nothing to say about it
        logger.exception("update %s (%s) failed; stored for retry_updates", stored.update_id, stored.kind)
        StoredUpdate.objects.filter(pk=stored.pk).update(
            status=StoredUpdate.Status.FAILED, error=error, attempts=F("attempts") + 1, handled_at=timezone.now()
        )
        return Received(stored.update_id, stored.kind, "failed", error)
    return Received(stored.update_id, stored.kind, "handled" if handled else "ignored", "" if handled else note)


def handle_stored_update(stored: StoredUpdate) -> Received:
    """Handle again a stored update that is received or failed (retry_updates)."""
    with transaction.atomic():
        # The row lock keeps a retry and a late first attempt from both handling it.
        locked = (
            StoredUpdate.objects.select_for_update()
            .filter(pk=stored.pk, status__in=[StoredUpdate.Status.RECEIVED, StoredUpdate.Status.FAILED])
            .first()
        )
        if locked is None:
            return Received(stored.update_id, stored.kind, "repeat", "already handled")
        # No webhook response to carry an answer: every reply goes through the outbox.
        return _route(locked, [])
