"""
Recording outcomes: the one place where what happened to a delivery is written down.

`record()` commits the outcomes of the calls whose answers arrived together (Bot API calls
and emails), in one transaction, deliveries in id order, as soon as they arrive and before
anything else: no SQS call, no rate-limit row, no other delivery's work comes first, so the
window between Telegram's answer and the committed record (the only window for a duplicate,
docs/OUTBOX.md) is the commit itself. Each job gets a `Step`: what the sender does next,
after the commit (send again here, put it back on the queue, report its message...).

Lock order in these transactions: delivery rows (in id order), then the person's Telegram
account, then the notification (fallback.py); never a rate-limit row (ratelimit.py takes
those in transactions of its own).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.db import transaction

from project.core import observability

from .flows import claim as claims
from .flows import fallback
from .models import Delivery

logger = logging.getLogger(__name__)

S = Delivery.Status

DONE = "done"                # settled (or no longer ours): the message is deleted
REPORT = "report"            # the message is reported (the sender gave up: to the dead-letter queue)
RETURN_LATER = "return"      # the message is reported, visible again after `seconds` (a counted try)
RETRY_HERE = "retry_here"    # a 429 waited out within this invocation: book a new slot at `at`
DEFER = "defer"              # a new delayed message after `seconds`; this one is deleted (not a try)


@dataclass
class Step:
    kind: str
    seconds: float = 0.0
    at: float = 0.0
    why: str = ""
    enqueue: list[int] = field(default_factory=list)


def record(sender, jobs: list, *, retry_until: float | None = None) -> None:
    """Commit the outcomes of `jobs` (each has `.outcome`), set each job's `.step`.

    `retry_until`: a 429 whose wait ends before then is tried again in this invocation
    (None: the invocation is over, for calls that answered after it handed them over)."""
    jobs = sorted(jobs, key=lambda job: job.delivery.pk)
    started = time.time()
    with transaction.atomic():
        for job in jobs:
            job.step = _record_one(sender, job, retry_until)
    committed = time.time()
    for job in jobs:
        answered = job.outcome.answered_at
        if answered:
            sender.stats.window(committed - answered)
            if sender.trace:
                sender.trace("answer", d=job.delivery.pk, s=job.outcome.status, t=answered)
                sender.trace("recorded", d=job.delivery.pk, s=job.outcome.status, t=committed, started=started)


@observability.context()  # the delivery's id on its log lines, only while recording it
def _record_one(sender, job, retry_until: float | None) -> Step:
    outcome, delivery = job.outcome, job.delivery
    observability.bind(delivery_id=delivery.pk)
    if delivery.channel == Delivery.Channel.TELEGRAM:
        observability.outcome("Telegram", outcome.status)  # TelegramTotal, TelegramRetryAfter, ...
    sender.stats.count(outcome.status)
    if outcome.status == "sent":
        claims.settle(delivery, S.SENT, message_id=outcome.message_id)
        return Step(DONE)
    if outcome.status == "skipped":  # email: no address (any more)
        claims.settle(delivery, S.SKIPPED, error=outcome.error, attempted=False)
        return Step(DONE)
    if outcome.status == "retry_after":
        wait, error = outcome.retry_after, f"429: retry after {outcome.retry_after:g} s"
        if retry_until is not None and outcome.answered_at + wait <= retry_until:
            if claims.note_try(delivery, error):
                return Step(RETRY_HERE, at=outcome.answered_at + wait)
            return _lost(delivery)
        if not claims.settle(delivery, S.QUEUED, error=error, due_in=wait):
            return _lost(delivery)
        # Waiting out a 429 is not a failed try: a new message, delayed (item 5).
        return Step(DEFER, seconds=wait, why=error) if retry_until is not None else Step(RETURN_LATER, seconds=wait)
    if outcome.status == "blocked":
        if not claims.settle(delivery, S.UNREACHABLE, error=outcome.error):
            return _lost(delivery)
        email = fallback.telegram_unreachable(delivery, outcome.error)
        return Step(DONE, enqueue=[email.pk] if email is not None and email.status == S.QUEUED else [])
    if outcome.status == "bad_request":
        # Permanent: the message is malformed or the chat does not exist. Kept with its
        # reason; the SQS message is deleted (not reported).
        logger.warning("Delivery %s failed permanently: %s", delivery.pk, outcome.error)
        claims.settle(delivery, S.FAILED, error=f"400: {outcome.error}")
        return Step(DONE)
    return _retry(sender, job, outcome.error)


def _retry(sender, job, error: str) -> Step:
    """5xx, timeouts, network errors, mail errors: back off through the message's visibility,
    until the queue's redrive policy takes it to the dead-letter queue (on its
    max-receive-count-th receive), where the sender gives up, says so, and emails instead."""
    delivery = job.delivery
    if job.receive_count >= sender.max_receive_count(job.queue_url):
        reason = f"{error} (gave up after {job.receive_count} tries; the message goes to the dead-letter queue)"
        if not claims.settle(delivery, S.FAILED, error=reason):
            return _lost(delivery)
        email = fallback.email_instead(delivery, "Telegram gave up.") if delivery.channel == Delivery.Channel.TELEGRAM else None
        return Step(REPORT, enqueue=[email.pk] if email is not None and email.status == S.QUEUED else [])
    from .sending import backoff_seconds

    delay = backoff_seconds(job.receive_count)
    if not claims.settle(delivery, S.QUEUED, error=error, due_in=delay):
        return _lost(delivery)
    return Step(RETURN_LATER, seconds=delay)


def _lost(delivery) -> Step:
    # The claim's lease ran out and another sender took the delivery over: its outcome is
    # theirs to record, and this message is not needed any more.
    logger.warning("Delivery %s: the claim was taken over by another sender; outcome not recorded here.", delivery.pk)
    return Step(DONE)


def defer(sender, waits: list[tuple], followups) -> None:
    """Put deliveries back to wait for the rate limits: recorded as queued (not a try) in one
    transaction, then each goes back on the queue as a new message delayed to its slot."""
    if not waits:
        return
    waits = sorted(waits, key=lambda item: item[0].delivery.pk)
    with transaction.atomic():
        settled = [(job, wait, why) for job, wait, why in waits
                   if claims.settle(job.delivery, S.QUEUED, error=why, attempted=False, due_in=wait)]
    sender.stats.count("deferred", len(settled))
    for job, wait, why in settled:
        followups.requeue(job, wait, why)


def give_up_unqueued(sender, jobs: list) -> list[int]:
    """Deliveries released as queued whose message could not be put back on the queue, on the
    message's last receive: the message goes to the dead-letter queue, so the delivery says
    so (failed, with the reason) and email stands in. Returns the email deliveries to enqueue."""
    emails = []
    with transaction.atomic():
        for job in sorted(jobs, key=lambda job: job.delivery.pk):
            if job.receive_count < sender.max_receive_count(job.queue_url):
                continue
            reason = (f"{job.delivery.last_error or 'waiting'}; could not be put back on the queue on its "
                      f"last receive ({job.receive_count}): gave up, the message goes to the dead-letter queue")
            logger.error("Delivery %s: %s", job.delivery.pk, reason)
            if claims.give_up_unclaimed(job.delivery, reason) and job.delivery.channel == Delivery.Channel.TELEGRAM:
                email = fallback.email_instead(job.delivery, "Telegram gave up.")
                if email is not None and email.status == S.QUEUED:
                    emails.append(email.pk)
    return emails
