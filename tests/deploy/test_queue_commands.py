"""replay_dead_letters against moto's SQS and the database."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command


def mapping(aws, uuid):
    return aws.client("lambda").get_event_source_mapping(UUID=uuid)


def _dlq_bodies(aws) -> list[str]:
    return sorted(m["Body"] for m in aws.receive(aws.dlq_url, wait=0))


def _delivery(status: str):
    from project.notifications.models import Delivery

    return Delivery.objects.create(channel=Delivery.Channel.TELEGRAM, method=Delivery.Method.SEND_MESSAGE,
                                   chat_id=1234, payload={"text": "hi"}, status=status, last_error="gave up")


def _drain(aws, queue_url) -> list[str]:
    bodies = []
    while batch := aws.receive(queue_url):
        bodies += [m["Body"] for m in batch]
        for m in batch:
            aws.client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_replay_puts_the_deliveries_back_and_leaves_what_would_only_fail_again(
    aws, db, django_capture_on_commit_callbacks
):
    from project.notifications.models import Delivery

    sqs = aws.client("sqs")
    failed = [_delivery(Delivery.Status.FAILED) for _ in range(11)]
    sent = _delivery(Delivery.Status.SENT)
    good = [json.dumps({"v": 1, "delivery_id": d.pk}) for d in [*failed, sent]]
    bad = ["not json", json.dumps({"v": 99, "delivery_id": failed[0].pk})]
    for body in [*good, *bad]:
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=body)

    out = io.StringIO()
    call_command("replay_dead_letters", dry_run=True, stdout=out)
    # --dry-run counts only what it would really replay: not the delivery already sent (issue 11 item 4).
    assert "Would replay 11 messages" in out.getvalue() and "Would remove 1 dead letters" in out.getvalue()
    assert aws.receive(aws.queue_url) == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed", "sent"}
    # A dry run leaves every message visible again at once.
    attributes = sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "14"

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters", stdout=out)
    text = out.getvalue()
    assert "Replayed 11 messages" in text
    assert f"already sent or is gone ({sent.pk})" in text
    assert "unknown body version 99" in text and "body is not JSON" in text
    for delivery in failed:
        delivery.refresh_from_db()
        assert delivery.status == "queued"
    sent.refresh_from_db()
    assert sent.status == "sent"
    enqueued = sorted(json.loads(b)["delivery_id"] for b in _drain(aws, aws.queue_url))
    assert enqueued == sorted(d.pk for d in failed)
    assert _dlq_bodies(aws) == sorted(bad)


def test_replay_with_a_limit(aws, db, django_capture_on_commit_callbacks):
    from project.notifications.models import Delivery

    sqs = aws.client("sqs")
    for _ in range(5):
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=json.dumps({"v": 1, "delivery_id": _delivery(Delivery.Status.FAILED).pk}))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters", limit=2, stdout=io.StringIO())
    assert len(_drain(aws, aws.queue_url)) == 2
    attributes = sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "3"
    assert Delivery.objects.filter(status="queued").count() == 2
