"""
What the sender tells SQS after an outcome is committed, never before and never inside a
database transaction (issue 15 item 3): the row is the truth, so it is written first; if the
process dies before SQS hears of it, the message simply comes back (Lambda returns a batch
it never answered) and finds the row as recorded.

The calls run on the container's small SQS thread pool, so the thread that records outcomes
never waits for SQS (the crash window is the commit alone). Each call is one of:

* requeue: a new message delayed to when the delivery may go (our own rate limit, or a 429's
  retry_after); the old message is then deleted, so the wait is not a receive and never
  leads to the dead-letter queue. If SendMessage fails (say the role may not send), that is
  logged as an error and the old message is reported instead, visible again after the wait:
  it comes back, at the cost of a receive (issue 10 fix 5);
* return later: report the message, visible again after `seconds` (5xx and timeouts, whose
  receives are what the dead-letter queue counts);
* enqueue: a new delivery (the email that stands in after a 403).

`finish()` waits for them (within the invocation's time) and says which messages to report.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import Future, wait

from django.conf import settings

logger = logging.getLogger(__name__)

DELAY_LIMIT = 900  # SendMessage's DelaySeconds is at most 15 minutes
VISIBILITY_LIMIT = 43_200


def queue_url_for(record: dict) -> str:
    """The queue a record came from: the stage's outbox queue, or its DLQ when replaying."""
    arn = record.get("eventSourceARN", "")
    for url in (getattr(settings, "OUTBOX_QUEUE_URL", ""), getattr(settings, "OUTBOX_DLQ_URL", "")):
        if url and arn and url.rstrip("/").rsplit("/", 1)[-1] == arn.rsplit(":", 1)[-1]:
            return url
    return getattr(settings, "OUTBOX_QUEUE_URL", "")


def change_visibility(record: dict, seconds: float) -> bool:
    """The message comes back after `seconds` (SQS counts whole seconds); False if SQS refused."""
    receipt, queue_url = record.get("receiptHandle"), queue_url_for(record)
    if not receipt or not queue_url:
        return False
    from project.core.aws import client

    try:
        client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=min(VISIBILITY_LIMIT, max(0, math.ceil(seconds)))
        )
    except Exception as exc:  # it comes back after the queue's own visibility timeout instead
        logger.error("Could not change the visibility of message %s (%s); it comes back after the queue's "
                     "visibility timeout.", record.get("messageId"), exc)
        return False
    return True


def delete_message(record: dict) -> None:
    """Delete a message this sender reported earlier (its outcome is known now)."""
    receipt, queue_url = record.get("receiptHandle"), queue_url_for(record)
    if not receipt or not queue_url:
        return
    from project.core.aws import client

    try:
        client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
    except Exception as exc:  # it comes back, finds the delivery settled, and is dropped then
        logger.warning("Could not delete message %s: %s", record.get("messageId"), exc)


def send_delayed(delivery_id: int, seconds: float) -> str:
    """A new message for the delivery, visible after `seconds`; "" if sent, else why not."""
    from project.core.aws import client

    from .outbox import message_body

    queue_url = getattr(settings, "OUTBOX_QUEUE_URL", "")
    if not queue_url:
        return "OUTBOX_QUEUE_URL is not set"
    if seconds > DELAY_LIMIT:
        return f"a wait of {seconds:.0f} s is longer than SQS can delay a message"
    try:
        client("sqs").send_message(QueueUrl=queue_url, MessageBody=message_body(delivery_id),
                                   DelaySeconds=max(0, math.ceil(seconds)))
    except Exception as exc:
        return f"SendMessage failed: {exc}"
    return ""


class Followups:
    """The SQS calls of one invocation, run on `pool` after their outcomes were committed."""

    def __init__(self, pool, stats):
        self.pool = pool
        self.stats = stats
        self.calls: list[tuple[Future, object, str]] = []

    def requeue(self, job, seconds: float, why: str) -> None:
        self.calls.append((self.pool.submit(self._requeue, job, seconds, why), job, "requeue"))

    def return_later(self, job, seconds: float) -> None:
        self.calls.append((self.pool.submit(change_visibility, job.record, seconds), job, "return"))

    def enqueue(self, delivery_ids: list[int]) -> None:
        from .outbox import send_batches

        if delivery_ids:
            self.calls.append((self.pool.submit(send_batches, list(delivery_ids)), None, "enqueue"))

    def _requeue(self, job, seconds: float, why: str) -> bool:
        problem = send_delayed(job.delivery.pk, seconds)
        if not problem:
            return True
        self.stats.count("requeue_failed")
        logger.error("Could not put delivery %s back on the queue (%s: %s); its message %s is reported instead and "
                     "comes back in %.0f s, which counts as a receive.", job.delivery.pk, why, problem,
                     job.message_id, seconds)
        change_visibility(job.record, seconds)
        return False

    def finish(self, deadline: float) -> tuple[list, list, list[int]]:
        """Wait for the calls until `deadline` (time.time()). Returns the jobs whose message
        must be reported (returned later, or a requeue that did not finish in time), those
        whose requeue failed (reported too; released as queued, they may need giving up), and
        the delivery ids that reached the queue by `enqueue`."""
        import time

        futures = [future for future, _job, _kind in self.calls]
        if futures:
            wait(futures, timeout=max(0.0, deadline - time.time()))
        report, unqueued, enqueued = [], [], []
        for future, job, kind in self.calls:
            done = future.done() and future.exception() is None
            if kind == "requeue" and not done:
                report.append(job)  # may still reach the queue: a second message is harmless
            elif kind == "requeue" and not future.result():
                unqueued.append(job)
            elif kind == "return":
                report.append(job)  # reported whatever SQS said: it comes back either way
            elif kind == "enqueue" and done:
                enqueued.extend(future.result())
        self.calls = []
        return report, unqueued, enqueued
