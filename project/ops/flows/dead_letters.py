"""
Replaying the outbox's dead letters (`manage.py replay_dead_letters`).

A message reaches the dead-letter queue after the queue's maxReceiveCount receives: the
sender gave up on its delivery (Telegram kept failing; it settled the delivery `failed`), or
could not handle the message at all (crashed, timed out, no database). The database row is
the source of truth, so a replay does not just resend the message (the sender would see a
settled delivery and drop it): it puts each delivery back with
the same update as project.notifications.outbox.requeue_delivery (queued again), commits,
enqueues it at once and checks that SQS took it, and only then deletes the dead letter. A
replay that failed (the database or the queue refused) keeps its dead letter, and the
result says so; a crash in between leaves it for the next run; a delivery already sent is
never sent again (it stays sent, and its dead letter is simply removed). A dry run looks
each delivery up, so it counts only what a real run would replay.

This needs the stage's database, which is private in the stage's VPC: it runs in the manage
function (`zappa manage <stage>_manage replay_dead_letters -s <rendered settings>`), whose
role may receive, delete and change the visibility of the dead letters and send to the outbox
queue, and nothing else on the queues. From a laptop it runs where DATABASE_URL reaches the
database (a tunnel), or the stage secret's database_url does (operator_settings reads it when
DATABASE_URL is unset).
A body this code cannot read (not JSON, or a version the sender does not know) would only
come back; it is left in the dead-letter queue and reported.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

from django.conf import settings

from project.ops.errors import OpsError

logger = logging.getLogger(__name__)

KNOWN_VERSIONS = {1}


@dataclass
class ReplayResult:
    replayed: list[int] = field(default_factory=list)  # delivery ids queued again
    already_done: list[int] = field(default_factory=list)  # sent meanwhile, or no such delivery
    left: list[str] = field(default_factory=list)  # reasons, one per message left in the DLQ
    failed: list[str] = field(default_factory=list)  # replays that failed; their dead letters stay
    dry_run: bool = False


def _readable(body: str) -> tuple[int | None, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, "body is not JSON"
    if not isinstance(data, dict) or data.get("v") not in KNOWN_VERSIONS:
        return None, f"unknown body version {data.get('v') if isinstance(data, dict) else '?'}"
    if not isinstance(data.get("delivery_id"), int):
        return None, "no delivery_id"
    return data["delivery_id"], ""


def _requeue(delivery_id: int) -> bool:
    """Queued again (False: already sent, or no such delivery). The caller enqueues."""
    from django.utils import timezone

    from project.notifications.models import Delivery

    return bool(
        Delivery.objects.filter(pk=delivery_id).exclude(status=Delivery.Status.SENT).update(
            status=Delivery.Status.QUEUED, due_at=timezone.now(), claim_token="", claimed_at=None
        )
    )


def _would_replay(delivery_id: int) -> bool:
    from project.notifications.models import Delivery

    return Delivery.objects.filter(pk=delivery_id).exclude(status=Delivery.Status.SENT).exists()


def replay_dead_letters(*, limit: int | None = None, dry_run: bool = False) -> ReplayResult:
    from django.db import DatabaseError, transaction

    from project.core.aws import client
    from project.notifications.outbox import enqueue_now

    queue_url, dlq_url = settings.OUTBOX_QUEUE_URL, settings.OUTBOX_DLQ_URL
    if not queue_url or not dlq_url:
        raise OpsError("OUTBOX_QUEUE_URL and OUTBOX_DLQ_URL must both be set to replay dead letters.")
    _check_database()
    sqs = client("sqs")
    result = ReplayResult(dry_run=dry_run)
    seen: set[str] = set()
    held_back: list[str] = []
    # Received messages stay invisible until the run ends, so one run sees each once.
    visibility = 300

    def handled() -> int:
        return len(result.replayed) + len(result.already_done) + len(result.failed)

    while limit is None or handled() < limit:
        want = 10 if limit is None else max(1, min(10, limit - handled()))
        messages = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=want, VisibilityTimeout=visibility, WaitTimeSeconds=0
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            delivery_id, problem = _readable(message.get("Body", ""))
            if problem:
                result.left.append(f"message {message['MessageId']}: {problem}")
                logger.warning("dead letter %s left in the dead-letter queue: %s", message["MessageId"], problem)
                held_back.append(message["ReceiptHandle"])
                continue
            if dry_run:
                (result.replayed if _would_replay(delivery_id) else result.already_done).append(delivery_id)
                held_back.append(message["ReceiptHandle"])
                continue
            try:
                with transaction.atomic():
                    requeued = _requeue(delivery_id)
            except DatabaseError as exc:
                result.failed.append(f"delivery {delivery_id}: the database refused ({type(exc).__name__}); its dead letter stays")
                logger.error("dead letter for delivery %s not replayed: the database refused (%s)", delivery_id, type(exc).__name__)
                held_back.append(message["ReceiptHandle"])
                continue
            if requeued and enqueue_now([delivery_id]) != 1:
                # Queued in the database (the sweep would enqueue it later), but not back on the
                # queue now: the dead letter stays, so nothing is lost and the next run retries.
                result.failed.append(f"delivery {delivery_id}: the outbox queue did not take it; its dead letter stays")
                logger.error("dead letter for delivery %s not replayed: the outbox queue did not take it", delivery_id)
                held_back.append(message["ReceiptHandle"])
                continue
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            (result.replayed if requeued else result.already_done).append(delivery_id)
            logger.info("dead letter for delivery %s: %s", delivery_id, "queued again" if requeued else "already sent or gone")
    # What stays in the dead-letter queue (a dry run: everything) is visible again at once,
    # for the next run or the console, rather than after the visibility timeout.
    for receipt in held_back:
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return result


def _check_database() -> None:
    """Fail before touching a dead letter when there is no database to replay into."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError, connection

    try:
        connection.ensure_connection()
    except (ImproperlyConfigured, DatabaseError) as exc:
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # in the manage function, inside the VPC
            raise OpsError(
                f"Replaying needs the stage's database, and the function could not connect ({type(exc).__name__}): "
                f"run `STAGE={settings.STAGE} .venv/bin/python manage.py doctor --settings=infra.aws.operator_settings` "
                "(its database checks say why)."
            ) from None
        raise OpsError(
            "Replaying needs the stage's database, and none is reachable from here "
            f"({type(exc).__name__}): run it in the manage function "
            f"(`.venv/bin/zappa manage {settings.STAGE}_manage replay_dead_letters "
            f"-s var/stages/{settings.STAGE}/zappa_settings.json`), or set DATABASE_URL (a tunnel), "
            "or put database_url in the stage secret."
        ) from None
