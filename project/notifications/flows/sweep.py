"""
The sweep: find deliveries that should have gone out by now and enqueue them again.

That covers a row committed but never enqueued (the process died after the commit, or SQS
refused), a message lost or dead-lettered while its row still says queued, and a claim whose
sender died ('sending' past its lease; the claim protocol lets the next sender take it over).
Enqueueing a delivery that also still has a message in the queue is harmless: only one
claim can win. Run by `manage.py sweep_outbox` and by handlers/sweep.py on a schedule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .. import conf
from ..models import Delivery
from ..outbox import enqueue_now

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    found: int
    enqueued: int


def stuck_deliveries(older_than: float | None = None):
    now = timezone.now()
    after = conf.sweep_after_seconds() if older_than is None else older_than
    lease = conf.claim_lease_seconds()
    return Delivery.objects.filter(
        Q(status=Delivery.Status.QUEUED, due_at__lt=now - timedelta(seconds=after))
        | Q(status=Delivery.Status.SENDING, claimed_at__lt=now - timedelta(seconds=lease))
    )


def sweep(older_than: float | None = None, limit: int = 5000) -> SweepResult:
    ids = list(stuck_deliveries(older_than).order_by("due_at").values_list("id", flat=True)[:limit])
    if not ids:
        return SweepResult(0, 0)
    # Push due_at forward so the next sweep does not send them again straight away.
    Delivery.objects.filter(id__in=ids, status=Delivery.Status.QUEUED).update(due_at=timezone.now())
    enqueued = enqueue_now(ids)
    logger.info("Sweep: %d stuck deliveries found, %d enqueued again.", len(ids), enqueued)
    return SweepResult(len(ids), enqueued)
