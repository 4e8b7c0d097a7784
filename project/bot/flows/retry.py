"""
Retrying stored updates whose handling failed (an operator action: `manage.py retry_updates`).

What it can find: updates whose handling raised, stored as "failed" with their error in
the same commit as the update itself (receive_update: one transaction, the handling in a
savepoint). Telegram was answered 2xx for them, so it will not resend: the stored payload is
the only copy. Each is handled by the same code as on arrival, under the same row lock, so a
retry racing a late first attempt still handles it once.

What it cannot find: an update lost to a crash. Storing and handling commit together, so a
function that dies mid-handling leaves no row at all, and Telegram, having had no 2xx,
delivers the update again; nothing is left for an operator to retry. `stale_minutes` (rows
still "received" that long after arrival) therefore only finds rows left by versions that
committed the insert on its own, before the single transaction. "ignored" updates (unused
kinds, malformed input such as ids beyond 64 bits, an older my_chat_member) are never
retried: they would be ignored again.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from project.bot.flows.receive_update import Received, handle_stored_update
from project.bot.models import StoredUpdate


def retry_updates(*, update_ids: list[int] | None = None, stale_minutes: int | None = None) -> list[Received]:
    queryset = StoredUpdate.objects.filter(status=StoredUpdate.Status.FAILED)
    if stale_minutes is not None:
        cutoff = timezone.now() - timedelta(minutes=stale_minutes)
        queryset = StoredUpdate.objects.filter(
            status=StoredUpdate.Status.FAILED
        ) | StoredUpdate.objects.filter(status=StoredUpdate.Status.RECEIVED, received_at__lte=cutoff)
    if update_ids:
        queryset = queryset.filter(update_id__in=update_ids)
    # In arrival order, so a person's messages land in their conversation in order.
    return [handle_stored_update(stored) for stored in queryset.order_by("update_id")]
