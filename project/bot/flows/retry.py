"""
Retrying stored updates whose handling failed (an operator action: `manage.py retry_updates`).

Telegram was answered 2xx for them, so it will not resend: the stored payload is the only
copy. Each is handled by the same code as on arrival, under the same row lock, so a retry
racing a late first attempt still handles it once. With `stale_minutes`, updates that are
still "received" that long after arrival (the function died mid-handling) are retried too.
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
