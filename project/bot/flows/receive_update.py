"""
Receiving an update: store it under its update_id, then handle it once.

Storing and handling are two transactions on purpose. The first commits the update (or
finds it already there: a repeat, acknowledged and not handled again, whatever the order of
arrival). The second does everything the update causes (links, support messages, outbox
rows) and marks the stored update handled, all or nothing; if it fails, the update is
marked failed with its error, Telegram is answered 2xx all the same, and
`manage.py retry_updates` handles it again later.
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
    try:
        with transaction.atomic():
            stored = StoredUpdate.objects.create(
                update_id=update_id,
                kind=kind,
                payload=data,
                status=status,
                error=reason,
                handled_at=timezone.now() if status == StoredUpdate.Status.IGNORED else None,
            )
    except IntegrityError:
        return Received(update_id, kind, "repeat", "already received")
    if status == StoredUpdate.Status.IGNORED:
        return Received(update_id, kind, "ignored", reason)
    return handle_stored_update(stored)


def handle_stored_update(stored: StoredUpdate) -> Received:
    """Handle a stored update that is received or failed; also used by retry_updates."""
    from project.bot import routing

    try:
        with transaction.atomic():
            # The row lock keeps a retry and a late first attempt from both handling it.
            locked = (
                StoredUpdate.objects.select_for_update()
                .filter(pk=stored.pk, status__in=[StoredUpdate.Status.RECEIVED, StoredUpdate.Status.FAILED])
                .first()
            )
            if locked is None:
                return Received(stored.update_id, stored.kind, "repeat", "already handled")
            handled, note = routing.route(locked)
            locked.status = StoredUpdate.Status.HANDLED if handled else StoredUpdate.Status.IGNORED
            locked.error = "" if handled else note[:1000]
            locked.attempts = F("attempts") + 1
            locked.handled_at = timezone.now()
            locked.save(update_fields=["status", "error", "attempts", "handled_at"])
    except Exception as exc:
        error = redact(f"{type(exc).__name__}: {exc}")[:2000]
        logger.exception("update %s (%s) failed; stored for retry_updates", stored.update_id, stored.kind)
        StoredUpdate.objects.filter(pk=stored.pk).update(
            status=StoredUpdate.Status.FAILED, error=error, attempts=F("attempts") + 1, handled_at=timezone.now()
        )
        return Received(stored.update_id, stored.kind, "failed", error)
    return Received(stored.update_id, stored.kind, "handled" if handled else "ignored", "" if handled else note)
