"""Claims: duplicated SQS messages and racing senders send a delivery once."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from project.notifications.flows import claim as claims
from project.notifications.models import Delivery
from project.notifications.outbox import enqueue_now, send_telegram


def test_a_claim_is_exclusive_until_settled_or_stale(db, settings):
    settings.NOTIFICATIONS_CLAIM_LEASE = 60
    delivery = send_telegram(8001, "sendMessage", {"text": "x"})
    first = claims.claim(delivery.pk)
    assert first.delivery is not None and first.delivery.status == "sending"
    assert claims.claim(delivery.pk).reason == "busy"
    # The first sender's lease runs out (it died): another may take over...
    Delivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now() - timedelta(seconds=61))
    second = claims.claim(delivery.pk)
    assert second.delivery is not None and second.delivery.claim_token != first.delivery.claim_token
    # ...and the first one, waking up, can no longer record an outcome over it.
    assert claims.settle(first.delivery, "sent", message_id="1") is False
    assert claims.settle(second.delivery, "sent", message_id="2") is True
    assert claims.claim(delivery.pk).reason == "final:sent"
    assert claims.claim(123456789).reason == "missing"


def test_duplicated_messages_send_once(db, lambda_sender, sandbox, aws, django_capture_on_commit_callbacks):
    sandbox.add_user(8101)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = send_telegram(8101, "sendMessage", {"text": "once"})
    enqueue_now([delivery.pk, delivery.pk])  # SQS redelivery, the sweep: three messages in all
    messages = []
    while batch := aws.receive(wait=0):
        messages.extend(batch)
    assert len(messages) == 3
    from infra.local.sqs_poller import to_event

    # Two copies in one batch, the third in a later one.
    assert lambda_sender.invoke(to_event(messages[:2], lambda_sender.arn, "eu-central-1")) == {"batchItemFailures": []}
    assert lambda_sender.invoke(to_event(messages[2:], lambda_sender.arn, "eu-central-1")) == {"batchItemFailures": []}
    assert [m["text"] for m in sandbox.messages(8101)] == ["once"]
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 1
