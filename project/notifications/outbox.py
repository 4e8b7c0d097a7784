"""
The outbox: deliveries are rows written in the caller's transaction; after that transaction
commits, their ids go to SQS in batches of ten (SendMessageBatch). See docs/OUTBOX.md.

Why after commit: a message must never point at a row that was rolled back (nothing rolled
back is sent), and the row must exist before a sender can read it. Why the row first: if the
process dies between the commit and the SQS call, the committed row is still there and the
sweep (flows/sweep.py) enqueues it again (nothing committed is lost).

All deliveries written in one transaction are sent together, ten per call, by one
on-commit callback: 1,000 notifications in one transaction cost 100 SQS calls, not 1,000.
"""

from __future__ import annotations

import json
import logging
from typing import Iterable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from . import conf

logger = logging.getLogger(__name__)

BODY_VERSION = 1
TELEGRAM_METHODS = ("sendMessage", "editMessageText", "editMessageReplyMarkup", "answerCallbackQuery")


def message_body(delivery_id: int) -> str:
    """The SQS message body, version 1: the row is the truth, the message only points at it."""
    return json.dumps({"v": BODY_VERSION, "delivery_id": int(delivery_id)}, separators=(",", ":"))


class UnknownBody(ValueError):
    """A message body this sender cannot read (another version, or not ours)."""


def parse_body(body: str) -> int:
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        raise UnknownBody("the body is not JSON") from None
    if not isinstance(data, dict) or data.get("v") != BODY_VERSION:
        raise UnknownBody(f"unknown body version {data.get('v') if isinstance(data, dict) else None!r}")
    delivery_id = data.get("delivery_id")
    if not isinstance(delivery_id, int) or isinstance(delivery_id, bool):
        raise UnknownBody("delivery_id is not an integer")
    return delivery_id


# --- enqueueing after commit -------------------------------------------------------------------


class _PendingBatch:
    """The delivery ids written in one transaction, sent by one on-commit callback."""

    def __init__(self):
        self.ids: list[int] = []
        self.flushed = False

    def flush(self) -> None:
        self.flushed = True
        ids, self.ids = self.ids, []
        if ids:
            enqueue_now(ids)


def enqueue_on_commit(delivery_ids: Iterable[int], using: str = DEFAULT_DB_ALIAS) -> None:
    """Enqueue these deliveries once the current transaction commits (at once in autocommit)."""
    ids = [int(i) for i in delivery_ids]
    if not ids:
        return
    connection = connections[using]
    batch = getattr(connection, "_notifications_outbox_batch", None)
    # The batch is reusable only while its callback is still registered in this transaction:
    # after a commit it has run, after a rollback Django dropped it (and its ids with it).
    registered = batch is not None and not batch.flushed and connection.in_atomic_block and any(
        getattr(callback, "__self__", None) is batch for _sids, callback, _robust in connection.run_on_commit
    )
    if not registered:
        batch = _PendingBatch()
        connection._notifications_outbox_batch = batch
        batch.ids.extend(ids)
        transaction.on_commit(batch.flush, using=using)
    else:
        batch.ids.extend(ids)


def enqueue_now(delivery_ids: list[int]) -> int:
    """Send these ids to the outbox queue, ten per call. Returns how many were accepted.

    Failures are logged, not raised: this runs after the commit, when the caller's work is
    done; the rows stay queued with no enqueued_at and the sweep picks them up.
    """
    queue_url = getattr(settings, "OUTBOX_QUEUE_URL", "")
    if not queue_url:
        if settings.STAGE not in ("test",):
            logger.warning("OUTBOX_QUEUE_URL is not set; %d deliveries left for the sweep.", len(delivery_ids))
        return 0
    from .models import Delivery

    accepted = send_batches(delivery_ids)
    if accepted:
        Delivery.objects.filter(id__in=accepted).update(enqueued_at=timezone.now())
    return len(accepted)


def send_batches(delivery_ids: list[int]) -> list[int]:
    """SendMessageBatch, ten per call (a few calls at once for many); the ids SQS accepted.
    Failures are logged, not raised. Touches no database (the sender calls it from its SQS
    threads)."""
    queue_url = getattr(settings, "OUTBOX_QUEUE_URL", "")
    if not queue_url or not delivery_ids:
        return []
    from project.core.aws import client

    sqs = client("sqs")
    size = conf.sqs_batch_size()
    chunks = [delivery_ids[start : start + size] for start in range(0, len(delivery_ids), size)]

    def send(chunk: list[int]) -> list[int]:
        # Entry ids must be distinct within a call, delivery ids need not be (a re-enqueue).
        entries = [{"Id": str(n), "MessageBody": message_body(i)} for n, i in enumerate(chunk)]
        try:
            answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:  # botocore errors: the sweep will retry these rows
            logger.error("Enqueueing %d deliveries failed (%s); the sweep will retry them.", len(chunk), exc)
            return []
        for failed in answer.get("Failed", []):
            logger.error("SQS refused delivery %s: %s %s", chunk[int(failed.get("Id"))], failed.get("Code"), failed.get("Message"))
        return [chunk[int(entry["Id"])] for entry in answer.get("Successful", [])]

    accepted: list[int] = []
    if len(chunks) == 1:
        accepted = send(chunks[0])
    else:
        # A large transaction's calls go out a few at a time (boto3 clients are thread-safe).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(chunks))) as pool:
            for ids in pool.map(send, chunks):
                accepted.extend(ids)
    return accepted


# --- the bot's own messages -------------------------------------------------------------------


def send_telegram(chat_id: int, method: str, payload: dict, *, user=None):
    """Queue a Bot API call that is not a person's notification (a command answer, an edit
    after a button press, a callback answer, a staff reply). Call it inside the caller's
    transaction; it goes out after commit, through the same sender and rate limits.

    `payload` holds the Bot API parameters except chat_id (answerCallbackQuery has no chat:
    pass the chat of the person who pressed, for the record and the rate limits).
    """
    from .models import Delivery

    if method not in TELEGRAM_METHODS:
        raise ValueError(f"send_telegram: method must be one of {', '.join(TELEGRAM_METHODS)}, not {method!r}")
    payload = dict(payload or {})
    payload.pop("chat_id", None)
    delivery = Delivery.objects.create(
        user=user,
        channel=Delivery.Channel.TELEGRAM,
        method=method,
        chat_id=int(chat_id),
        payload=payload,
    )
    enqueue_on_commit([delivery.pk])
    return delivery


def requeue_delivery(delivery_id: int) -> bool:
    """Put a settled or dead-lettered delivery back in the queue (operators' DLQ replay)."""
    from .models import Delivery

    updated = Delivery.objects.filter(pk=delivery_id).exclude(status=Delivery.Status.SENT).update(
        status=Delivery.Status.QUEUED, due_at=timezone.now(), claim_token="", claimed_at=None
    )
    if updated:
        enqueue_on_commit([delivery_id])
    return bool(updated)
