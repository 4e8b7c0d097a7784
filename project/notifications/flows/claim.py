"""
Claiming a delivery before sending it, and settling it after.

SQS delivers at least once, and the sweep may enqueue a delivery a second time, so several
messages (and several sender instances) can point at one delivery. Exactly one of them may
send it: the one whose conditional UPDATE moves the row from queued to sending. A claim is a
lease: a 'sending' row whose claim is older than the lease (its sender died) can be claimed
again. Settling is conditional on the claim token, so a sender whose lease was taken over
cannot overwrite the newer claimant's outcome.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import F, Q
from django.utils import timezone

from .. import conf
from ..models import Delivery


@dataclass
class Claim:
    delivery: Delivery | None
    # Why there is no delivery to send: "missing", "final:<status>", "busy".
    reason: str = ""


def claim(delivery_id: int) -> Claim:
    now = timezone.now()
    token = uuid.uuid4().hex
    stale = now - timedelta(seconds=conf.claim_lease_seconds())
    claimed = (
        Delivery.objects.filter(pk=delivery_id)
        .filter(Q(status=Delivery.Status.QUEUED) | Q(status=Delivery.Status.SENDING, claimed_at__lt=stale))
        .update(status=Delivery.Status.SENDING, claimed_at=now, claim_token=token, updated_at=now)
    )
    delivery = Delivery.objects.select_related("notification", "user").filter(pk=delivery_id).first()
    if delivery is None:
        return Claim(None, "missing")
    if claimed:
        return Claim(delivery)
    if delivery.is_final:
        return Claim(None, f"final:{delivery.status}")
    return Claim(None, "busy")


def claim_many(delivery_ids: list[int]) -> dict[int, Claim]:
    """Claim a batch's deliveries with one UPDATE (and one SELECT): id -> Claim."""
    ids = sorted(set(delivery_ids))
    if not ids:
        return {}
    now = timezone.now()
    token = uuid.uuid4().hex
    stale = now - timedelta(seconds=conf.claim_lease_seconds())
    Delivery.objects.filter(pk__in=ids).filter(
        Q(status=Delivery.Status.QUEUED) | Q(status=Delivery.Status.SENDING, claimed_at__lt=stale)
    ).update(status=Delivery.Status.SENDING, claimed_at=now, claim_token=token, updated_at=now)
    found = {d.pk: d for d in Delivery.objects.select_related("notification", "user").filter(pk__in=ids)}
    result: dict[int, Claim] = {}
    for delivery_id in ids:
        delivery = found.get(delivery_id)
        if delivery is None:
            result[delivery_id] = Claim(None, "missing")
        elif delivery.claim_token == token and delivery.status == Delivery.Status.SENDING:
            result[delivery_id] = Claim(delivery)
        elif delivery.is_final:
            result[delivery_id] = Claim(None, f"final:{delivery.status}")
        else:
            result[delivery_id] = Claim(None, "busy")
    return result


def note_try(delivery: Delivery, error: str) -> bool:
    """Count an API call that is to be tried again within this claim (a 429 waited out in the
    same invocation): attempts and the reason are recorded, the claim is kept."""
    now = timezone.now()
    updated = Delivery.objects.filter(pk=delivery.pk, claim_token=delivery.claim_token).update(
        attempts=F("attempts") + 1, last_error=error[:2000], updated_at=now
    )
    if updated:
        delivery.last_error = error[:2000]
    return bool(updated)


def give_up_unclaimed(delivery: Delivery, error: str) -> bool:
    """Settle as failed a delivery this sender released as queued and then could not put back
    on the queue (its last receive: the message goes to the dead-letter queue). Only while
    nobody has claimed it since."""
    updated = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED, claim_token="").update(
        status=Delivery.Status.FAILED, last_error=error[:2000], updated_at=timezone.now()
    )
    if updated:
        delivery.status, delivery.last_error = Delivery.Status.FAILED, error[:2000]
    return bool(updated)


def settle(delivery: Delivery, status: str, *, error: str = "", message_id: str = "", attempted: bool = True,
           due_in: float | None = None) -> bool:
    """Record the outcome of a claimed delivery. A non-final status (queued) releases the
    claim for a later attempt, due `due_in` seconds from now. False if the claim was lost."""
    now = timezone.now()
    changes: dict = {"status": status, "last_error": error[:2000], "updated_at": now}
    if attempted:
        changes["attempts"] = F("attempts") + 1
    if status == Delivery.Status.SENT:
        changes.update(sent_at=now, provider_message_id=str(message_id or ""), last_error="")
    if status == Delivery.Status.QUEUED:
        changes.update(claim_token="", claimed_at=None, due_at=now + timedelta(seconds=due_in or 0))
    updated = Delivery.objects.filter(pk=delivery.pk, claim_token=delivery.claim_token).update(**changes)
    if updated:
        for name, value in changes.items():
            if name != "attempts":
                setattr(delivery, name, value)
    return bool(updated)
